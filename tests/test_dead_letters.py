"""Dead letters become the sender's status: against the real RabbitMQ, ledger and HTTPS API."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import aio_pika
import pytest
from aio_pika.abc import FieldValue

from gateway.dead_letters import (
    DeadLetterWatch,
    Result,
    event_id,
    inbox_owner,
    read_dead_letter,
)
from gateway.errors import MalformedDelivery
from gateway.ledger import Ledger
from gateway.metrics import Metrics
from gateway.participants import Participant
from gateway.routing import (
    DEAD_LETTER_LEDGER_QUEUE,
    DEAD_LETTER_QUEUE,
    DELIVERY_LIMIT,
    Broker,
    Event,
    RoutedMessage,
)
from gateway.vsp import Berichtstatus
from tests.fixtures.broker import PROVIDER_A, ZOETERMEER, rabbitmqctl
from tests.fixtures.gateway import PULL_URL, STATUS_URL, Client, RunningGateway
from tests.ledger.test_store import new_message

PROVIDER = Participant.parse("aanbieder-65656055")
AMSTERDAM = Participant.parse("gemeente-0363")

OFFERED = ["Ontvangen", "WordtVerwerkt", "VerwerkingVoltooid", "WordtAangeboden"]


def death(reason: str, queue: str = "inbox.gemeente.0637") -> dict[str, FieldValue]:
    """An x-death header as RabbitMQ 3.10 writes it for one death."""
    return {
        "x-death": [
            {
                "count": 1,
                "reason": reason,
                "queue": queue,
                "time": dt.datetime.now(dt.UTC),
                "exchange": "iwmo.route",
                "routing-keys": ["gemeente.0637.WMO305"],
            }
        ],
        "x-first-death-reason": reason,
        "x-first-death-queue": queue,
        "x-first-death-exchange": "iwmo.route",
    }


# -- reading a dead letter (pure) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "outcome"),
    [
        ("rejected", Berichtstatus.AANBIEDEN_MISLUKT),
        ("expired", Berichtstatus.BEZORGING_AFGEBROKEN),
        ("maxlen", Berichtstatus.BEZORGING_AFGEBROKEN),
        ("delivery_limit", Berichtstatus.BEZORGING_AFGEBROKEN),
        ("something-new", None),
    ],
)
def test_each_reason_has_its_vsp_status(reason: str, outcome: Berichtstatus | None) -> None:
    """A refusal by the consumer is AanbiedenMislukt, a delivery given up BezorgingAfgebroken."""
    dead = read_dead_letter("t-1", death(reason))
    assert (dead.traceer_id, dead.reason, dead.queue) == ("t-1", reason, "inbox.gemeente.0637")
    assert dead.recipient is not None
    assert dead.recipient.key == ZOETERMEER.key
    assert dead.outcome is outcome


def test_the_latest_death_counts() -> None:
    """A message that died twice is read by its newest death, the first entry of x-death."""
    headers = death("rejected", "inbox.aanbieder.12345678")
    older = death("expired")["x-death"]
    assert isinstance(older, list)
    assert isinstance(headers["x-death"], list)
    headers["x-death"] = [*headers["x-death"], *older]
    dead = read_dead_letter("t-2", headers)
    assert dead.reason == "rejected"
    assert dead.recipient is not None
    assert dead.recipient.key == PROVIDER_A.key


def test_headers_without_x_death_are_read_from_the_last_or_first_death() -> None:
    """Without x-death the x-last-death-* headers (RabbitMQ 3.13+), then x-first-death-*, say it."""
    last = {"x-last-death-reason": b"maxlen", "x-last-death-queue": b"inbox.gemeente.0637"}
    assert read_dead_letter("t-3", last).reason == "maxlen"
    first = {"x-first-death-reason": "expired", "x-first-death-queue": "inbox.gemeente.0637"}
    assert read_dead_letter("t-3", first).outcome is Berichtstatus.BEZORGING_AFGEBROKEN


@pytest.mark.parametrize(
    ("message_id", "headers", "problem"),
    [
        (None, death("rejected"), "without a message_id"),
        ("t-4", {}, "no x-death"),
        ("t-4", {"x-death": "rejected"}, "no x-death"),
    ],
)
def test_an_unreadable_dead_letter_is_malformed(
    message_id: str | None, headers: dict[str, object], problem: str
) -> None:
    """A dead letter without its id or its death is MalformedDelivery, naming what is missing."""
    with pytest.raises(MalformedDelivery, match=problem):
        read_dead_letter(message_id, headers)


@pytest.mark.parametrize(
    ("queue", "owner"),
    [
        ("inbox.gemeente.0637", ZOETERMEER.key),
        ("inbox.aanbieder.12345678", PROVIDER_A.key),
        ("inbox.gemeente.63", None),
        ("inbox.ziekenhuis.0637", None),
        ("iwmo.dead", None),
        ("events.abc", None),
    ],
)
def test_only_an_inbox_has_an_owner(queue: str, owner: str | None) -> None:
    """A dead letter names its participant only when it died in a well-formed inbox."""
    found = inbox_owner(queue)
    assert (found.key if found is not None else None) == owner


# -- helpers against the real broker ------------------------------------------------------------


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 20.0) -> None:
    """Poll ``check`` until it holds; the watch works in the background."""
    async with asyncio.timeout(seconds):
        while not await check():  # noqa: ASYNC110 - the background's state has no event
            await asyncio.sleep(0.05)


def counted(metrics: Metrics, reason: str, result: str) -> float:
    value = metrics.registry.get_sample_value(
        "gateway_dead_letters_total", {"reason": reason, "result": result}
    )
    return value or 0.0


async def reaches(metrics: Metrics, reason: str, result: str, count: int = 1) -> None:
    """Wait for the counter: the watch counts a dead letter after recording it."""

    async def check() -> bool:
        return counted(metrics, reason, result) == count

    await eventually(check)


async def queue_depth(url: str, queue: str) -> int:
    """Messages ready in ``queue`` now (not counting those a consumer holds)."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return declared.declaration_result.message_count or 0
    finally:
        await connection.close()


async def status_of(client: Client, traceer_id: str) -> str:
    response = await client.session.get(client.url(STATUS_URL), params={"traceerId": traceer_id})
    assert response.status == 200, await response.text()
    [own] = [e for e in await response.json() if e["referentiegegevens"]["traceerId"] == traceer_id]
    return str(own["berichtstatus"])


async def becomes(client: Client, traceer_id: str, status: str) -> None:
    async def check() -> bool:
        return await status_of(client, traceer_id) == status

    await eventually(check)


async def pulled_ids(client: Client) -> list[str]:
    listing = await client.session.get(client.url(PULL_URL))
    assert listing.status == 200
    return [e["referentiegegevens"]["traceerId"] for e in await listing.json()]


async def push_305(reference: Path, provider: Client, identificatie: str = "123456789013") -> str:
    """The official 305 example (under another BerichtIdentificatie), pushed; its traceerId."""
    traceer_id = str(uuid.uuid4())
    example = (reference / "iwmo-3.2" / "examples" / "WMO305.xml").read_bytes()
    original = b"<iwmo:Identificatie>123456789013<"
    assert original in example
    payload = example.replace(original, f"<iwmo:Identificatie>{identificatie}<".encode())
    response = await provider.push(payload, "WMO305", recipient=AMSTERDAM, traceer_id=traceer_id)
    assert response.status == 204, await response.text()
    return traceer_id


async def settle_next(
    url: str,
    participant: Participant,
    settle: Callable[[aio_pika.abc.AbstractIncomingMessage], Awaitable[None]],
) -> str:
    """Take the next delivery of the participant's inbox and settle it as ``settle`` does."""
    async with Broker.consumer(url, participant) as deliveries, asyncio.timeout(10):
        delivery = await anext(deliveries)
        await settle(delivery)
        return delivery.message_id or ""


async def reject(delivery: aio_pika.abc.AbstractIncomingMessage) -> None:
    await delivery.reject(requeue=False)


def status_events(url: str) -> AbstractAsyncContextManager[AsyncIterator[Event]]:
    return Broker.events(url, "berichtstatus.#")


async def next_event(events: AsyncIterator[Event]) -> Event:
    async with asyncio.timeout(20):
        return await anext(events)


# -- end to end over the HTTPS API ------------------------------------------------------------


async def test_a_305_the_municipality_rejects_is_aanbieden_mislukt(
    running_gateway: RunningGateway, reference: Path
) -> None:
    """A provider pushes a 305; the municipality's consumer rejects it. The provider's berichtstatus
    v3 says AanbiedenMislukt, the 305 leaves the municipality's pull list, an event and a count
    say so, and iwmo.dead keeps a copy."""
    url = running_gateway.amqp_url
    provider = await running_gateway.client(PROVIDER)
    municipality = await running_gateway.client(AMSTERDAM)
    async with status_events(url) as events:
        traceer_id = await push_305(reference, provider)
        assert await pulled_ids(municipality) == [traceer_id]

        assert await settle_next(url, AMSTERDAM, reject) == traceer_id
        await becomes(provider, traceer_id, "AanbiedenMislukt")
        event = await next_event(events)

    assert event.routing_key == "berichtstatus.AanbiedenMislukt"
    assert event.message_id == event_id(traceer_id, Berichtstatus.AANBIEDEN_MISLUKT)
    assert event.payload["traceerId"] == traceer_id
    assert event.payload["sender"] == PROVIDER.key
    assert event.payload["recipient"] == AMSTERDAM.key
    assert event.payload["berichttype"] == "WMO305"
    assert event.payload["reason"] == "rejected"
    assert event.payload["queue"] == AMSTERDAM.queue

    history = [s.value for s, _ in await running_gateway.gateway.ledger.history(traceer_id)]
    assert history == [*OFFERED, "AanbiedenMislukt"]
    assert await pulled_ids(municipality) == []
    gone = await municipality.session.get(municipality.url(f"{PULL_URL}/{traceer_id}/payload"))
    assert gone.status == 404
    unconfirmable = await municipality.session.delete(municipality.url(f"{PULL_URL}/{traceer_id}"))
    assert unconfirmable.status == 404
    assert await status_of(provider, traceer_id) == "AanbiedenMislukt"

    await reaches(running_gateway.gateway.metrics, "rejected", Result.MOVED)
    metrics = await municipality.session.get(f"{running_gateway.ops_url}/metrics")
    assert 'gateway_dead_letters_total{reason="rejected",result="moved"} 1.0' in (
        await metrics.text()
    )
    assert await queue_depth(url, DEAD_LETTER_QUEUE) == 1
    assert await queue_depth(url, DEAD_LETTER_LEDGER_QUEUE) == 0


async def test_a_305_requeued_past_the_delivery_limit_is_bezorging_afgebroken(
    running_gateway: RunningGateway, reference: Path
) -> None:
    """A consumer that keeps requeueing the 305 has RabbitMQ give it up after DELIVERY_LIMIT
    deliveries: BezorgingAfgebroken for the sender."""
    url = running_gateway.amqp_url
    provider = await running_gateway.client(PROVIDER)
    traceer_id = await push_305(reference, provider)
    deliveries_seen = 0
    async with Broker.consumer(url, AMSTERDAM) as deliveries, asyncio.timeout(30):
        async for delivery in deliveries:
            assert delivery.message_id == traceer_id
            deliveries_seen += 1
            await delivery.reject(requeue=True)
            if deliveries_seen > DELIVERY_LIMIT:
                break
    await becomes(provider, traceer_id, "BezorgingAfgebroken")
    metrics = running_gateway.gateway.metrics
    await reaches(metrics, "delivery_limit", Result.MOVED)


async def apply_policy(vhost: str, queue: str, definition: dict[str, int]) -> None:
    """Have RabbitMQ apply a policy to one queue, and wait until the queue shows it."""
    pattern = "^" + queue.replace(".", "[.]") + "$"
    await asyncio.to_thread(
        rabbitmqctl,
        "set_policy",
        "-p",
        vhost,
        "--apply-to",
        "queues",
        "inbox-limit",
        pattern,
        json.dumps(definition),
    )
    async with asyncio.timeout(60):
        while True:
            listed = await asyncio.to_thread(
                rabbitmqctl, "list_queues", "-p", vhost, "name", "policy", "--no-table-headers"
            )
            if any(line.split() == [queue, "inbox-limit"] for line in listed.splitlines()):
                return
            await asyncio.sleep(0.2)


@pytest.mark.parametrize(
    ("reason", "policy"), [("expired", {"message-ttl": 300}), ("maxlen", {"max-length": 1})]
)
async def test_a_305_the_inbox_gives_up_is_bezorging_afgebroken(
    running_gateway: RunningGateway,
    reference: Path,
    amqp_vhost: str,
    reason: str,
    policy: dict[str, int],
) -> None:
    """Under an operator's policy on the inbox, a 305 that expires unread, or is pushed out of a
    full inbox by the next one, is BezorgingAfgebroken; the next one is still on offer."""
    await apply_policy(amqp_vhost, AMSTERDAM.queue, policy)
    provider = await running_gateway.client(PROVIDER)
    municipality = await running_gateway.client(AMSTERDAM)
    first = await push_305(reference, provider)
    if reason == "maxlen":
        second = await push_305(reference, provider, identificatie="123456789014")
    await becomes(provider, first, "BezorgingAfgebroken")
    await reaches(running_gateway.gateway.metrics, reason, Result.MOVED)
    listed = await pulled_ids(municipality)
    assert first not in listed
    if reason == "maxlen":
        assert listed == [second]
        assert await status_of(provider, second) == "WordtAangeboden"


async def test_a_305_already_bezorgd_stays_bezorgd(
    running_gateway: RunningGateway, reference: Path
) -> None:
    """The municipality confirms the 305 and then rejects its delivery: the dead letter is
    recorded as seen, and the 305 stays Bezorgd with the history it had."""
    url = running_gateway.amqp_url
    provider = await running_gateway.client(PROVIDER)
    municipality = await running_gateway.client(AMSTERDAM)
    traceer_id = await push_305(reference, provider)

    async def confirm_then_reject(delivery: aio_pika.abc.AbstractIncomingMessage) -> None:
        confirmed = await municipality.session.delete(municipality.url(f"{PULL_URL}/{traceer_id}"))
        assert confirmed.status == 202
        await delivery.reject(requeue=False)

    await settle_next(url, AMSTERDAM, confirm_then_reject)
    metrics = running_gateway.gateway.metrics

    async def seen() -> bool:
        return counted(metrics, "rejected", Result.UNCHANGED) == 1

    await eventually(seen)
    assert await status_of(provider, traceer_id) == "Bezorgd"
    history = [s.value for s, _ in await running_gateway.gateway.ledger.history(traceer_id)]
    assert history == [*OFFERED, "Bezorgd"]
    assert counted(metrics, "rejected", Result.MOVED) == 0


async def test_the_watch_goes_on_after_rabbitmq_closed_its_connections(
    running_gateway: RunningGateway, reference: Path, amqp_vhost: str
) -> None:
    """RabbitMQ force-closes every connection of the vhost (the gateway's and the watch's); both
    come back, and a 305 rejected afterwards is AanbiedenMislukt."""
    url = running_gateway.amqp_url
    gateway = running_gateway.gateway
    provider = await running_gateway.client(PROVIDER)
    await asyncio.to_thread(
        rabbitmqctl, "close_all_connections", "--vhost", amqp_vhost, "test: forced close"
    )

    async def back() -> bool:
        return gateway.broker.reconnects >= 1 and gateway.broker.ready

    await eventually(back, 30)
    traceer_id = await push_305(reference, provider)
    await settle_next(url, AMSTERDAM, reject)
    await becomes(provider, traceer_id, "AanbiedenMislukt")


# -- the watch on its own: acknowledgement and repeats, on both ledgers ------------------------


async def on_offer(ledger: Ledger, broker: Broker, copies: int = 1) -> str:
    """A message admitted and routed to Zoetermeer, published ``copies`` times."""
    traceer_id = str(uuid.uuid4())
    await ledger.admit(
        new_message(
            b"<Bericht/>",
            traceer_id[:8],
            traceer_id=traceer_id,
            sender=PROVIDER_A.key,
            recipient=ZOETERMEER.key,
        )
    )
    for _ in range(copies):
        await broker.publish(
            RoutedMessage(
                traceer_id=traceer_id,
                conversatie_id=str(uuid.uuid4()),
                als_antwoord_op=None,
                sender=PROVIDER_A,
                recipient=ZOETERMEER,
                message_type="WMO305",
                release="3.2",
                trace_id=uuid.uuid4().hex,
                body=b"<Bericht/>",
            )
        )
    await ledger.routed(traceer_id)
    return traceer_id


async def test_a_dead_letter_is_acknowledged_only_once_the_ledger_took_it(
    broker: Broker, amqp_url: str, db_url: str
) -> None:
    """With the ledger unable to write, the watch holds the dead letter unacknowledged; stopped,
    it leaves it in iwmo.dead.ledger; a watch with a working ledger records it and acks it."""
    ledger = await Ledger.open(db_url)
    traceer_id = await on_offer(ledger, broker)
    await ledger.close()  # its writer takes nothing more: every write is LedgerUnavailable
    await settle_next(amqp_url, ZOETERMEER, reject)

    metrics = Metrics()
    broken = DeadLetterWatch(amqp_url, ledger, broker, metrics, first_retry=0.05)
    broken.start()
    try:
        await asyncio.wait_for(broken.consuming.wait(), 10)

        async def held() -> bool:
            return await queue_depth(amqp_url, DEAD_LETTER_LEDGER_QUEUE) == 0

        await eventually(held)
        await asyncio.sleep(0.3)  # several failed tries
    finally:
        await broken.stop()
    assert await queue_depth(amqp_url, DEAD_LETTER_LEDGER_QUEUE) == 1
    assert counted(metrics, "rejected", Result.MOVED) == 0

    reopened = await Ledger.open(db_url)
    watch = DeadLetterWatch(amqp_url, reopened, broker, metrics, first_retry=0.05)
    watch.start()
    try:

        async def recorded() -> bool:
            return counted(metrics, "rejected", Result.MOVED) == 1

        await eventually(recorded)
        stored = await reopened.get(traceer_id)
        assert stored is not None
        assert stored.status is Berichtstatus.AANBIEDEN_MISLUKT
        assert await queue_depth(amqp_url, DEAD_LETTER_LEDGER_QUEUE) == 0
    finally:
        await watch.stop()
        await reopened.close()


async def test_two_dead_letters_of_one_message_move_it_once(
    broker: Broker, amqp_url: str, db_url: str
) -> None:
    """Two copies of one message are rejected: one move, one history entry, and the event twice
    under one message id for subscribers to recognise the repeat."""
    ledger = await Ledger.open(db_url)
    metrics = Metrics()
    watch = DeadLetterWatch(amqp_url, ledger, broker, metrics, first_retry=0.05)
    try:
        traceer_id = await on_offer(ledger, broker, copies=2)
        async with status_events(amqp_url) as events:
            await settle_next(amqp_url, ZOETERMEER, reject)
            await settle_next(amqp_url, ZOETERMEER, reject)
            watch.start()
            first, second = await next_event(events), await next_event(events)

        async def both() -> bool:
            done = counted(metrics, "rejected", Result.MOVED)
            return done + counted(metrics, "rejected", Result.REPEATED) == 2

        await eventually(both)
        assert counted(metrics, "rejected", Result.MOVED) == 1
        assert (
            first.message_id
            == second.message_id
            == event_id(traceer_id, Berichtstatus.AANBIEDEN_MISLUKT)
        )
        statuses = [s for s, _ in await ledger.history(traceer_id)]
        assert statuses.count(Berichtstatus.AANBIEDEN_MISLUKT) == 1
    finally:
        await watch.stop()
        await ledger.close()


async def test_dead_letters_with_nothing_to_record_are_acknowledged_and_left_in_iwmo_dead(
    broker: Broker, amqp_url: str, tmp_path: Path
) -> None:
    """A dead letter from another queue, for a reason we do not know, or of a message the ledger
    does not have, changes nothing and is acked in the gateway's queue; iwmo.dead keeps them."""
    ledger = await Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}")
    metrics = Metrics()
    watch = DeadLetterWatch(amqp_url, ledger, broker, metrics, first_retry=0.05)
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        dead = await channel.get_exchange("iwmo.dead")
        for message_id, headers in [
            ("elsewhere", death("rejected", "some.queue")),
            ("new-reason", death("something-new")),
            ("forgotten", death("rejected")),
        ]:
            await dead.publish(aio_pika.Message(b"x", message_id=message_id, headers=headers), "k")
        watch.start()

        async def all_seen() -> bool:
            return (
                counted(metrics, "rejected", Result.IGNORED)
                + counted(metrics, "something-new", Result.IGNORED)
                + counted(metrics, "rejected", Result.UNKNOWN)
            ) == 3

        await eventually(all_seen)
        assert counted(metrics, "rejected", Result.IGNORED) == 1
        assert counted(metrics, "rejected", Result.UNKNOWN) == 1
        assert await queue_depth(amqp_url, DEAD_LETTER_LEDGER_QUEUE) == 0
        assert await queue_depth(amqp_url, DEAD_LETTER_QUEUE) == 3
    finally:
        await connection.close()
        await watch.stop()
        await ledger.close()
