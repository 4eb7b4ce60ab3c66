"""Message chains: what one admitted message opens and meets, by the deadline profile's rules.

The profile (``gateway.deadlines``) says what receiving a message obliges whom to send, by when.
This module adds what the rules leave to the message: who the parties are (participant keys),
which dates and products it carries, and which earlier obligation an answer meets:

- a retour message (302, 306, 308, 316, 318, 320) meets the obligation opened by the message whose
  BerichtIdentificatie it copies; a 325 the one of the 323 in its DeclaratieIdentificatie;
- a 301 or 319 meets a 315's or 317's obligation by ReferentieAanbieder (per requested product);
- a 305 or 307 meets a 301's obligation by ToewijzingNummer (per assigned product).

Some rules count from an event the gateway only learns of from the message owed itself: care
that started (a KIB product reported by a 315 within 2 working days of its start) or a 4-week
period that ended (declared by a 323 by the invoicing date). Such a message opens the obligation
and meets it at once, so that the ledger records whether it came in time.

Runs on the ingress's hot path, once per message, on the tree already parsed and validated.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

from lxml import etree

from gateway.deadlines import Due, Event, Facts, Profile
from gateway.errors import CalendarError
from gateway.ledger.obligations import ChainStep, Closing, Opening
from gateway.participants import Participant
from gateway.standard.message_types import MessageType
from gateway.standard.streaming import Keep

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Item:
    """One product line of a message, with the dates and the reference its obligations carry."""

    facts: Facts
    reference: str | None
    changed: bool = False
    """A ToegewezenProduct with a RedenWijziging: a change of an earlier assignment."""


# Per message number: the element of one product line, the element naming it for the answer,
# and the dates (fact name -> element) the profile's rules anchor on.
_ITEMS: dict[int, tuple[str, str, dict[str, str]]] = {
    301: ("ToegewezenProduct", "ToewijzingNummer", {"start": "Ingangsdatum", "end": "Einddatum"}),
    315: ("AangevraagdProduct", "ReferentieAanbieder", {"start": "ToewijzingIngangsdatum"}),
}

# Per message number: the event it reports after the fact, its line element and the event's day.
_REPORTS: dict[int, tuple[Event, str | None, str]] = {
    315: (Event.CARE_STARTED, "AangevraagdProduct", "ToewijzingIngangsdatum"),
    323: (Event.PERIOD_ENDED, None, "Begindatum"),
}

# What an answer quotes to say which obligation it meets.
_REFERENCES: dict[int, str] = {
    301: "ReferentieAanbieder",
    319: "ReferentieAanbieder",
    305: "ToewijzingNummer",
    307: "ToewijzingNummer",
}


def reads(message_type: MessageType) -> Keep:
    """What ``Chains.step`` reads of a ``message_type``: all a large message is reduced to.

    The ingress keeps only these of a large message (gateway.standard.streaming), so whatever
    the step starts to read must be named here; tests/sla/test_chains.py holds the step on the
    reduced message to the step on the whole.
    """
    every: set[str] = set()
    first: set[str] = set()
    number = message_type.number
    if number in _ITEMS:
        every.add(_ITEMS[number][0])  # product lines, with what is read inside them
    else:
        first.add("ReferentieAanbieder")  # the one reference of a message without lines
    if number in _REPORTS:
        _, line, day = _REPORTS[number]
        if line:
            every.add(line)
        else:
            first.add(day)
    if number in _REFERENCES and not message_type.is_retour:
        every.add(_REFERENCES[number])
    return Keep(frozenset(every), frozenset(first - every))


class Chains:
    """Works out the ``ChainStep`` of each admitted message under one deadline profile."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile

    def step(
        self,
        message_type: MessageType,
        doc: etree._ElementTree,
        *,
        sender: Participant,
        recipient: Participant,
        received: datetime,
        answers: str | None,
    ) -> ChainStep:
        """The obligations ``message_type`` from ``sender`` to ``recipient`` opens and meets.

        ``answers``: for a retour message (and a 325) the identification of the message it
        answers.
        """
        root = doc.getroot()
        closing = self._closing(message_type, root, sender, recipient, answers)
        return ChainStep(
            opens=(
                *self._opens(message_type, root, sender, recipient, received),
                *self._reported(message_type, root, sender, recipient),
            ),
            closes=() if closing is None else (closing,),
        )

    def _opens(
        self,
        message_type: MessageType,
        root: etree._Element,
        sender: Participant,
        recipient: Participant,
        received: datetime,
    ) -> Iterator[Opening]:
        retour = message_type.retour
        if message_type.number not in _ITEMS:
            # No product lines: what the message opens does not depend on what it holds, and
            # only an obligation other than its retour carries its ReferentieAanbieder.
            dues = self._opened(message_type, received, Facts())
            reference = None
            if any(due.owed != retour for due in dues):
                reference = next(_texts(root, "ReferentieAanbieder"), None)
            for due in dues:
                yield _opening(due, sender, recipient, None if due.owed == retour else reference)
            return
        for index, item in enumerate(_items(message_type, root)):
            for due in self._opened(message_type, received, item.facts):
                # The retour answers the whole message: open it once, not per product line.
                is_retour = due.owed == retour
                if is_retour and index > 0:
                    continue
                if item.changed and due.owed == MessageType.of(message_type.standard, 305):
                    # A changed assignment (RedenWijziging) was started, or owed its start,
                    # when it was first assigned: the change opens no second 305.
                    continue
                opening = _opening(due, sender, recipient, None if is_retour else item.reference)
                if message_type.number == 301 and not is_retour:
                    # an assignment owes one 305 and one 307, however often it is changed
                    opening = dataclasses.replace(opening, once_per_reference=True)
                yield opening

    def _opened(self, message_type: MessageType, received: datetime, facts: Facts) -> list[Due]:
        """The profile's obligations; never a reason to refuse the message.

        A date the calendar cannot count from (an Einddatum of 9999-12-31) drops the rules
        anchored on it, not the others; a receipt outside the calendar opens nothing.
        """
        try:
            return self.profile.obligations_opened(message_type, received, facts)
        except (CalendarError, OverflowError):
            pass
        countable = {}
        for name, day in facts.dates.items():
            try:
                self.profile.obligations_opened(message_type, received, Facts({name: day}))
            except (CalendarError, OverflowError):
                log.info(
                    "%s: %s %s is outside the calendar; no deadline from it",
                    message_type,
                    name,
                    day,
                )
                continue
            countable[name] = day
        try:
            return self.profile.obligations_opened(
                message_type, received, Facts(countable, facts.products)
            )
        except (CalendarError, OverflowError) as exc:
            log.warning("%s received at %s opens no obligations: %s", message_type, received, exc)
            return []

    def _reported(
        self,
        message_type: MessageType,
        root: etree._Element,
        sender: Participant,
        recipient: Participant,
    ) -> Iterator[Opening]:
        shape = _REPORTS.get(message_type.number)
        if shape is None:
            return
        event, line, day_element = shape
        lines = list(root.iter(f"{{*}}{line}")) if line else [root]
        for element in lines:
            day = _date(next(_texts(element, day_element), None))
            if day is None:
                continue
            code = next(_texts(element, "Code"), None) if line else None
            facts = Facts(products=(code,) if code else ())
            reference = next(_texts(element, "ReferentieAanbieder"), None) if line else None
            try:
                dues = self.profile.obligations_on(event, day, facts, message_type.standard)
            except (CalendarError, OverflowError):
                continue  # a day outside the period calendar: no rule can count from it
            for due in dues:
                if due.owed == message_type:
                    opening = _opening(due, sender, recipient, reference)
                    yield dataclasses.replace(opening, met_on_admission=True)

    def _closing(
        self,
        message_type: MessageType,
        root: etree._Element,
        sender: Participant,
        recipient: Participant,
        answers: str | None,
    ) -> Closing | None:
        if message_type.is_retour:
            # A retour meets only what the message it names opened; naming none, it meets nothing.
            if answers is None:
                return None
            return Closing(message_type.name, sender.key, recipient.key, answers=answers)
        element = _REFERENCES.get(message_type.number)
        references = tuple(_texts(root, element)) if element else ()
        return Closing(message_type.name, sender.key, recipient.key, references=references)


def _opening(
    due: Due, sender: Participant, recipient: Participant, reference: str | None
) -> Opening:
    debtor, creditor = (sender, recipient) if sender.role is due.by else (recipient, sender)
    owed = due.owed.name if isinstance(due.owed, MessageType) else due.owed
    alternatives = tuple(a.name for a in due.alternatives)
    return Opening(
        rule=due.rule,
        owed=owed,
        accepts=(owed, *alternatives),
        debtor=debtor.key,
        creditor=creditor.key,
        # Stored in UTC: SQLite keeps no offset, and every moment in the ledger is UTC.
        due=due.due.astimezone(UTC),
        product=due.product,
        reference=reference,
    )


def _items(message_type: MessageType, root: etree._Element) -> list[Item]:
    line, key, date_elements = _ITEMS[message_type.number]
    items = []
    for element in root.iter(f"{{*}}{line}"):
        dates = {
            name: day
            for name, child in date_elements.items()
            if (day := _date(next(_texts(element, child), None))) is not None
        }
        code = next(_texts(element, "Code"), None)
        changed = next(_texts(element, "RedenWijziging"), None) is not None
        facts = Facts(dates, (code,) if code else ())
        items.append(Item(facts, next(_texts(element, key), None), changed))
    return items or [Item(Facts(), None)]


def _texts(element: etree._Element, name: str) -> Iterator[str]:
    for found in element.iter(f"{{*}}{name}"):
        text = (found.text or "").strip()
        if text:
            yield text


def _date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None
