"""End to end over mTLS and the real RabbitMQ: push, consume, answer, pull, confirm, status."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import uuid
from pathlib import Path

import pytest

from gateway.participants import Participant
from gateway.routing import Broker, message_from_delivery
from gateway.standard.retour import build_retour
from tests.fixtures.gateway import PULL_URL, STATUS_URL, Client, RunningGateway

PROVIDER = Participant.parse("aanbieder-65656055")
AMSTERDAM = Participant.parse("gemeente-0363")
PROVIDER_315 = Participant.parse("aanbieder-42420001")
DIEMEN = Participant.parse("gemeente-0384")


def example(reference: Path, name: str) -> bytes:
    standard = "iwmo-3.2" if name.startswith("WMO") else "ijw-3.2"
    return (reference / standard / "examples" / f"{name}.xml").read_bytes()


async def receive_one(amqp_url: str, participant: Participant) -> tuple[dict[str, object], bytes]:
    """The next delivery on the participant's queue, acknowledged, with its properties."""
    async with Broker.consumer(amqp_url, participant) as deliveries:
        async with asyncio.timeout(10):
            async for delivery in deliveries:
                async with delivery.process():
                    routed = message_from_delivery(delivery)
                    properties: dict[str, object] = {
                        "message_id": delivery.message_id,
                        "type": delivery.type,
                        "correlation_id": delivery.correlation_id,
                        "sender": routed.sender,
                        "recipient": routed.recipient,
                        "release": routed.release,
                    }
                    return properties, delivery.body
    raise AssertionError("no delivery")


async def test_315_to_316_through_push_queue_and_pull(
    running_gateway: RunningGateway, reference: Path
) -> None:
    """A 315 pushed by a provider reaches the municipality's queue; its 316 reaches the provider."""
    provider = await running_gateway.client(PROVIDER_315)
    municipality = await running_gateway.client(DIEMEN)
    traceer_id = str(uuid.uuid4())
    conversatie_id = str(uuid.uuid4())

    response = await provider.push(
        example(reference, "WMO315"),
        "WMO315",
        recipient=DIEMEN,
        traceer_id=traceer_id,
        conversatie_id=conversatie_id,
    )
    assert response.status == 204, await response.text()

    properties, body = await receive_one(running_gateway.amqp_url, DIEMEN)
    assert body == example(reference, "WMO315")
    assert properties["message_id"] == traceer_id
    assert properties["correlation_id"] == conversatie_id
    assert properties["type"] == "WMO315"
    assert properties["sender"] == PROVIDER_315
    assert properties["recipient"] == DIEMEN
    assert properties["release"] == "3.2"

    # The official 316 example is the header-only answer to the 315 example; the municipality
    # answers in the conversation it received (the AMQP correlation id).
    response = await municipality.push(
        example(reference, "WMO316"),
        "WMO316",
        recipient=PROVIDER_315,
        conversatie_id=str(properties["correlation_id"]),
    )
    assert response.status == 204, await response.text()

    listing = await provider.session.get(provider.url(PULL_URL))
    assert listing.status == 200
    [entry] = await listing.json()
    assert entry["routeringgegevens"]["berichtstroom"]["berichttype"] == "WMO316"
    assert entry["routeringgegevens"]["afzender"] == {"rol": "Gemeente", "code": "0384"}
    assert entry["referentiegegevens"]["alsAntwoordOp"] == traceer_id
    assert entry["referentiegegevens"]["conversatieId"] == conversatie_id
    retour_id = entry["referentiegegevens"]["traceerId"]

    download = await provider.session.get(entry["basisgegevens"]["payload"]["url"])
    assert download.status == 200
    payload = await download.read()
    assert payload == example(reference, "WMO316")
    checksum = entry["basisgegevens"]["payload"]["checksum"]
    assert checksum == {"algoritme": "SHA256", "waarde": hashlib.sha256(payload).hexdigest()}
    assert entry["basisgegevens"]["payload"]["grootte"] == len(payload)

    confirmed = await provider.session.delete(provider.url(f"{PULL_URL}/{retour_id}"))
    assert confirmed.status == 202
    assert await (await provider.session.get(provider.url(PULL_URL))).json() == []

    statuses = await provider.session.get(
        provider.url(STATUS_URL), params={"conversatieId": conversatie_id}
    )
    by_type = {s["berichtstroom"]["berichttype"]: s["berichtstatus"] for s in await statuses.json()}
    assert by_type == {"WMO315": "Bezorgd", "WMO316": "Bezorgd"}


async def test_raw_post_is_routed_and_answered_with_ids(
    running_gateway: RunningGateway, reference: Path
) -> None:
    """``POST /v1/messages`` with the bare XML answers 202 with the traceerId once routed."""
    provider = await running_gateway.client(PROVIDER)
    response = await provider.post_xml(example(reference, "WMO305"))
    assert response.status == 202, await response.text()
    receipt = await response.json()
    assert receipt["berichttype"] == "WMO305"
    assert receipt["ontvanger"] == "gemeente-0363"
    assert receipt["berichtstatus"] == "WordtAangeboden"

    properties, _ = await receive_one(running_gateway.amqp_url, AMSTERDAM)
    assert properties["message_id"] == receipt["traceerId"]

    status = await provider.session.get(
        provider.url(STATUS_URL), params={"traceerId": receipt["traceerId"]}
    )
    [entry] = await status.json()
    assert entry["berichtstatus"] == "WordtAangeboden"
    assert entry["referentiegegevens"]["traceerId"] == receipt["traceerId"]


async def _status_of(client: Client, traceer_id: str) -> str:
    response = await client.session.get(client.url(STATUS_URL), params={"traceerId": traceer_id})
    entries = await response.json()
    [own] = [e for e in entries if e["referentiegegevens"]["traceerId"] == traceer_id]
    return str(own["berichtstatus"])


@pytest.mark.parametrize("door", ["push", "raw"])
async def test_305_to_306_and_the_305s_way_to_bezorgd(
    running_gateway: RunningGateway, reference: Path, door: str
) -> None:
    """A 305 goes out by push or raw POST; the municipality's consumer answers a header-only 306
    built by the retour builder; the provider pulls, verifies, confirms; the 305 ends Bezorgd."""
    provider = await running_gateway.client(PROVIDER)
    municipality = await running_gateway.client(AMSTERDAM)
    original = example(reference, "WMO305")
    if door == "push":
        traceer_id = str(uuid.uuid4())
        response = await provider.push(
            original, "WMO305", recipient=AMSTERDAM, traceer_id=traceer_id
        )
        assert response.status == 204, await response.text()
    else:
        response = await provider.post_xml(original)
        assert response.status == 202, await response.text()
        traceer_id = (await response.json())["traceerId"]
    assert await _status_of(provider, traceer_id) == "WordtAangeboden"

    properties, body = await receive_one(running_gateway.amqp_url, AMSTERDAM)
    assert properties["message_id"] == traceer_id
    retour = build_retour(body, [], identificatie="RET000000001", dagtekening=dt.date(2025, 4, 7))
    assert b"RetourCodes" not in retour  # nothing to report: the header alone
    answered = await municipality.push(
        retour,
        "WMO306",
        recipient=PROVIDER,
        conversatie_id=str(properties["correlation_id"]),
    )
    assert answered.status == 204, await answered.text()
    assert await _status_of(provider, traceer_id) == "Bezorgd"

    [entry] = await (await provider.session.get(provider.url(PULL_URL))).json()
    assert entry["referentiegegevens"]["alsAntwoordOp"] == traceer_id
    download = await provider.session.get(entry["basisgegevens"]["payload"]["url"])
    payload = await download.read()
    assert (
        hashlib.sha256(payload).hexdigest()
        == entry["basisgegevens"]["payload"]["checksum"]["waarde"]
    )
    assert payload == retour
    retour_id = entry["referentiegegevens"]["traceerId"]
    assert await _status_of(municipality, retour_id) == "WordtAangeboden"
    confirmed = await provider.session.delete(provider.url(f"{PULL_URL}/{retour_id}"))
    assert confirmed.status == 202
    assert await _status_of(municipality, retour_id) == "Bezorgd"

    history = [s for s, _ in await running_gateway.gateway.ledger.history(traceer_id)]
    assert [s.value for s in history] == [
        "Ontvangen",
        "WordtVerwerkt",
        "VerwerkingVoltooid",
        "WordtAangeboden",
        "Bezorgd",
    ]


async def test_payload_download_carries_its_digest(
    running_gateway: RunningGateway, reference: Path
) -> None:
    """The download names its SHA-256 the HTTP way (RFC 9530), equal to the list's checksum."""
    municipality = await running_gateway.client(DIEMEN)
    provider = await running_gateway.client(PROVIDER_315)
    assert (await municipality.post_xml(example(reference, "WMO316"))).status == 202
    [entry] = await (await provider.session.get(provider.url(PULL_URL))).json()
    download = await provider.session.get(entry["basisgegevens"]["payload"]["url"])
    body = await download.read()
    encoded = base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert download.headers["Repr-Digest"] == f"sha-256=:{encoded}:"
    assert download.headers["Digest"] == f"sha-256={encoded}"
    assert (
        hashlib.sha256(body).hexdigest() == entry["basisgegevens"]["payload"]["checksum"]["waarde"]
    )
