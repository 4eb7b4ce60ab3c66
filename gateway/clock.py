"""One clock for everything that reads time.

Everything that asks "what time is it" (deadlines, the SLA monitor, retention, simulated
handlers) asks a ``Clock``. In production that is the real clock. In simulation mode it is a
``VirtualClock``: it stands still until it is set or advanced (through the ops admin API or
``gateway clock``), so a test harness can cross working days in milliseconds, and it wakes the
tasks that sleep until a moment as soon as virtual time passes it.

The virtual clock belongs to one event loop: move it from that loop's thread.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Protocol, runtime_checkable

from gateway.deadlines.workdays import AMSTERDAM, FIRST_YEAR, LAST_YEAR, WorkingDays, local_day
from gateway.errors import ClockError, ConfigError

CLOCK_ENV = "GATEWAY_CLOCK"

Listener = Callable[[datetime], object]
"""Called with the new moment each time a virtual clock moves."""


@runtime_checkable
class Clock(Protocol):
    """Where the gateway reads time."""

    def now(self) -> datetime:
        """The current moment, timezone-aware, in UTC."""
        ...

    def today(self) -> date:
        """The current Europe/Amsterdam date."""
        ...

    async def sleep_until(self, moment: datetime) -> None:
        """Return once the clock has reached ``moment``."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def today(self) -> date:
        return local_day(self.now())

    async def sleep_until(self, moment: datetime) -> None:
        delay = (_require_aware(moment) - self.now()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)


class VirtualClock:
    """A clock that stands still until it is set or advanced; listeners hear every move."""

    def __init__(self, start: datetime | None = None, workdays: WorkingDays | None = None) -> None:
        self._now = _require_aware(start).astimezone(UTC) if start else datetime.now(UTC)
        self.workdays = workdays or WorkingDays()
        self._listeners: list[Listener] = []
        self._sleepers: list[tuple[datetime, asyncio.Future[None]]] = []

    def __repr__(self) -> str:
        return f"VirtualClock({self._now.isoformat()})"

    def now(self) -> datetime:
        return self._now

    def today(self) -> date:
        return local_day(self._now)

    def set(self, moment: datetime) -> None:
        """Put the clock at ``moment`` (earlier moments too: a harness may start over)."""
        moment = _require_aware(moment).astimezone(UTC)
        # Working days are counted in the calendar's years only; a year's margin on either side
        # keeps local days and the deadlines that follow inside them.
        if not FIRST_YEAR < moment.year < LAST_YEAR:
            raise ClockError(
                f"moment {moment.isoformat()} is outside {FIRST_YEAR + 1}-{LAST_YEAR - 1}, "
                "the years the calendar counts working days in"
            )
        self._now = moment
        self._moved()

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward by ``delta``."""
        if delta < timedelta(0):
            raise ClockError(f"cannot advance the clock by a negative duration ({delta})")
        self.set(self._now + delta)

    def advance_working_days(self, count: int) -> None:
        """Move to the same Europe/Amsterdam time of day, ``count`` working days later."""
        if count < 0:
            raise ClockError(f"cannot advance the clock by {count} working days")
        local = self._now.astimezone(AMSTERDAM)
        day = self.workdays.add(local.date(), count)
        self.set(datetime.combine(day, local.time(), tzinfo=AMSTERDAM))

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(now)`` after every move; returns a function that unsubscribes."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    async def sleep_until(self, moment: datetime) -> None:
        _require_aware(moment)
        if self._now >= moment:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (moment, waiter)
        self._sleepers.append(entry)
        try:
            await waiter
        finally:
            if entry in self._sleepers:
                self._sleepers.remove(entry)

    def _moved(self) -> None:
        for moment, waiter in list(self._sleepers):
            if moment <= self._now and not waiter.done():
                waiter.set_result(None)
        for listener in list(self._listeners):
            listener(self._now)


def _require_aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ClockError(f"moment {moment.isoformat()} has no time zone")
    return moment


_ISO_DURATION = re.compile(
    r"P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?",
    re.IGNORECASE,
)
_SHORT_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)([wdhms]))+", re.IGNORECASE)
_SHORT_PART = re.compile(r"(\d+(?:\.\d+)?)([wdhms])", re.IGNORECASE)
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_duration(text: str) -> timedelta:
    """Read an ISO 8601 duration (``PT2H``, ``P3D``, ``P1W``) or a short one (``2h30m``, ``3d``)."""
    word = text.strip()
    iso = _ISO_DURATION.fullmatch(word)
    if iso and word.upper() not in {"P", "PT"} and not word.upper().endswith("T"):
        return timedelta(**{unit: float(value) for unit, value in iso.groupdict().items() if value})
    if _SHORT_DURATION.fullmatch(word):
        parts: dict[str, float] = {}
        for value, unit in _SHORT_PART.findall(word):
            name = _UNITS[unit.lower()]
            parts[name] = parts.get(name, 0.0) + float(value)
        return timedelta(**parts)
    raise ClockError(f"duration {text!r}: expected ISO 8601 like PT2H or P3D, or short like 2h30m")


def clock_from_setting(
    text: str | None, *, simulate: bool = False, workdays: WorkingDays | None = None
) -> SystemClock | VirtualClock:
    """``system``, ``virtual`` (starting now) or ``virtual@<ISO moment>``.

    Unset, it is the virtual clock in simulation mode and the real one otherwise. ``workdays``
    is what a virtual clock counts working days with.
    """
    word = (text or ("virtual" if simulate else "system")).strip()
    if word == "system":
        return SystemClock()
    kind, _, start = word.partition("@")
    if kind != "virtual":
        raise ConfigError(f"{CLOCK_ENV}={text!r}: expected system, virtual or virtual@<moment>")
    if not start:
        return VirtualClock(workdays=workdays)
    try:
        moment = datetime.fromisoformat(start)
    except ValueError:
        raise ConfigError(f"{CLOCK_ENV}={text!r}: {start!r} is not an ISO 8601 moment") from None
    if moment.tzinfo is None:
        raise ConfigError(f"{CLOCK_ENV}={text!r}: the moment needs a time zone, like +01:00")
    return VirtualClock(moment, workdays)


def clock_from_env(
    environ: Mapping[str, str], *, simulate: bool = False
) -> SystemClock | VirtualClock:
    """The clock that ``GATEWAY_CLOCK`` asks for, counting the ``GATEWAY_HOLIDAYS``."""
    return clock_from_setting(
        environ.get(CLOCK_ENV), simulate=simulate, workdays=WorkingDays.from_env(environ)
    )
