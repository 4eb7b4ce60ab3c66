"""The RabbitMQ layer against the real broker: topology, confirmed publishing, outages, events."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aio_pika
import aio_pika.abc
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pamqp.commands import Basic

from gateway.errors import BrokerUnavailable, MalformedDelivery, TopologyError, Unroutable
from gateway.participants import Participant, Registry, Role
from gateway.routing import (
    DEAD_LETTER_LEDGER_QUEUE,
    DEAD_LETTER_QUEUE,
    DELIVERY_LIMIT,
    ROUTE_EXCHANGE,
    Broker,
    Header,
    RoutedMessage,
    _Properties,
    message_from_delivery,
)
from gateway.server import Gateway
from tests.fixtures.broker import (
    LEIDEN,
    PARTICIPANTS,
    PROVIDER_A,
    ZOETERMEER,
    AmqpRelay,
    rabbitmqctl,
)
from tests.fixtures.gateway import local_settings

NOT_REGISTERED = Participant(Role.GEMEENTE, "0547", "Leiderdorp")
DEAD_LETTER_QUEUES = {DEAD_LETTER_QUEUE, DEAD_LETTER_LEDGER_QUEUE}
REGISTRY = Registry.of((*PARTICIPANTS, NOT_REGISTERED))


def routed(
    recipient: Participant = ZOETERMEER,
    *,
    sender: Participant = PROVIDER_A,
    message_type: str = "WMO305",
    als_antwoord_op: str | None = None,
) -> RoutedMessage:
    return RoutedMessage(
        traceer_id=str(uuid.uuid4()),
        conversatie_id=str(uuid.uuid4()),
        als_antwoord_op=als_antwoord_op,
        sender=sender,
        recipient=recipient,
        message_type=message_type,
        release="3.2",
        trace_id=uuid.uuid4().hex,
        body=b'<?xml version="1.0" encoding="UTF-8"?><Bericht/>',
    )


async def receive(url: str, source: Participant | str) -> aio_pika.abc.AbstractIncomingMessage:
    """The next delivery from a queue, acknowledged."""
    async with Broker.consumer(url, source) as messages, asyncio.timeout(10):
        incoming = await anext(messages)
        await incoming.ack()
        return incoming


async def wait_until(condition: Callable[[], bool], seconds: float = 15.0) -> None:
    """Poll ``condition`` until it holds; the broker's state changes have no event to await."""
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


def queue_table(vhost: str) -> dict[str, dict[str, Any]]:
    """The vhost's queues as rabbitmqctl lists them, by name."""
    rows = json.loads(
        rabbitmqctl(
            "list_queues",
            "-p",
            vhost,
            "name",
            "type",
            "durable",
            "arguments",
            "--formatter",
            "json",
        )
    )
    return {row["name"]: row for row in rows}


async def test_topology_is_declared_idempotently(amqp_url: str, amqp_vhost: str) -> None:
    """Connecting twice with the same registry declares the same queues without an error."""
    for _ in range(2):
        broker = await Broker.connect(amqp_url, participants=PARTICIPANTS)
        await broker.ensure_participant(ZOETERMEER)
        await broker.close()
    assert set(queue_table(amqp_vhost)) == DEAD_LETTER_QUEUES | {p.queue for p in PARTICIPANTS}


async def test_inboxes_are_quorum_queues_with_dead_lettering(
    broker: Broker, amqp_vhost: str
) -> None:
    """Each inbox is a durable quorum queue dead-lettering to iwmo.dead; the two queues of the
    dead letters are durable."""
    table = queue_table(amqp_vhost)
    for participant in PARTICIPANTS:
        row = table[participant.queue]
        assert row["type"] == "quorum"
        assert row["durable"] is True
        arguments = {name: value for name, _type, value in row["arguments"]}
        assert arguments["x-queue-type"] == "quorum"
        assert arguments["x-dead-letter-exchange"] == "iwmo.dead"
    for name in DEAD_LETTER_QUEUES:
        assert table[name]["durable"] is True


def rabbitmq_table(vhost: str, what: str, *columns: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(
        rabbitmqctl(what, "-p", vhost, *columns, "--formatter", "json")
    )
    return rows


async def test_exchanges_and_bindings_are_the_designs(broker: Broker, amqp_vhost: str) -> None:
    """iwmo.route, iwmo.dead and iwmo.events are durable topic exchanges; each inbox is bound to
    iwmo.route by ``<role>.<code>.#`` and nothing else; iwmo.dead gives every dead letter to its
    queue and to the gateway's."""
    exchanges = {
        row["name"]: (row["type"], row["durable"])
        for row in rabbitmq_table(amqp_vhost, "list_exchanges", "name", "type", "durable")
        if row["name"].startswith("iwmo.")
    }
    assert exchanges == {
        "iwmo.route": ("topic", True),
        "iwmo.dead": ("topic", True),
        "iwmo.events": ("topic", True),
    }
    bindings = {
        (row["source_name"], row["destination_name"], row["routing_key"])
        for row in rabbitmq_table(
            amqp_vhost, "list_bindings", "source_name", "destination_name", "routing_key"
        )
        if row["source_name"]  # the default exchange binds every queue by its name
    }
    assert bindings == {("iwmo.dead", "iwmo.dead", "#"), ("iwmo.dead", "iwmo.dead.ledger", "#")} | {
        ("iwmo.route", f"inbox.{p.role}.{p.code}", f"{p.role}.{p.code}.#") for p in PARTICIPANTS
    }


async def test_the_gateway_declares_an_inbox_for_every_registered_participant(
    certs_dir: Path, amqp_url: str, amqp_vhost: str, tmp_path: Path
) -> None:
    """At start the gateway declares the topology and one inbox per participant of its
    registry; a second gateway on the same broker declares the same without an error."""
    settings = local_settings(certs_dir, amqp_url, tmp_path)
    for _ in range(2):
        gateway = await Gateway.start(settings)
        await gateway.stop()
    expected = {f"inbox.{p.role}.{p.code}" for p in Registry.load()}
    assert set(queue_table(amqp_vhost)) == expected | DEAD_LETTER_QUEUES


async def test_published_message_arrives_with_every_property(broker: Broker, amqp_url: str) -> None:
    """A message lands on the recipient's inbox, persistent, with all properties read back."""
    sent = routed(ZOETERMEER, als_antwoord_op=str(uuid.uuid4()))
    await broker.publish(sent)
    incoming = await receive(amqp_url, ZOETERMEER)
    assert message_from_delivery(incoming, registry=REGISTRY) == sent
    assert incoming.routing_key == "gemeente.0637.WMO305"
    assert incoming.exchange == ROUTE_EXCHANGE
    assert incoming.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert incoming.message_id == sent.traceer_id
    assert incoming.correlation_id == sent.conversatie_id
    assert incoming.type == "WMO305"
    assert incoming.headers[Header.SENDER] == "aanbieder-12345678"
    assert incoming.headers[Header.RECIPIENT] == "gemeente-0637"
    assert incoming.headers[Header.RELEASE] == "3.2"
    assert incoming.headers[Header.TRACE_ID] == sent.trace_id
    assert incoming.headers[Header.IN_REPLY_TO] == sent.als_antwoord_op
    assert incoming.content_type == "application/xml"
    assert incoming.app_id == "iwmo-gateway"
    assert incoming.priority == 0


# Short strings (at most 255 bytes in UTF-8) and the empty string, which AMQP leaves out.
SHORT_TEXT = st.text(max_size=60)
PROPERTIES = st.fixed_dictionaries(
    {
        "content_type": st.none() | SHORT_TEXT,
        "headers": st.none()
        | st.dictionaries(st.text(max_size=20), st.text(max_size=300), max_size=6),
        "delivery_mode": st.none() | st.sampled_from([1, 2]),
        "priority": st.none() | st.integers(0, 9),
        "correlation_id": st.none() | SHORT_TEXT,
        "message_id": st.none() | SHORT_TEXT,
        "message_type": st.none() | SHORT_TEXT,
        "app_id": st.none() | SHORT_TEXT,
    },
    optional={
        "reply_to": SHORT_TEXT,
        "expiration": st.integers(1, 10**6).map(str),
        "user_id": SHORT_TEXT,
    },
)


@given(PROPERTIES)
def test_message_properties_marshal_to_pamqps_bytes(properties: dict[str, Any]) -> None:
    """The gateway's own marshal of the properties writes exactly what pamqp would."""
    expected = Basic.Properties(**properties).marshal()
    assert _Properties(**properties).marshal() == expected


@pytest.mark.parametrize(
    "headers",
    [{"count": 3}, {"flag": True}, {"nested": {"a": "b"}}, {"x" * 200: "long name"}],
    ids=["int", "bool", "table", "long-name"],
)
def test_headers_of_other_kinds_are_marshalled_by_pamqp(headers: dict[str, Any]) -> None:
    """Header values that are not strings, and over-long names, get pamqp's encoding."""
    expected = Basic.Properties(headers=headers, message_id="m").marshal()
    assert _Properties(headers=headers, message_id="m").marshal() == expected


def test_a_property_too_long_for_amqp_is_refused() -> None:
    """A short string over 255 bytes is a TypeError, as pamqp makes it; nothing is cut."""
    with pytest.raises(TypeError):
        Basic.Properties(message_id="é" * 128).marshal()
    with pytest.raises(TypeError):
        _Properties(message_id="é" * 128).marshal()


async def test_message_goes_only_to_its_recipient(broker: Broker, amqp_url: str) -> None:
    """A message for Leiden is not on Zoetermeer's inbox; an answer without reply has no header."""
    sent = routed(LEIDEN, sender=ZOETERMEER, message_type="WMO301")
    await broker.publish(sent)
    incoming = await receive(amqp_url, LEIDEN)
    assert message_from_delivery(incoming).traceer_id == sent.traceer_id
    assert Header.IN_REPLY_TO not in incoming.headers
    async with Broker.consumer(amqp_url, ZOETERMEER) as messages:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await anext(messages)


async def test_unroutable_message_raises_unroutable(broker: Broker) -> None:
    """A recipient without an inbox gets the message returned: Unroutable, VSP code BRS33."""
    with pytest.raises(Unroutable, match=r"gemeente\.0547\.WMO305") as caught:
        await broker.publish(routed(NOT_REGISTERED))
    assert caught.value.vsp_code == "BRS33"
    assert broker.ready


async def test_ensure_participant_makes_a_new_recipient_routable(
    broker: Broker, amqp_url: str
) -> None:
    """After ensure_participant (twice: idempotent) a new participant's messages arrive."""
    await broker.ensure_participant(NOT_REGISTERED)
    await broker.ensure_participant(NOT_REGISTERED)
    sent = routed(NOT_REGISTERED)
    await broker.publish(sent)
    assert message_from_delivery(await receive(amqp_url, NOT_REGISTERED), registry=REGISTRY) == sent


async def test_purge_empties_an_inbox_and_counts_what_it_held(
    broker: Broker, amqp_url: str
) -> None:
    """purge drops what waits on one inbox, says how much, and leaves other inboxes alone."""
    for _ in range(3):
        await broker.publish(routed(ZOETERMEER))
    kept = routed(LEIDEN)
    await broker.publish(kept)
    assert await broker.purge(ZOETERMEER) == 3
    assert await broker.purge(ZOETERMEER) == 0
    assert (await receive(amqp_url, LEIDEN)).message_id == kept.traceer_id


async def test_many_concurrent_publishes_are_all_confirmed_and_delivered(
    broker: Broker, amqp_url: str
) -> None:
    """Hundreds of publishes in flight at once on one broker all arrive, none lost."""
    sent = [routed(PROVIDER_A, sender=ZOETERMEER, message_type="WMO301") for _ in range(500)]
    await asyncio.gather(*(broker.publish(m) for m in sent))
    seen: set[str] = set()
    async with Broker.consumer(amqp_url, PROVIDER_A, prefetch=200) as messages:
        async with asyncio.timeout(20):
            async for incoming in messages:
                async with incoming.process():
                    seen.add(message_from_delivery(incoming).traceer_id)
                if len(seen) == len(sent):
                    break
    assert seen == {m.traceer_id for m in sent}


async def test_rejected_message_is_dead_lettered(broker: Broker, amqp_url: str) -> None:
    """A message a handler rejects inside message.process() ends up on iwmo.dead."""
    sent = routed(LEIDEN)
    await broker.publish(sent)

    class HandlerFailed(Exception):
        pass

    async with Broker.consumer(amqp_url, LEIDEN) as messages, asyncio.timeout(10):
        incoming = await anext(messages)
        with pytest.raises(HandlerFailed):
            async with incoming.process():
                raise HandlerFailed
    dead = await receive(amqp_url, DEAD_LETTER_QUEUE)
    assert message_from_delivery(dead, registry=REGISTRY) == sent


async def test_message_requeued_past_the_delivery_limit_is_dead_lettered(
    broker: Broker, amqp_url: str
) -> None:
    """A handler that keeps requeueing a message loses it to iwmo.dead after DELIVERY_LIMIT."""
    sent = routed(PROVIDER_A, sender=LEIDEN, message_type="WMO301")
    await broker.publish(sent)

    class NotNow(Exception):
        pass

    attempts = 0
    async with Broker.consumer(amqp_url, PROVIDER_A) as messages, asyncio.timeout(30):
        while attempts <= DELIVERY_LIMIT:
            incoming = await anext(messages)
            attempts += 1
            with pytest.raises(NotNow):
                async with incoming.process(requeue=True):
                    raise NotNow
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await anext(messages)
    assert attempts == DELIVERY_LIMIT + 1
    dead = await receive(amqp_url, DEAD_LETTER_QUEUE)
    assert dead.message_id == sent.traceer_id


async def test_events_land_on_the_events_exchange(broker: Broker, amqp_url: str) -> None:
    """publish_event sends JSON to iwmo.events under its routing key; subscribers get it."""
    async with Broker.events(amqp_url, "sla.#") as events:
        await broker.publish_event(
            "sla.late",
            {"traceer_id": "x", "participant": ZOETERMEER, "due": dt.date(2020, 3, 4)},
        )
        await broker.publish_event("other.thing", {"ignored": True})
        async with asyncio.timeout(10):
            event = await anext(events)
    assert event.routing_key == "sla.late"
    assert event.payload == {"traceer_id": "x", "participant": "gemeente-0637", "due": "2020-03-04"}


async def test_event_without_subscribers_is_not_an_error(broker: Broker) -> None:
    """An event nobody listens to is confirmed and dropped, not refused."""
    await broker.publish_event("sla.late", {"count": 1})
    assert broker.ready


async def test_publish_after_close_raises_broker_unavailable(amqp_url: str) -> None:
    """A closed broker is not ready and refuses to publish instead of hanging."""
    broker = await Broker.connect(amqp_url, participants=PARTICIPANTS)
    readiness = [broker.ready]
    await broker.close()
    readiness.append(broker.ready)
    assert readiness == [True, False]
    with pytest.raises(BrokerUnavailable, match="not connected"):
        await broker.publish(routed())


async def test_delivery_without_gateway_headers_is_malformed(broker: Broker, amqp_url: str) -> None:
    """A foreign delivery on an inbox raises MalformedDelivery naming the missing header."""
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(ROUTE_EXCHANGE)
        await exchange.publish(
            aio_pika.Message(b"<x/>", message_id="m-1", correlation_id="c", type="WMO305"),
            "gemeente.0637.WMO305",
        )
    incoming = await receive(amqp_url, ZOETERMEER)
    with pytest.raises(MalformedDelivery, match="'sender'"):
        message_from_delivery(incoming)


async def test_consuming_a_missing_queue_raises_topology_error(amqp_url: str) -> None:
    """Consuming a queue that does not exist names it in a TopologyError."""
    with pytest.raises(TopologyError, match=r"no\.such\.queue"):
        async with Broker.consumer(amqp_url, "no.such.queue"):
            pass


async def test_conflicting_inbox_raises_topology_error(amqp_url: str) -> None:
    """An inbox that exists as a classic queue is reported, naming the queue."""
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()
        await channel.declare_queue(ZOETERMEER.queue, durable=True)
    with pytest.raises(TopologyError, match=r"inbox\.gemeente\.0637"):
        await Broker.connect(amqp_url, participants=[ZOETERMEER])


async def test_connect_to_no_broker_raises_broker_unavailable() -> None:
    """Connecting where no broker listens raises BrokerUnavailable without the password."""
    relay = AmqpRelay()
    await relay.start()
    url = relay.url("whatever")
    await relay.close()
    with pytest.raises(BrokerUnavailable) as caught:
        await Broker.connect(url, connect_timeout=3)
    assert "guest:guest" not in str(caught.value)


async def test_publish_while_disconnected_fails_fast(
    amqp_relay: AmqpRelay, amqp_vhost: str
) -> None:
    """With the broker gone, publish raises BrokerUnavailable at once, not after the timeout."""
    broker = await Broker.connect(
        amqp_relay.url(amqp_vhost), participants=PARTICIPANTS, publish_timeout=5
    )
    try:
        await amqp_relay.cut()
        await wait_until(lambda: not broker.ready, 5)
        started = time.monotonic()
        with pytest.raises(BrokerUnavailable, match="not connected"):
            await broker.publish(routed())
        assert time.monotonic() - started < 0.5
    finally:
        await broker.close()


async def test_stalled_broker_fails_the_publish_within_the_timeout(
    amqp_relay: AmqpRelay, amqp_vhost: str
) -> None:
    """A broker that stops answering makes publish raise BrokerUnavailable after the timeout."""
    broker = await Broker.connect(
        amqp_relay.url(amqp_vhost), participants=PARTICIPANTS, publish_timeout=0.5
    )
    try:
        amqp_relay.stall()
        started = time.monotonic()
        with pytest.raises(BrokerUnavailable, match="no confirm"):
            await broker.publish(routed())
        assert 0.4 < time.monotonic() - started < 2
    finally:
        await amqp_relay.restore()
        await broker.close()


async def test_publish_recovers_after_the_broker_closes_the_connection(
    broker: Broker, amqp_url: str, amqp_vhost: str
) -> None:
    """After RabbitMQ force-closes our connection, the broker reconnects and publishes again."""
    assert broker.reconnects == 0
    await asyncio.to_thread(
        rabbitmqctl, "close_all_connections", "--vhost", amqp_vhost, "test: forced close"
    )
    # The reconnect can be over before rabbitmqctl returns, so count it rather than watch.
    await wait_until(lambda: broker.reconnects == 1 and broker.ready, 30)
    sent = routed()
    await broker.publish(sent)
    assert message_from_delivery(await receive(amqp_url, ZOETERMEER), registry=REGISTRY) == sent


async def test_every_confirmed_message_survives_an_outage_under_load(
    amqp_relay: AmqpRelay, amqp_vhost: str, amqp_url: str
) -> None:
    """Broker down and back mid-load: 503s meanwhile, recovery by itself, no confirmed loss."""
    broker = await Broker.connect(
        amqp_relay.url(amqp_vhost), participants=PARTICIPANTS, publish_timeout=2
    )
    confirmed: set[str] = set()
    refused = 0
    stop = asyncio.Event()

    async def publisher() -> None:
        nonlocal refused
        while not stop.is_set():
            message = routed(LEIDEN)
            try:
                await broker.publish(message)
            except BrokerUnavailable:
                refused += 1
                await asyncio.sleep(0.01)
            else:
                confirmed.add(message.traceer_id)

    try:
        workers = [asyncio.create_task(publisher()) for _ in range(20)]
        await wait_until(lambda: len(confirmed) >= 200)
        await amqp_relay.cut()
        await asyncio.sleep(0.5)
        before_restore = len(confirmed)
        await amqp_relay.restore()
        await wait_until(lambda: len(confirmed) >= before_restore + 200)
        stop.set()
        await asyncio.gather(*workers)
    finally:
        stop.set()
        await broker.close()
    assert refused > 0
    assert broker.reconnects >= 1
    delivered: set[str] = set()
    async with Broker.consumer(amqp_url, LEIDEN, prefetch=500) as messages:
        async with asyncio.timeout(30):
            async for incoming in messages:
                await incoming.ack()
                delivered.add(incoming.message_id or "")
                if confirmed <= delivered:
                    break
    assert confirmed <= delivered
