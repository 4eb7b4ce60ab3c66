"""The monitor on the virtual and the real clock and the real RabbitMQ: sla.late and the gauges."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping
from datetime import timedelta

import aio_pika
from prometheus_client import CollectorRegistry

from gateway.clock import SystemClock, VirtualClock
from gateway.ledger import Ledger
from gateway.ledger.schema import obligations
from gateway.routing import Broker
from gateway.sla.monitor import LATE_EVENT, Monitor, SlaMetrics
from gateway.sla.store import ObligationStore, Tally
from tests.sla.conftest import Admitter


def sample(registry: CollectorRegistry, name: str, owed: str, debtor: str) -> float | None:
    return registry.get_sample_value(name, {"message_type": owed, "participant": debtor})


async def test_advancing_the_clock_announces_late_obligations_once(
    admitter: Admitter,
    store: ObligationStore,
    clock: VirtualClock,
    broker: Broker,
    amqp_url: str,
) -> None:
    """Moving the clock past due publishes one sla.late per obligation, at once, and counts it."""
    registry = CollectorRegistry()
    monitor = Monitor(store, clock, broker, SlaMetrics(registry), poll=30.0)
    await admitter.admit("WMO301")
    async with Broker.events(amqp_url, LATE_EVENT) as events:
        monitor.start()
        try:
            await asyncio.sleep(0.2)  # the first round: nothing is late
            clock.advance_working_days(4)  # past the 302's due, before the 305's
            async with asyncio.timeout(10):  # far below the 30 s poll: the move woke it
                event = await anext(events)
            assert event.routing_key == LATE_EVENT
            assert event.payload["owed"] == "WMO302"
            assert event.payload["by"] == "42420001"
            assert event.payload["to"] == "0384"
            assert event.payload["late"] is True
            assert event.payload["met"] is None
        finally:
            await monitor.stop()
    assert await monitor.check() == []  # announced before: not again

    await monitor.refresh_gauges()
    late = sample(registry, "gateway_sla_late", "WMO302", "aanbieder-42420001")
    assert late == 1.0
    assert sample(registry, "gateway_sla_open", "WMO305", "aanbieder-42420001") == 1.0
    assert sample(registry, "gateway_sla_late", "WMO305", "aanbieder-42420001") == 0.0
    announced = "gateway_sla_late_events_total"
    assert sample(registry, announced, "WMO302", "aanbieder-42420001") == 1.0


class Collected:
    """Keeps what the monitor publishes (the broker's part is pinned by the test above)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Mapping[str, object]]] = []

    async def publish_event(self, routing_key: str, payload: Mapping[str, object]) -> None:
        self.events.append((routing_key, payload))


async def test_gauges_count_met_on_time_and_met_late(
    admitter: Admitter, store: ObligationStore, clock: VirtualClock
) -> None:
    """An answer before due counts as met on time, one after due as met late."""
    registry = CollectorRegistry()
    published = Collected()
    monitor = Monitor(store, clock, published, SlaMetrics(registry))
    await admitter.admit("WMO301")
    await admitter.admit("WMO302")
    await admitter.admit("WMO323")
    clock.advance(timedelta(days=40))
    await admitter.admit("WMO325")
    await monitor.check()
    await monitor.refresh_gauges()
    provider, municipality = "aanbieder-42420001", "gemeente-0384"
    assert sample(registry, "gateway_sla_met_on_time", "WMO302", provider) == 1.0
    assert sample(registry, "gateway_sla_met_late", "WMO325", municipality) == 1.0
    assert sample(registry, "gateway_sla_owed", "WMO325", municipality) == 1.0
    assert sample(registry, "gateway_sla_late", "WMO305", provider) == 1.0
    # Met late before the monitor looked: counted, but only the open one is announced.
    assert [payload["owed"] for _key, payload in published.events] == ["WMO305"]


class Held(Collected):
    """Publishes only when let go: a round caught in the middle of announcing."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def publish_event(self, routing_key: str, payload: Mapping[str, object]) -> None:
        self.entered.set()
        await self.release.wait()
        await super().publish_event(routing_key, payload)


async def test_stopping_lets_the_round_in_progress_announce_what_it_claimed(
    admitter: Admitter, store: ObligationStore, clock: VirtualClock
) -> None:
    """stop() during a round waits for it: the obligation it claimed late is announced, once."""
    registry = CollectorRegistry()
    held = Held()
    monitor = Monitor(store, clock, held, SlaMetrics(registry), poll=30.0)
    await admitter.admit("WMO301")
    monitor.start()
    clock.advance_working_days(4)  # the 302 is late: the next round claims it, then announces
    async with asyncio.timeout(10):
        await held.entered.wait()
    stopping = asyncio.create_task(monitor.stop())
    await asyncio.sleep(0.1)
    assert not stopping.done()  # it waits for the round, it does not cut it
    held.release.set()
    async with asyncio.timeout(10):
        await stopping

    assert [payload["owed"] for _key, payload in held.events] == ["WMO302"]
    announced = "gateway_sla_late_events_total"
    assert sample(registry, announced, "WMO302", "aanbieder-42420001") == 1.0
    assert await monitor.check() == []  # claimed and announced: not again


async def test_stopping_between_rounds_is_at_once(
    store: ObligationStore, clock: VirtualClock
) -> None:
    """A monitor waiting for its next round stops without waiting for it."""
    monitor = Monitor(store, clock, Collected(), SlaMetrics(CollectorRegistry()), poll=3600.0)
    monitor.start()
    await asyncio.sleep(0.2)  # the first round is over; it sleeps until the next poll
    async with asyncio.timeout(2):
        await monitor.stop()


def test_a_tally_that_is_gone_leaves_the_gauges() -> None:
    """The gauges show the last tallies only: a pair whose obligations were deleted disappears."""
    registry = CollectorRegistry()
    metrics = SlaMetrics(registry)
    metrics.show([Tally("WMO302", "aanbieder-42420001", 2, 1, 0, 1, 1)])
    assert sample(registry, "gateway_sla_open", "WMO302", "aanbieder-42420001") == 1.0
    assert sample(registry, "gateway_sla_owed", "WMO302", "aanbieder-42420001") == 2.0
    metrics.show([Tally("WMO305", "gemeente-0363", 1, 1, 0, 0, 0)])
    assert sample(registry, "gateway_sla_owed", "WMO302", "aanbieder-42420001") is None
    assert sample(registry, "gateway_sla_met_on_time", "WMO305", "gemeente-0363") == 1.0


async def test_on_the_real_clock_the_monitor_wakes_at_the_due_moment(
    db_url: str, broker: Broker, amqp_url: str
) -> None:
    """On the system clock an obligation due in a second is announced on ``iwmo.events`` (bound
    by name here, not through the gateway's constant) soon after its due, long before a 30 s
    poll, and not before the due moment."""
    clock = SystemClock()
    ledger = await Ledger.open(db_url)
    try:
        store = ObligationStore(ledger)
        due = clock.now() + timedelta(seconds=1.5)
        async with ledger.engine.begin() as database:
            await database.execute(
                obligations.insert().values(
                    id=str(uuid.uuid4()),
                    rule="OP090",
                    owed="WMO302",
                    accepts=",WMO302,",
                    debtor="aanbieder-12345678",
                    creditor="gemeente-0637",
                    trigger_traceer_id=str(uuid.uuid4()),
                    trigger_type="WMO301",
                    trigger_identificatie="ID1",
                    opened_at=clock.now(),
                    due=due,
                )
            )
        registry = CollectorRegistry()
        monitor = Monitor(store, clock, broker, SlaMetrics(registry), poll=30.0)
        amqp = await aio_pika.connect(amqp_url)
        try:
            channel = await amqp.channel()
            exchange = await channel.get_exchange("iwmo.events", ensure=True)
            queue = await channel.declare_queue(exclusive=True)
            await queue.bind(exchange, "sla.late")
            monitor.start()
            try:
                async with asyncio.timeout(10), queue.iterator() as messages:
                    async for message in messages:
                        seen = clock.now()
                        await message.ack()
                        break
            finally:
                await monitor.stop()
        finally:
            await amqp.close()
        assert message.routing_key == "sla.late"
        payload = json.loads(message.body)
        assert (payload["owed"], payload["by"], payload["to"], payload["late"]) == (
            "WMO302",
            "12345678",
            "0637",
            True,
        )
        assert due <= seen < due + timedelta(seconds=8)
        await monitor.refresh_gauges()
        assert sample(registry, "gateway_sla_late", "WMO302", "aanbieder-12345678") == 1.0
    finally:
        await ledger.close()
