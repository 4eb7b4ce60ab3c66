"""The publishing connection of our own: frames, confirms, returns, refusals, outages."""

from __future__ import annotations

import asyncio
import struct
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pamqp import commands
from pamqp import frame as codec

from gateway import pki
from gateway.errors import BrokerUnavailable, ConfigError, Unroutable
from gateway.participants import Registry
from gateway.publisher import Endpoint, Publisher, _Connection
from gateway.routing import ROUTE_EXCHANGE, Broker, _Properties
from tests.fixtures.broker import PARTICIPANTS, ZOETERMEER, AmqpRelay, amqp_url_for
from tests.fixtures.rabbitmq_node import RabbitNode
from tests.test_routing import receive, routed, wait_until


def properties(message_id: str | None = None) -> _Properties:
    return _Properties(
        content_type="application/xml",
        headers={"sender": "aanbieder-12345678"},
        delivery_mode=2,
        message_id=message_id or str(uuid.uuid4()),
        message_type="WMO305",
    )


@pytest.fixture
async def publisher(broker: Broker, amqp_url: str) -> AsyncIterator[Publisher]:
    """A publisher in a vhost whose topology and inboxes ``broker`` declared."""
    connected = await Publisher.connect(amqp_url, confirm_timeout=5.0)
    try:
        yield connected
    finally:
        await connected.close()


async def test_a_confirmed_publish_arrives_with_its_properties(
    publisher: Publisher, amqp_url: str
) -> None:
    """Body, message id, type, content type, headers and persistence arrive as published."""
    sent = properties()
    await publisher.publish(ROUTE_EXCHANGE, "gemeente.0637.WMO305", sent, b"<Bericht/>")
    incoming = await receive(amqp_url, ZOETERMEER)
    assert incoming.body == b"<Bericht/>"
    assert incoming.message_id == sent.message_id
    assert incoming.type == "WMO305"
    assert incoming.content_type == "application/xml"
    assert incoming.headers["sender"] == "aanbieder-12345678"
    assert incoming.delivery_mode == aio_pika.DeliveryMode.PERSISTENT


@pytest.mark.parametrize("size", [0, 131_064, 131_065, 1_000_003])
async def test_a_body_of_any_size_arrives_whole(
    publisher: Publisher, amqp_url: str, size: int
) -> None:
    """Empty, exactly one frame, one byte over, and many frames: the same bytes arrive."""
    body = bytes(i % 251 for i in range(size))
    await publisher.publish(ROUTE_EXCHANGE, "gemeente.0637.WMO305", properties(), body)
    assert (await receive(amqp_url, ZOETERMEER)).body == body


async def test_an_unroutable_message_is_unroutable_and_the_next_one_goes(
    publisher: Publisher, amqp_url: str
) -> None:
    """A returned message (its body skipped over many frames) raises Unroutable naming the
    routing key; publishes before and after it are confirmed as usual."""
    large = b"x" * 400_000
    outcomes = await asyncio.gather(
        publisher.publish(ROUTE_EXCHANGE, "gemeente.0637.WMO305", properties(), b"<a/>"),
        publisher.publish(ROUTE_EXCHANGE, "gemeente.9999.WMO305", properties(), large),
        publisher.publish(ROUTE_EXCHANGE, "gemeente.0637.WMO305", properties(), b"<b/>"),
        return_exceptions=True,
    )
    assert outcomes[0] is None
    assert outcomes[2] is None
    assert isinstance(outcomes[1], Unroutable)
    assert "gemeente.9999.WMO305" in str(outcomes[1])
    assert "NO_ROUTE" in str(outcomes[1])
    assert publisher.ready


async def test_a_refused_publish_is_broker_unavailable(publisher: Publisher, amqp_url: str) -> None:
    """A queue that rejects what exceeds its length nacks the publish: BrokerUnavailable."""
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()
        await channel.declare_queue(
            "full", arguments={"x-max-length": 1, "x-overflow": "reject-publish"}
        )
    await publisher.publish("", "full", properties(), b"first")
    with pytest.raises(BrokerUnavailable, match=r"refused \(nack\)"):
        await publisher.publish("", "full", properties(), b"second")
    assert publisher.ready


async def test_a_channel_closed_by_the_broker_comes_back(publisher: Publisher) -> None:
    """Publishing to an exchange that does not exist closes the channel: that publish fails
    naming the broker's reason, and the channel is open again for the next one."""
    with pytest.raises(BrokerUnavailable, match="NOT_FOUND"):
        await publisher.publish("no.such.exchange", "x", properties(), b"<x/>")
    await wait_until(lambda: publisher.ready, 5)
    await publisher.publish(ROUTE_EXCHANGE, "gemeente.0637.WMO305", properties(), b"<x/>")


async def test_wrong_credentials_are_named_without_the_password(amqp_vhost: str) -> None:
    """A refused login raises BrokerUnavailable with RabbitMQ's reason, the password redacted."""
    url = amqp_url_for(amqp_vhost).replace("guest:guest", "guest:wrong-secret")
    with pytest.raises(BrokerUnavailable, match="ACCESS_REFUSED") as caught:
        await Publisher.connect(url, connect_timeout=5)
    assert "wrong-secret" not in str(caught.value)


async def test_closing_fails_what_is_in_flight_and_refuses_more(
    amqp_relay: AmqpRelay, amqp_vhost: str, broker: Broker
) -> None:
    """A publish awaiting its confirm when the publisher closes fails; later ones are refused
    at once as not connected."""
    publisher = await Publisher.connect(amqp_relay.url(amqp_vhost), confirm_timeout=5)
    amqp_relay.stall()
    waiting = asyncio.create_task(
        publisher.publish(ROUTE_EXCHANGE, "gemeente.0637.WMO305", properties(), b"<x/>")
    )
    await asyncio.sleep(0.1)
    await publisher.close()
    with pytest.raises(BrokerUnavailable, match="closing"):
        await waiting
    with pytest.raises(BrokerUnavailable, match="not connected"):
        await publisher.publish(ROUTE_EXCHANGE, "gemeente.0637.WMO305", properties(), b"<x/>")
    await amqp_relay.restore()


async def test_a_silent_broker_is_found_out_by_the_heartbeat(
    amqp_relay: AmqpRelay, amqp_vhost: str, broker: Broker
) -> None:
    """With a one-second heartbeat, a broker that stops answering is dropped within a few
    seconds, and the publisher is back by itself once the broker answers again."""
    publisher = await Publisher.connect(
        amqp_relay.url(amqp_vhost) + "?heartbeat=1", confirm_timeout=30, reconnect_interval=0.2
    )
    try:
        assert publisher.ready
        amqp_relay.stall()
        await wait_until(lambda: not publisher.ready, 6)
        await amqp_relay.restore()
        await wait_until(lambda: publisher.ready and publisher.reconnects == 1, 10)
        await publisher.publish(ROUTE_EXCHANGE, "gemeente.0637.WMO305", properties(), b"<x/>")
    finally:
        await publisher.close()


async def test_a_blocked_connection_holds_publishes_until_unblocked(
    rabbit_node: RabbitNode,
) -> None:
    """Under a memory alarm RabbitMQ blocks publishers: a publish then fails after the timeout
    naming the block, and publishing goes on once the alarm is over."""
    broker = await Broker.connect(rabbit_node.url, participants=PARTICIPANTS)
    publisher = await Publisher.connect(rabbit_node.url, confirm_timeout=1.5)
    try:
        await publisher.publish(ROUTE_EXCHANGE, "gemeente.0637.WMO305", properties(), b"<x/>")
        await asyncio.to_thread(rabbit_node.ctl, "set_vm_memory_high_watermark", "0")
        outcomes = []
        for _ in range(2):
            try:
                await publisher.publish(
                    ROUTE_EXCHANGE, "gemeente.0637.WMO305", properties(), b"<x/>"
                )
            except BrokerUnavailable as exc:
                outcomes.append(str(exc))
        # The first is written before RabbitMQ says it blocks, and waits for its confirm; the
        # second is held back, named by the block.
        assert len(outcomes) == 2
        assert "no confirm" in outcomes[0]
        assert "RabbitMQ blocks publishing (low on memory)" in outcomes[1]
        await asyncio.to_thread(rabbit_node.ctl, "set_vm_memory_high_watermark", "0.4")
        await wait_until(
            lambda: publisher._connection is not None and not publisher._connection.blocked, 15
        )
        await publisher.publish(ROUTE_EXCHANGE, "gemeente.0637.WMO305", properties(), b"<x/>")
    finally:
        await publisher.close()
        await broker.close()


# -- the frames, without a broker ----------------------------------------------------------------


class _Transport(asyncio.Transport):
    """Keeps what the connection writes."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True


def _handshake() -> bytes:
    """What RabbitMQ says from Connection.Start to Confirm.SelectOk."""
    frames = [
        (0, commands.Connection.Start(mechanisms="AMQPLAIN PLAIN")),
        (0, commands.Connection.Tune(channel_max=2047, frame_max=131072, heartbeat=60)),
        (0, commands.Connection.OpenOk()),
        (1, commands.Channel.OpenOk()),
        (1, commands.Confirm.SelectOk()),
    ]
    return b"".join(codec.marshal(method, channel) for channel, method in frames)


def _confirm(tag: int, *, multiple: bool = False, nack: bool = False) -> bytes:
    method = (
        commands.Basic.Nack(delivery_tag=tag, multiple=multiple)
        if nack
        else commands.Basic.Ack(delivery_tag=tag, multiple=multiple)
    )
    return codec.marshal(method, 1)


CONFIRMS = [
    _confirm(2),
    _confirm(1),
    _confirm(4, multiple=True),
    _confirm(5, nack=True),
    codec.marshal(
        commands.Basic.Return(reply_code=312, reply_text="NO_ROUTE", exchange="x", routing_key="k"),
        1,
    ),
    b"",  # the returned message's content header goes here
    _confirm(6),
    b"\x08\x00\x00\x00\x00\x00\x00\xce",  # a heartbeat
    _confirm(8, multiple=True),
]


@given(cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12))
def test_confirms_split_anywhere_settle_the_same(cuts: list[int]) -> None:
    """However the broker's bytes are cut into reads, each publish ends the same way: acked
    one by one or several at once, nacked, returned, the heartbeat skipped."""

    async def scenario() -> list[str]:
        connection = _Connection(Endpoint.from_url("amqp://guest:guest@h/v"), lambda _: None)
        transport = _Transport()
        connection.connection_made(transport)
        connection.data_received(_handshake())
        assert connection.ready
        ids = [f"m{n}" for n in range(1, 9)]
        futures = [
            connection.publish(
                "x", "k", properties(i).marshal(), b"", message_id=i, mandatory=True, deadline=1e9
            )
            for i in ids
        ]
        header = _returned_header("m6")
        stream = b"".join(part or header for part in CONFIRMS)
        points = sorted({min(cut, len(stream)) for cut in cuts})
        for start, stop in zip([0, *points], [*points, len(stream)], strict=True):
            connection.data_received(stream[start:stop])
        outcomes = []
        for future in futures:
            if not future.done():
                outcomes.append("waiting")
            elif future.exception() is None:
                outcomes.append("ok")
            else:
                outcomes.append(type(future.exception()).__name__)
        return outcomes

    assert asyncio.run(scenario()) == [
        "ok",
        "ok",
        "ok",
        "ok",
        "BrokerUnavailable",
        "Unroutable",
        "ok",
        "ok",
    ]


def _returned_header(message_id: str) -> bytes:
    payload = struct.pack(">HHQ", 60, 0, 0) + properties(message_id).marshal()
    return struct.pack(">BHI", 2, 1, len(payload)) + payload + b"\xce"


def test_what_a_publish_writes_is_what_pamqp_would_frame() -> None:
    """Method, content header and body frames, byte for byte as pamqp marshals them."""

    async def scenario() -> bytes:
        connection = _Connection(Endpoint.from_url("amqp://h/"), lambda _: None)
        transport = _Transport()
        connection.connection_made(transport)
        connection.data_received(_handshake())
        del transport.written[:]
        sent = properties("m-1")
        connection.publish(
            ROUTE_EXCHANGE,
            "gemeente.0637.WMO305",
            sent.marshal(),
            b"<Bericht/>",
            message_id="m-1",
            mandatory=True,
            deadline=1e9,
        )
        await asyncio.sleep(0)  # written at the start of the next turn of the loop
        return bytes(transport.written)

    from pamqp.body import ContentBody
    from pamqp.header import ContentHeader

    sent = properties("m-1")
    expected = b"".join(
        (
            codec.marshal(
                commands.Basic.Publish(
                    exchange=ROUTE_EXCHANGE, routing_key="gemeente.0637.WMO305", mandatory=True
                ),
                1,
            ),
            codec.marshal(ContentHeader(0, len(b"<Bericht/>"), sent), 1),
            codec.marshal(ContentBody(b"<Bericht/>"), 1),
        )
    )
    assert asyncio.run(scenario()) == expected


def test_the_publishes_of_one_turn_go_out_in_one_write_in_their_order() -> None:
    """Three publishes in one turn of the loop: nothing written during it, then one write with
    the three in the order of their delivery tags; a publish lost with its connection before
    its turn ended is failed, and never written."""

    class Counting(_Transport):
        def __init__(self) -> None:
            super().__init__()
            self.writes: list[bytes] = []

        def write(self, data: bytes | bytearray | memoryview) -> None:
            self.writes.append(bytes(data))

    def publish(connection: _Connection, message_id: str) -> asyncio.Future[None]:
        return connection.publish(
            ROUTE_EXCHANGE,
            "gemeente.0637.WMO305",
            properties(message_id).marshal(),
            message_id.encode(),
            message_id=message_id,
            mandatory=True,
            deadline=1e9,
        )

    async def scenario() -> None:
        connection = _Connection(Endpoint.from_url("amqp://h/"), lambda _: None)
        transport = Counting()
        connection.connection_made(transport)
        connection.data_received(_handshake())
        transport.writes.clear()
        for message_id in ("m-1", "m-2", "m-3"):
            publish(connection, message_id)
        assert transport.writes == []
        await asyncio.sleep(0)
        assert len(transport.writes) == 1
        positions = [transport.writes[0].find(m) for m in (b"m-1", b"m-2", b"m-3")]
        assert -1 not in positions
        assert positions == sorted(positions)

        transport.writes.clear()
        lost = publish(connection, "m-4")
        connection.connection_lost(None)
        await asyncio.sleep(0)
        assert transport.writes == []
        with pytest.raises(BrokerUnavailable):
            await lost

    asyncio.run(scenario())


def test_urls_are_read_like_aio_pika_reads_them() -> None:
    """Defaults, an escaped vhost, the heartbeat; a bad heartbeat or scheme names the setting."""
    plain = Endpoint.from_url("amqp://rabbit/")
    assert (plain.host, plain.port, plain.vhost, plain.username, plain.password) == (
        "rabbit",
        5672,
        "/",
        "guest",
        "guest",
    )
    assert plain.heartbeat == 60
    assert plain.tls is None
    named = Endpoint.from_url("amqp://u:p@rabbit:5673/pytest%2Fone?heartbeat=0")
    assert (named.port, named.vhost, named.username, named.password, named.heartbeat) == (
        5673,
        "pytest/one",
        "u",
        "p",
        0,
    )
    assert Endpoint.from_url("amqps://rabbit/").port == 5671
    assert Endpoint.from_url("amqps://rabbit/").tls is not None
    with pytest.raises(ConfigError, match="heartbeat"):
        Endpoint.from_url("amqp://u:secret@rabbit/?heartbeat=soon")
    with pytest.raises(ConfigError, match="not an AMQP URL"):
        Endpoint.from_url("http://rabbit/")


async def test_amqps_speaks_tls_and_checks_the_broker(
    rabbit_tls_node: RabbitNode, certs_dir: Path, tmp_path: Path
) -> None:
    """An ``amqps://`` URL: topology and publishing over TLS, the broker's certificate checked
    against ``cafile`` and a client certificate presented; a broker whose certificate the CA
    did not sign is refused, naming the certificate."""
    client = certs_dir / "aanbieder-12345678"
    query = f"cafile={certs_dir / 'ca.crt'}&certfile={client}.crt&keyfile={client}.key"
    url = f"amqps://guest:guest@localhost:{rabbit_tls_node.tls_port}/?{query}"
    broker = await Broker.connect(url, participants=PARTICIPANTS)
    try:
        await broker.publish(routed(ZOETERMEER))
    finally:
        await broker.close()
    assert (await receive(rabbit_tls_node.url, ZOETERMEER)).type == "WMO305"

    other = tmp_path / "other-ca"
    pki.init(other, Registry.load())
    stranger = f"amqps://guest:guest@localhost:{rabbit_tls_node.tls_port}/?cafile={other}/ca.crt"
    with pytest.raises(BrokerUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        await Publisher.connect(stranger, connect_timeout=10)
