"""Faults under load: broker gone, gateway killed, ledger gone; no 2xx is ever lost.

The gateway runs in a process of its own; the test process pushes 305s with the patience of a
careful vendor (a 503 or a dropped connection: the same message, same traceerId, again) while it
breaks something. Afterwards a consumer that deduplicates by message id reads the inbox:
accepted = delivered, lost = 0, and nothing the gateway answered 2xx to is missing.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest

from tests.fixtures.broker import AmqpRelay
from tests.fixtures.ledger import _create_pg_database, _drop_pg_database
from tests.fixtures.rabbitmq_node import RabbitNode
from tests.reliability.process import (
    AMSTERDAM,
    PROVIDER,
    GatewayProcess,
    drain,
    participant_session,
    push_until_accepted,
    wmo305,
)

MESSAGES = 150  # at least this many distinct messages per test ...
AFTER_FAULT = MESSAGES // 5  # ... of which this many accepted once the fault is over
CONCURRENCY = 16


@dataclass
class Load:
    """Pushes from the test process, counting what the gateway answered.

    It starts new messages until ``MESSAGES`` have been started, the fault is over, and
    ``AFTER_FAULT`` of them were accepted after it: the fault always meets a load, however long
    it takes, and the gateway shows it recovered by itself.
    """

    accepted: set[str] = field(default_factory=set)
    started: int = 0
    given_up: int = 0
    accepted_after_fault: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    dropped: list[int] = field(default_factory=list)
    under_way: asyncio.Event = field(default_factory=asyncio.Event)
    fault_over: asyncio.Event = field(default_factory=asyncio.Event)

    def more(self) -> bool:
        return (
            self.started < MESSAGES
            or not self.fault_over.is_set()
            or self.accepted_after_fault < AFTER_FAULT
        )

    async def run(
        self, gateway: GatewayProcess, certs_dir: Path, example: bytes, *, seconds: float = 90
    ) -> None:
        give_up = time.monotonic() + seconds
        run_id = uuid.uuid4().hex[:4]

        async def worker() -> None:
            async with participant_session(certs_dir, PROVIDER) as session:
                while self.more() and time.monotonic() < give_up:
                    n = self.started
                    self.started += 1
                    traceer_id = str(uuid.uuid4())
                    payload = wmo305(example, f"{run_id}{n:08d}")
                    if await push_until_accepted(
                        session,
                        gateway.base_url,
                        payload,
                        traceer_id,
                        self.statuses,
                        self.dropped,
                        give_up=give_up,
                    ):
                        self.accepted.add(traceer_id)
                        if self.fault_over.is_set():
                            self.accepted_after_fault += 1
                        if len(self.accepted) >= MESSAGES // 5:
                            self.under_way.set()
                    else:
                        self.given_up += 1

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def fault_under_load(
    load: Load,
    gateway: GatewayProcess,
    certs_dir: Path,
    example: bytes,
    fault: Callable[[], Awaitable[None]],
    *,
    seconds: float = 90,
) -> None:
    """Run the load and, once a fifth of ``MESSAGES`` is accepted, the fault alongside."""

    async def when_under_way() -> None:
        await load.under_way.wait()
        try:
            await fault()
        finally:
            load.fault_over.set()

    await asyncio.gather(load.run(gateway, certs_dir, example, seconds=seconds), when_under_way())


def deduplicated(delivered: list[str]) -> list[str]:
    """What a consumer that deduplicates by message id passes on: each id at its first delivery."""
    seen: set[str] = set()
    once = []
    for message_id in delivered:
        if message_id not in seen:
            seen.add(message_id)
            once.append(message_id)
    return once


def check_nothing_lost(load: Load, delivered: list[str]) -> None:
    """Every message started was accepted in the end; accepted = delivered, lost = 0."""
    counts = (load.statuses, len(load.dropped), load.given_up)
    assert load.given_up == 0, counts
    assert load.started >= MESSAGES, counts
    assert len(load.accepted) == load.started, counts
    assert load.accepted_after_fault >= AFTER_FAULT, counts
    once = deduplicated(delivered)
    lost = load.accepted - set(once)
    assert not lost, f"{len(lost)} of {len(load.accepted)} accepted message(s) never delivered"
    # Deliveries beyond the accepted ones would be messages answered 503 yet routed for good.
    assert sorted(once) == sorted(load.accepted)


@pytest.fixture
def wmo305_example(reference: Path) -> bytes:
    """The official WMO305 example, from provider 65656055 to Amsterdam (0363)."""
    return (reference / "iwmo-3.2" / "examples" / "WMO305.xml").read_bytes()


async def test_broker_outage_answers_503_and_loses_nothing(
    gateway_process: GatewayProcess,
    amqp_relay: AmqpRelay,
    amqp_vhost: str,
    amqp_url: str,
    certs_dir: Path,
    wmo305_example: bytes,
) -> None:
    """RabbitMQ gone mid-load: 503 meanwhile, a reconnect by itself, every 2xx delivered."""
    gateway_process.env["GATEWAY_AMQP_URL"] = amqp_relay.url(amqp_vhost)
    await gateway_process.start()
    load = Load()
    answered_503_during_outage = False

    async def outage() -> None:
        nonlocal answered_503_during_outage
        before = load.statuses.get(503, 0)
        await amqp_relay.cut()
        await asyncio.sleep(2)
        answered_503_during_outage = load.statuses.get(503, 0) > before
        await amqp_relay.restore()

    await fault_under_load(load, gateway_process, certs_dir, wmo305_example, outage)

    assert answered_503_during_outage, load.statuses
    assert gateway_process.alive()
    delivered = await drain(amqp_url, AMSTERDAM, len(load.accepted))
    check_nothing_lost(load, delivered)


@pytest.mark.timeout(360)  # two boots of a RabbitMQ node, each up to a minute on a busy machine
async def test_rabbitmq_stopped_and_restarted_answers_503_and_loses_nothing(
    gateway_process: GatewayProcess, rabbit_node: RabbitNode, certs_dir: Path, wmo305_example: bytes
) -> None:
    """A RabbitMQ node of the test's own shut down mid-load and booted again from its disk.

    Not a cut wire: the broker closes the gateway's connection itself and its VM ends, so what
    it had confirmed survives only if the queue and the messages are durable; and the gateway
    must find the node again after it is back, with no restart of its own.
    """
    gateway_process.env["GATEWAY_AMQP_URL"] = rabbit_node.url
    await gateway_process.start()
    load = Load()
    answered_503_while_down = False

    async def outage() -> None:
        nonlocal answered_503_while_down
        await asyncio.to_thread(rabbit_node.stop)
        before = load.statuses.get(503, 0)
        await asyncio.sleep(2)
        answered_503_while_down = load.statuses.get(503, 0) > before
        await asyncio.to_thread(rabbit_node.start)

    await fault_under_load(load, gateway_process, certs_dir, wmo305_example, outage, seconds=180)

    assert rabbit_node.starts == 2
    assert answered_503_while_down, load.statuses
    assert gateway_process.alive()
    assert gateway_process.starts == 1
    delivered = await drain(rabbit_node.url, AMSTERDAM, len(load.accepted))
    check_nothing_lost(load, delivered)


async def test_broker_without_confirms_answers_503_and_loses_nothing(
    gateway_process: GatewayProcess,
    amqp_relay: AmqpRelay,
    amqp_vhost: str,
    amqp_url: str,
    certs_dir: Path,
    wmo305_example: bytes,
) -> None:
    """RabbitMQ connected but silent mid-load: 503 after the publish timeout, every 2xx delivered.

    Messages published during the silence may still arrive afterwards although their sender got
    a 503; the sender's retry is then a second copy, which the deduplicating consumer absorbs.
    """
    gateway_process.env["GATEWAY_AMQP_URL"] = amqp_relay.url(amqp_vhost)
    await gateway_process.start()
    load = Load()
    answered_503_during_silence = False

    async def silence() -> None:
        nonlocal answered_503_during_silence
        before = load.statuses.get(503, 0)
        amqp_relay.stall()
        await asyncio.sleep(3)  # longer than GATEWAY_PUBLISH_TIMEOUT (2 s)
        answered_503_during_silence = load.statuses.get(503, 0) > before
        await amqp_relay.restore()

    await fault_under_load(load, gateway_process, certs_dir, wmo305_example, silence)

    assert answered_503_during_silence, load.statuses
    delivered = await drain(amqp_url, AMSTERDAM, len(load.accepted))
    check_nothing_lost(load, delivered)


async def test_sigkill_mid_load_loses_no_accepted_message(
    gateway_process: GatewayProcess, amqp_url: str, certs_dir: Path, wmo305_example: bytes
) -> None:
    """The gateway SIGKILLed under load and started again: every 2xx is delivered."""
    await gateway_process.start()
    load = Load()

    async def crash() -> None:
        gateway_process.kill()
        await asyncio.sleep(0.5)
        await gateway_process.start()

    await fault_under_load(load, gateway_process, certs_dir, wmo305_example, crash)

    assert load.dropped, "the kill should have dropped connections in flight"
    delivered = await drain(amqp_url, AMSTERDAM, len(load.accepted))
    check_nothing_lost(load, delivered)


def writer_processes(gateway: GatewayProcess) -> list[int]:
    """The gateway's children: its SQLite ledger's writer process."""
    return [
        int(child)
        for task in Path(f"/proc/{gateway.pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]


async def test_ledger_writer_process_killed_mid_load_loses_no_accepted_message(
    gateway_process: GatewayProcess, amqp_url: str, certs_dir: Path, wmo305_example: bytes
) -> None:
    """The SQLite ledger's writer process SIGKILLed under load: what it had not answered is
    refused (503, or written after all and then a replay on the vendor's retry), a new writer
    process takes over without a restart of the gateway, and every 2xx is delivered."""
    await gateway_process.start()
    [first] = writer_processes(gateway_process)
    gateway = gateway_process.pid
    load = Load()

    async def kill_the_writer() -> None:
        os.kill(first, signal.SIGKILL)
        await asyncio.sleep(0.5)

    await fault_under_load(load, gateway_process, certs_dir, wmo305_example, kill_the_writer)

    assert load.statuses.get(503), load.statuses  # the kill met writes in flight
    assert gateway_process.pid == gateway
    [second] = writer_processes(gateway_process)
    assert second != first
    assert "the ledger writer process ended" in gateway_process.log()
    delivered = await drain(amqp_url, AMSTERDAM, len(load.accepted))
    check_nothing_lost(load, delivered)


@pytest.fixture
async def pg_database() -> AsyncIterator[str]:
    """A new, empty PostgreSQL database, dropped afterwards."""
    name = await _create_pg_database()
    try:
        yield name
    finally:
        await _drop_pg_database(name)


async def test_ledger_outage_answers_503_and_half_accepts_nothing(
    gateway_process: GatewayProcess,
    pg_database: str,
    amqp_url: str,
    certs_dir: Path,
    wmo305_example: bytes,
) -> None:
    """PostgreSQL gone mid-load: 503 meanwhile; afterwards every row is routed and delivered."""
    relay = AmqpRelay("127.0.0.1", 5432)  # plain TCP: here a ledger that can go away
    await relay.start()
    try:
        gateway_process.env["GATEWAY_DB_URL"] = (
            f"postgresql://postgres@127.0.0.1:{relay.port}/{pg_database}"
        )
        await gateway_process.start()
        load = Load()
        answered_503_during_outage = False

        async def outage() -> None:
            nonlocal answered_503_during_outage
            before = load.statuses.get(503, 0)
            await relay.cut()
            await asyncio.sleep(2)
            answered_503_during_outage = load.statuses.get(503, 0) > before
            await relay.restore()

        await fault_under_load(load, gateway_process, certs_dir, wmo305_example, outage)
        assert answered_503_during_outage, load.statuses
        # With the ledger still reachable through the relay: marks that failed in the outage
        # are written by the gateway's next try.
        await check_ledger_holds_exactly_the_accepted(load, amqp_url, pg_database)
    finally:
        await relay.close()


async def check_ledger_holds_exactly_the_accepted(
    load: Load, amqp_url: str, pg_database: str
) -> None:
    """Every accepted message delivered once, and the ledger holds those and nothing else."""
    delivered = await drain(amqp_url, AMSTERDAM, len(load.accepted))
    check_nothing_lost(load, delivered)
    connection = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{pg_database}")
    try:
        # A sender has its 2xx at the broker's confirm; a routed mark the ledger could not take
        # during the outage is written by the gateway's next try, a second later.
        deadline = asyncio.get_running_loop().time() + 15
        while True:
            rows = await connection.fetch("SELECT traceer_id, status FROM messages")
            statuses = {row["status"] for row in rows}
            if statuses == {"WordtAangeboden"} or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.2)
    finally:
        await connection.close()
    assert {row["traceer_id"] for row in rows} == load.accepted
    assert statuses == {"WordtAangeboden"}


async def test_ledger_database_shut_to_the_gateway_answers_503_and_half_accepts_nothing(
    gateway_process: GatewayProcess,
    pg_database: str,
    amqp_url: str,
    certs_dir: Path,
    wmo305_example: bytes,
) -> None:
    """PostgreSQL itself ends the gateway's sessions and refuses new ones mid-load: 503 meanwhile.

    What a stopping server sends its clients (57P01, "terminating connection due to administrator
    command"), then a database that refuses connections with an error of its own (55000): the
    server's side of an outage, where the relay is the network's. Only this test's database is
    shut; the shared server stays up.
    """
    gateway_process.env["GATEWAY_DB_URL"] = f"postgresql://postgres@127.0.0.1:5432/{pg_database}"
    await gateway_process.start()
    load = Load()
    answered_503_during_outage = False
    terminated = 0

    async def outage() -> None:
        nonlocal answered_503_during_outage, terminated
        admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
        try:
            before = load.statuses.get(503, 0)
            await admin.execute(f'ALTER DATABASE "{pg_database}" ALLOW_CONNECTIONS false')
            terminated = await admin.fetchval(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                pg_database,
            )
            await asyncio.sleep(2)
            answered_503_during_outage = load.statuses.get(503, 0) > before
            await admin.execute(f'ALTER DATABASE "{pg_database}" ALLOW_CONNECTIONS true')
        finally:
            await admin.close()

    await fault_under_load(load, gateway_process, certs_dir, wmo305_example, outage)

    assert terminated > 0, "the gateway had no session to end"
    assert answered_503_during_outage, load.statuses
    assert gateway_process.alive()
    await check_ledger_holds_exactly_the_accepted(load, amqp_url, pg_database)
