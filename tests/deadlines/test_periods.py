"""The 4-week periods and the invoicing calendar, pinned to seed 003's 2020 tables."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from gateway.deadlines.periods import Period, PeriodCalendar, periods_by_rule, read_period_table
from gateway.errors import CalendarError, ConfigError

# Seed 003, BIJLAGE 4 "facturatiekalender 2020": period, CAK-periode, Aanleveren.
SEED_2020 = [
    (1, date(2019, 12, 30), date(2020, 1, 26), date(2020, 2, 16)),
    (2, date(2020, 1, 27), date(2020, 2, 23), date(2020, 3, 15)),
    (3, date(2020, 2, 24), date(2020, 3, 22), date(2020, 4, 12)),
    (4, date(2020, 3, 23), date(2020, 4, 19), date(2020, 5, 10)),
    (5, date(2020, 4, 20), date(2020, 5, 17), date(2020, 6, 7)),
    (6, date(2020, 5, 18), date(2020, 6, 14), date(2020, 7, 5)),
    (7, date(2020, 6, 15), date(2020, 7, 12), date(2020, 8, 2)),
    (8, date(2020, 7, 13), date(2020, 8, 9), date(2020, 8, 30)),
    (9, date(2020, 8, 10), date(2020, 9, 6), date(2020, 9, 27)),
    (10, date(2020, 9, 7), date(2020, 10, 4), date(2020, 10, 25)),
    (11, date(2020, 10, 5), date(2020, 11, 1), date(2020, 11, 22)),
    (12, date(2020, 11, 2), date(2020, 11, 29), date(2020, 12, 20)),
    (13, date(2020, 11, 30), date(2020, 12, 31), date(2021, 1, 21)),
]

MONTHS = {
    "januari": 1,
    "februari": 2,
    "maart": 3,
    "april": 4,
    "mei": 5,
    "juni": 6,
    "juli": 7,
    "augustus": 8,
    "september": 9,
    "oktober": 10,
    "november": 11,
    "december": 12,
}
DUTCH_DATE = r"(\d{1,2}) ([a-z]+) (\d{4})"
SEED_ROW = re.compile(rf"^Periode (\d+)\t{DUTCH_DATE} - {DUTCH_DATE}\t{DUTCH_DATE}\s*$")


def _dutch(day: str, month: str, year: str) -> date:
    return date(int(year), MONTHS[month], int(day))


def _seed_rows(text: str) -> list[tuple[int, date, date, date]]:
    """The rows of BIJLAGE 4, read from the seed's text."""
    section = text[text.rindex("BIJLAGE 4") :]
    rows = []
    for line in section.splitlines():
        match = SEED_ROW.match(line)
        if match:
            g = match.groups()
            rows.append((int(g[0]), _dutch(*g[1:4]), _dutch(*g[4:7]), _dutch(*g[7:10])))
    return rows


@pytest.mark.parametrize(("number", "first", "last", "invoicing"), SEED_2020)
def test_2020_period_matches_the_seed(
    periods: PeriodCalendar, number: int, first: date, last: date, invoicing: date
) -> None:
    """Each 2020 period has the seed's first day, last day and invoicing date."""
    assert periods.period(2020, number) == Period(2020, number, first, last, invoicing)


def test_seed_text_gives_the_same_table(zoetermeer_seed: str, periods: PeriodCalendar) -> None:
    """BIJLAGE 4 as it stands in the seed equals both the typed table and the computed one."""
    rows = _seed_rows(zoetermeer_seed)
    assert rows == SEED_2020
    computed = [(p.number, p.first, p.last, p.invoicing) for p in periods.year(2020)]
    assert computed == rows


def test_2020_period_starts_in_december_2019(periods: PeriodCalendar) -> None:
    """2019's period 13 ends on Sunday 29 December, the day before 2020's period 1."""
    assert periods.period(2019, 13).last == date(2019, 12, 29)
    assert periods.holding(date(2019, 12, 30)) == periods.period(2020, 1)


def test_period_13_never_runs_past_new_year(periods: PeriodCalendar) -> None:
    """2020 has 53 ISO weeks: period 13 stops on 31 December and 2021 starts on 1 January."""
    assert periods.period(2020, 13).days == 32
    assert periods.period(2021, 1).first == date(2021, 1, 1)
    assert periods.period(2021, 1).last == date(2021, 1, 31)
    assert periods.period(2021, 13).last == date(2021, 12, 31)


@pytest.mark.parametrize(
    ("day", "year", "number"),
    [
        (date(2020, 1, 26), 2020, 1),
        (date(2020, 1, 27), 2020, 2),
        (date(2020, 12, 31), 2020, 13),
        (date(2021, 1, 1), 2021, 1),
        (date(2025, 12, 29), 2026, 1),
    ],
)
def test_holding(periods: PeriodCalendar, day: date, year: int, number: int) -> None:
    """The period holding a day is found across year boundaries."""
    period = periods.holding(day)
    assert (period.year, period.number) == (year, number)
    assert day in period


def test_period_number_out_of_range(periods: PeriodCalendar) -> None:
    """Asking for period 14 raises CalendarError naming it."""
    with pytest.raises(CalendarError, match="period 14"):
        periods.period(2020, 14)


def _write_table(path: Path, rows: list[Period]) -> Path:
    lines = ["year,period,first,last,invoicing"]
    lines += [f"{p.year},{p.number},{p.first},{p.last},{p.invoicing}" for p in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_table_overrides_a_year(tmp_path: Path) -> None:
    """A CSV table in GATEWAY_PERIOD_TABLE replaces the rule for the years it lists."""
    rows = [
        Period(2030, p.number, p.first, p.last, p.last + timedelta(days=30))
        for p in periods_by_rule(2030)
    ]
    table = _write_table(tmp_path / "periods.csv", rows)
    calendar = PeriodCalendar.from_env({"GATEWAY_PERIOD_TABLE": str(table)})
    assert calendar.period(2030, 5).invoicing == rows[4].invoicing
    assert calendar.year(2031) == periods_by_rule(2031)


def test_a_table_with_a_gap_is_refused(tmp_path: Path) -> None:
    """A table whose period does not follow the one before is refused, naming the row."""
    rows = list(periods_by_rule(2030))
    p = rows[6]
    rows[6] = Period(p.year, p.number, p.first.replace(day=p.first.day + 1), p.last, p.invoicing)
    with pytest.raises(ConfigError, match="2030, period 7: first day"):
        read_period_table(_write_table(tmp_path / "gap.csv", rows))


def test_a_table_missing_a_period_is_refused(tmp_path: Path) -> None:
    """A year with only 12 periods is refused."""
    table = _write_table(tmp_path / "short.csv", list(periods_by_rule(2030))[:12])
    with pytest.raises(ConfigError, match="expected periods 1-13"):
        read_period_table(table)


def test_a_table_with_a_bad_date_is_refused(tmp_path: Path) -> None:
    """A row that is not an ISO date is refused with its line number."""
    table = tmp_path / "bad.csv"
    table.write_text("year,period,first,last,invoicing\n2030,1,1-1-2030,x,y\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 2"):
        read_period_table(table)


def test_a_missing_table_is_refused(tmp_path: Path) -> None:
    """A table file that does not exist is a ConfigError naming the setting."""
    with pytest.raises(ConfigError, match="GATEWAY_PERIOD_TABLE"):
        PeriodCalendar.from_env({"GATEWAY_PERIOD_TABLE": str(tmp_path / "absent.csv")})


WEEKDAYS = ("Ma", "Di", "Wo", "Do", "Vr", "Za", "Zo")


def _bijlage_2(text: str) -> tuple[set[date], set[int], set[int]]:
    """BIJLAGE 2's grid: the days it shows, the ISO week numbers and the period labels.

    The grid's columns are shifted here and there in the seed's text, so each weekday's row is
    read on its own: it lists that weekday of every week in order, the first one of December
    2019 (marked ``*``). Every number must be 7 days after the one before it in its row.
    """
    section = text[text.rindex("BIJLAGE 2 Periodekalender") : text.rindex("BIJLAGE 3")]
    rows: dict[str, list[str]] = {name: [] for name in WEEKDAYS}
    weeks: set[int] = set()
    for line in section.splitlines():
        label, *cells = line.split("\t")
        if label == "Week":
            weeks |= {int(cell) for cell in cells if cell}
        elif label in rows:
            rows[label] += [cell for cell in cells if cell]
    days: set[date] = set()
    for offset, name in enumerate(WEEKDAYS):
        day = date(2019, 12, 30) + timedelta(days=offset)  # the Monday marked "30*"
        for cell in rows[name]:
            assert int(cell.rstrip("*")) == day.day, f"{name} {cell}: expected {day}"
            days.add(day)
            day += timedelta(weeks=1)
    labels = {int(n) for n in re.findall(r"Periode (\d+)", section)}
    return days, weeks, labels


def test_bijlage_2_shows_the_computed_year(zoetermeer_seed: str, periods: PeriodCalendar) -> None:
    """BIJLAGE 2's week grid covers exactly the days of the 13 computed periods of 2020.

    It runs from Monday 30 December 2019 (ISO week 1) to Thursday 31 December 2020 (week 53),
    the first day of period 1 and the last of period 13.
    """
    days, weeks, labels = _bijlage_2(zoetermeer_seed)
    computed = {p.first + timedelta(days=n) for p in periods.year(2020) for n in range(p.days)}
    assert len(days) == 368
    assert days == computed
    assert weeks == set(range(1, 54))
    assert labels == set(range(1, 14))
    period_13 = {d.isocalendar().week for d in days if d in periods.period(2020, 13)}
    assert period_13 == set(range(49, 54))
