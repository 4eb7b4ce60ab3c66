"""From a verified client certificate to a registered participant, or a refusal that says why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization

from gateway import tls
from gateway.errors import AuthenticationError, AuthFailure
from gateway.identity import participant_from_peercert
from gateway.participants import Participant, Registry, Role
from gateway.pki import DevPKI
from tests.fixtures.pki import serve_https

REGISTRY = Registry.of(
    [
        Participant(Role.GEMEENTE, "0637", "Gemeente Zoetermeer"),
        Participant(Role.AANBIEDER, "12345678", "Voorbeeldzorg Zoetermeer"),
    ]
)


def peercert(*common_names: str, organisation: str = "") -> dict[str, Any]:
    """The shape of ``getpeercert()`` for a subject with these CNs."""
    subject: list[tuple[tuple[str, str], ...]] = [(("commonName", cn),) for cn in common_names]
    if organisation:
        subject.append((("organizationName", organisation),))
    return {"subject": tuple(subject), "issuer": ((("commonName", "some CA"),),)}


def test_subject_maps_to_the_registered_participant() -> None:
    """CN=gemeente-0637 is the registry's Zoetermeer, with the registry's name."""
    participant = participant_from_peercert(
        peercert("gemeente-0637", organisation="Anything"), REGISTRY
    )
    assert participant == Participant(Role.GEMEENTE, "0637", "Gemeente Zoetermeer")
    assert participant.name == "Gemeente Zoetermeer"


def test_der_form_maps_the_same(dev_pki: DevPKI) -> None:
    """The binary (DER) certificate gives the same participant as the decoded one."""
    provider = Participant(Role.AANBIEDER, "12345678")
    der = dev_pki.client(provider).certificate.public_bytes(serialization.Encoding.DER)
    assert participant_from_peercert(der, REGISTRY) == REGISTRY.get(Role.AANBIEDER, "12345678")


@pytest.mark.parametrize("cert", [None, {}, b""])
def test_no_certificate(cert: dict[str, Any] | bytes | None) -> None:
    """No certificate at all is refused as such."""
    with pytest.raises(AuthenticationError, match="no client certificate") as caught:
        participant_from_peercert(cert, REGISTRY)
    assert caught.value.reason is AuthFailure.NO_CERTIFICATE


@pytest.mark.parametrize(
    "common_names",
    [
        ("zorgkantoor-1",),
        ("gemeente-637",),
        ("gemeente0637",),
        ("Gemeente-0637",),
        ("aanbieder-1234567x",),
        ("gemeente-0637", "aanbieder-12345678"),
        (),
    ],
)
def test_malformed_subject(common_names: tuple[str, ...]) -> None:
    """A subject that is not exactly one CN=<role>-<code> is refused as malformed, naming it."""
    with pytest.raises(AuthenticationError) as caught:
        participant_from_peercert(peercert(*common_names), REGISTRY)
    assert caught.value.reason is AuthFailure.MALFORMED_SUBJECT
    if len(common_names) == 1:
        assert repr(common_names[0]) in str(caught.value)


def test_unknown_participant() -> None:
    """A well-formed subject naming nobody in the registry is refused as unknown, naming the CN."""
    with pytest.raises(AuthenticationError, match="CN=gemeente-0546 names no registered") as caught:
        participant_from_peercert(peercert("gemeente-0546"), REGISTRY)
    assert caught.value.reason is AuthFailure.UNKNOWN_PARTICIPANT


def test_undecodable_der_is_malformed() -> None:
    """Bytes that are not a certificate are refused, not crashed on."""
    with pytest.raises(AuthenticationError) as caught:
        participant_from_peercert(b"\x30\x03\x02\x01\x00", REGISTRY)
    assert caught.value.reason is AuthFailure.MALFORMED_SUBJECT


def identity_app() -> web.Application:
    """Answers with the participant the connection's certificate maps to, or 403 and why."""

    async def whoami(request: web.Request) -> web.Response:
        assert request.transport is not None
        try:
            participant = participant_from_peercert(
                request.transport.get_extra_info("peercert"), REGISTRY
            )
        except AuthenticationError as exc:
            return web.Response(status=403, text=exc.reason)
        return web.Response(text=participant.key)

    app = web.Application()
    app.router.add_get("/", whoami)
    return app


@pytest.mark.parametrize(
    ("participant", "common_name", "status", "answer"),
    [
        (Participant(Role.GEMEENTE, "0637"), None, 200, "gemeente-0637"),
        (Participant(Role.AANBIEDER, "12345678"), None, 200, "aanbieder-12345678"),
        (Participant(Role.GEMEENTE, "0546"), None, 403, "unknown-participant"),
        (Participant(Role.GEMEENTE, "0637"), "zorgkantoor-1", 403, "malformed-subject"),
    ],
)
async def test_over_a_real_connection(
    certs_dir: Path,
    dev_pki: DevPKI,
    tmp_path: Path,
    participant: Participant,
    common_name: str | None,
    status: int,
    answer: str,
) -> None:
    """Over mutual TLS the server sees the certificate's participant, or refuses with the reason."""
    cert, key = dev_pki.client(participant, common_name=common_name).write(tmp_path, "client")
    client = tls.client_context_from(certs_dir / "ca.crt", cert, key)
    async with (
        serve_https(identity_app(), tls.server_context(certs_dir)) as url,
        aiohttp.ClientSession() as session,
        session.get(url, ssl=client) as response,
    ):
        assert (response.status, await response.text()) == (status, answer)
