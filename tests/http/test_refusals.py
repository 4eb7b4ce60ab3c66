"""Refusals at the door are problem+json with the VSP code, and nothing refused is routed."""

from __future__ import annotations

import uuid
from pathlib import Path

import aiohttp

from gateway.participants import Participant
from tests.fixtures.gateway import PULL_URL, STATUS_URL, RunningGateway
from tests.http.test_end_to_end import AMSTERDAM, PROVIDER, example

OTHER_PROVIDER = Participant.parse("aanbieder-42420001")


async def problem_of(response: aiohttp.ClientResponse) -> dict[str, object]:
    assert response.content_type == "application/problem+json", await response.text()
    body: dict[str, object] = await response.json(content_type=None)
    assert body["status"] == response.status
    return body


async def test_not_well_formed_is_400_brs14(running_gateway: RunningGateway) -> None:
    """Broken XML is refused with 400 and BRS14."""
    provider = await running_gateway.client(PROVIDER)
    body = await problem_of(await provider.post_xml(b"<wmo305:Bericht"))
    assert body["code"] == "BRS14"


async def test_entity_declaration_is_refused(running_gateway: RunningGateway) -> None:
    """A DOCTYPE with an external entity is refused before anything is resolved."""
    provider = await running_gateway.client(PROVIDER)
    xxe = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    response = await provider.post_xml(xxe)
    assert response.status == 400
    body = await problem_of(response)
    assert "root:" not in str(body)


async def test_schema_invalid_lists_every_error(
    running_gateway: RunningGateway, reference: Path
) -> None:
    """An XSD-invalid message is 422 BRS13 with each error, naming element and reason."""
    provider = await running_gateway.client(Participant.parse("aanbieder-42420001"))
    response = await provider.post_xml(example(reference, "JW315"))
    assert response.status == 422
    body = await problem_of(response)
    assert body["code"] == "BRS13"
    errors = body["errors"]
    assert isinstance(errors, dict)
    assert any("ToewijzingEinddatum" in e and "2027-06-31" in e for e in errors["payload"])


async def test_unknown_namespace_is_422_naming_it(running_gateway: RunningGateway) -> None:
    """A root in a namespace no standard uses is refused, naming the namespace."""
    provider = await running_gateway.client(PROVIDER)
    response = await provider.post_xml(b'<Bericht xmlns="urn:example:unknown"/>')
    assert response.status == 422
    assert "urn:example:unknown" in str(await problem_of(response))


async def test_sending_as_another_participant_is_403(
    running_gateway: RunningGateway, reference: Path
) -> None:
    """A provider's certificate cannot send a message whose Afzender is another provider."""
    other = await running_gateway.client(OTHER_PROVIDER)
    response = await other.post_xml(example(reference, "WMO305"))
    assert response.status == 403
    assert (await problem_of(response))["code"] == "BRS03"


async def test_provider_cannot_send_a_municipal_message(
    running_gateway: RunningGateway, reference: Path
) -> None:
    """A 301 (toewijzing) from a provider's certificate is refused: only a municipality sends it."""
    provider = await running_gateway.client(Participant.parse("aanbieder-42420001"))
    response = await provider.post_xml(example(reference, "WMO301"))
    assert response.status == 403


async def test_duplicate_identificatie_and_identical_retry(
    running_gateway: RunningGateway, reference: Path
) -> None:
    """TR056: the same Identificatie with other content is 409 BRS20; the same bytes replay."""
    provider = await running_gateway.client(PROVIDER)
    original = example(reference, "WMO305")
    traceer_id = str(uuid.uuid4())
    first = await provider.push(original, "WMO305", recipient=AMSTERDAM, traceer_id=traceer_id)
    assert first.status == 204
    retry = await provider.push(original, "WMO305", recipient=AMSTERDAM, traceer_id=traceer_id)
    assert retry.status == 204
    changed = original.replace(b"<wmo305:Geslacht>1<", b"<wmo305:Geslacht>2<")
    assert changed != original
    conflict = await provider.push(changed, "WMO305", recipient=AMSTERDAM)
    assert conflict.status == 409
    assert (await problem_of(conflict))["code"] == "BRS20"


async def test_metadata_contradicting_payload_is_refused(
    running_gateway: RunningGateway, reference: Path
) -> None:
    """Push metadata naming another message type than the payload is refused with 422."""
    provider = await running_gateway.client(PROVIDER)
    response = await provider.push(example(reference, "WMO305"), "WMO307", recipient=AMSTERDAM)
    assert response.status == 422
    assert "WMO307" in str(await problem_of(response))


async def test_refused_push_shows_in_status_with_melding(
    running_gateway: RunningGateway,
) -> None:
    """A refused push is AfgekeurdDoorDienst in berichtstatus, with its code as melding."""
    provider = await running_gateway.client(PROVIDER)
    traceer_id = str(uuid.uuid4())
    response = await provider.push(b"not xml", "WMO305", recipient=AMSTERDAM, traceer_id=traceer_id)
    assert response.status == 400
    status = await provider.session.get(provider.url(STATUS_URL), params={"traceerId": traceer_id})
    [entry] = await status.json()
    assert entry["berichtstatus"] == "AfgekeurdDoorDienst"
    assert entry["meldingen"][0]["code"] == "BRS14"


async def test_participants_see_only_their_own_messages(
    running_gateway: RunningGateway, reference: Path
) -> None:
    """Another provider can neither list, download, confirm nor see the status of a message."""
    sender = await running_gateway.client(Participant.parse("aanbieder-42420001"))
    municipality = await running_gateway.client(Participant.parse("gemeente-0384"))
    stranger = await running_gateway.client(Participant.parse("aanbieder-65656055"))
    pushed = await sender.push(
        example(reference, "WMO315"), "WMO315", recipient=Participant.parse("gemeente-0384")
    )
    assert pushed.status == 204
    answer = await municipality.post_xml(example(reference, "WMO316"))
    assert answer.status == 202
    retour_id = (await answer.json())["traceerId"]

    assert await (await stranger.session.get(stranger.url(PULL_URL))).json() == []
    download = await stranger.session.get(stranger.url(f"{PULL_URL}/{retour_id}/payload"))
    assert download.status == 404
    confirm = await stranger.session.delete(stranger.url(f"{PULL_URL}/{retour_id}"))
    assert confirm.status == 404
    status = await stranger.session.get(stranger.url(STATUS_URL), params={"traceerId": retour_id})
    assert await status.json() == []
    # ... while the addressee can.
    mine = await sender.session.get(sender.url(f"{PULL_URL}/{retour_id}/payload"))
    assert mine.status == 200


async def test_odd_ids_and_limits_are_4xx(running_gateway: RunningGateway) -> None:
    """Malformed ids in paths and out-of-range limits answer 4xx problem+json, never 5xx."""
    provider = await running_gateway.client(PROVIDER)
    for path in (f"{PULL_URL}/not-a-uuid/payload", f"{PULL_URL}/..%2F..%2Fetc/payload"):
        response = await provider.session.get(provider.url(path))
        assert 400 <= response.status < 500
    for limit in ("0", "251", "-1", "x"):
        response = await provider.session.get(provider.url(PULL_URL), params={"limit": limit})
        assert response.status == 400
        await problem_of(response)
    both = await provider.session.get(
        provider.url(STATUS_URL),
        params={"traceerId": str(uuid.uuid4()), "conversatieId": str(uuid.uuid4())},
    )
    assert both.status == 400


async def test_ops_port_health_and_metrics(running_gateway: RunningGateway) -> None:
    """The ops port answers healthz, readyz (broker and ledger) and Prometheus metrics."""
    async with aiohttp.ClientSession() as session:
        health = await session.get(f"{running_gateway.ops_url}/healthz")
        assert health.status == 200
        ready = await session.get(f"{running_gateway.ops_url}/readyz")
        assert (await ready.json())["checks"] == {"broker": True, "ledger": True}
        metrics = await session.get(f"{running_gateway.ops_url}/metrics")
        assert "gateway_messages_accepted" in await metrics.text()
