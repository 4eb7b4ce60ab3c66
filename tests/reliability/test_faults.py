"""Faults under load: broker gone, gateway killed, ledger gone; no 2xx is ever lost.

The gateway runs in a process of its own; the test process pushes 305s with the patience of a
careful vendor (a 503 or a dropped connection: the same message, same traceerId, again) while it
breaks something. Afterwards a consumer that deduplicates by message id reads the inbox:
accepted = delivered, lost = 0, and nothing the gateway answered 2xx to is missing.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest

from tests.fixtures.broker import AmqpRelay
from tests.fixtures.ledger import _create_pg_database, _drop_pg_database
from tests.reliability.process import (
    AMSTERDAM,
    PROVIDER,
    GatewayProcess,
    drain,
    participant_session,
    push_until_accepted,
    wmo305,
)

MESSAGES = 150
CONCURRENCY = 16


@dataclass
class Load:
    """A run of pushes from the test process, counting what the gateway answered."""

    accepted: set[str] = field(default_factory=set)
    statuses: dict[int, int] = field(default_factory=dict)
    dropped: list[int] = field(default_factory=list)
    under_way: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(
        self, gateway: GatewayProcess, certs_dir: Path, example: bytes, *, seconds: float = 90
    ) -> None:
        give_up = time.monotonic() + seconds
        work: asyncio.Queue[int] = asyncio.Queue()
        for n in range(MESSAGES):
            work.put_nowait(n)
        run_id = uuid.uuid4().hex[:4]

        async def worker() -> None:
            async with participant_session(certs_dir, PROVIDER) as session:
                while not work.empty():
                    n = work.get_nowait()
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
                        if len(self.accepted) >= MESSAGES // 5:
                            self.under_way.set()

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def fault_under_load(
    load: Load,
    gateway: GatewayProcess,
    certs_dir: Path,
    example: bytes,
    fault: Callable[[], Awaitable[None]],
) -> None:
    """Run the load and, once a fifth of it is accepted, the fault alongside."""

    async def when_under_way() -> None:
        await load.under_way.wait()
        await fault()

    await asyncio.gather(load.run(gateway, certs_dir, example), when_under_way())


def check_nothing_lost(load: Load, delivered: list[str]) -> None:
    assert len(load.accepted) == MESSAGES, (load.statuses, len(load.dropped))
    lost = load.accepted - set(delivered)
    assert not lost, f"{len(lost)} accepted message(s) never delivered"
    # Deliveries beyond the accepted ones would be messages answered 503 yet routed for good.
    assert set(delivered) == load.accepted


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
    delivered = await drain(amqp_url, AMSTERDAM, MESSAGES)
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
    delivered = await drain(amqp_url, AMSTERDAM, MESSAGES)
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
    delivered = await drain(amqp_url, AMSTERDAM, MESSAGES)
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
    finally:
        await relay.close()

    assert answered_503_during_outage, load.statuses
    delivered = await drain(amqp_url, AMSTERDAM, MESSAGES)
    check_nothing_lost(load, delivered)
    connection = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{pg_database}")
    try:
        rows = await connection.fetch("SELECT traceer_id, status FROM messages")
    finally:
        await connection.close()
    assert {row["traceer_id"] for row in rows} == load.accepted
    assert {row["status"] for row in rows} == {"WordtAangeboden"}
