"""Certificates at the real gateway: bad ones refused, and nobody sees another's messages.

A gateway with a CRL configured runs on free ports; every kind of bad client certificate is
refused at the handshake or with 401/403, a good certificate cannot send as someone else, and no
participant can list, download, confirm or ask the status of a message that is not its own.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from gateway.participants import Participant
from gateway.pki import CA_CERT, DevPKI, Issued
from gateway.server import Gateway
from gateway.tls import client_context, client_context_from
from tests.fixtures.gateway import PULL_URL, PUSH_URL, STATUS_URL, local_settings

PROVIDER = Participant.parse("aanbieder-65656055")
OTHER_PROVIDER = Participant.parse("aanbieder-42420001")
DIEMEN = Participant.parse("gemeente-0384")
AMSTERDAM = Participant.parse("gemeente-0363")


@dataclass
class CrlGateway:
    gateway: Gateway
    certs_dir: Path
    revoked: Issued

    @property
    def base_url(self) -> str:
        return f"https://localhost:{self.gateway.port}"


@pytest.fixture
async def crl_gateway(
    certs_dir: Path, dev_pki: DevPKI, amqp_url: str, tmp_path: Path
) -> AsyncIterator[CrlGateway]:
    """A gateway whose CRL revokes one freshly minted certificate of provider 65656055."""
    revoked = dev_pki.client(PROVIDER)
    crl = dev_pki.write_crl(tmp_path / "crl.pem", [revoked.certificate])
    settings = local_settings(
        certs_dir,
        amqp_url,
        tmp_path,
        crl=crl,
    )
    gateway = await Gateway.start(settings)
    try:
        yield CrlGateway(gateway, certs_dir, revoked)
    finally:
        await gateway.stop()


HANDSHAKE = "refused at the handshake"
Mint = Callable[[DevPKI, Issued], Issued | None]

# Each kind of bad certificate, and where the gateway refuses it: a certificate the TLS layer
# cannot trust ends the connection before any request; one it trusts but that names nobody
# registered gets 401 from the application.
BAD_CERTIFICATES: dict[str, tuple[Mint, str | int]] = {
    "none": (lambda _pki, _revoked: None, HANDSHAKE),
    "another CA's": (lambda _pki, _revoked: DevPKI.create().client(PROVIDER), HANDSHAKE),
    "expired": (lambda pki, _revoked: pki.expired(PROVIDER), HANDSHAKE),
    "not yet valid": (lambda pki, _revoked: pki.not_yet_valid(PROVIDER), HANDSHAKE),
    "revoked": (lambda _pki, revoked: revoked, HANDSHAKE),
    "server-only extended key usage": (
        lambda pki, _revoked: pki.without_client_auth(PROVIDER),
        HANDSHAKE,
    ),
    "key usage without digitalSignature": (
        lambda pki, _r: pki.without_digital_signature(PROVIDER),
        HANDSHAKE,
    ),
    "unregistered participant": (
        lambda pki, _r: pki.client(Participant.parse("aanbieder-99999999")),
        401,
    ),
    "subject not <role>-<code>": (lambda pki, _r: pki.client(PROVIDER, common_name="admin"), 401),
}


@pytest.mark.parametrize("kind", BAD_CERTIFICATES)
async def test_bad_certificate_is_refused(
    kind: str, crl_gateway: CrlGateway, dev_pki: DevPKI, tmp_path: Path
) -> None:
    """The certificate is refused where it should be, on every endpoint kind."""
    mint, expected = BAD_CERTIFICATES[kind]
    issued = mint(dev_pki, crl_gateway.revoked)
    ca = crl_gateway.certs_dir / CA_CERT
    if issued is None:
        context = client_context_from(ca)
    else:
        certificate, key = issued.write(tmp_path, "client")
        context = client_context_from(ca, certificate, key)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session:
        for method, path in (("GET", PULL_URL), ("POST", "/v1/messages")):
            outcome: str | int
            try:
                async with session.request(
                    method, crl_gateway.base_url + path, data=b"<a/>"
                ) as response:
                    outcome = response.status
                    if response.status == 401:
                        assert response.content_type == "application/problem+json"
            except aiohttp.ClientConnectionError:
                outcome = HANDSHAKE
            assert outcome == expected, f"{kind}: {method} {path}"


async def test_good_certificate_is_accepted_with_a_crl(crl_gateway: CrlGateway) -> None:
    """The control: the packaged certificate of the same provider is not refused."""
    context = client_context(crl_gateway.certs_dir, PROVIDER)
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session,
        session.get(crl_gateway.base_url + PULL_URL) as response,
    ):
        assert response.status == 200


def session_of(gateway: CrlGateway, participant: Participant) -> aiohttp.ClientSession:
    context = client_context(gateway.certs_dir, participant)
    return aiohttp.ClientSession(
        base_url=gateway.base_url, connector=aiohttp.TCPConnector(ssl=context)
    )


async def test_certificate_cannot_push_as_another_participant(
    crl_gateway: CrlGateway, reference: Path
) -> None:
    """Provider 42420001's certificate pushing 65656055's 305 under 65656055's name gets 403."""
    payload = (reference / "iwmo-3.2" / "examples" / "WMO305.xml").read_bytes()
    metadata = (
        '{"routeringgegevens":{"afzender":{"rol":"Instelling","code":"65656055"},'
        '"geadresseerden":[{"rol":"Gemeente","code":"0363"}],"berichtstroom":'
        '{"berichttype":"WMO305","berichtversie":3,"berichtsubversie":2,"actie":"Indienen"}},'
        f'"referentiegegevens":{{"conversatieId":"{uuid.uuid4()}","traceerId":"{uuid.uuid4()}"}}}}'
    )
    form = aiohttp.FormData()
    form.add_field("berichtMetadata", metadata, content_type="application/json")
    form.add_field("payload", payload, content_type="application/octet-stream", filename="b.xml")
    async with (
        session_of(crl_gateway, OTHER_PROVIDER) as impostor,
        impostor.post(PUSH_URL, data=form) as response,
    ):
        assert response.status == 403
        assert (await response.json(content_type=None))["code"] == "BRS03"


@pytest.mark.parametrize(
    ("sender", "example"),
    [(OTHER_PROVIDER, "WMO305"), (AMSTERDAM, "WMO301"), (OTHER_PROVIDER, "WMO301")],
    ids=["provider as provider", "municipality as municipality", "provider as municipality"],
)
async def test_raw_message_of_another_participant_is_refused_with_403(
    crl_gateway: CrlGateway, reference: Path, sender: Participant, example: str
) -> None:
    """A good certificate posting, raw, a message whose Afzender is someone else gets 403."""
    payload = (reference / "iwmo-3.2" / "examples" / f"{example}.xml").read_bytes()
    async with (
        session_of(crl_gateway, sender) as impostor,
        impostor.post(
            "/v1/messages", data=payload, headers={"Content-Type": "application/xml"}
        ) as response,
    ):
        problem = await response.json(content_type=None)
        assert response.status == 403, problem
        assert response.content_type == "application/problem+json"
        assert problem["code"] == "BRS03"


async def test_nobody_sees_anothers_messages(crl_gateway: CrlGateway, reference: Path) -> None:
    """A 301 for 42420001: only 42420001 lists, downloads, confirms and sees its status."""
    payload = (reference / "iwmo-3.2" / "examples" / "WMO301.xml").read_bytes()
    async with (
        session_of(crl_gateway, DIEMEN) as diemen,
        session_of(crl_gateway, OTHER_PROVIDER) as recipient,
        session_of(crl_gateway, PROVIDER) as stranger,
        session_of(crl_gateway, AMSTERDAM) as other_municipality,
    ):
        async with diemen.post(
            "/v1/messages", data=payload, headers={"Content-Type": "application/xml"}
        ) as sent:
            assert sent.status == 202, await sent.text()
            receipt = await sent.json()
        traceer_id, conversatie_id = receipt["traceerId"], receipt["conversatieId"]

        for outsider in (stranger, other_municipality):
            async with outsider.get(PULL_URL) as listing:
                assert await listing.json() == []
            async with outsider.post(
                f"{PULL_URL}/zoeken",
                json={"zoekpadType": "ZoekpadOpConversatieId", "conversatieId": conversatie_id},
            ) as search:
                assert await search.json() == []
            async with outsider.get(f"{PULL_URL}/{traceer_id}/payload") as download:
                assert download.status == 404
                assert payload not in await download.read()
            async with outsider.get(f"{PULL_URL}/{traceer_id.upper()}/payload") as download:
                assert download.status == 404
            for query in ({"traceerId": traceer_id}, {"conversatieId": conversatie_id}):
                async with outsider.get(STATUS_URL, params=query) as status:
                    assert status.status == 200
                    assert await status.json() == []
            async with outsider.delete(f"{PULL_URL}/{traceer_id}") as confirm:
                assert confirm.status == 404

        # The control: the sender does see the status the outsiders were shown nothing of.
        for query in ({"traceerId": traceer_id}, {"conversatieId": conversatie_id}):
            async with diemen.get(STATUS_URL, params=query) as status:
                assert status.status == 200
                assert await status.json(), query

        # The recipient still has it, unconfirmed: the outsiders changed nothing.
        async with recipient.get(PULL_URL) as listing:
            [entry] = await listing.json()
            assert entry["referentiegegevens"]["traceerId"] == traceer_id
        async with recipient.get(f"{PULL_URL}/{traceer_id}/payload") as download:
            assert await download.read() == payload
        async with recipient.delete(f"{PULL_URL}/{traceer_id}") as confirm:
            assert confirm.status == 202
