"""Worked examples from 2020 for every rule of both deadline profiles.

Each example crosses a holiday (Koningsdag, Bevrijdingsdag, Hemelvaartsdag, Pinksteren,
Christmas, Nieuwjaarsdag) and names the day the obligation is last met in time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import pytest

from gateway.deadlines import AMSTERDAM, Due, Event, Facts, get_profile, profile_from_env
from gateway.deadlines.profiles import PROFILE_NAMES
from gateway.errors import CalendarError, ConfigError
from gateway.participants import Role
from gateway.standard.message_types import MessageType, Standard

G, A = Role.GEMEENTE, Role.AANBIEDER


@dataclass(frozen=True)
class Example:
    """One worked example: a trigger and the one obligation of ``rule`` it opens."""

    profile: str
    rule: str
    trigger: MessageType | Event
    on: date
    owed: str
    by: Role
    day: date
    dates: dict[str, date] = field(default_factory=dict)
    products: tuple[str, ...] = ()
    why: str = ""

    @property
    def id(self) -> str:
        return f"{self.profile}:{self.rule}:{self.trigger}:{self.on}"


ISTD, ZTM = "istandaarden-3.2", "zoetermeer-2020"
M = MessageType

EXAMPLES = [
    # OP090: the retour within 3 working days, both directions.
    Example(ISTD, "OP090", M.WMO301, date(2020, 4, 24), "WMO302", A, date(2020, 4, 30),
            why="Fri; Koningsdag Mon 27 Apr: Tue, Wed, Thu"),
    Example(ISTD, "OP090", M.JW305, date(2020, 5, 20), "JW306", G, date(2020, 5, 26),
            why="Wed; Hemelvaartsdag Thu 21 May: Fri, Mon, Tue"),
    Example(ISTD, "OP090", M.WMO319, date(2020, 12, 24), "WMO320", A, date(2020, 12, 30),
            why="Thu; Christmas Fri 25 Dec: Mon, Tue, Wed"),
    Example(ISTD, "OP090", M.WMO307, date(2020, 5, 29), "WMO308", G, date(2020, 6, 4),
            why="Fri; Pinkstermaandag 1 Jun: Tue, Wed, Thu"),
    # OP274: per requested product, a 301 or 319 within 5 working days.
    Example(ISTD, "OP274", M.WMO315, date(2020, 5, 29), "WMO301", G, date(2020, 6, 8),
            products=("07A03",), why="Fri; Pinkstermaandag: Tue 2 Jun .. Mon 8 Jun"),
    # OP346: a 301 or 319 within 5 working days after a 317.
    Example(ISTD, "OP346", M.WMO317, date(2020, 12, 23), "WMO301", G, date(2020, 12, 31),
            why="Wed; both Kerstdagen: Thu 24, Mon 28, Tue 29, Wed 30, Thu 31"),
    # OP090x4: the 325 within 10 working days after a 323.
    Example(ISTD, "OP090x4", M.WMO323, date(2020, 4, 21), "WMO325", G, date(2020, 5, 7),
            why="Tue; Koningsdag and Bevrijdingsdag on the way"),
    # OP271: the 305 within 5 working days after the start (or after receipt if retroactive).
    Example(ISTD, "OP271", M.WMO301, date(2020, 5, 15), "WMO305", A, date(2020, 6, 8),
            dates={"start": date(2020, 6, 1)}, why="start on Pinkstermaandag: Tue 2 .. Mon 8 Jun"),
    Example(ISTD, "OP271", M.WMO301, date(2020, 4, 24), "WMO305", A, date(2020, 5, 4),
            dates={"start": date(2020, 4, 1)}, why="retroactive: from receipt, over Koningsdag"),
    # OP272: the 307 within 5 working days after the (planned) end.
    Example(ISTD, "OP272", M.JW301, date(2020, 11, 2), "JW307", A, date(2020, 12, 30),
            dates={"start": date(2020, 11, 2), "end": date(2020, 12, 22)},
            why="end Tue 22 Dec; Christmas: 23, 24, 28, 29, 30"),
    # Zoetermeer 2020 (seed 003).
    Example(ZTM, "OP090", M.WMO305, date(2020, 4, 24), "WMO306", G, date(2020, 4, 30),
            why="5.3.1: Fri; Koningsdag"),
    Example(ZTM, "OP090", M.WMO301, date(2020, 5, 20), "WMO302", A, date(2020, 5, 26),
            why="5.1.2: Wed; Hemelvaartsdag"),
    Example(ZTM, "zoetermeer-6.1.1", M.WMO323, date(2020, 12, 18), "WMO325", G,
            date(2021, 1, 19), why="20 working days over Christmas and Nieuwjaarsdag"),
    Example(ZTM, "OP271", M.WMO301, date(2020, 5, 20), "WMO305", A, date(2020, 5, 28),
            dates={"start": date(2020, 5, 18)}, why="5.2: retroactive, over Hemelvaartsdag"),
    Example(ZTM, "OP272", M.WMO301, date(2020, 5, 20), "WMO307", A, date(2020, 6, 8),
            dates={"start": date(2020, 5, 18), "end": date(2020, 5, 29)},
            why="5.3: end Fri 29 May; Pinkstermaandag"),
    Example(ZTM, "zoetermeer-4.2", Event.CARE_STARTED, date(2020, 4, 24), "WMO315", A,
            date(2020, 4, 29), products=("02203",), why="4.2: KIB from Fri; Koningsdag"),
    Example(ZTM, "zoetermeer-4.2", Event.CARE_STARTED, date(2020, 12, 24), "WMO315", A,
            date(2020, 12, 29), products=("02201",), why="4.2: waakvlam from Thu; Christmas"),
    Example(ZTM, "zoetermeer-4.1", Event.CARE_STARTED, date(2020, 5, 20), "WMO315", A,
            date(2020, 6, 28), products=("07A03",),
            why="4.1: start in period 6 (18 May - 14 Jun), Hemelvaartsdag; + 2 weeks"),
    Example(ZTM, "zoetermeer-4.1", Event.CARE_STARTED, date(2020, 12, 24), "WMO315", A,
            date(2021, 1, 14), products=("08A03",),
            why="4.1: vervoer from Christmas Eve, period 13 ends 31 Dec; + 2 weeks"),
    Example(ZTM, "zoetermeer-bijlage-4", Event.PERIOD_ENDED, date(2020, 4, 19), "WMO323", A,
            date(2020, 5, 10), why="period 4 (Easter) is declared by 10 May"),
    Example(ZTM, "zoetermeer-bijlage-4", Event.PERIOD_ENDED, date(2020, 12, 31), "WMO323", A,
            date(2021, 1, 21), why="period 13 (Christmas) is declared by 21 January 2021"),
]  # fmt: skip


def _open(example: Example) -> list[Due]:
    profile = get_profile(example.profile)
    facts = Facts(dates=example.dates, products=example.products)
    if isinstance(example.trigger, Event):
        return profile.obligations_on(example.trigger, example.on, facts)
    received = datetime.combine(example.on, time(10), tzinfo=AMSTERDAM)
    return profile.obligations_opened(example.trigger, received, facts)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.id)
def test_worked_example(example: Example) -> None:
    """The rule opens one obligation with the owed message, debtor, creditor and due day."""
    opened = [due for due in _open(example) if due.rule == example.rule]
    assert len(opened) == 1, opened
    due = opened[0]
    assert str(due.owed) == example.owed
    assert (due.by, due.to) == (example.by, G if example.by is A else A)
    assert due.day == example.day, example.why
    assert due.due == datetime.combine(example.day + timedelta(days=1), time(0), AMSTERDAM)


def test_every_rule_has_a_worked_example() -> None:
    """Each rule of each profile appears in the worked examples."""
    covered = {(e.profile, e.rule) for e in EXAMPLES}
    every = {(name, rule.name) for name in PROFILE_NAMES for rule in get_profile(name).rules}
    assert every == covered


def test_301_opens_retour_start_and_stop() -> None:
    """A 301 with start and end dates opens the 302, the 305 and the 307, in that order."""
    received = datetime(2020, 4, 24, 10, tzinfo=AMSTERDAM)
    dates = {"start": date(2020, 5, 1), "end": date(2020, 5, 20)}
    opened = get_profile().obligations_opened(M.WMO301, received, dates)
    assert [(str(d.owed), d.day) for d in opened] == [
        ("WMO302", date(2020, 4, 30)),
        ("WMO305", date(2020, 5, 11)),
        ("WMO307", date(2020, 5, 28)),
    ]


def test_a_receipt_asked_again_opens_the_same_in_a_list_of_its_own() -> None:
    """What a receipt opens is remembered by message, day and dates: asked again at another hour
    of the day, the same obligations, in a new list; other dates or another day, other ones."""
    profile = get_profile()
    morning = datetime(2020, 4, 24, 9, tzinfo=AMSTERDAM)
    dates = {"start": date(2020, 5, 1), "end": date(2020, 5, 20)}
    first = profile.obligations_opened(M.WMO301, morning, dates)
    first.clear()  # the caller's own list: what is remembered stays whole
    again = profile.obligations_opened(M.WMO301, morning.replace(hour=23, minute=30), dates)
    assert [d.day for d in again] == [date(2020, 4, 30), date(2020, 5, 11), date(2020, 5, 28)]
    other_end = profile.obligations_opened(M.WMO301, morning, {**dates, "end": date(2020, 6, 30)})
    assert other_end[-1].day == date(2020, 7, 7)
    next_week = profile.obligations_opened(M.WMO301, morning + timedelta(days=7), dates)
    assert next_week[0].day == date(2020, 5, 7)


def test_301_without_end_opens_no_stop() -> None:
    """A 301 without Einddatum opens no 307; without Ingangsdatum, the 305 counts from receipt."""
    received = datetime(2020, 4, 24, 10, tzinfo=AMSTERDAM)
    opened = get_profile().obligations_opened(M.WMO301, received)
    assert [(d.rule, d.day) for d in opened] == [
        ("OP090", date(2020, 4, 30)),
        ("OP271", date(2020, 5, 4)),
    ]


def test_315_opens_one_answer_per_requested_product() -> None:
    """OP274: two requested products make two obligations, each met by a 301 or a 319."""
    received = datetime(2020, 5, 29, 10, tzinfo=AMSTERDAM)
    facts = Facts(products=("07A03", "08A03"))
    opened = get_profile().obligations_opened(M.JW315, received, facts)
    answers = [d for d in opened if d.rule == "OP274"]
    assert [d.product for d in answers] == ["07A03", "08A03"]
    assert all(d.met_by == {M.JW301, M.JW319} for d in answers)
    assert [str(d.owed) for d in opened if d.rule == "OP090"] == ["JW316"]


def test_zoetermeer_has_no_answer_rule_for_315() -> None:
    """The seed's contract sets no 5-day answer to a 315: only its retour is owed."""
    received = datetime(2020, 5, 29, 10, tzinfo=AMSTERDAM)
    opened = get_profile("zoetermeer-2020").obligations_opened(M.WMO315, received)
    assert [d.rule for d in opened] == ["OP090"]


@pytest.mark.parametrize("message", [M.WMO302, M.WMO306, M.WMO316, M.JW320, M.WMO325])
def test_retour_messages_open_nothing(message: MessageType) -> None:
    """A retour message (or a 325) is not answered: it opens no obligation."""
    received = datetime(2020, 4, 24, 10, tzinfo=AMSTERDAM)
    for name in PROFILE_NAMES:
        assert get_profile(name).obligations_opened(message, received) == []


def test_care_started_for_another_product_opens_nothing() -> None:
    """The seed's 4.1 and 4.2 rules apply to their product codes only."""
    profile = get_profile("zoetermeer-2020")
    assert profile.obligations_on(Event.CARE_STARTED, date(2020, 4, 24), Facts()) == []
    other = Facts(products=("04A01",))
    assert profile.obligations_on(Event.CARE_STARTED, date(2020, 4, 24), other) == []


def test_events_name_the_standard() -> None:
    """An event for iJw owes iJw messages."""
    opened = get_profile("zoetermeer-2020").obligations_on(
        Event.PERIOD_ENDED, date(2020, 1, 26), standard=Standard.IJW
    )
    assert [(str(d.owed), d.day) for d in opened] == [("JW323", date(2020, 2, 16))]


def test_received_is_read_in_amsterdam() -> None:
    """22:30 UTC on Thursday 23 April 2020 is Friday in Amsterdam: the retour is due Thursday."""
    received = datetime(2020, 4, 23, 22, 30, tzinfo=UTC)
    (retour, _) = get_profile().obligations_opened(M.WMO301, received)
    assert retour.day == date(2020, 4, 30)


def test_received_without_time_zone_is_refused() -> None:
    """A naive receipt moment cannot be placed on a day."""
    with pytest.raises(CalendarError, match="no time zone"):
        get_profile().obligations_opened(M.WMO301, datetime(2020, 4, 24, 10))


def test_due_is_the_first_instant_after_the_day() -> None:
    """A message at 23:59:59 on the due day is in time; at midnight it is late."""
    received = datetime(2020, 4, 24, 10, tzinfo=AMSTERDAM)
    (retour, _) = get_profile().obligations_opened(M.WMO301, received)
    last_second = datetime(2020, 4, 30, 23, 59, 59, tzinfo=AMSTERDAM)
    assert not retour.is_late(last_second)
    assert retour.is_late(last_second + timedelta(seconds=1))
    assert retour.due.utcoffset() == timedelta(hours=2)


def test_holidays_setting_changes_the_due_day() -> None:
    """Counting Goede Vrijdag (GATEWAY_HOLIDAYS) moves a 325 due over Koningsdag too."""
    received = datetime(2020, 4, 9, 10, tzinfo=AMSTERDAM)
    plain = profile_from_env({}).obligations_opened(M.WMO323, received)
    env = {"GATEWAY_HOLIDAYS": "default,goede-vrijdag"}
    with_friday = profile_from_env(env).obligations_opened(M.WMO323, received)
    assert plain[0].day == date(2020, 4, 24)
    assert with_friday[0].day == date(2020, 4, 28)


def test_profile_from_env_reads_the_profile_name() -> None:
    """GATEWAY_DEADLINE_PROFILE chooses the profile."""
    env = {"GATEWAY_DEADLINE_PROFILE": "zoetermeer-2020"}
    assert profile_from_env(env).name == "zoetermeer-2020"


def test_unknown_profile_is_refused() -> None:
    """An unknown profile name is a ConfigError naming it and the known ones."""
    with pytest.raises(ConfigError, match=r"'amsterdam-2020'.*istandaarden-3.2"):
        get_profile("amsterdam-2020")


def test_received_event_goes_through_obligations_opened() -> None:
    """obligations_on refuses Event.RECEIVED: a message needs its type."""
    with pytest.raises(CalendarError, match="obligations_opened"):
        get_profile().obligations_on(Event.RECEIVED, date(2020, 4, 24))


# Every rule of both profiles, triggered on the working day before each of four holidays of
# 2020. The due days were counted by hand on the 2020 calendar.
BEFORE = {
    "koningsdag": date(2020, 4, 24),  # Fri; Mon 27 Apr is Koningsdag, Tue 5 May Bevrijdingsdag
    "hemelvaartsdag": date(2020, 5, 20),  # Wed; Thu 21 May is Hemelvaartsdag
    "pinksteren": date(2020, 5, 29),  # Fri; Mon 1 Jun is Tweede Pinksterdag
    "kerst": date(2020, 12, 24),  # Thu; Fri 25 Dec, then Fri 1 Jan 2021
}
_3 = (date(2020, 4, 30), date(2020, 5, 26), date(2020, 6, 4), date(2020, 12, 30))
_5 = (date(2020, 5, 4), date(2020, 5, 28), date(2020, 6, 8), date(2021, 1, 4))
_10 = (date(2020, 5, 12), date(2020, 6, 5), date(2020, 6, 15), date(2021, 1, 11))
_20 = (date(2020, 5, 27), date(2020, 6, 19), date(2020, 6, 29), date(2021, 1, 25))
_2 = (date(2020, 4, 29), date(2020, 5, 25), date(2020, 6, 3), date(2020, 12, 29))
# Periods 5 (to 17 May), 6 (to 14 Jun), 6, 13 (to 31 Dec): 2 weeks later; invoicing dates.
_AFTER_PERIOD = (date(2020, 5, 31), date(2020, 6, 28), date(2020, 6, 28), date(2021, 1, 14))
_INVOICING = (date(2020, 6, 7), date(2020, 7, 5), date(2020, 7, 5), date(2021, 1, 21))

EARLIER = date(2020, 4, 1)
MATRIX: dict[tuple[str, str], tuple[date, ...]] = {
    (ISTD, "OP090"): _3,
    (ISTD, "OP274"): _5,
    (ISTD, "OP346"): _5,
    (ISTD, "OP090x4"): _10,
    (ISTD, "OP271"): _5,
    (ISTD, "OP272"): _5,
    (ZTM, "OP090"): _3,
    (ZTM, "zoetermeer-6.1.1"): _20,
    (ZTM, "OP271"): _5,
    (ZTM, "OP272"): _5,
    (ZTM, "zoetermeer-4.2"): _2,
    (ZTM, "zoetermeer-4.1"): _AFTER_PERIOD,
    (ZTM, "zoetermeer-bijlage-4"): _INVOICING,
}


def _triggered(profile: str, rule: str, day: date) -> list[Due]:
    """Trigger ``rule`` on ``day``: receive its message that day, or have its event then."""
    chosen = get_profile(profile)
    received = datetime.combine(day, time(11), tzinfo=AMSTERDAM)
    if rule in {"OP090", "OP274"}:
        return chosen.obligations_opened(M.WMO315, received, Facts(products=("02203",)))
    if rule == "OP346":
        return chosen.obligations_opened(M.JW317, received)
    if rule in {"OP090x4", "zoetermeer-6.1.1"}:
        return chosen.obligations_opened(M.WMO323, received)
    if rule == "OP271":  # assigned from the day it is received
        return chosen.obligations_opened(M.WMO301, received, {"start": day})
    if rule == "OP272":  # an assignment received earlier that ends on the day
        earlier = datetime.combine(EARLIER, time(11), tzinfo=AMSTERDAM)
        return chosen.obligations_opened(M.WMO301, earlier, {"start": EARLIER, "end": day})
    if rule == "zoetermeer-4.2":
        return chosen.obligations_on(Event.CARE_STARTED, day, Facts(products=("02201",)))
    if rule == "zoetermeer-4.1":
        return chosen.obligations_on(Event.CARE_STARTED, day, Facts(products=("07A04",)))
    return chosen.obligations_on(Event.PERIOD_ENDED, day)


@pytest.mark.parametrize("holiday", list(BEFORE))
@pytest.mark.parametrize(("profile", "rule"), list(MATRIX))
def test_every_rule_across_the_holidays(profile: str, rule: str, holiday: str) -> None:
    """Each rule, triggered just before a 2020 holiday, is due on the hand-counted day."""
    expected = MATRIX[profile, rule][list(BEFORE).index(holiday)]
    opened = [due for due in _triggered(profile, rule, BEFORE[holiday]) if due.rule == rule]
    assert [due.day for due in opened] == [expected]


def test_the_holiday_matrix_covers_every_rule() -> None:
    """The matrix names every rule of both profiles."""
    every = {(name, rule.name) for name in PROFILE_NAMES for rule in get_profile(name).rules}
    assert set(MATRIX) == every


# The design's deadline table (DESIGN.md, "Deadlines"), written out for a receipt on Friday
# 24 April 2020 (Koningsdag on Monday 27 April, Bevrijdingsdag on Tuesday 5 May). Each
# obligation: (owed, alternatives, by, to, last day, product), message numbers only.
FRIDAY = date(2020, 4, 24)
AFTER_FRIDAY = {
    3: date(2020, 4, 30),
    5: date(2020, 5, 4),
    10: date(2020, 5, 12),
    20: date(2020, 5, 27),
}
DESIGN_START, DESIGN_END = date(2020, 5, 1), date(2020, 5, 20)  # the 301's start and end
DESIGN_PRODUCTS = ("07A03", "08A03")  # the products a 315 requests
# Row 1: any message received -> its retour, owed by its recipient.
RETOURS = {301: (302, A), 305: (306, G), 307: (308, G), 315: (316, G), 317: (318, G), 319: (320, A)}

Owed = tuple[int, tuple[int, ...], Role, Role, date, str | None]


def _design_row(profile: str, number: int) -> list[Owed]:
    """What the design table says receiving message ``number`` opens under ``profile``."""
    rows: list[Owed] = []
    if number in RETOURS:
        retour, by = RETOURS[number]
        rows.append((retour, (), by, G if by is A else A, AFTER_FRIDAY[3], None))
    if number == 301:  # care started (the 301's start) and care ended (its end): 5 working days
        rows.append((305, (), A, G, date(2020, 5, 11), None))  # Fri 1 May + 5, Bevrijdingsdag
        rows.append((307, (), A, G, date(2020, 5, 28), None))  # Wed 20 May + 5, Hemelvaartsdag
    if profile == ISTD and number == 315:  # per requested product
        rows += [(301, (319,), G, A, AFTER_FRIDAY[5], p) for p in DESIGN_PRODUCTS]
    if profile == ISTD and number == 317:
        rows.append((301, (319,), G, A, AFTER_FRIDAY[5], None))
    if number == 323:
        rows.append((325, (), G, A, AFTER_FRIDAY[10 if profile == ISTD else 20], None))
    return sorted(rows)


def _as_row(due: Due, standard: Standard) -> Owed:
    assert isinstance(due.owed, MessageType)
    assert {m.standard for m in due.met_by if isinstance(m, MessageType)} == {standard}
    alternatives = tuple(m.number for m in due.alternatives)
    return (due.owed.number, alternatives, due.by, due.to, due.day, due.product)


@pytest.mark.parametrize("message", list(MessageType), ids=str)
@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_each_message_opens_what_the_design_table_says(profile: str, message: MessageType) -> None:
    """Every message of both standards opens exactly the design table's rows, nothing else."""
    received = datetime.combine(FRIDAY, time(9), tzinfo=AMSTERDAM)
    facts = Facts(dates={"start": DESIGN_START, "end": DESIGN_END}, products=DESIGN_PRODUCTS)
    opened = get_profile(profile).obligations_opened(message, received, facts)
    rows = sorted(_as_row(due, message.standard) for due in opened)
    assert rows == _design_row(profile, message.number)


@pytest.mark.parametrize(
    ("product", "expected"),
    [
        ("02201", [(315, (), A, G, date(2020, 4, 29), "02201")]),  # waakvlam: 2 working days
        ("02203", [(315, (), A, G, date(2020, 4, 29), "02203")]),  # KIB: 2 working days
        # Dagbesteding and its vervoer: period 5 ends Sunday 17 May; 2 weeks later.
        ("07A03", [(315, (), A, G, date(2020, 5, 31), "07A03")]),
        ("07A04", [(315, (), A, G, date(2020, 5, 31), "07A04")]),
        ("08A03", [(315, (), A, G, date(2020, 5, 31), "08A03")]),
        ("08A04", [(315, (), A, G, date(2020, 5, 31), "08A04")]),
        ("07204", []),  # the old 2015 code of dagbesteding basis: no rule
        ("04A01", []),
    ],
)
def test_care_started_opens_what_the_design_table_says(product: str, expected: list[Owed]) -> None:
    """The seed's 315 rows: KIB/waakvlam after 2 working days, dagbesteding after the period.

    The standard's profile has neither row.
    """
    facts = Facts(products=(product,))
    for standard in Standard:
        contract = get_profile(ZTM).obligations_on(Event.CARE_STARTED, FRIDAY, facts, standard)
        assert [_as_row(due, standard) for due in contract] == expected
        assert get_profile(ISTD).obligations_on(Event.CARE_STARTED, FRIDAY, facts, standard) == []


def test_period_ended_opens_what_the_design_table_says() -> None:
    """The seed's last row: a period (here 5, to 17 May) is declared by its invoicing date."""
    for standard in Standard:
        contract = get_profile(ZTM).obligations_on(Event.PERIOD_ENDED, FRIDAY, None, standard)
        assert [_as_row(due, standard) for due in contract] == [
            (323, (), A, G, date(2020, 6, 7), None)
        ]
        assert get_profile(ISTD).obligations_on(Event.PERIOD_ENDED, FRIDAY, None, standard) == []
