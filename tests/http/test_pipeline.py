"""The ingress pipeline step by step over HTTPS: each refusal with its status and VSP code.

Size (413 BRS06), encoding (400 BRS14, OP192), the XSD (422 BRS13, every error, as many as the
official XSD finds), the retour rule of authorisation (403 BRS03), and TR056: a byte-identical
retry gets the original answer and is not routed twice, other content under the same
Identificatie is 409 BRS20.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest
from lxml import etree

from gateway.participants import Participant
from gateway.routing import Broker
from gateway.server import Gateway
from tests.fixtures.gateway import PULL_URL, RunningGateway, local_settings
from tests.http.test_end_to_end import AMSTERDAM, PROVIDER, example

PROVIDER_315 = Participant.parse("aanbieder-42420001")
DIEMEN = Participant.parse("gemeente-0384")
LIMIT = 8 * 1024  # the small gateway's GATEWAY_MAX_MESSAGE_BYTES


async def problem_of(response: aiohttp.ClientResponse, status: int, code: str | None) -> str:
    """Check the answer is problem+json with this status and VSP code; return its text."""
    text = await response.text()
    assert response.status == status, text
    assert response.content_type == "application/problem+json", text
    body = await response.json(content_type=None)
    assert body["status"] == status
    assert body.get("code") == code, text
    return text


@pytest.fixture
async def small_gateway(
    certs_dir: Path, amqp_url: str, tmp_path: Path
) -> AsyncIterator[RunningGateway]:
    """A gateway that accepts messages of at most ``LIMIT`` bytes."""
    settings = local_settings(
        certs_dir,
        amqp_url,
        tmp_path,
        max_message_bytes=LIMIT,
    )
    running = RunningGateway(await Gateway.start(settings), certs_dir, amqp_url)
    try:
        yield running
    finally:
        await running.close()


async def test_a_message_over_the_limit_is_413_brs06(
    small_gateway: RunningGateway, reference: Path
) -> None:
    """One byte over the limit is refused by either door, announced or not; at the limit the
    same message is accepted."""
    provider = await small_gateway.client(PROVIDER)
    original = example(reference, "WMO305")
    # Whitespace after the root element is still the same, valid message.
    at_limit = original + b"\n" * (LIMIT - len(original))
    over = at_limit + b"\n"
    assert len(at_limit) == LIMIT

    await problem_of(await provider.post_xml(over), 413, "BRS06")
    pushed = await provider.push(over, "WMO305", recipient=AMSTERDAM)
    await problem_of(pushed, 413, "BRS06")

    async def trickled() -> AsyncIterator[bytes]:  # no Content-Length: found while reading
        for start in range(0, len(over), 1024):
            yield over[start : start + 1024]

    streamed = await provider.session.post(
        provider.url("/v1/messages"),
        data=trickled(),
        headers={"Content-Type": "application/xml"},
    )
    await problem_of(streamed, 413, "BRS06")

    accepted = await provider.post_xml(at_limit)
    assert accepted.status == 202, await accepted.text()


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("UTF-8 BOM", lambda xml: b"\xef\xbb\xbf" + xml),
        ("UTF-16 with BOM", lambda xml: xml.decode().encode("utf-16")),
        ("Latin-1 byte", lambda xml: xml.replace(b">Wit<", b">W\xe9t<", 1)),
    ],
)
async def test_not_utf8_without_bom_is_400_brs14_op192(
    running_gateway: RunningGateway, reference: Path, name: str, change: Callable[[bytes], bytes]
) -> None:
    """The message must be UTF-8 without a byte order mark: otherwise 400 BRS14 naming OP192."""
    provider = await running_gateway.client(PROVIDER)
    original = example(reference, "WMO305")
    changed = change(original)
    assert changed != original, name
    text = await problem_of(await provider.post_xml(changed), 400, "BRS14")
    assert "OP192" in text


def official_errors(reference: Path, standard: str, name: str, document: bytes) -> list[int]:
    """The lines of the errors the official XSD finds in ``document`` (lxml, no network)."""
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    schema_doc = etree.parse(str(reference / standard / "xsd" / f"{name}.xsd"), parser)
    schema = etree.XMLSchema(schema_doc)
    assert not schema.validate(etree.fromstring(document, parser))
    errors = cast("Iterable[Any]", schema.error_log)  # iterable, though lxml-stubs do not say so
    return sorted(error.line for error in errors)


def with_errors(document: bytes) -> bytes:
    """The official WMO305 with five errors: a Geslacht outside its code list, a Dagtekening
    that does not exist, a product category that is too long, two start dates of day 33/34."""
    changed = document.replace(b"<wmo305:Geslacht>1<", b"<wmo305:Geslacht>7<", 1)
    changed = changed.replace(b"<iwmo:Dagtekening>2025-04-05<", b"<iwmo:Dagtekening>2025-02-30<")
    changed = changed.replace(b"<iwmo:Categorie>01<", b"<iwmo:Categorie>001<", 1)
    return changed.replace(b"<wmo305:Begindatum>2025-04-0", b"<wmo305:Begindatum>2025-04-3")


@pytest.mark.parametrize(
    ("standard", "name", "document"),
    [
        ("ijw-3.2", "JW315", lambda reference: example(reference, "JW315")),
        ("iwmo-3.2", "WMO305", lambda reference: with_errors(example(reference, "WMO305"))),
    ],
    ids=["official JW315", "WMO305 with five errors"],
)
async def test_xsd_invalid_is_422_brs13_listing_every_error(
    running_gateway: RunningGateway,
    reference: Path,
    standard: str,
    name: str,
    document: Callable[[Path], bytes],
) -> None:
    """Every error the official XSD finds is listed, each with its line, and no other."""
    payload = document(reference)
    expected = official_errors(reference, standard, name, payload)
    assert len(expected) >= 2
    sender = PROVIDER_315 if name == "JW315" else PROVIDER
    client = await running_gateway.client(sender)
    response = await client.post_xml(payload)
    await problem_of(response, 422, "BRS13")
    body = await response.json(content_type=None)
    assert f"{len(expected)} error(s)" in body["detail"]
    # As the VSP's ValidationProblemDetails: the message's errors listed under "payload".
    assert list(body["errors"]) == ["payload"]
    errors = body["errors"]["payload"]
    lines = sorted(int(error.split(":", 1)[0].removeprefix("line ")) for error in errors)
    assert lines == expected, errors


async def test_retour_messages_are_authorised_by_the_originals_header(
    running_gateway: RunningGateway, reference: Path
) -> None:
    """A 316 carries the 315's header: Afzender the provider, Ontvanger the municipality. Only
    that municipality may send it (403 BRS03 for another municipality, and for the provider its
    Afzender names); sent by it, it reaches the provider. (A header naming the municipality as
    Afzender is not valid against the 316's XSD: 422 before authorisation.)"""
    retour = example(reference, "WMO316")
    assert b"<wmo316:Afzender>42420001<" in retour
    assert b"<wmo316:Ontvanger>0384<" in retour
    amsterdam = await running_gateway.client(AMSTERDAM)
    diemen = await running_gateway.client(DIEMEN)
    provider = await running_gateway.client(PROVIDER_315)

    text = await problem_of(await amsterdam.post_xml(retour), 403, "BRS03")
    assert "the header of a retour message is the original's" in text
    await problem_of(await provider.post_xml(retour), 403, "BRS03")

    sent = await diemen.post_xml(retour)
    assert sent.status == 202, await sent.text()
    assert (await sent.json())["ontvanger"] == PROVIDER_315.key
    [entry] = await (await provider.session.get(provider.url(PULL_URL))).json()
    assert entry["routeringgegevens"]["afzender"] == {"rol": "Gemeente", "code": "0384"}


async def deliveries(amqp_url: str, participant: Participant, wait: float = 1.0) -> list[str]:
    """The message ids on a participant's queue (acknowledged), until ``wait`` s of quiet."""
    found: list[str] = []
    async with Broker.consumer(amqp_url, participant) as messages:
        while True:
            try:
                async with asyncio.timeout(wait):
                    delivery = await anext(messages)
            except TimeoutError:
                return found
            await delivery.ack()
            found.append(str(delivery.message_id))


async def test_tr056_identical_retry_gets_the_original_answer_and_other_content_409(
    running_gateway: RunningGateway, reference: Path
) -> None:
    """The same bytes again answer what the first answered (same traceerId, marked a replay)
    and are not routed again; other content under the same Identificatie from the same sender is
    409 BRS20; another sender may use the same Identificatie."""
    provider = await running_gateway.client(PROVIDER)
    original = example(reference, "WMO305")

    first = await provider.post_xml(original)
    assert first.status == 202, await first.text()
    answer = await first.json()
    again = await provider.post_xml(original)
    assert again.status == 202, await again.text()
    replay = await again.json()
    assert replay == {**answer, "herhaald": True}
    assert answer["herhaald"] is False
    assert await deliveries(running_gateway.amqp_url, AMSTERDAM) == [answer["traceerId"]]

    changed = original.replace(b"<wmo305:Geslacht>1<", b"<wmo305:Geslacht>2<", 1)
    assert changed != original
    text = await problem_of(await provider.post_xml(changed), 409, "BRS20")
    assert "123456789013" in text  # names the Identificatie
    pushed = await provider.push(changed, "WMO305", recipient=AMSTERDAM)
    await problem_of(pushed, 409, "BRS20")

    other = await running_gateway.client(PROVIDER_315)
    theirs = changed.replace(b"<wmo305:Afzender>65656055<", b"<wmo305:Afzender>42420001<", 1)
    accepted = await other.post_xml(theirs)
    assert accepted.status == 202, await accepted.text()
    assert await deliveries(running_gateway.amqp_url, AMSTERDAM) == [
        (await accepted.json())["traceerId"]
    ]
