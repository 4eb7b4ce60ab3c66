"""Working days: the default Dutch holidays, their configuration, and counting."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from gateway.deadlines.workdays import (
    AMSTERDAM,
    DEFAULT_HOLIDAYS,
    Holiday,
    WorkingDays,
    end_of_day,
    local_day,
    parse_holidays,
)
from gateway.errors import CalendarError, ConfigError

HOLIDAYS_2020 = {
    date(2020, 1, 1),  # Nieuwjaarsdag
    date(2020, 4, 13),  # Tweede Paasdag
    date(2020, 4, 27),  # Koningsdag
    date(2020, 5, 5),  # Bevrijdingsdag
    date(2020, 5, 21),  # Hemelvaartsdag
    date(2020, 6, 1),  # Tweede Pinksterdag
    date(2020, 12, 25),  # Eerste Kerstdag
    date(2020, 12, 26),  # Tweede Kerstdag (a Saturday)
}


def test_default_holidays_of_2020(workdays: WorkingDays) -> None:
    """The default counts the Algemene termijnenwet's holidays of 2020, and nothing else."""
    assert workdays.holidays(2020) == HOLIDAYS_2020


def test_goede_vrijdag_is_a_working_day_by_default(workdays: WorkingDays) -> None:
    """Goede Vrijdag (10 April 2020) is not in the Atw, so it is a working day by default."""
    assert workdays.is_working_day(date(2020, 4, 10))
    assert not WorkingDays(DEFAULT_HOLIDAYS | {Holiday.GOEDE_VRIJDAG}).is_working_day(
        date(2020, 4, 10)
    )


def test_bevrijdingsdag_counts_every_year_by_default(workdays: WorkingDays) -> None:
    """5 May 2021 (a Wednesday) is no working day by default, but is with the lustrum variant."""
    assert not workdays.is_working_day(date(2021, 5, 5))
    lustrum = WorkingDays(
        (DEFAULT_HOLIDAYS - {Holiday.BEVRIJDINGSDAG}) | {Holiday.BEVRIJDINGSDAG_LUSTRUM}
    )
    assert lustrum.is_working_day(date(2021, 5, 5))
    assert not lustrum.is_working_day(date(2025, 5, 5))


def test_weekends_are_never_working_days(workdays: WorkingDays) -> None:
    """Saturday and Sunday are not working days, Monday to Friday are (without holidays)."""
    week = [date(2020, 3, 2) + timedelta(days=n) for n in range(7)]
    assert [workdays.is_working_day(d) for d in week] == [True] * 5 + [False] * 2


def test_koninginnedag_counts_as_koningsdag(workdays: WorkingDays) -> None:
    """Up to 2013 the day was Koninginnedag, 30 April (a Tuesday in 2013): not a working day."""
    assert not workdays.is_working_day(date(2013, 4, 30))
    assert WorkingDays(DEFAULT_HOLIDAYS - {Holiday.KONINGSDAG}).is_working_day(date(2013, 4, 30))


def test_koningsdag_on_a_sunday_moves_to_saturday(workdays: WorkingDays) -> None:
    """In 2025 Koningsdag is on Saturday 26 April; Monday 28 April stays a working day."""
    assert date(2025, 4, 26) in workdays.holidays(2025)
    assert workdays.is_working_day(date(2025, 4, 28))


@pytest.mark.parametrize(
    ("start", "count", "expected"),
    [
        (date(2020, 4, 24), 1, date(2020, 4, 28)),  # over the weekend and Koningsdag
        (date(2020, 4, 24), 3, date(2020, 4, 30)),
        (date(2020, 5, 20), 1, date(2020, 5, 22)),  # over Hemelvaartsdag
        (date(2020, 5, 29), 1, date(2020, 6, 2)),  # over the weekend and Pinkstermaandag
        (date(2020, 12, 24), 1, date(2020, 12, 28)),  # over Christmas
        (date(2020, 12, 31), 1, date(2021, 1, 4)),  # over Nieuwjaarsdag into the next year
        (date(2020, 4, 25), 1, date(2020, 4, 28)),  # from a Saturday
        (date(2020, 4, 28), -1, date(2020, 4, 24)),  # backwards over Koningsdag
        (date(2020, 4, 27), 0, date(2020, 4, 27)),
    ],
)
def test_add_working_days(workdays: WorkingDays, start: date, count: int, expected: date) -> None:
    """Counting N working days skips weekends and holidays and never counts the start day."""
    assert workdays.add(start, count) == expected


def test_count_working_days(workdays: WorkingDays) -> None:
    """Between Friday 24 April and Thursday 30 April 2020 lie 3 working days (Koningsdag)."""
    assert workdays.count(date(2020, 4, 24), date(2020, 4, 30)) == 3
    assert workdays.count(date(2020, 4, 30), date(2020, 4, 24)) == -3


def test_next_working_day(workdays: WorkingDays) -> None:
    """The next working day of Koningsdag 2020 is the day after; of a working day, itself."""
    assert workdays.next_working_day(date(2020, 4, 27)) == date(2020, 4, 28)
    assert workdays.next_working_day(date(2020, 4, 28)) == date(2020, 4, 28)


def test_holiday_sets_are_built_once_per_year(workdays: WorkingDays) -> None:
    """Asking twice for a year's holidays gives the same cached set."""
    assert workdays.holidays(2021) is workdays.holidays(2021)


def test_years_outside_the_calendar_are_refused(workdays: WorkingDays) -> None:
    """A year the calendar does not cover raises CalendarError naming the year."""
    with pytest.raises(CalendarError, match="1900"):
        workdays.is_working_day(date(1900, 1, 2))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("default", DEFAULT_HOLIDAYS),
        ("none", frozenset()),
        ("", frozenset()),
        ("koningsdag, Hemelvaartsdag", frozenset({Holiday.KONINGSDAG, Holiday.HEMELVAARTSDAG})),
        ("default,goede-vrijdag", DEFAULT_HOLIDAYS | {Holiday.GOEDE_VRIJDAG}),
        ("default,-bevrijdingsdag", DEFAULT_HOLIDAYS - {Holiday.BEVRIJDINGSDAG}),
    ],
)
def test_parse_holidays(text: str, expected: frozenset[Holiday]) -> None:
    """GATEWAY_HOLIDAYS names holidays, the default, none, additions and removals."""
    assert parse_holidays(text) == expected


def test_unknown_holiday_is_a_config_error() -> None:
    """An unknown holiday name is refused, naming it and the setting."""
    with pytest.raises(ConfigError, match=r"GATEWAY_HOLIDAYS.*'sinterklaas'"):
        parse_holidays("default,sinterklaas")


def test_from_env() -> None:
    """Unset GATEWAY_HOLIDAYS means the default; set, it is read."""
    assert WorkingDays.from_env({}).counted == DEFAULT_HOLIDAYS
    chosen = WorkingDays.from_env({"GATEWAY_HOLIDAYS": "none"})
    assert chosen.is_working_day(date(2020, 4, 27))


def test_local_day_is_the_amsterdam_date() -> None:
    """23:30 UTC on 23 April 2020 is already 24 April in Amsterdam."""
    assert local_day(datetime(2020, 4, 23, 22, 30, tzinfo=UTC)) == date(2020, 4, 24)


def test_local_day_refuses_a_naive_moment() -> None:
    """A moment without a time zone cannot be placed on a day."""
    with pytest.raises(CalendarError, match="no time zone"):
        local_day(datetime(2020, 4, 24, 12))


def test_end_of_day_is_the_next_midnight_in_amsterdam() -> None:
    """The end of 28 March 2020 is midnight before the switch to summer time, +01:00."""
    end = end_of_day(date(2020, 3, 28))
    assert end == datetime(2020, 3, 29, tzinfo=AMSTERDAM)
    assert end.utcoffset() == timedelta(hours=1)
    assert end_of_day(date(2020, 3, 29)).utcoffset() == timedelta(hours=2)
