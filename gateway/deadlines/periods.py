"""The 4-week periods and the invoicing calendar.

Providers declare per period of four weeks, 13 periods a year, and the municipality's invoicing
calendar says by when each period's declaration is due. The rule, fitted to seed 003's 2020
tables (BIJLAGE 2 and 4):

- period n covers ISO weeks 4n-3 to 4n; period 13 also takes week 53 when the year has one;
- no period runs past 31 December: period 13 ends on the earlier of 31 December and the Sunday
  of the year's last ISO week, and period 1 begins the day after the previous year's period 13
  (so 2020's period 1 begins on Monday 30 December 2019, and 2021's on Friday 1 January);
- a period's declaration is due three weeks after its last day (2020: period 1 ends on Sunday
  26 January, declare by 16 February).

A table in configuration (``GATEWAY_PERIOD_TABLE``, a CSV file) overrides whole years.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from gateway.errors import CalendarError, ConfigError

PERIODS_PER_YEAR = 13
INVOICING_AFTER = timedelta(weeks=3)
PERIOD_TABLE_ENV = "GATEWAY_PERIOD_TABLE"
TABLE_COLUMNS = ("year", "period", "first", "last", "invoicing")


@dataclass(frozen=True, slots=True, order=True)
class Period:
    """One 4-week period: its year and number, first and last day, and invoicing date."""

    year: int
    number: int
    first: date
    last: date
    invoicing: date

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.first <= day <= self.last

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


def _last_day_of_year(year: int) -> date:
    """The last day of period 13 of ``year`` by the rule."""
    last_week = date(year, 12, 28).isocalendar().week
    return min(date.fromisocalendar(year, last_week, 7), date(year, 12, 31))


def periods_by_rule(year: int, invoicing_after: timedelta = INVOICING_AFTER) -> tuple[Period, ...]:
    """The 13 periods of ``year`` by the rule in this module's docstring."""
    if not 2 <= year <= 9998:
        raise CalendarError(f"year {year} is outside the period calendar")
    periods = []
    for number in range(1, PERIODS_PER_YEAR + 1):
        if number == 1:
            first = _last_day_of_year(year - 1) + timedelta(days=1)
        else:
            first = date.fromisocalendar(year, 4 * number - 3, 1)
        if number == PERIODS_PER_YEAR:
            last = _last_day_of_year(year)
        else:
            last = date.fromisocalendar(year, 4 * number, 7)
        periods.append(Period(year, number, first, last, last + invoicing_after))
    return tuple(periods)


def check_year(year: int, periods: Sequence[Period]) -> tuple[Period, ...]:
    """``periods`` as a year's table, or a ConfigError naming the row that breaks it."""
    ordered = tuple(sorted(periods))
    numbers = [p.number for p in ordered]
    if numbers != list(range(1, PERIODS_PER_YEAR + 1)):
        raise ConfigError(f"period table for {year}: expected periods 1-13, found {numbers}")
    for previous, period in zip((None, *ordered), ordered, strict=False):
        where = f"period table for {year}, period {period.number}"
        if period.year != year:
            raise ConfigError(f"{where}: year {period.year} in the rows of {year}")
        if period.last < period.first:
            raise ConfigError(f"{where}: last day {period.last} before first day {period.first}")
        if period.invoicing < period.last:
            raise ConfigError(f"{where}: invoicing date {period.invoicing} before its last day")
        if previous is not None and period.first != previous.last + timedelta(days=1):
            raise ConfigError(
                f"{where}: first day {period.first} does not follow {previous.last}, "
                f"the last day of period {previous.number}"
            )
    return ordered


def read_period_table(path: Path) -> dict[int, tuple[Period, ...]]:
    """Read a CSV with columns year, period, first, last, invoicing (ISO dates)."""
    rows: dict[int, list[Period]] = {}
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or set(TABLE_COLUMNS) - set(reader.fieldnames):
                raise ConfigError(
                    f"{PERIOD_TABLE_ENV} {path}: expected columns {', '.join(TABLE_COLUMNS)}"
                )
            for line, row in enumerate(reader, start=2):
                try:
                    period = Period(
                        int(row["year"]),
                        int(row["period"]),
                        date.fromisoformat(row["first"]),
                        date.fromisoformat(row["last"]),
                        date.fromisoformat(row["invoicing"]),
                    )
                except (TypeError, ValueError) as exc:
                    raise ConfigError(f"{PERIOD_TABLE_ENV} {path}, line {line}: {exc}") from None
                rows.setdefault(period.year, []).append(period)
    except OSError as exc:
        raise ConfigError(f"{PERIOD_TABLE_ENV} {path}: {exc.strerror}") from None
    return {year: check_year(year, periods) for year, periods in rows.items()}


class PeriodCalendar:
    """The periods of any year: the rule, unless a table overrides that year."""

    def __init__(
        self,
        overrides: Mapping[int, Iterable[Period]] | None = None,
        invoicing_after: timedelta = INVOICING_AFTER,
    ) -> None:
        self.invoicing_after = invoicing_after
        self._years: dict[int, tuple[Period, ...]] = {
            year: check_year(year, list(periods)) for year, periods in (overrides or {}).items()
        }

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> PeriodCalendar:
        """The rule, overridden by the CSV file named in ``GATEWAY_PERIOD_TABLE`` if set."""
        path = environ.get(PERIOD_TABLE_ENV)
        return cls(read_period_table(Path(path)) if path else None)

    def year(self, year: int) -> tuple[Period, ...]:
        """The 13 periods of ``year``, in order."""
        periods = self._years.get(year)
        if periods is None:
            periods = self._years[year] = periods_by_rule(year, self.invoicing_after)
        return periods

    def period(self, year: int, number: int) -> Period:
        if not 1 <= number <= PERIODS_PER_YEAR:
            raise CalendarError(f"period {number}: a year has periods 1-{PERIODS_PER_YEAR}")
        return self.year(year)[number - 1]

    def holding(self, day: date) -> Period:
        """The period that ``day`` falls in (it may belong to the next year's table)."""
        for year in (day.year, day.year + 1, day.year - 1):
            for period in self.year(year):
                if day in period:
                    return period
        raise CalendarError(f"no period holds {day.isoformat()}: the period table leaves a gap")
