"""The one clock: the real one, and the virtual one a simulation sets and advances."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest

from gateway.clock import (
    Clock,
    SystemClock,
    VirtualClock,
    clock_from_env,
    clock_from_setting,
    parse_duration,
)
from gateway.deadlines import AMSTERDAM
from gateway.errors import ClockError, ConfigError

FRIDAY = datetime(2020, 4, 24, 9, 0, tzinfo=AMSTERDAM)


def test_both_clocks_are_clocks() -> None:
    """SystemClock and VirtualClock satisfy the Clock protocol."""
    assert isinstance(SystemClock(), Clock)
    assert isinstance(VirtualClock(FRIDAY), Clock)


def test_system_clock_reads_utc_and_the_amsterdam_day() -> None:
    """The real clock is aware, in UTC, close to now, and its day is the Amsterdam date."""
    clock = SystemClock()
    now = clock.now()
    assert now.utcoffset() == timedelta(0)
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)
    assert clock.today() in {
        now.astimezone(AMSTERDAM).date(),
        clock.now().astimezone(AMSTERDAM).date(),
    }


async def test_system_clock_sleeps_until_a_moment() -> None:
    """sleep_until on the real clock returns once the moment has passed."""
    clock = SystemClock()
    moment = clock.now() + timedelta(milliseconds=50)
    await asyncio.wait_for(clock.sleep_until(moment), timeout=5)
    assert clock.now() >= moment - timedelta(milliseconds=5)


def test_virtual_clock_stands_still() -> None:
    """A virtual clock reads the same moment until it is moved."""
    clock = VirtualClock(FRIDAY)
    assert clock.now() == clock.now() == FRIDAY
    assert clock.now().tzinfo is UTC
    assert clock.today() == date(2020, 4, 24)


def test_today_is_the_amsterdam_date() -> None:
    """At 23:30 UTC on 23 April the Amsterdam date is already 24 April."""
    assert VirtualClock(datetime(2020, 4, 23, 23, 30, tzinfo=UTC)).today() == date(2020, 4, 24)


def test_set_and_advance() -> None:
    """set puts the clock at a moment (also back in time); advance moves it forward."""
    clock = VirtualClock(FRIDAY)
    clock.advance(timedelta(hours=2))
    assert clock.now() == FRIDAY + timedelta(hours=2)
    clock.set(datetime(2020, 1, 1, tzinfo=UTC))
    assert clock.now() == datetime(2020, 1, 1, tzinfo=UTC)


def test_advance_refuses_going_back() -> None:
    """A negative duration is refused; time only moves back by an explicit set."""
    with pytest.raises(ClockError, match="negative"):
        VirtualClock(FRIDAY).advance(timedelta(seconds=-1))


def test_set_refuses_a_naive_moment() -> None:
    """A moment without a time zone is refused, naming it."""
    with pytest.raises(ClockError, match="2020-04-24T09:00:00 has no time zone"):
        VirtualClock(FRIDAY).set(datetime(2020, 4, 24, 9))


@pytest.mark.parametrize(
    ("start", "count", "expected"),
    [
        (FRIDAY, 1, datetime(2020, 4, 28, 9, tzinfo=AMSTERDAM)),  # over Koningsdag
        (FRIDAY, 0, FRIDAY),
        (
            datetime(2020, 3, 27, 9, tzinfo=AMSTERDAM),  # into summer time
            1,
            datetime(2020, 3, 30, 9, tzinfo=AMSTERDAM),
        ),
        (
            datetime(2020, 12, 24, 17, 30, tzinfo=AMSTERDAM),  # over Christmas
            2,
            datetime(2020, 12, 29, 17, 30, tzinfo=AMSTERDAM),
        ),
    ],
)
def test_advance_working_days(start: datetime, count: int, expected: datetime) -> None:
    """Advancing by N working days keeps the Amsterdam time of day and skips holidays."""
    clock = VirtualClock(start)
    clock.advance_working_days(count)
    assert clock.now() == expected
    assert clock.now().astimezone(AMSTERDAM).hour == start.hour


def test_advance_working_days_refuses_negative() -> None:
    """Going back by working days is refused."""
    with pytest.raises(ClockError, match="-1 working days"):
        VirtualClock(FRIDAY).advance_working_days(-1)


def test_listeners_hear_every_move_until_they_unsubscribe() -> None:
    """A subscribed listener is called with the new moment after each move."""
    clock = VirtualClock(FRIDAY)
    heard: list[datetime] = []
    unsubscribe = clock.subscribe(heard.append)
    clock.advance(timedelta(minutes=1))
    clock.set(FRIDAY)
    unsubscribe()
    clock.advance(timedelta(minutes=5))
    assert heard == [FRIDAY + timedelta(minutes=1), FRIDAY]
    unsubscribe()  # a second time is harmless


async def test_sleep_until_wakes_when_virtual_time_passes() -> None:
    """A task sleeping until a moment wakes only once the virtual clock reaches it."""
    clock = VirtualClock(FRIDAY)
    sleeper = asyncio.create_task(clock.sleep_until(FRIDAY + timedelta(hours=1)))
    await asyncio.sleep(0)
    clock.advance(timedelta(minutes=59))
    await asyncio.sleep(0)
    assert not sleeper.done()
    clock.advance(timedelta(minutes=1))
    await asyncio.wait_for(sleeper, timeout=5)


async def test_sleep_until_a_past_moment_returns_at_once() -> None:
    """Sleeping until a moment already passed does not wait."""
    clock = VirtualClock(FRIDAY)
    await asyncio.wait_for(clock.sleep_until(FRIDAY - timedelta(days=1)), timeout=1)


async def test_a_cancelled_sleeper_is_forgotten() -> None:
    """Cancelling a sleeping task leaves no waiter behind to be woken later."""
    clock = VirtualClock(FRIDAY)
    sleeper = asyncio.create_task(clock.sleep_until(FRIDAY + timedelta(days=1)))
    await asyncio.sleep(0)
    sleeper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sleeper
    assert clock._sleepers == []
    clock.advance(timedelta(days=2))


async def test_a_listener_can_wake_a_monitor() -> None:
    """An asyncio.Event set by a listener lets a monitor react to a move at once."""
    clock = VirtualClock(FRIDAY)
    moved = asyncio.Event()
    clock.subscribe(lambda _now: moved.set())
    clock.advance_working_days(3)
    await asyncio.wait_for(moved.wait(), timeout=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT2H", timedelta(hours=2)),
        ("P3D", timedelta(days=3)),
        ("P1W", timedelta(weeks=1)),
        ("P1DT2H30M15S", timedelta(days=1, hours=2, minutes=30, seconds=15)),
        ("pt0.5s", timedelta(seconds=0.5)),
        ("2h30m", timedelta(hours=2, minutes=30)),
        ("3d", timedelta(days=3)),
        ("90s", timedelta(seconds=90)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    """Durations are read in ISO 8601 form and in the short form."""
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "P", "PT", "P1DT", "2x", "-1h", "two hours"])
def test_parse_duration_refuses_nonsense(text: str) -> None:
    """Anything else is refused, naming the text."""
    with pytest.raises(ClockError, match="duration"):
        parse_duration(text)


def test_clock_from_setting() -> None:
    """GATEWAY_CLOCK chooses the real clock, a virtual one now, or a virtual one at a moment."""
    assert isinstance(clock_from_setting(None), SystemClock)
    assert isinstance(clock_from_setting("system"), SystemClock)
    assert isinstance(clock_from_setting(None, simulate=True), VirtualClock)
    assert isinstance(clock_from_setting("virtual"), VirtualClock)
    at = clock_from_env({"GATEWAY_CLOCK": "virtual@2020-04-24T09:00:00+02:00"})
    assert at.now() == FRIDAY


def test_virtual_clock_from_env_counts_the_configured_holidays() -> None:
    """A virtual clock from the environment advances by GATEWAY_HOLIDAYS' working days."""
    env = {"GATEWAY_CLOCK": "virtual@2020-04-24T09:00:00+02:00", "GATEWAY_HOLIDAYS": "none"}
    clock = clock_from_env(env)
    assert isinstance(clock, VirtualClock)
    clock.advance_working_days(1)
    assert clock.now() == datetime(2020, 4, 27, 9, tzinfo=AMSTERDAM)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("atomic", "expected system, virtual"),
        ("virtual@yesterday", "not an ISO 8601 moment"),
        ("virtual@2020-04-24T09:00", "needs a time zone"),
    ],
)
def test_clock_from_setting_refuses_bad_values(text: str, message: str) -> None:
    """A bad GATEWAY_CLOCK is a ConfigError naming the setting."""
    with pytest.raises(ConfigError, match=f"GATEWAY_CLOCK.*{message}"):
        clock_from_setting(text)
