"""The deadline tables: iStandaarden 3.2 (the default) and the Zoetermeer 2020 contract.

Each rule is a row of the design's deadline table. ``istandaarden-3.2`` holds the standard's
business rules (OP090, OP090x4, OP271, OP272, OP274, OP346; the FAQ's table of response times).
``zoetermeer-2020`` holds seed 003, the Zoetermeer contract of 2020 (paragraphs 4.1, 4.2, 5.1.2,
5.2, 5.3, 5.3.1, 6.1, 6.1.1 and BIJLAGE 4); it predates the 323/325 pair, so its 20 working days
for the 303/304 declaration answer apply to the 325.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.deadlines.periods import PeriodCalendar
from gateway.deadlines.rules import (
    RETOUR,
    AfterPeriodEnd,
    Event,
    InvoicingCalendar,
    Party,
    Profile,
    Rule,
    WorkingDaysAfter,
)
from gateway.deadlines.workdays import WorkingDays
from gateway.errors import ConfigError

DEFAULT_PROFILE = "istandaarden-3.2"

# Messages that every recipient answers with a retour (OP090); the 323 has its own rule.
_ANSWERED = frozenset({301, 305, 307, 315, 317, 319})

_RETOUR = Rule(
    name="OP090",
    trigger=Event.RECEIVED,
    messages=_ANSWERED,
    owed=RETOUR,
    by=Party.RECIPIENT,
    due=WorkingDaysAfter(3),
    text="every message received is answered with its retour within 3 working days",
)

_START = Rule(
    name="OP271",
    trigger=Event.RECEIVED,
    messages=frozenset({301}),
    owed=305,
    by=Party.AANBIEDER,
    due=WorkingDaysAfter(5, ("start", "received")),
    text=(
        "the start of care is reported within 5 working days after it started, or after"
        " receipt of the 301 if it was assigned retroactively"
    ),
)

_STOP = Rule(
    name="OP272",
    trigger=Event.RECEIVED,
    messages=frozenset({301}),
    owed=307,
    by=Party.AANBIEDER,
    due=WorkingDaysAfter(5, ("end",)),
    text=(
        "the end of care is reported within 5 working days after it ended, also at the"
        " assignment's planned end"
    ),
)

ISTANDAARDEN = (
    _RETOUR,
    Rule(
        name="OP274",
        trigger=Event.RECEIVED,
        messages=frozenset({315}),
        owed=301,
        alternatives=(319,),
        per_product=True,
        by=Party.GEMEENTE,
        due=WorkingDaysAfter(5),
        text="a 315 is answered per requested product with a 301 or 319 within 5 working days",
    ),
    Rule(
        name="OP346",
        trigger=Event.RECEIVED,
        messages=frozenset({317}),
        owed=301,
        alternatives=(319,),
        by=Party.GEMEENTE,
        due=WorkingDaysAfter(5),
        text="a 317 is answered with a 301 or 319 within 5 working days",
    ),
    Rule(
        name="OP090x4",
        trigger=Event.RECEIVED,
        messages=frozenset({323}),
        owed=325,
        by=Party.GEMEENTE,
        due=WorkingDaysAfter(10),
        text="a declaration (323) is answered with a 325 within 10 working days",
    ),
    _START,
    _STOP,
)

# Seed 003, paragraph 2.3: the product codes of the 4.1 and 4.2 arrangements.
KIB_WAAKVLAM = frozenset({"02201", "02203"})
DAGBESTEDING = frozenset({"07A03", "07A04", "08A03", "08A04"})

ZOETERMEER_2020 = (
    _RETOUR,
    Rule(
        name="zoetermeer-6.1.1",
        trigger=Event.RECEIVED,
        messages=frozenset({323}),
        owed=325,
        by=Party.GEMEENTE,
        due=WorkingDaysAfter(20),
        text="a declaration is answered within 20 working days (the 304 of 2020)",
    ),
    _START,
    _STOP,
    Rule(
        name="zoetermeer-4.2",
        trigger=Event.CARE_STARTED,
        products=KIB_WAAKVLAM,
        owed=315,
        by=Party.AANBIEDER,
        due=WorkingDaysAfter(2, ("start",)),
        text="KIB or waakvlamcontact is reported with a 315 within 2 working days after its start",
    ),
    Rule(
        name="zoetermeer-4.1",
        trigger=Event.CARE_STARTED,
        products=DAGBESTEDING,
        owed=315,
        by=Party.AANBIEDER,
        due=AfterPeriodEnd(14, "start"),
        text=(
            "recreatieve dagbesteding (and its vervoer) is reported with a 315 within 2 weeks"
            " after the end of the 4-week period holding its start"
        ),
    ),
    Rule(
        name="zoetermeer-bijlage-4",
        trigger=Event.PERIOD_ENDED,
        owed=323,
        by=Party.AANBIEDER,
        due=InvoicingCalendar("period"),
        text="a period is declared by the date of the invoicing calendar",
    ),
)

_TABLES: dict[str, tuple[str, tuple[Rule, ...]]] = {
    "istandaarden-3.2": ("iWmo/iJw 3.2 business rules", ISTANDAARDEN),
    "zoetermeer-2020": ("Zoetermeer contract 2020 (seed 003)", ZOETERMEER_2020),
}

PROFILE_NAMES: tuple[str, ...] = tuple(_TABLES)


def get_profile(
    name: str = DEFAULT_PROFILE,
    *,
    workdays: WorkingDays | None = None,
    periods: PeriodCalendar | None = None,
) -> Profile:
    """The profile called ``name``, counting on the given calendar (the defaults if None)."""
    try:
        title, rules = _TABLES[name]
    except KeyError:
        raise ConfigError(
            f"unknown deadline profile {name!r}; known: {', '.join(PROFILE_NAMES)}"
        ) from None
    return Profile(name, title, rules, workdays or WorkingDays(), periods or PeriodCalendar())


def profile_from_env(environ: Mapping[str, str], name: str | None = None) -> Profile:
    """The profile ``name`` (or ``GATEWAY_DEADLINE_PROFILE``) on the configured calendar."""
    return get_profile(
        name or environ.get("GATEWAY_DEADLINE_PROFILE", DEFAULT_PROFILE),
        workdays=WorkingDays.from_env(environ),
        periods=PeriodCalendar.from_env(environ),
    )
