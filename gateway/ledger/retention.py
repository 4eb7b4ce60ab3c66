"""Retention: the ledger forgets as the VSP does.

The VSP's defaults: metadata and payload are kept two months; a payload is deleted 24 hours after
its recipient confirmed the download. Both are configurable (``GATEWAY_RETENTION_MONTHS``,
``GATEWAY_PAYLOAD_RETENTION_HOURS``). A periodic job enforces them on the gateway's clock, so
that in simulation mode advancing the virtual clock past a limit purges at once.

Obligations are the SLA record, not message data: a met obligation goes with the two months, an
open one stays until it is met (it is the one somebody still has to answer for).
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from gateway.background import ClockJob
from gateway.clock import Clock, VirtualClock
from gateway.errors import ConfigError, LedgerUnavailable
from gateway.ledger.schema import messages, obligations, payloads, status_history
from gateway.ledger.store import Ledger

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long the ledger keeps what, and how often the job looks."""

    months: int = 2
    payload_after_confirm: dt.timedelta = dt.timedelta(hours=24)
    interval: dt.timedelta = dt.timedelta(hours=1)

    def __post_init__(self) -> None:
        if self.months < 1:
            raise ConfigError(f"retention of {self.months} months: expected at least 1")
        if self.payload_after_confirm < dt.timedelta(0):
            raise ConfigError(
                f"payload retention after confirmation {self.payload_after_confirm}: "
                "expected zero or more"
            )
        if self.interval <= dt.timedelta(0):
            raise ConfigError(f"retention interval {self.interval}: expected a positive duration")

    def metadata_cutoff(self, now: dt.datetime) -> dt.datetime:
        """Messages received before this moment are forgotten: ``months`` calendar months ago."""
        return months_before(now, self.months)


def months_before(moment: dt.datetime, months: int) -> dt.datetime:
    """The same day and time ``months`` calendar months earlier (or that month's last day)."""
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


@dataclass(frozen=True, slots=True)
class Purged:
    """What one run removed."""

    payloads: int
    messages: int
    obligations: int


async def purge(ledger: Ledger, policy: RetentionPolicy, now: dt.datetime) -> Purged:
    """Apply ``policy`` at ``now``: drop confirmed payloads, then old messages and obligations."""
    m, o = messages.c, obligations.c
    cutoff = policy.metadata_cutoff(now)
    try:
        async with ledger.engine.begin() as connection:
            confirmed_long_ago = sa.select(m.traceer_id).where(
                m.confirmed_at.is_not(None), m.confirmed_at <= now - policy.payload_after_confirm
            )
            expired = payloads.c.traceer_id.in_(confirmed_long_ago.scalar_subquery())
            await connection.execute(
                messages.update()
                .where(m.traceer_id.in_(sa.select(payloads.c.traceer_id).where(expired)))
                .values(payload_deleted_at=now)
            )
            dropped = await connection.execute(payloads.delete().where(expired))
            old = sa.select(m.traceer_id).where(m.received_at < cutoff).scalar_subquery()
            await connection.execute(payloads.delete().where(payloads.c.traceer_id.in_(old)))
            await connection.execute(
                status_history.delete().where(status_history.c.traceer_id.in_(old))
            )
            gone = await connection.execute(messages.delete().where(m.received_at < cutoff))
            # A met obligation is also the memory that it was owed: an assignment owes one 305
            # and one 307 however often a 301 repeats it, so the met ones of an assignment
            # whose other obligations are still open are kept until those are met too.
            sibling = obligations.alias("sibling")
            still_running = (
                sa.select(sibling.c.id)
                .where(
                    sibling.c.reference == o.reference,
                    sibling.c.debtor == o.debtor,
                    sibling.c.creditor == o.creditor,
                    sibling.c.met_at.is_(None),
                )
                .exists()
            )
            met = await connection.execute(
                obligations.delete().where(
                    o.met_at.is_not(None),
                    o.opened_at < cutoff,
                    sa.or_(o.reference.is_(None), ~still_running),
                )
            )
    except (DBAPIError, OSError) as exc:
        raise LedgerUnavailable(f"retention: ledger write failed: {exc}") from exc
    return Purged(dropped.rowcount, gone.rowcount, met.rowcount)


class RetentionJob(ClockJob):
    """Runs ``purge`` every ``policy.interval`` of the clock's time."""

    name = "retention"

    def __init__(self, ledger: Ledger, policy: RetentionPolicy, clock: Clock) -> None:
        super().__init__(clock)
        self.ledger = ledger
        self.policy = policy

    async def run_once(self, now: dt.datetime | None = None) -> Purged:
        """Purge at ``now`` (the clock's moment if None)."""
        purged = await purge(self.ledger, self.policy, now or self.clock.now())
        if purged.payloads or purged.messages or purged.obligations:
            log.info(
                "retention: %d payload(s), %d message(s), %d met obligation(s) removed",
                purged.payloads,
                purged.messages,
                purged.obligations,
            )
        return purged

    async def _run(self) -> None:
        while True:
            # The next run counts from the moment this one purged at: a clock that moves while
            # the run is busy (a slow ledger) is seen by ``_sleep``, not missed.
            self._wake.clear()
            ran_at = self.clock.now()
            try:
                async with self._round():
                    await self.run_once(ran_at)
            except LedgerUnavailable as exc:
                log.warning("%s", exc)
            await self._sleep(ran_at, ran_at + self.policy.interval)

    async def _sleep(self, ran_at: dt.datetime, until: dt.datetime) -> None:
        if not isinstance(self.clock, VirtualClock):
            await self.clock.sleep_until(until)
            return
        # A virtual clock may be moved back as well as forward: run again once it reaches the
        # next run, or when it is set back before the last one. ``_wake`` is set by every move
        # since the run began, so none between the check and the wait goes unseen.
        while ran_at <= self.clock.now() < until:
            await self._wake.wait()
            self._wake.clear()
