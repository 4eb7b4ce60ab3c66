"""The protocol calendar: working days, 4-week periods, the invoicing calendar, deadline rules."""

from gateway.deadlines.periods import Period, PeriodCalendar
from gateway.deadlines.profiles import DEFAULT_PROFILE, PROFILE_NAMES, get_profile, profile_from_env
from gateway.deadlines.rules import Due, Event, Facts, Profile, Rule
from gateway.deadlines.workdays import AMSTERDAM, Holiday, WorkingDays, end_of_day, local_day

__all__ = [
    "AMSTERDAM",
    "DEFAULT_PROFILE",
    "PROFILE_NAMES",
    "Due",
    "Event",
    "Facts",
    "Holiday",
    "Period",
    "PeriodCalendar",
    "Profile",
    "Rule",
    "WorkingDays",
    "end_of_day",
    "get_profile",
    "local_day",
    "profile_from_env",
]
