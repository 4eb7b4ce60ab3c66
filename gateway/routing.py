"""Routing through RabbitMQ: the topology, confirmed publishing, consuming and events.

A message the ingress accepted must never be lost, so it answers 2xx only after the broker has
confirmed the publish: persistent, mandatory, publisher-confirmed, into durable quorum queues. When
RabbitMQ is gone the publish fails fast with ``BrokerUnavailable`` (the ingress answers 503) and the
connection comes back by itself. aio-pika's exceptions stop here; callers see ``gateway.errors``.

The topology, declared idempotently by everybody who connects::

    iwmo.route  (topic) --<role>.<code>.#--> inbox.<role>.<code>  quorum, dead letters to iwmo.dead
    iwmo.dead   (topic) --#-->               iwmo.dead            durable, kept for inspection
                        --#-->               iwmo.dead.ledger     durable, the gateway's copy
    iwmo.events (topic)                      no queue of its own: subscribers bind their own
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import enum
import json
import logging
import struct
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aio_pika
import aio_pika.abc
from aio_pika.exceptions import (
    CONNECTION_EXCEPTIONS,
    ChannelNotFoundEntity,
    ChannelPreconditionFailed,
)
from pamqp.commands import Basic

from gateway.errors import (
    BrokerUnavailable,
    ConfigError,
    MalformedDelivery,
    TopologyError,
    Unroutable,
)
from gateway.participants import Participant, Registry
from gateway.publisher import Publisher, redacted

log = logging.getLogger(__name__)

ROUTE_EXCHANGE = "iwmo.route"
DEAD_LETTER_EXCHANGE = "iwmo.dead"
DEAD_LETTER_QUEUE = "iwmo.dead"
# The gateway's own copy of every dead letter, which it records in the ledger and acknowledges
# (gateway/dead_letters.py); ``iwmo.dead`` keeps the other copy for operators.
DEAD_LETTER_LEDGER_QUEUE = "iwmo.dead.ledger"
EVENTS_EXCHANGE = "iwmo.events"

# A handler that keeps requeueing a message it cannot take would loop for ever; after this many
# deliveries the quorum queue dead-letters it (RabbitMQ 4 uses the same default).
DELIVERY_LIMIT = 20

INBOX_ARGUMENTS: Mapping[str, Any] = {
    "x-queue-type": "quorum",
    "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
    "x-delivery-limit": DELIVERY_LIMIT,
}

APP_ID = "iwmo-gateway"
PERSISTENT = 2  # the AMQP delivery mode in which the broker writes a message to disk

# For the consumer helpers, which handlers and tests open; the gateway's own are arguments.
CONSUMER_CONNECT_TIMEOUT = 10.0
CONSUMER_RECONNECT_INTERVAL = 1.0


class Header(enum.StrEnum):
    """The AMQP headers the gateway sets beside the standard message properties."""

    SENDER = "sender"
    RECIPIENT = "recipient"
    RELEASE = "release"
    TRACE_ID = "trace-id"
    IN_REPLY_TO = "in-reply-to"


@dataclass(frozen=True, slots=True)
class RoutedMessage:
    """One accepted message on its way to its recipient's inbox."""

    traceer_id: str  # AMQP message_id: the VSP's traceerId, a UUID
    conversatie_id: str  # AMQP correlation_id
    als_antwoord_op: str | None  # the traceerId this message answers, if any
    sender: Participant
    recipient: Participant
    message_type: str  # "WMO305"
    release: str  # "3.2"
    trace_id: str  # for logs and tracing
    body: bytes = field(repr=False)  # the XML payload

    @property
    def routing_key(self) -> str:
        """``<role>.<code>.<message type>`` of the recipient: ``gemeente.0637.WMO305``."""
        return f"{self.recipient.routing_prefix}.{self.message_type}"


@dataclass(frozen=True, slots=True)
class Event:
    """A notice on ``iwmo.events``, such as ``sla.late``; the payload is JSON.

    ``message_id``: an event that may be published again (at least once) keeps its id, so that a
    subscriber can recognise the repeat.
    """

    routing_key: str
    payload: Mapping[str, object]
    message_id: str = ""


class Broker:
    """Two connections to RabbitMQ: aio-pika's robust one for the topology, and a publisher of
    our own (gateway.publisher) that publishes with confirms.

    Make one with ``await Broker.connect(url, participants=...)``; many publishes may be in flight
    on it at once.
    """

    def __init__(
        self,
        connection: aio_pika.abc.AbstractRobustConnection,
        topology: aio_pika.abc.AbstractRobustChannel,
        publisher: Publisher,
        *,
        publish_timeout: float,
    ) -> None:
        self._connection = connection
        self._topology = topology
        self._publisher = publisher
        self._publish_timeout = publish_timeout
        self._inboxes: dict[Participant, aio_pika.abc.AbstractQueue] = {}
        self._reconnects = 0
        connection.close_callbacks.add(self._on_connection_lost)
        connection.reconnect_callbacks.add(self._on_reconnected)

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        participants: Iterable[Participant] = (),
        publish_timeout: float = 5.0,
        connect_timeout: float = 10.0,
        reconnect_interval: float = 1.0,
    ) -> Broker:
        """Connect, declare the topology and one inbox per participant; raise if we cannot."""
        connection = await _connect(url, connect_timeout, reconnect_interval)
        publisher: Publisher | None = None
        try:
            async with asyncio.timeout(connect_timeout):
                # A conflicting declaration closes its channel; it has one of its own.
                topology = await connection.channel(publisher_confirms=False)
                await _declare_exchanges(topology)
            publisher = await Publisher.connect(
                url,
                confirm_timeout=publish_timeout,
                connect_timeout=connect_timeout,
                reconnect_interval=reconnect_interval,
            )
            async with asyncio.timeout(connect_timeout):
                broker = cls(connection, topology, publisher, publish_timeout=publish_timeout)
                for participant in participants:
                    await broker.ensure_participant(participant)
        except BaseException as exc:
            if publisher is not None:
                await publisher.close()
            await connection.close()
            if isinstance(exc, TimeoutError):
                raise BrokerUnavailable(
                    f"RabbitMQ at {redacted(url)} did not finish declaring the topology "
                    f"within {connect_timeout:g} s"
                ) from exc
            if isinstance(exc, CONNECTION_EXCEPTIONS):
                raise BrokerUnavailable(f"RabbitMQ at {redacted(url)}: {exc!r}") from exc
            raise
        return broker

    @staticmethod
    def consumer(
        url: str, source: Participant | str, *, prefetch: int = 16
    ) -> AbstractAsyncContextManager[AsyncIterator[aio_pika.abc.AbstractIncomingMessage]]:
        """Deliveries from a participant's inbox (declared if missing) or an existing queue.

        Settle each one in ``async with message.process():``: leaving the block acks it, an
        exception rejects it to ``iwmo.dead``; with ``process(requeue=True)`` an exception has it
        delivered again, up to ``DELIVERY_LIMIT`` times.
        """
        return _consume(url, source, prefetch)

    async def purge(self, participant: Participant) -> int:
        """Empty a participant's inbox; returns how many messages it held.

        Only for simulated participants starting afresh (a demo, a scenario): what the queue
        held stays in the ledger.
        """
        await self.ensure_participant(participant)
        try:
            async with asyncio.timeout(self._publish_timeout):
                result = await self._inboxes[participant].purge()
        except TimeoutError as exc:
            raise BrokerUnavailable(
                f"RabbitMQ did not purge {participant.queue} within {self._publish_timeout:g} s"
            ) from exc
        except CONNECTION_EXCEPTIONS as exc:
            raise BrokerUnavailable(f"purging {participant.queue}: {exc!r}") from exc
        return result.message_count or 0

    @staticmethod
    def events(url: str, pattern: str = "#") -> AbstractAsyncContextManager[AsyncIterator[Event]]:
        """The events on ``iwmo.events`` matching ``pattern`` from now on, in a queue of our own."""
        return _subscribe(url, pattern)

    @property
    def ready(self) -> bool:
        """Whether both connections are up: publishes can be confirmed, inboxes declared."""
        return (
            self._publisher.ready
            and not self._connection.is_closed
            and self._connection.connected.is_set()
        )

    @property
    def reconnects(self) -> int:
        """How often the topology's connection was lost and restored, its channels and
        declarations included; the publisher comes back on its own (``ready`` says when)."""
        return self._reconnects

    async def publish(self, message: RoutedMessage) -> None:
        """Route one message to its recipient's inbox; return once the broker confirmed it."""
        # The properties aio_pika.Message would make (priority 0 included), made without it: this
        # runs for every accepted message.
        properties = _Properties(
            content_type="application/xml",
            headers=_headers(message),
            delivery_mode=PERSISTENT,
            priority=0,
            correlation_id=message.conversatie_id,
            message_id=message.traceer_id,
            message_type=message.message_type,
            app_id=APP_ID,
        )
        await self._publish(
            ROUTE_EXCHANGE, message.body, properties, message.routing_key, mandatory=True
        )

    async def publish_event(
        self, routing_key: str, payload: Mapping[str, object], *, message_id: str | None = None
    ) -> None:
        """Publish a JSON event on ``iwmo.events``; nobody listening is not an error.

        ``message_id``: the same for every publication of one event (default: a new one).
        """
        properties = _Properties(
            content_type="application/json",
            headers={},
            delivery_mode=PERSISTENT,
            priority=0,
            message_id=message_id or str(uuid.uuid4()),
            message_type=routing_key,
            app_id=APP_ID,
        )
        body = json.dumps(payload, default=_json_default, separators=(",", ":")).encode()
        await self._publish(EVENTS_EXCHANGE, body, properties, routing_key, mandatory=False)

    async def ensure_participant(self, participant: Participant) -> None:
        """Declare the participant's inbox and bind it, unless this broker already did."""
        if participant in self._inboxes:
            return
        try:
            async with asyncio.timeout(self._publish_timeout):
                queue = await _declare_inbox(self._topology, participant)
        except TimeoutError as exc:
            raise BrokerUnavailable(
                f"RabbitMQ did not declare {participant.queue} within {self._publish_timeout:g} s"
            ) from exc
        except CONNECTION_EXCEPTIONS as exc:
            raise BrokerUnavailable(f"declaring {participant.queue}: {exc!r}") from exc
        self._inboxes[participant] = queue

    async def close(self) -> None:
        """Close both connections; in-flight publishes fail with ``BrokerUnavailable``."""
        await self._publisher.close()
        if not self._connection.is_closed:
            await self._connection.close()

    async def _publish(
        self,
        exchange: str,
        body: bytes,
        properties: Basic.Properties,
        routing_key: str,
        *,
        mandatory: bool,
    ) -> None:
        # Fails fast while the publisher reconnects: the caller answers 503 now, not after the
        # timeout. A confirm that does not come in time may still come: the caller's 503 is then
        # an at-least-once retry, which the ledger's duplicate check absorbs.
        try:
            await self._publisher.publish(
                exchange, routing_key, properties, body, mandatory=mandatory
            )
        except Unroutable as exc:
            log.warning(
                "RabbitMQ returned message %s for %r: %s",
                properties.message_id,
                routing_key,
                exc,
            )
            raise

    def _on_connection_lost(self, _sender: object, exc: BaseException | None) -> None:
        if not self._connection.close_called:
            log.warning("lost the connection to RabbitMQ (%s): %r", self._connection, exc)

    def _on_reconnected(self, _sender: object) -> None:
        self._reconnects += 1
        log.info("reconnected to RabbitMQ (%s)", self._connection)


def message_from_delivery(
    incoming: aio_pika.abc.AbstractIncomingMessage, *, registry: Registry | None = None
) -> RoutedMessage:
    """Read back what ``Broker.publish`` sent; raise ``MalformedDelivery`` naming what is off.

    Headers carry only role and code; with a ``registry`` the participants come back with their
    names (equal to the registry's), without one their names are empty.
    """
    headers = incoming.headers or {}
    where = f"delivery {incoming.message_id!r} (routing key {incoming.routing_key!r})"

    def text(name: str, value: object) -> str:
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if not isinstance(value, str) or not value:
            raise MalformedDelivery(f"{where}: no {name}")
        return value

    def participant(header: Header) -> Participant:
        raw = text(f"header {header.value!r}", headers.get(header))
        try:
            parsed = Participant.parse(raw)
        except ConfigError as exc:
            raise MalformedDelivery(f"{where}: header {header.value!r}: {exc}") from exc
        known = registry.get(parsed.role, parsed.code) if registry is not None else None
        return known or parsed

    in_reply_to = headers.get(Header.IN_REPLY_TO)
    return RoutedMessage(
        traceer_id=text("message_id", incoming.message_id),
        conversatie_id=text("correlation_id", incoming.correlation_id),
        als_antwoord_op=None if in_reply_to is None else text("in-reply-to", in_reply_to),
        sender=participant(Header.SENDER),
        recipient=participant(Header.RECIPIENT),
        message_type=text("type", incoming.type),
        release=text(f"header {Header.RELEASE.value!r}", headers.get(Header.RELEASE)),
        trace_id=text(f"header {Header.TRACE_ID.value!r}", headers.get(Header.TRACE_ID)),
        body=incoming.body,
    )


async def acknowledge(incoming: aio_pika.abc.AbstractIncomingMessage) -> bool:
    """Ack a delivery; False when the channel it came on is gone (RabbitMQ delivers it again)."""
    try:
        await incoming.ack()
    except CONNECTION_EXCEPTIONS as exc:
        log.info("could not ack delivery %s, it comes again: %r", incoming.message_id, exc)
        return False
    return True


class _Properties(Basic.Properties):
    """The message properties, marshalled in one pass when they are of the kinds the gateway sets.

    pamqp's own marshal looks up and encodes each of the fourteen properties generically, about
    30 µs for a routed message on a slow machine (a tenth of the publish's CPU); this one writes
    the same bytes (tests/test_routing.py compares them) in half that. Any other property set,
    or a header that is not a string, goes to pamqp's.
    """

    def marshal(self) -> bytes:
        if (
            self.content_encoding
            or self.reply_to
            or self.expiration
            or self.timestamp
            or self.user_id
            or self.cluster_id
        ):
            return super().marshal()
        # The property flags and values in the order AMQP 0-9-1 gives them; pamqp leaves out
        # what is None or an empty string, and so do we.
        flags = 0
        parts: list[bytes] = []
        if self.content_type:
            flags |= 0x8000
            parts.append(_short_string(self.content_type))
        if self.headers is not None:
            table = []
            for key, value in sorted(self.headers.items()):
                name = key.encode()
                # pamqp truncates a longer name (none of ours comes near) and has other types.
                if len(name) > 128 or not isinstance(value, str):
                    return super().marshal()
                encoded = value.encode()
                table.append(
                    _OCTET.pack(len(name)) + name + b"S" + _LONG.pack(len(encoded)) + encoded
                )
            flags |= 0x2000
            data = b"".join(table)
            parts.append(_LONG.pack(len(data)) + data)
        if self.delivery_mode is not None:
            flags |= 0x1000
            parts.append(_OCTET.pack(self.delivery_mode))
        if self.priority is not None:
            flags |= 0x0800
            parts.append(_OCTET.pack(self.priority))
        if self.correlation_id:
            flags |= 0x0400
            parts.append(_short_string(self.correlation_id))
        if self.message_id:
            flags |= 0x0080
            parts.append(_short_string(self.message_id))
        if self.message_type:
            flags |= 0x0020
            parts.append(_short_string(self.message_type))
        if self.app_id:
            flags |= 0x0008
            parts.append(_short_string(self.app_id))
        return _SHORT.pack(flags) + b"".join(parts)


_OCTET = struct.Struct(">B")
_SHORT = struct.Struct(">H")
_LONG = struct.Struct(">I")


def _short_string(value: str) -> bytes:
    encoded = value.encode()
    if len(encoded) > 255:
        # What pamqp raises for it too.
        raise TypeError(f"string exceeds maximum length of 255 bytes: {value[:40]!r}...")
    return _OCTET.pack(len(encoded)) + encoded


def _headers(message: RoutedMessage) -> dict[str, aio_pika.abc.FieldValue]:
    headers: dict[str, aio_pika.abc.FieldValue] = {
        Header.SENDER: message.sender.key,
        Header.RECIPIENT: message.recipient.key,
        Header.RELEASE: message.release,
        Header.TRACE_ID: message.trace_id,
    }
    if message.als_antwoord_op is not None:
        headers[Header.IN_REPLY_TO] = message.als_antwoord_op
    return headers


def _json_default(value: object) -> object:
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID | enum.Enum):
        return str(value.value if isinstance(value, enum.Enum) else value)
    if isinstance(value, Participant):
        return value.key
    raise TypeError(f"event payload: {type(value).__name__} {value!r} is not JSON")


async def _connect(
    url: str, connect_timeout: float, reconnect_interval: float
) -> aio_pika.abc.AbstractRobustConnection:
    try:
        async with asyncio.timeout(connect_timeout):
            return await aio_pika.connect_robust(
                url, timeout=connect_timeout, reconnect_interval=reconnect_interval
            )
    except TimeoutError as exc:
        raise BrokerUnavailable(
            f"RabbitMQ at {redacted(url)} did not answer within {connect_timeout:g} s"
        ) from exc
    except CONNECTION_EXCEPTIONS as exc:
        raise BrokerUnavailable(f"cannot connect to RabbitMQ at {redacted(url)}: {exc}") from exc


async def _declare_exchanges(channel: aio_pika.abc.AbstractRobustChannel) -> None:
    """Declare the three exchanges and the two dead-letter queues."""
    topic = aio_pika.ExchangeType.TOPIC
    try:
        await channel.declare_exchange(ROUTE_EXCHANGE, topic, durable=True)
        dead = await channel.declare_exchange(DEAD_LETTER_EXCHANGE, topic, durable=True)
        await channel.declare_exchange(EVENTS_EXCHANGE, topic, durable=True)
        # Declared with the exchange, by everybody: a dead letter of an inbox that exists finds
        # the gateway's queue even while no gateway runs.
        for name in (DEAD_LETTER_QUEUE, DEAD_LETTER_LEDGER_QUEUE):
            dead_letters = await channel.declare_queue(name, durable=True)
            await dead_letters.bind(dead, "#")
    except ChannelPreconditionFailed as exc:
        raise TopologyError(f"an exchange or queue exists with other settings: {exc}") from exc


async def _declare_inbox(
    channel: aio_pika.abc.AbstractRobustChannel, participant: Participant
) -> aio_pika.abc.AbstractQueue:
    try:
        queue = await channel.declare_queue(
            participant.queue, durable=True, arguments=dict(INBOX_ARGUMENTS)
        )
    except ChannelPreconditionFailed as exc:
        raise TopologyError(
            f"queue {participant.queue!r} exists with other settings than {dict(INBOX_ARGUMENTS)}: "
            f"{exc}"
        ) from exc
    await queue.bind(ROUTE_EXCHANGE, f"{participant.routing_prefix}.#")
    return queue


async def consumer_counts(
    url: str, participants: Iterable[Participant], *, within: float = 10.0
) -> dict[Participant, int]:
    """How many consumers each participant's inbox has now; 0 for an inbox not declared yet.

    Asks without declaring anything (a passive declare), on a connection of its own that is
    closed again: what a healthcheck of the handlers needs.
    """
    counts: dict[Participant, int] = {}
    try:
        async with asyncio.timeout(within):
            connection = await aio_pika.connect(url, timeout=within)
            try:
                for participant in participants:
                    # A passive declare of a missing queue closes its channel: one per queue.
                    channel = await connection.channel(publisher_confirms=False)
                    try:
                        queue = await channel.declare_queue(participant.queue, passive=True)
                    except ChannelNotFoundEntity:
                        counts[participant] = 0
                        continue
                    counts[participant] = queue.declaration_result.consumer_count or 0
                    await channel.close()
            finally:
                await connection.close()
    except TimeoutError as exc:
        raise BrokerUnavailable(
            f"RabbitMQ at {redacted(url)} did not answer within {within:g} s"
        ) from exc
    except CONNECTION_EXCEPTIONS as exc:
        raise BrokerUnavailable(f"cannot connect to RabbitMQ at {redacted(url)}: {exc}") from exc
    return counts


@contextlib.asynccontextmanager
async def _consume(
    url: str, source: Participant | str, prefetch: int
) -> AsyncIterator[AsyncIterator[aio_pika.abc.AbstractIncomingMessage]]:
    connection = await _connect(url, CONSUMER_CONNECT_TIMEOUT, CONSUMER_RECONNECT_INTERVAL)
    try:
        try:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=prefetch)
            if isinstance(source, Participant):
                await _declare_exchanges(channel)
                queue = await _declare_inbox(channel, source)
            else:
                queue = await channel.get_queue(source, ensure=True)
        except ChannelNotFoundEntity as exc:
            raise TopologyError(f"queue {source!r} does not exist") from exc
        except CONNECTION_EXCEPTIONS as exc:
            # Lost between connecting and consuming: as unreachable as not connecting at all.
            raise BrokerUnavailable(f"consuming {source}: {exc!r}") from exc
        async with queue.iterator() as messages:
            yield messages
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def _subscribe(url: str, pattern: str) -> AsyncIterator[AsyncIterator[Event]]:
    connection = await _connect(url, CONSUMER_CONNECT_TIMEOUT, CONSUMER_RECONNECT_INTERVAL)
    try:
        channel = await connection.channel()
        events = await channel.declare_exchange(
            EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        # A name of our own (not server-named) so that a reconnect re-declares the same queue.
        queue = await channel.declare_queue(
            f"events.{uuid.uuid4().hex}", exclusive=True, auto_delete=True
        )
        await queue.bind(events, pattern)
        async with queue.iterator(no_ack=True) as messages:
            stream = _events(messages)
            try:
                yield stream
            finally:
                await stream.aclose()
    finally:
        await connection.close()


async def _events(
    messages: AsyncIterator[aio_pika.abc.AbstractIncomingMessage],
) -> AsyncGenerator[Event]:
    async for incoming in messages:
        try:
            payload = json.loads(incoming.body)
        except ValueError as exc:
            raise MalformedDelivery(
                f"event {incoming.message_id!r} ({incoming.routing_key!r}) is not JSON: {exc}"
            ) from exc
        yield Event(
            routing_key=incoming.routing_key or "",
            payload=payload,
            message_id=incoming.message_id or "",
        )
