"""Retention on the virtual clock: payloads 24 h after confirmation, everything after 2 months."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from gateway import config
from gateway.clock import VirtualClock
from gateway.errors import ConfigError
from gateway.ledger import Ledger, retention
from gateway.ledger.retention import (
    Purged,
    RetentionJob,
    RetentionPolicy,
    months_before,
    purge,
)
from gateway.ledger.schema import obligations, status_history
from gateway.sla.store import ObligationStore, Query
from tests.sla.conftest import MONDAY, Admitter


async def test_payload_goes_24_hours_after_confirmation(
    admitter: Admitter, sla_ledger: Ledger, clock: VirtualClock
) -> None:
    """A confirmed payload stays 24 hours, then goes; the metadata stays."""
    stored = await admitter.admit("WMO301")
    clock.advance(timedelta(hours=5))
    assert await sla_ledger.delivered(stored.traceer_id)
    policy = RetentionPolicy()

    clock.advance(timedelta(hours=23, minutes=59))
    assert (await purge(sla_ledger, policy, clock.now())).payloads == 0
    assert await sla_ledger.payload_of(stored.traceer_id) is not None

    clock.advance(timedelta(minutes=1))
    assert (await purge(sla_ledger, policy, clock.now())).payloads == 1
    assert await sla_ledger.payload_of(stored.traceer_id) is None
    assert await sla_ledger.get(stored.traceer_id) is not None


async def test_unconfirmed_payload_stays_until_the_two_months(
    admitter: Admitter, sla_ledger: Ledger, clock: VirtualClock
) -> None:
    """A payload nobody confirmed stays; after two calendar months the message is gone."""
    stored = await admitter.admit("WMO323")
    clock.advance(timedelta(days=45))
    assert await purge(sla_ledger, RetentionPolicy(), clock.now()) == Purged(0, 0, 0)
    assert await sla_ledger.payload_of(stored.traceer_id) is not None

    clock.set(months_before(MONDAY, -2))  # 14 October 10:00, two months after receipt
    purged = await purge(sla_ledger, RetentionPolicy(), clock.now())
    assert (purged.messages, purged.payloads) == (0, 0)  # received exactly at the cutoff
    clock.advance(timedelta(seconds=1))
    assert (await purge(sla_ledger, RetentionPolicy(), clock.now())).messages == 1
    assert await sla_ledger.get(stored.traceer_id) is None
    assert await sla_ledger.history(stored.traceer_id) == []


async def test_met_obligations_go_with_the_messages_open_ones_stay(
    admitter: Admitter, sla_ledger: Ledger, clock: VirtualClock
) -> None:
    """After the retention, met obligations are forgotten; open (late) ones stay reported."""
    await admitter.admit("WMO301")
    await admitter.admit("WMO302")
    clock.advance(timedelta(days=70))
    purged = await purge(sla_ledger, RetentionPolicy(), clock.now())
    assert (purged.messages, purged.obligations) == (2, 1)
    left = await ObligationStore(sla_ledger).find(Query(), clock.now())
    assert sorted(o.owed for o in left) == ["WMO305", "WMO307"]
    async with sla_ledger.engine.connect() as connection:
        assert (
            await connection.execute(sa.select(sa.func.count()).select_from(status_history))
        ).scalar() == 0


async def test_periodic_job_purges_when_the_virtual_clock_passes(
    admitter: Admitter, sla_ledger: Ledger, clock: VirtualClock
) -> None:
    """The running job purges as soon as the virtual clock moves past the payload's 24 hours."""
    stored = await admitter.admit("WMO301")
    assert await sla_ledger.delivered(stored.traceer_id)
    job = RetentionJob(sla_ledger, RetentionPolicy(), clock)
    job.start()
    try:
        await asyncio.sleep(0.1)
        clock.advance(timedelta(hours=25))
        for _ in range(200):
            if await sla_ledger.payload_of(stored.traceer_id) is None:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the payload is still there 10 s after the clock passed its 24 hours")
    finally:
        await job.stop()


def test_months_before_keeps_the_day_or_takes_the_last_of_the_month() -> None:
    """Two months before 31 December is 31 October; before 30 April, 29 February in 2024."""
    assert months_before(datetime(2023, 12, 31, 8, tzinfo=UTC), 2) == datetime(
        2023, 10, 31, 8, tzinfo=UTC
    )
    assert months_before(datetime(2024, 4, 30, tzinfo=UTC), 2) == datetime(2024, 2, 29, tzinfo=UTC)
    assert months_before(datetime(2024, 1, 15, tzinfo=UTC), 2) == datetime(2023, 11, 15, tzinfo=UTC)


def test_retention_settings_are_read_and_checked() -> None:
    """GATEWAY_RETENTION_MONTHS and GATEWAY_PAYLOAD_RETENTION_HOURS configure it; 0 months fails."""
    settings = config.load(
        {"GATEWAY_RETENTION_MONTHS": "6", "GATEWAY_PAYLOAD_RETENTION_HOURS": "48"}
    )
    assert (settings.retention_months, settings.payload_retention_hours) == (6, 48)
    assert config.load({}).retention_months == 2
    with pytest.raises(ConfigError, match="GATEWAY_RETENTION_MONTHS"):
        config.load({"GATEWAY_RETENTION_MONTHS": "0"})
    with pytest.raises(ConfigError, match="at least 1"):
        RetentionPolicy(months=0)


async def test_met_obligation_of_a_running_assignment_is_kept(
    admitter: Admitter, sla_ledger: Ledger, clock: VirtualClock
) -> None:
    """A met 305 stays while its assignment's 307 is open: it remembers that the start was
    owed once, so a later 301 repeating the assignment opens no second 305."""
    await admitter.admit("WMO301")
    o = obligations.c
    async with sla_ledger.engine.begin() as connection:
        await connection.execute(
            obligations.update().where(o.owed == "WMO305").values(met_at=clock.now())
        )
    clock.advance(timedelta(days=70))
    await purge(sla_ledger, RetentionPolicy(), clock.now())
    async with sla_ledger.engine.connect() as connection:
        kept = (await connection.execute(sa.select(o.owed, o.met_at))).all()
    assert sorted((owed, met is not None) for owed, met in kept) == [
        ("WMO302", False),
        ("WMO305", True),
        ("WMO307", False),
    ]


async def test_other_limits_are_kept_to(
    admitter: Admitter, sla_ledger: Ledger, clock: VirtualClock
) -> None:
    """Three months and 48 hours instead of the defaults: nothing goes at the VSP's limits."""
    stored = await admitter.admit("WMO301")
    assert await sla_ledger.delivered(stored.traceer_id)
    policy = RetentionPolicy(months=3, payload_after_confirm=timedelta(hours=48))

    clock.advance(timedelta(hours=47))
    assert (await purge(sla_ledger, policy, clock.now())).payloads == 0
    clock.advance(timedelta(hours=1))
    assert (await purge(sla_ledger, policy, clock.now())).payloads == 1

    clock.set(months_before(MONDAY, -2) + timedelta(days=1))  # past two months, not three
    assert (await purge(sla_ledger, policy, clock.now())).messages == 0
    assert await sla_ledger.get(stored.traceer_id) is not None
    clock.set(months_before(MONDAY, -3) + timedelta(seconds=1))
    assert (await purge(sla_ledger, policy, clock.now())).messages == 1
    assert await sla_ledger.get(stored.traceer_id) is None


async def test_a_clock_move_during_a_run_is_not_missed(
    admitter: Admitter,
    sla_ledger: Ledger,
    clock: VirtualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The clock moved past the payload's 24 hours while a run was busy (a slow ledger): the
    job runs again at once instead of waiting for the next move."""
    stored = await admitter.admit("WMO301")
    assert await sla_ledger.delivered(stored.traceer_id)
    real_purge = retention.purge
    runs: list[datetime] = []

    async def purge_while_the_clock_moves(
        ledger: Ledger, policy: RetentionPolicy, now: datetime
    ) -> Purged:
        runs.append(now)
        if len(runs) == 1:
            clock.advance(timedelta(hours=25))
        return await real_purge(ledger, policy, now)

    monkeypatch.setattr(retention, "purge", purge_while_the_clock_moves)
    job = RetentionJob(sla_ledger, RetentionPolicy(), clock)
    job.start()
    try:
        for _ in range(100):
            if await sla_ledger.payload_of(stored.traceer_id) is None:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail(f"payload kept after runs at {runs}; the clock is at {clock.now()}")
    finally:
        await job.stop()
