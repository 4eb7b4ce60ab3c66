"""The deadline engine: rules that say what a message or an event makes somebody owe, by when.

A rule is one row of a table: what triggers it (a received message, the start of care, the end
of a 4-week period), what is owed, by whom, and how the due day is computed. A profile is a named
table of rules (``profiles.py``); ``Profile.obligations_opened`` turns one received message into
the obligations (``Due``) it opens. A due moment is the end of the due day: the first instant
after it, in Europe/Amsterdam.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal, Protocol

from gateway.deadlines.periods import PeriodCalendar
from gateway.deadlines.workdays import AMSTERDAM, WorkingDays, end_of_day, local_day
from gateway.errors import CalendarError
from gateway.participants import Role
from gateway.standard.message_types import MessageType, Standard

RECEIVED = "received"
"""The name of the day a message was received (Europe/Amsterdam), for anchors."""

# How many distinct receipts (message type, day, dates) a profile remembers what they open.
OPENED_REMEMBERED = 4096

RETOUR: Literal["retour"] = "retour"
"""Owed: the retour message of the message that triggered the rule."""


class Event(enum.StrEnum):
    """What makes a rule open an obligation."""

    RECEIVED = "received"
    """A message was received; the rule lists which."""
    CARE_STARTED = "care-started"
    """Care (of a product) started on a day; the day is the date ``start``."""
    PERIOD_ENDED = "period-ended"
    """A 4-week period ended; the date ``period`` is a day in it."""


class Party(enum.StrEnum):
    """Who owes: a fixed role, or whoever received the triggering message."""

    RECIPIENT = "recipient"
    GEMEENTE = "gemeente"
    AANBIEDER = "aanbieder"


class Calendar(Protocol):
    """What a due computation needs to know about days."""

    @property
    def workdays(self) -> WorkingDays: ...

    @property
    def periods(self) -> PeriodCalendar: ...


class DueRule(Protocol):
    """How a due day is computed from the dates a trigger carries."""

    def due_day(self, dates: Mapping[str, date], calendar: Calendar) -> date | None:
        """The last day on which the obligation is met in time; None if a date is missing."""
        ...

    def describe(self) -> str: ...


@dataclass(frozen=True, slots=True)
class WorkingDaysAfter:
    """N working days after the latest of some dates ("received", "start", ...).

    With several dates, the later one counts, and dates the trigger does not carry are left
    out: OP271's "5 working days after the start, or after receipt of the 301 if assigned
    retroactively" is ``WorkingDaysAfter(5, ("start", "received"))``.
    """

    days: int
    after: tuple[str, ...] = (RECEIVED,)

    def due_day(self, dates: Mapping[str, date], calendar: Calendar) -> date | None:
        known = [dates[name] for name in self.after if name in dates]
        return calendar.workdays.add(max(known), self.days) if known else None

    def describe(self) -> str:
        after = " or ".join(self.after)
        later = " (the later)" if len(self.after) > 1 else ""
        return f"{self.days} working days after {after}{later}"


@dataclass(frozen=True, slots=True)
class AfterPeriodEnd:
    """A number of calendar days after the end of the 4-week period holding a date."""

    days: int
    holding: str

    def due_day(self, dates: Mapping[str, date], calendar: Calendar) -> date | None:
        day = dates.get(self.holding)
        if day is None:
            return None
        return calendar.periods.holding(day).last + timedelta(days=self.days)

    def describe(self) -> str:
        return f"{self.days} days after the end of the period holding {self.holding}"


@dataclass(frozen=True, slots=True)
class InvoicingCalendar:
    """The invoicing date of the 4-week period holding a date."""

    holding: str

    def due_day(self, dates: Mapping[str, date], calendar: Calendar) -> date | None:
        day = dates.get(self.holding)
        return None if day is None else calendar.periods.holding(day).invoicing

    def describe(self) -> str:
        return f"the invoicing date of the period holding {self.holding}"


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of a deadline table."""

    name: str
    """A short name: the standard's rule code (OP090) or the contract's paragraph."""
    trigger: Event
    owed: int | Literal["retour"]
    """The message number owed, or ``RETOUR``: the triggering message's retour."""
    by: Party
    due: DueRule
    text: str
    """What the source says, in one line."""
    messages: frozenset[int] = frozenset()
    """For ``Event.RECEIVED``: the message numbers that trigger the rule."""
    products: frozenset[str] | None = None
    """Only for these product codes; None: for every product."""
    per_product: bool = False
    """One obligation per product of the trigger (OP274: per requested product)."""
    alternatives: tuple[int, ...] = ()
    """Other message numbers that meet the obligation too (a 319 instead of a 301)."""

    def applies_to(self, message_type: MessageType) -> bool:
        return self.trigger is Event.RECEIVED and message_type.number in self.messages

    def owed_message(self, standard: Standard, trigger: MessageType | None) -> MessageType:
        if self.owed == RETOUR:
            retour = trigger.retour if trigger is not None else None
            if retour is None:
                raise CalendarError(f"rule {self.name}: {trigger} has no retour message")
            return retour
        return MessageType.of(standard, self.owed)

    def debtor(self, trigger: MessageType | None) -> Role:
        if self.by is Party.RECIPIENT:
            if trigger is None:
                raise CalendarError(f"rule {self.name}: 'recipient' needs a triggering message")
            return trigger.receiver_role
        return Role(self.by.value)


@dataclass(frozen=True, slots=True)
class Facts:
    """What a trigger carries that due days depend on.

    ``dates`` by name: ``start`` and ``end`` (a toewijzing's Ingangsdatum and Einddatum, a
    start of care), ``period`` (a day in a 4-week period). ``products``: product codes (the
    products a 315 requests, or the product whose care started).
    """

    dates: Mapping[str, date] = field(default_factory=dict)
    products: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Due:
    """An obligation: ``by`` owes ``owed`` to ``to`` before the moment ``due``."""

    owed: MessageType | str
    by: Role
    to: Role
    due: datetime
    """The first instant after the due day, Europe/Amsterdam: in time means before this."""
    rule: str
    alternatives: tuple[MessageType, ...] = ()
    product: str | None = None

    @property
    def day(self) -> date:
        """The last day on which the obligation is met in time."""
        return self.due.astimezone(AMSTERDAM).date() - timedelta(days=1)

    @property
    def met_by(self) -> frozenset[MessageType | str]:
        """Every message that meets this obligation."""
        return frozenset((self.owed, *self.alternatives))

    def is_late(self, moment: datetime) -> bool:
        """True when ``moment`` is at or past the due moment."""
        return moment >= self.due


def _as_facts(facts: Facts | Mapping[str, date] | None) -> Facts:
    if facts is None:
        return Facts()
    if isinstance(facts, Facts):
        return facts
    return Facts(dates=dict(facts))


@dataclass(frozen=True)
class Profile:
    """A named table of deadline rules, with the calendar it counts on."""

    name: str
    title: str
    rules: tuple[Rule, ...]
    workdays: WorkingDays = field(default_factory=WorkingDays, compare=False)
    periods: PeriodCalendar = field(default_factory=PeriodCalendar, compare=False)

    def obligations_opened(
        self,
        message_type: MessageType,
        received: datetime,
        facts: Facts | Mapping[str, date] | None = None,
    ) -> list[Due]:
        """The obligations that receiving ``message_type`` at ``received`` opens.

        A rule anchored on a date the message does not carry (a 301 without Einddatum) opens
        nothing.
        """
        known = _as_facts(facts)
        day = local_day(received)
        # The same message on the same day with the same dates opens the same: counted once.
        key = (message_type, day, tuple(sorted(known.dates.items())), known.products)
        opened = self._opened.get(key)
        if opened is None:
            dates = {**known.dates, RECEIVED: day}
            found: list[Due] = []
            for rule in self._received_rules[message_type]:
                found += self._open(rule, message_type.standard, message_type, dates, known)
            opened = tuple(found)
            if len(self._opened) >= OPENED_REMEMBERED:
                self._opened.clear()
            self._opened[key] = opened
        return list(opened)

    @functools.cached_property
    def _opened(self) -> dict[Hashable, tuple[Due, ...]]:
        """What ``obligations_opened`` counted, by what it depends on: on the ingress's hot
        path, where most messages of a day carry the same few dates."""
        return {}

    @functools.cached_property
    def _received_rules(self) -> dict[MessageType, tuple[Rule, ...]]:
        """The rules each message triggers when received, in table order: looked up once per
        message on the ingress's hot path instead of asking every rule."""
        return {m: tuple(r for r in self.rules if r.applies_to(m)) for m in MessageType}

    def obligations_on(
        self,
        event: Event,
        on: date,
        facts: Facts | Mapping[str, date] | None = None,
        standard: Standard = Standard.IWMO,
    ) -> list[Due]:
        """The obligations that ``event`` on day ``on`` opens (care started, period ended)."""
        if event is Event.RECEIVED:
            raise CalendarError("a received message opens obligations through obligations_opened")
        known = _as_facts(facts)
        name = "start" if event is Event.CARE_STARTED else "period"
        dates = {**known.dates, name: on}
        opened: list[Due] = []
        for rule in self.rules:
            if rule.trigger is event:
                opened += self._open(rule, standard, None, dates, known)
        return opened

    def _open(
        self,
        rule: Rule,
        standard: Standard,
        trigger: MessageType | None,
        dates: Mapping[str, date],
        facts: Facts,
    ) -> list[Due]:
        products: tuple[str | None, ...] = (None,)
        if rule.products is not None:
            # A rule for some products only: it opens nothing for the others.
            products = tuple(p for p in facts.products if p in rule.products)
        elif rule.per_product and facts.products:
            products = facts.products
        day = rule.due.due_day(dates, self) if products else None
        if day is None:
            return []
        by = rule.debtor(trigger)
        to = Role.GEMEENTE if by is Role.AANBIEDER else Role.AANBIEDER
        owed = rule.owed_message(standard, trigger)
        alternatives = tuple(MessageType.of(standard, n) for n in rule.alternatives)
        return [
            Due(owed, by, to, end_of_day(day), rule.name, alternatives, product)
            for product in products
        ]
