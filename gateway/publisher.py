"""Confirmed publishing on an AMQP connection of its own, its frames written and read here.

Why: aio-pika and aiormq take every publish through a channel lock held until its frames are
written, a write queue and a writer task, and every confirm through a reader task and a channel
queue: several turns of the event loop and a few hundred microseconds of Python per message. In
the gateway every accepted message is one publish, and on a loaded event loop those turns were
the largest cost of an upload after the HTTP stack (docs/performance.md). This connection does
one thing - persistent publishes with publisher confirms on one channel - so a publish here is
a few bytes joined, and a confirm is settled in ``data_received`` as its frame arrives. The
publishes of one turn of the event loop go out in one transport write at the start of the
next (the requests a ledger batch lets go publish together): one ``send`` and one read on
RabbitMQ's side instead of one each.

The rare frames (handshake, tuning, Close, Blocked, a returned message) are coded by pamqp, the
AMQP codec aiormq uses too; only Basic.Publish and the confirms are built and read here.
Topology, consumers and purges stay on aio-pika (gateway.routing).

How a publish ends::

    Basic.Ack                              confirmed: ``publish`` returns
    Basic.Return, then its Ack             Unroutable (mandatory, and no queue is bound)
    Basic.Nack                             BrokerUnavailable: RabbitMQ refused it
    no confirm within ``confirm_timeout``  BrokerUnavailable: it may still arrive
    connection or channel lost meanwhile   BrokerUnavailable: it may still arrive
    not connected                          BrokerUnavailable at once, nothing written

A connection that is lost comes back by itself every ``reconnect_interval`` until it does;
what was in flight has failed by then and is not sent again (its callers answered 503, and a
retry is absorbed by the ledger's duplicate check).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import ssl
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast
from urllib.parse import unquote

from pamqp import commands
from pamqp import frame as codec
from pamqp.base import Frame
from pamqp.body import ContentBody
from pamqp.exceptions import PAMQPException
from pamqp.header import ContentHeader
from yarl import URL

from gateway.errors import BrokerUnavailable, ConfigError, Unroutable

log = logging.getLogger(__name__)

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"  # AMQP 0-9-1
CHANNEL = 1  # the one channel publishes go on
FRAME_MAX = 131072  # what we ask for; RabbitMQ's default too
DEFAULT_HEARTBEAT = 60  # seconds, unless the URL says ?heartbeat=N (0: none)

_METHOD, _HEADER, _BODY, _HEARTBEAT = 1, 2, 3, 8
_FRAME_END = b"\xce"
_HEAD = struct.Struct(">BHI")  # frame type, channel, payload size
_CLASS_METHOD = struct.Struct(">HH")
_TAG_BITS = struct.Struct(">QB")  # delivery tag, then the method's bits
_CONTENT = struct.Struct(">HHQ")  # class (Basic), weight, body size
_BASIC, _ACK, _NACK = 60, 80, 120
_HEARTBEAT_FRAME = _HEAD.pack(_HEARTBEAT, 0, 0) + _FRAME_END


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and as whom to connect, read from an ``amqp://`` or ``amqps://`` URL."""

    host: str
    port: int
    vhost: str
    username: str
    password: str
    heartbeat: int
    tls: ssl.SSLContext | None = None

    @classmethod
    def from_url(cls, url: str) -> Endpoint:
        """Read a URL the way aio-pika does: guest/guest and vhost ``/`` by default; for amqps
        the query may name ``cafile``, ``certfile``, ``keyfile`` and ``no_verify_ssl``."""
        parsed = URL(url)
        if parsed.scheme not in ("amqp", "amqps") or not parsed.host:
            raise ConfigError(f"not an AMQP URL: {redacted(url)}")
        query = parsed.query
        try:
            heartbeat = int(query.get("heartbeat", DEFAULT_HEARTBEAT))
        except ValueError:
            heartbeat = -1
        if heartbeat < 0:
            raise ConfigError(f"heartbeat in {redacted(url)}: expected whole seconds, 0 or more")
        tls = None
        if parsed.scheme == "amqps":
            tls = ssl.create_default_context(cafile=query.get("cafile"))
            if query.get("certfile"):
                tls.load_cert_chain(query["certfile"], query.get("keyfile"))
            if query.get("no_verify_ssl", "0").lower() in ("1", "true", "yes"):
                tls.check_hostname = False
                tls.verify_mode = ssl.CERT_NONE
        return cls(
            host=parsed.host,
            port=parsed.port or (5671 if tls else 5672),
            vhost=unquote(parsed.raw_path[1:]) or "/",
            username=parsed.user or "guest",
            password=parsed.password or "guest",
            heartbeat=heartbeat,
            tls=tls,
        )


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parsed = URL(url)
    return str(parsed.with_password("***")) if parsed.password else url


@functools.lru_cache(maxsize=4096)
def _publish_frame(exchange: str, routing_key: str, mandatory: bool) -> bytes:
    # A handful of exchanges and one routing key per recipient and message type: built once.
    method = commands.Basic.Publish(exchange=exchange, routing_key=routing_key, mandatory=mandatory)
    return codec.marshal(method, CHANNEL)


@dataclass(slots=True)
class _InFlight:
    future: asyncio.Future[None]
    deadline: float
    message_id: str
    routing_key: str
    returned: str | None = None  # the reply text of a Basic.Return for it


class _Connection(asyncio.Protocol):
    """One AMQP connection with one confirm-mode channel: the frames in and out."""

    def __init__(self, endpoint: Endpoint, lost: Callable[[_Connection], None]) -> None:
        self._endpoint = endpoint
        self._lost = lost
        self._loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = self._loop.create_future()
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._pending: list[bytes] = []  # publishes of this turn of the loop, not yet written
        self._in_flight: collections.OrderedDict[int, _InFlight] = collections.OrderedDict()
        self._tag = 0
        self.ready = False
        self.frame_max = FRAME_MAX
        self.heartbeat = 0
        self.reads = 0  # data_received calls and frames written: the heartbeat's evidence
        self.writes = 0
        self.reason = "connecting"  # why it is not ready, for messages
        self._blocked: str | None = None
        self._paused = False
        self._writable: asyncio.Future[None] | None = None
        self.closed: asyncio.Future[None] = self._loop.create_future()
        self._returning = False  # a Basic.Return's content header and body are on their way
        self._return_text = ""
        self._return_left = 0

    # -- asyncio's side ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self._transport = cast(asyncio.Transport, transport)
        self._transport.write(PROTOCOL_HEADER)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.ready or self.reason == "connecting":
            self.reason = f"connection lost: {exc!r}" if exc else "connection closed"
        self.ready = False
        self._fail_all(f"lost RabbitMQ ({self.reason})")
        if not self.opened.done():
            self.opened.set_exception(BrokerUnavailable(self.reason))
        self._wake_writers()
        if not self.closed.done():
            self.closed.set_result(None)
        self._lost(self)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake_writers()

    def data_received(self, data: bytes) -> None:
        self.reads += 1
        if self._buffer:
            self._buffer += data
            view: bytes | bytearray = self._buffer
        else:
            view = data
        start, end = 0, len(view)
        try:
            while end - start >= 8:
                kind, channel, size = _HEAD.unpack_from(view, start)
                stop = start + 7 + size  # where its frame-end octet is
                if stop >= end:
                    break
                if view[stop] != 0xCE:
                    raise _ProtocolError(f"a frame of type {kind} does not end in 0xCE")
                if kind == _METHOD and size >= 13:
                    class_id, method_id = _CLASS_METHOD.unpack_from(view, start + 7)
                    if class_id == _BASIC and method_id in (_ACK, _NACK):
                        tag, bits = _TAG_BITS.unpack_from(view, start + 11)
                        self._settle(tag, multiple=bool(bits & 1), refused=method_id == _NACK)
                        start = stop + 1
                        continue
                if kind != _HEARTBEAT:
                    self._frame(kind, channel, bytes(view[start : stop + 1]))
                start = stop + 1
        except (_ProtocolError, PAMQPException) as exc:
            self.abort(f"RabbitMQ sent what we cannot read: {exc}")
            return
        if view is self._buffer:
            del self._buffer[:start]
        elif start < end:
            self._buffer = bytearray(view[start:])

    # -- publishing ----------------------------------------------------------------------------

    @property
    def writable(self) -> bool:
        return not self._paused and self._blocked is None

    async def until_writable(self) -> None:
        """Wait while RabbitMQ blocks publishers or the socket's buffer is full."""
        while self.ready and not self.writable:
            if self._writable is None or self._writable.done():
                self._writable = self._loop.create_future()
            await self._writable

    @property
    def blocked(self) -> str | None:
        return self._blocked

    def publish(
        self,
        exchange: str,
        routing_key: str,
        properties: bytes,
        body: bytes,
        *,
        message_id: str,
        mandatory: bool,
        deadline: float,
    ) -> asyncio.Future[None]:
        """Write one message; the future is settled by its confirm (or its failure)."""
        transport = self._transport
        assert transport is not None
        self._tag += 1
        future: asyncio.Future[None] = self._loop.create_future()
        self._in_flight[self._tag] = _InFlight(future, deadline, message_id, routing_key)
        header = _CONTENT.pack(_BASIC, 0, len(body)) + properties
        start = (
            _publish_frame(exchange, routing_key, mandatory),
            _HEAD.pack(_HEADER, CHANNEL, len(header)),
            header,
            _FRAME_END,
        )
        size = len(body)
        room = self.frame_max - 8  # a frame's payload: frame_max less header and end
        if size <= room:
            parts = (*start, _HEAD.pack(_BODY, CHANNEL, size), body, _FRAME_END) if size else start
            if not self._pending:
                self._loop.call_soon(self._flush)
            self._pending.append(b"".join(parts))
        else:
            # A large body goes in frames cut from a view of it: no copy of our own.
            self._flush()
            transport.write(b"".join(start))
            view = memoryview(body)
            for offset in range(0, size, room):
                piece = view[offset : offset + room]
                transport.write(_HEAD.pack(_BODY, CHANNEL, len(piece)))
                transport.write(piece)
                transport.write(_FRAME_END)
        self.writes += 1
        return future

    def _flush(self) -> None:
        """Write the publishes waiting for the end of their turn, in the order of their tags."""
        pending = self._pending
        if not pending:
            return
        self._pending = []
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def _settle(self, tag: int, *, multiple: bool, refused: bool) -> None:
        in_flight = self._in_flight
        if not multiple:
            settled = in_flight.pop(tag, None)
            if settled is not None:
                _finish(settled, refused)
            return
        while in_flight:
            first = next(iter(in_flight))
            if first > tag:
                break
            _finish(in_flight.pop(first), refused)

    def expire(self, now: float, timeout: float) -> None:
        """Fail what waited past its deadline (the oldest first: deadlines follow the tags)."""
        in_flight = self._in_flight
        while in_flight:
            first = next(iter(in_flight))
            late = in_flight[first]
            if late.deadline > now:
                break
            del in_flight[first]
            if not late.future.done():
                late.future.set_exception(
                    BrokerUnavailable(
                        f"no confirm from RabbitMQ within {timeout:g} s for message "
                        f"{late.message_id} to {late.routing_key!r}"
                    )
                )

    def _fail_all(self, why: str) -> None:
        # What is not written yet never will be: its callers hear it failed, RabbitMQ nothing.
        self._pending = []
        in_flight, self._in_flight = self._in_flight, collections.OrderedDict()
        for waiting in in_flight.values():
            if not waiting.future.done():
                waiting.future.set_exception(
                    BrokerUnavailable(
                        f"{why} while publishing message {waiting.message_id} "
                        f"to {waiting.routing_key!r}"
                    )
                )

    def _wake_writers(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    # -- everything else the broker sends ------------------------------------------------------

    def _frame(self, kind: int, channel: int, raw: bytes) -> None:
        _, _, value = codec.unmarshal(raw)
        if kind == _METHOD:
            assert isinstance(value, Frame)
            self._method(channel, value)
        elif self._returning:
            self._returned_content(value)

    def _method(self, channel: int, method: Frame) -> None:
        endpoint = self._endpoint
        match method:
            case commands.Connection.Start():
                if "PLAIN" not in str(method.mechanisms).split():
                    self.abort(f"RabbitMQ offers no PLAIN login ({method.mechanisms})")
                    return
                self._send(
                    0,
                    commands.Connection.StartOk(
                        client_properties={
                            "product": "iwmo-gateway publisher",
                            "capabilities": {
                                "publisher_confirms": True,
                                "connection.blocked": True,
                                "authentication_failure_close": True,
                            },
                        },
                        mechanism="PLAIN",
                        response=f"\0{endpoint.username}\0{endpoint.password}",
                    ),
                )
            case commands.Connection.Tune():
                self.frame_max = min(method.frame_max or FRAME_MAX, FRAME_MAX)
                self.heartbeat = _negotiate(endpoint.heartbeat, method.heartbeat)
                self._send(
                    0,
                    commands.Connection.TuneOk(
                        channel_max=CHANNEL, frame_max=self.frame_max, heartbeat=self.heartbeat
                    ),
                )
                self._send(0, commands.Connection.Open(virtual_host=endpoint.vhost))
            case commands.Connection.OpenOk():
                self._send(CHANNEL, commands.Channel.Open())
            case commands.Channel.OpenOk():
                self._send(CHANNEL, commands.Confirm.Select())
            case commands.Confirm.SelectOk():
                self._tag = 0  # confirm mode numbers publishes from 1 on each new channel
                self.ready = True
                self.reason = ""
                if not self.opened.done():
                    self.opened.set_result(None)
            case commands.Basic.Return():
                self._returning = True
                self._return_text = f"{method.reply_code} {method.reply_text}"
            case commands.Connection.Blocked():
                self._blocked = method.reason or "no reason given"
                log.warning("RabbitMQ blocks publishing: %s", self._blocked)
            case commands.Connection.Unblocked():
                self._blocked = None
                log.info("RabbitMQ publishes again")
                self._wake_writers()
            case commands.Channel.Close():
                # Our channel was closed by the broker (a publish to an exchange that does not
                # exist, say): what was in flight on it is lost to us, the channel comes back.
                why = f"{method.reply_code} {method.reply_text}"
                log.warning("RabbitMQ closed the publishing channel: %s", why)
                self.ready = False
                self.reason = f"channel closed by RabbitMQ: {why}"
                self._fail_all(f"RabbitMQ closed the channel ({why})")
                self._send(CHANNEL, commands.Channel.CloseOk())
                self._send(CHANNEL, commands.Channel.Open())
            case commands.Connection.Close():
                why = f"{method.reply_code} {method.reply_text}"
                self.reason = f"closed by RabbitMQ: {why}"
                self.ready = False
                self._fail_all(f"RabbitMQ closed the connection ({why})")
                self._send(0, commands.Connection.CloseOk())
                if self._transport is not None:
                    self._transport.close()
            case commands.Connection.CloseOk():
                if self._transport is not None:
                    self._transport.close()
            case commands.Channel.CloseOk():
                pass
            case _:
                log.warning("RabbitMQ sent %s on channel %d; ignored", method.name, channel)

    def _returned_content(self, value: object) -> None:
        # Basic.Return is followed by the message's content header and body: the header names
        # the message (its message_id) and the size of the body frames to skip.
        if isinstance(value, ContentHeader):
            message_id = value.properties.message_id or ""
            # Rare (an unroutable message), so a search rather than an index kept per publish.
            for waiting in self._in_flight.values():
                if waiting.message_id == message_id:
                    waiting.returned = self._return_text
                    break
            self._return_left = value.body_size
        elif isinstance(value, ContentBody):
            self._return_left -= len(value.value)
        if self._return_left <= 0:
            self._returning = False

    def _send(self, channel: int, method: Frame) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._flush()
            self._transport.write(codec.marshal(method, channel))
            self.writes += 1

    def send_heartbeat(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._flush()
            self._transport.write(_HEARTBEAT_FRAME)
            self.writes += 1

    def close(self) -> None:
        """Say goodbye: Connection.Close; the transport closes at RabbitMQ's CloseOk."""
        self.ready = False
        self.reason = "closed"
        self._fail_all("closing the connection to RabbitMQ")
        self._send(
            0,
            commands.Connection.Close(
                reply_code=200, reply_text="goodbye", class_id=0, method_id=0
            ),
        )

    def abort(self, why: str) -> None:
        self.reason = why
        self.ready = False
        if self._transport is not None:
            self._transport.abort()


class _ProtocolError(Exception):
    """A frame that breaks the AMQP framing rules."""


def _finish(waiting: _InFlight, refused: bool) -> None:
    future = waiting.future
    if future.done():
        return
    if refused:
        future.set_exception(
            BrokerUnavailable(
                f"RabbitMQ refused (nack) message {waiting.message_id} for {waiting.routing_key!r}"
            )
        )
    elif waiting.returned is not None:
        future.set_exception(Unroutable(waiting.routing_key, waiting.returned))
    else:
        future.set_result(None)


def _negotiate(ours: int, theirs: int) -> int:
    """The heartbeat both sides keep: the shorter, where 0 (none) yields to the other side."""
    if not ours or not theirs:
        return ours or theirs
    return min(ours, theirs)


class Publisher:
    """Publishes with confirms on a connection of its own; comes back by itself when lost.

    ``await Publisher.connect(url)``; then any number of ``publish`` calls may be in flight.
    """

    def __init__(
        self,
        url: str,
        *,
        confirm_timeout: float,
        connect_timeout: float,
        reconnect_interval: float,
    ) -> None:
        self._url = url
        self._endpoint = Endpoint.from_url(url)
        self.confirm_timeout = confirm_timeout
        self._connect_timeout = connect_timeout
        self._reconnect_interval = reconnect_interval
        self._connection: _Connection | None = None
        self._closing = False
        self._reconnecting: asyncio.Task[None] | None = None
        self._ticking: asyncio.Task[None] | None = None
        self.reconnects = 0

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        confirm_timeout: float = 5.0,
        connect_timeout: float = 10.0,
        reconnect_interval: float = 1.0,
    ) -> Publisher:
        """Connect and open the confirm channel; ``BrokerUnavailable`` if RabbitMQ will not."""
        publisher = cls(
            url,
            confirm_timeout=confirm_timeout,
            connect_timeout=connect_timeout,
            reconnect_interval=reconnect_interval,
        )
        publisher._connection = await publisher._open()
        publisher._ticking = asyncio.create_task(publisher._tick(), name="publisher-ticks")
        return publisher

    @property
    def ready(self) -> bool:
        """Whether a publish would be written now: connected, channel open, not closing."""
        connection = self._connection
        return connection is not None and connection.ready and not self._closing

    @property
    def blocked(self) -> str | None:
        """Why RabbitMQ blocks publishing (a resource alarm), while it does."""
        return self._connection.blocked if self._connection is not None else None

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        properties: commands.Basic.Properties,
        body: bytes,
        *,
        mandatory: bool = True,
    ) -> None:
        """Publish and wait for RabbitMQ's confirm; see the module's table for what it raises."""
        connection = self._connection
        if connection is None or not connection.ready or self._closing:
            raise BrokerUnavailable(self._not_connected(connection, exchange, routing_key))
        if not connection.writable:
            await self._until_writable(connection, exchange, routing_key)
        marshalled = properties.marshal()
        deadline = asyncio.get_running_loop().time() + self.confirm_timeout
        await connection.publish(
            exchange,
            routing_key,
            marshalled,
            body,
            message_id=properties.message_id or "",
            mandatory=mandatory,
            deadline=deadline,
        )

    async def close(self) -> None:
        """Fail what is in flight, say goodbye to RabbitMQ, stop reconnecting."""
        self._closing = True
        for task in (self._reconnecting, self._ticking):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        connection = self._connection
        if connection is not None and not connection.closed.done():
            connection.close()
            # RabbitMQ answers Close with CloseOk, and then the transport closes; not for ever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await asyncio.shield(connection.closed)
            connection.abort("closed")

    # -- inside --------------------------------------------------------------------------------

    async def _open(self) -> _Connection:
        endpoint = self._endpoint
        loop = asyncio.get_running_loop()
        connection: _Connection | None = None

        def protocol() -> _Connection:
            nonlocal connection
            connection = _Connection(endpoint, self._on_lost)
            return connection

        try:
            async with asyncio.timeout(self._connect_timeout):
                await loop.create_connection(
                    protocol,
                    endpoint.host,
                    endpoint.port,
                    ssl=endpoint.tls,
                    server_hostname=endpoint.host if endpoint.tls else None,
                )
                assert connection is not None
                await connection.opened
        except TimeoutError as exc:
            if connection is not None:
                connection.abort("did not open in time")
            raise BrokerUnavailable(
                f"RabbitMQ at {redacted(self._url)} did not open a publishing channel "
                f"within {self._connect_timeout:g} s"
            ) from exc
        except OSError as exc:
            raise BrokerUnavailable(
                f"cannot connect to RabbitMQ at {redacted(self._url)}: {exc}"
            ) from exc
        except BrokerUnavailable as exc:
            raise BrokerUnavailable(f"RabbitMQ at {redacted(self._url)}: {exc}") from exc
        return connection

    def _on_lost(self, connection: _Connection) -> None:
        if connection is not self._connection or self._closing:
            return
        log.warning(
            "lost the publishing connection to RabbitMQ (%s): %s",
            redacted(self._url),
            connection.reason,
        )
        if self._reconnecting is None or self._reconnecting.done():
            self._reconnecting = asyncio.create_task(self._reconnect(), name="publisher-reconnect")

    async def _reconnect(self) -> None:
        while not self._closing:
            await asyncio.sleep(self._reconnect_interval)
            try:
                self._connection = await self._open()
            except BrokerUnavailable as exc:
                log.info("publishing connection not back yet: %s", exc)
                continue
            self.reconnects += 1
            log.info("publishing connection to RabbitMQ back (%s)", redacted(self._url))
            return

    async def _tick(self) -> None:
        """Expire confirms past their deadline; keep the heartbeat both ways."""
        period = min(self.confirm_timeout / 5, 1.0)
        loop = asyncio.get_running_loop()
        seen: tuple[_Connection | None, int, int] = (None, 0, 0)
        last_read = last_write = loop.time()
        while True:
            await asyncio.sleep(period)
            now = loop.time()
            connection = self._connection
            if connection is None:
                continue
            try:
                connection.expire(now, self.confirm_timeout)
            except Exception:  # a bug here would leave callers waiting for ever
                log.exception("expiring publishes failed")
            if connection is not seen[0] or connection.reads != seen[1]:
                last_read = now
            if connection is not seen[0] or connection.writes != seen[2]:
                last_write = now
            heartbeat = connection.heartbeat
            if heartbeat and connection.ready:
                if now - last_write >= heartbeat / 2:
                    connection.send_heartbeat()
                if now - last_read > 2 * heartbeat:
                    connection.abort(f"no heartbeat from RabbitMQ in {2 * heartbeat} s")
            seen = (connection, connection.reads, connection.writes)

    async def _until_writable(
        self, connection: _Connection, exchange: str, routing_key: str
    ) -> None:
        try:
            async with asyncio.timeout(self.confirm_timeout):
                await connection.until_writable()
        except TimeoutError as exc:
            why = (
                f"RabbitMQ blocks publishing ({connection.blocked})"
                if connection.blocked
                else "the connection to RabbitMQ takes nothing more"
            )
            raise BrokerUnavailable(
                f"{why} for {self.confirm_timeout:g} s; cannot publish {routing_key!r} "
                f"to {exchange!r}"
            ) from exc
        if not connection.ready:
            raise BrokerUnavailable(self._not_connected(connection, exchange, routing_key))

    def _not_connected(self, connection: _Connection | None, exchange: str, key: str) -> str:
        state = "closed" if self._closing else connection.reason if connection else "connecting"
        return (
            f"not connected to RabbitMQ at {redacted(self._url)} ({state}); "
            f"cannot publish {key!r} to {exchange!r}"
        )
