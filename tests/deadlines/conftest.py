"""Fixtures for the calendar tests: the default calendars (the seed is in tests/conftest)."""

from __future__ import annotations

import pytest

from gateway.deadlines import PeriodCalendar, WorkingDays


@pytest.fixture(scope="session")
def workdays() -> WorkingDays:
    """Working days with the default holidays."""
    return WorkingDays()


@pytest.fixture(scope="session")
def periods() -> PeriodCalendar:
    """The period calendar by the rule, without overrides."""
    return PeriodCalendar()
