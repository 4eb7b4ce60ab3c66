"""Fixtures for the calendar tests: the seed documents and the default calendars."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.deadlines import PeriodCalendar, WorkingDays

SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"
ZOETERMEER_SEED = "003_e8bd6977bce82549.txt"


@pytest.fixture(scope="session")
def zoetermeer_seed() -> str:
    """The text of seed 003, the Zoetermeer 2020 contract."""
    path = SEEDS / ZOETERMEER_SEED
    if not path.is_file():
        pytest.fail(f"seed missing: {path}")
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def workdays() -> WorkingDays:
    """Working days with the default holidays."""
    return WorkingDays()


@pytest.fixture(scope="session")
def periods() -> PeriodCalendar:
    """The period calendar by the rule, without overrides."""
    return PeriodCalendar()
