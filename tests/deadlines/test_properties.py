"""Properties of the calendar, checked with hypothesis over many years."""

from __future__ import annotations

import functools
import itertools
from datetime import date, datetime, time, timedelta

import holidays
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.deadlines import AMSTERDAM, Event, Facts, PeriodCalendar, WorkingDays, get_profile
from gateway.deadlines.profiles import DAGBESTEDING, KIB_WAAKVLAM, PROFILE_NAMES
from gateway.deadlines.rules import WorkingDaysAfter
from gateway.standard.message_types import MessageType

WORKDAYS = WorkingDays()
PERIODS = PeriodCalendar()
PROFILES = {name: get_profile(name, workdays=WORKDAYS, periods=PERIODS) for name in PROFILE_NAMES}
WORKING_DAY_RULES = {
    (name, rule.name)
    for name, profile in PROFILES.items()
    for rule in profile.rules
    if isinstance(rule.due, WorkingDaysAfter)
}
# The default holidays, named as the holidays package names them: an independent oracle.
COUNTED = {
    "Nieuwjaarsdag",
    "Tweede paasdag",
    "Koningsdag",
    "Koninginnedag",  # its name up to 2013
    "Bevrijdingsdag",
    "Hemelvaartsdag",
    "Tweede pinksterdag",
    "Eerste kerstdag",
    "Tweede kerstdag",
}

# From 1982, when Bevrijdingsdag became a yearly holiday in the Atw.
days = st.dates(min_value=date(1982, 1, 1), max_value=date(2150, 12, 31))
counts = st.integers(min_value=0, max_value=40)


@functools.cache
def _holidays(year: int) -> dict[date, str]:
    return dict(
        holidays.country_holidays(
            "NL", years=year, categories=("public", "optional"), language="nl"
        )
    )


def _is_off(day: date) -> bool:
    """Weekend, or a default holiday according to the holidays package itself."""
    if day.weekday() >= 5:
        return True
    found = _holidays(day.year).get(day)
    return found is not None and bool(COUNTED & set(found.split("; ")))


@settings(deadline=None)
@given(days.filter(WORKDAYS.is_working_day), counts)
def test_forward_and_back_returns_the_same_day(day: date, count: int) -> None:
    """N working days forward and then N back lands on the working day one started from."""
    assert WORKDAYS.add(WORKDAYS.add(day, count), -count) == day


@settings(deadline=None)
@given(days, st.integers(min_value=1, max_value=40))
def test_counting_lands_on_a_working_day(day: date, count: int) -> None:
    """The N-th working day after any day is no weekend and no holiday, and N lie in between.

    The days in between are judged by the oracle, not by the calendar under test.
    """
    end = WORKDAYS.add(day, count)
    assert not _is_off(end)
    between = (day + timedelta(days=n) for n in range(1, (end - day).days + 1))
    assert sum(not _is_off(d) for d in between) == count
    assert WORKDAYS.count(day, end) == count


@settings(deadline=None)
@given(
    days,
    st.sampled_from(list(MessageType)),
    st.sampled_from(PROFILE_NAMES),
    days,
    days,
)
def test_working_day_due_dates_are_working_days(
    received: date, message: MessageType, profile: str, start: date, end: date
) -> None:
    """A due day counted in working days never falls on a weekend or a holiday."""
    moment = datetime.combine(received, time(12), tzinfo=AMSTERDAM)
    facts = Facts(dates={"start": start, "end": end}, products=("07A03",))
    for due in PROFILES[profile].obligations_opened(message, moment, facts):
        assert (profile, due.rule) in WORKING_DAY_RULES
        assert not _is_off(due.day)
        assert due.day > min(received, start, end)


@settings(deadline=None)
@given(days)
def test_event_due_dates_in_working_days_are_working_days(day: date) -> None:
    """Care started or a period ended: a due day counted in working days is a working day.

    The calendar-day rules (2 weeks after the period, the invoicing date) may fall on a
    weekend, as the seed's own invoicing dates do; they still lie after the event.
    """
    for (name, profile), product in itertools.product(
        PROFILES.items(), sorted(KIB_WAAKVLAM | DAGBESTEDING)
    ):
        opened = profile.obligations_on(Event.CARE_STARTED, day, Facts(products=(product,)))
        opened += profile.obligations_on(Event.PERIOD_ENDED, day)
        # The contract opens a 315 for each of these products and a declaration per period.
        assert len(opened) == (2 if name == "zoetermeer-2020" else 0)
        for due in opened:
            if (name, due.rule) in WORKING_DAY_RULES:
                assert not _is_off(due.day)
            assert due.day > day


@settings(deadline=None)
@given(st.integers(min_value=1983, max_value=2150))
def test_periods_tile_the_years(year: int) -> None:
    """A year's 13 periods follow one another without gap or overlap, as do the years."""
    periods = PERIODS.year(year)
    assert [p.number for p in periods] == list(range(1, 14))
    for before, after in itertools.pairwise(periods):
        assert after.first == before.last + timedelta(days=1)
    assert periods[0].first == PERIODS.year(year - 1)[-1].last + timedelta(days=1)
    assert periods[-1].last <= date(year, 12, 31)
    assert periods[0].first <= date(year, 1, 1) <= periods[0].last
    assert 28 <= periods[0].days <= 31
    assert 26 <= periods[-1].days <= 33
    assert all(p.days == 28 for p in periods[1:-1])


@settings(deadline=None)
@given(days)
def test_every_day_is_held_by_one_period(day: date) -> None:
    """Every day lies in exactly one period of its own or a neighbouring year."""
    holding = [
        p for year in (day.year - 1, day.year, day.year + 1) for p in PERIODS.year(year) if day in p
    ]
    assert holding == [PERIODS.holding(day)]


@settings(deadline=None)
@given(st.integers(min_value=1983, max_value=2150))
def test_invoicing_is_three_weeks_after_the_period(year: int) -> None:
    """Every period's declaration is due three weeks after its last day."""
    assert all(p.invoicing == p.last + timedelta(weeks=3) for p in PERIODS.year(year))
