"""The SLA monitor: notices obligations passing their due moment, announces them, keeps counts.

It runs inside the gateway, on the gateway's clock. Each round it claims the obligations that
are past due and not yet announced and publishes one ``sla.late`` event per obligation on
``iwmo.events``. The Prometheus gauges are counted from the ledger when they are scraped
(``refresh_gauges``), not each round: counting reads every obligation, and a round comes every
second while a scrape comes every quarter minute or so. Between rounds it waits
for the next due moment, at most ``poll`` seconds (obligations opened meanwhile may be due
sooner, and other gateways meet obligations), or until a virtual clock moves: advancing the
clock past a due moment announces the obligation at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Iterator, Mapping
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from gateway.background import ClockJob
from gateway.clock import Clock, VirtualClock
from gateway.errors import BrokerError, LedgerUnavailable
from gateway.sla.store import Obligation, ObligationStore, Tally

log = logging.getLogger(__name__)

LATE_EVENT = "sla.late"


class EventPublisher(Protocol):
    """Where the monitor publishes (``gateway.routing.Broker``)."""

    async def publish_event(self, routing_key: str, payload: Mapping[str, object]) -> None: ...


class SlaMetrics:
    """The SLA gauges (from the ledger, so they agree across gateways) and the event counter.

    The gauges are the last tallies ``show`` was given, served as they are when collected, rather
    than prometheus_client Gauges: a tally that is gone (retention deleted its obligations) must
    disappear from /metrics, and a Gauge's ``clear`` cannot do that in the multiprocess mode of
    several workers.
    """

    LABELS = ("message_type", "participant")
    GAUGES = (
        ("gateway_sla_owed", "Obligations in the ledger, by message and debtor"),
        ("gateway_sla_met_on_time", "Obligations met before their due"),
        ("gateway_sla_met_late", "Obligations met at or after their due"),
        ("gateway_sla_open", "Obligations not met yet"),
        ("gateway_sla_late", "Obligations not met and past their due"),
    )

    def __init__(self, registry: CollectorRegistry) -> None:
        self._tallies: list[Tally] = []
        self.announced = Counter(
            "gateway_sla_late_events",
            "sla.late events this gateway published",
            self.LABELS,
            registry=registry,
        )
        registry.register(self)

    def show(self, tallies: list[Tally]) -> None:
        self._tallies = list(tallies)

    def describe(self) -> Iterator[GaugeMetricFamily]:
        for name, what in self.GAUGES:
            yield GaugeMetricFamily(name, what, labels=self.LABELS)

    def collect(self) -> Iterator[Metric]:
        families = list(self.describe())
        for t in self._tallies:
            values = (t.total, t.met_on_time, t.met_late, t.open, t.late)
            for family, value in zip(families, values, strict=True):
                family.add_metric((t.owed, t.debtor), value)
        yield from families


def late_event(obligation: Obligation, now: dt.datetime) -> dict[str, object]:
    """The payload of ``sla.late``: the report's view of the obligation, and when it was seen."""
    return {**obligation.as_json(now), "debtor": obligation.debtor, "creditor": obligation.creditor}


class Monitor(ClockJob):
    """Announce late obligations and keep the gauges current; ``start`` and ``stop`` it."""

    name = "sla-monitor"

    def __init__(
        self,
        store: ObligationStore,
        clock: Clock,
        publisher: EventPublisher,
        metrics: SlaMetrics,
        *,
        poll: float = 1.0,
    ) -> None:
        super().__init__(clock)
        self.store = store
        self.publisher = publisher
        self.metrics = metrics
        self.poll = poll

    async def check(self) -> list[Obligation]:
        """One round: announce what became late; return what was announced."""
        now = self.clock.now()
        announced = []
        for obligation in await self.store.claim_late(now):
            try:
                await self.publisher.publish_event(LATE_EVENT, late_event(obligation, now))
            except BrokerError as exc:
                log.warning("could not announce %s late, retrying: %s", obligation.id, exc)
                await self.store.unclaim(obligation.id)
                continue
            self.metrics.announced.labels(obligation.owed, obligation.debtor).inc()
            announced.append(obligation)
        return announced

    async def refresh_gauges(self) -> None:
        """Count the obligations per message type and debtor into the gauges, as they are now."""
        self.metrics.show(await self.store.tally(self.clock.now()))

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                async with self._round():
                    await self.check()
                wait = await self._until_next_due()
            except LedgerUnavailable as exc:
                log.warning("SLA monitor: %s", exc)
                wait = self.poll
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def _until_next_due(self) -> float:
        if isinstance(self.clock, VirtualClock):
            return self.poll  # virtual time moves by jumps, and each jump wakes us
        due = await self.store.next_due()
        if due is None:
            return self.poll
        return max(0.0, min(self.poll, (due - self.clock.now()).total_seconds()))
