"""Working days: Monday to Friday, without the Dutch public holidays that count.

Every deadline of the chain is counted in working days ("binnen 3 werkdagen na ontvangst"). Which
holidays count is configuration; the default follows the Algemene termijnenwet (Atw, art. 3), the
Dutch law that says how statutory terms are counted: Nieuwjaarsdag, Tweede Paasdag, Koningsdag,
Bevrijdingsdag (every year, since 1982), Hemelvaartsdag, Tweede Pinksterdag and both Kerstdagen.
Goede Vrijdag is not in it. The dates come from the ``holidays`` package; holiday sets are built
once per year and kept, because this runs for every accepted message.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays as holidays_package

from gateway.errors import CalendarError, ConfigError

AMSTERDAM = ZoneInfo("Europe/Amsterdam")

HOLIDAYS_ENV = "GATEWAY_HOLIDAYS"


class Holiday(enum.StrEnum):
    """A Dutch public holiday that may count as a non-working day (only weekday ones matter)."""

    NIEUWJAARSDAG = "nieuwjaarsdag"
    GOEDE_VRIJDAG = "goede-vrijdag"
    TWEEDE_PAASDAG = "tweede-paasdag"
    KONINGSDAG = "koningsdag"
    BEVRIJDINGSDAG = "bevrijdingsdag"
    """5 May every year, as in the Algemene termijnenwet."""
    BEVRIJDINGSDAG_LUSTRUM = "bevrijdingsdag-lustrum"
    """5 May only every fifth year (2020, 2025, ...), as many labour agreements have it."""
    HEMELVAARTSDAG = "hemelvaartsdag"
    TWEEDE_PINKSTERDAG = "tweede-pinksterdag"
    EERSTE_KERSTDAG = "eerste-kerstdag"
    TWEEDE_KERSTDAG = "tweede-kerstdag"


# Holiday -> (the holidays package's category, its Dutch names for that day)
_SOURCE: dict[Holiday, tuple[str, frozenset[str]]] = {
    Holiday.NIEUWJAARSDAG: ("public", frozenset({"Nieuwjaarsdag"})),
    Holiday.GOEDE_VRIJDAG: ("public", frozenset({"Goede vrijdag"})),
    Holiday.TWEEDE_PAASDAG: ("public", frozenset({"Tweede paasdag"})),
    Holiday.KONINGSDAG: ("public", frozenset({"Koningsdag", "Koninginnedag"})),
    Holiday.BEVRIJDINGSDAG: ("optional", frozenset({"Bevrijdingsdag"})),
    Holiday.BEVRIJDINGSDAG_LUSTRUM: ("public", frozenset({"Bevrijdingsdag"})),
    Holiday.HEMELVAARTSDAG: ("public", frozenset({"Hemelvaartsdag"})),
    Holiday.TWEEDE_PINKSTERDAG: ("public", frozenset({"Tweede pinksterdag"})),
    Holiday.EERSTE_KERSTDAG: ("public", frozenset({"Eerste kerstdag"})),
    Holiday.TWEEDE_KERSTDAG: ("public", frozenset({"Tweede kerstdag"})),
}

DEFAULT_HOLIDAYS: frozenset[Holiday] = frozenset(Holiday) - {
    Holiday.GOEDE_VRIJDAG,
    Holiday.BEVRIJDINGSDAG_LUSTRUM,
}

# The holidays package knows the Dutch calendar from the Atw's start; we keep a sane window.
FIRST_YEAR = 1970
LAST_YEAR = 2199


def parse_holidays(text: str) -> frozenset[Holiday]:
    """Read ``default``, ``none`` or a comma-separated list like ``koningsdag,hemelvaartsdag``.

    ``default,goede-vrijdag`` adds to the default; ``default,-bevrijdingsdag`` takes away.
    """
    chosen: set[Holiday] = set()
    for raw in text.split(","):
        word = raw.strip().lower()
        if not word or word == "none":
            continue
        if word == "default":
            chosen |= DEFAULT_HOLIDAYS
            continue
        remove = word.startswith("-")
        try:
            holiday = Holiday(word.removeprefix("-"))
        except ValueError:
            known = ", ".join(h.value for h in Holiday)
            raise ConfigError(
                f"{HOLIDAYS_ENV}: unknown holiday {word.removeprefix('-')!r}; known: default, "
                f"none, {known}"
            ) from None
        if remove:
            chosen.discard(holiday)
        else:
            chosen.add(holiday)
    return frozenset(chosen)


class WorkingDays:
    """Counts working days: Monday to Friday, without the configured holidays."""

    def __init__(self, counted: Iterable[Holiday] = DEFAULT_HOLIDAYS) -> None:
        self.counted = frozenset(counted)
        self._by_year: dict[int, frozenset[date]] = {}

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> WorkingDays:
        """The holidays named in ``GATEWAY_HOLIDAYS``, or the default when it is unset."""
        text = environ.get(HOLIDAYS_ENV)
        return cls(DEFAULT_HOLIDAYS if text is None else parse_holidays(text))

    def __repr__(self) -> str:
        return f"WorkingDays({sorted(h.value for h in self.counted)})"

    def holidays(self, year: int) -> frozenset[date]:
        """The dates in ``year`` that are not working days because of a counted holiday."""
        found = self._by_year.get(year)
        if found is None:
            found = self._by_year[year] = self._load(year)
        return found

    def _load(self, year: int) -> frozenset[date]:
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise CalendarError(f"year {year} is outside the calendar ({FIRST_YEAR}-{LAST_YEAR})")
        by_category = {
            category: holidays_package.country_holidays(
                "NL", years=year, categories=(category,), language="nl"
            )
            for category in ("public", "optional")
        }
        days: set[date] = set()
        for holiday in self.counted:
            category, names = _SOURCE[holiday]
            for day, name in by_category[category].items():
                # The package joins two names on one day with "; ".
                if names & set(name.split("; ")):
                    days.add(day)
        return frozenset(days)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.holidays(day.year)

    def add(self, day: date, count: int) -> date:
        """The ``count``-th working day after ``day`` (before it, if negative); ``day`` if 0.

        ``day`` itself is never counted, so "3 working days after a Friday" is the Wednesday.
        """
        step = timedelta(days=1 if count > 0 else -1)
        remaining = abs(count)
        while remaining:
            day += step
            if self.is_working_day(day):
                remaining -= 1
        return day

    def count(self, start: date, end: date) -> int:
        """How many working days lie after ``start`` up to and including ``end``."""
        if end < start:
            return -self.count(end, start)
        return sum(
            self.is_working_day(start + timedelta(days=offset))
            for offset in range(1, (end - start).days + 1)
        )

    def next_working_day(self, day: date) -> date:
        """``day`` if it is a working day, else the first working day after it."""
        return day if self.is_working_day(day) else self.add(day, 1)


def local_day(moment: datetime) -> date:
    """The Europe/Amsterdam date of an aware moment."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise CalendarError(f"moment {moment.isoformat()} has no time zone")
    return moment.astimezone(AMSTERDAM).date()


def end_of_day(day: date) -> datetime:
    """The first instant after ``day`` in Europe/Amsterdam: a deadline is met before it."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=AMSTERDAM)
