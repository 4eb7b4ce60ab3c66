"""What a level-2 check reports, what it needs from outside the message, and the rule registry.

A rule of the standard (a technical rule TR, a constraint CS or a condition CD) is checked on one
level (IV032): the message content alone (level 2, general retourcode 0001, the message is
rejected as a whole), against earlier messages (level 3) or against an external source such as
the system date or the CBS list (level 4); levels 3 and 4 have a retourcode of their own, placed
on the berichtklasse where the fault is. Level 1 is the XSD and is not checked here.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gateway.standard.message_types import MessageType
from gateway.standard.rules import _xml
from gateway.standard.rules._xml import Element

if TYPE_CHECKING:
    from gateway.standard.rules.assignments import Toewijzing


class Controleniveau(enum.IntEnum):
    """The level on which a rule is checked (IV032)."""

    INHOUD = 2
    """Within the message itself (the standard's XSLT level): retourcode 0001, rejected whole."""
    BERICHTOVERSTIJGEND = 3
    """Against earlier messages: a retourcode of its own on the berichtklasse at fault."""
    EXTERNE_BRON = 4
    """Against the system date, the CBS list, a product list or a contract."""


@dataclass(frozen=True, slots=True)
class Berichtklasse:
    """One instance of a berichtklasse in a message: its name and where it is.

    ``path`` runs from below the root with an index where a name repeats:
    ``Header``, ``Client``, ``Client/ToegewezenProducten/ToegewezenProduct[2]``,
    ``Declaratie/Clienten/Client[3]/Prestaties/Prestatie``.
    """

    name: str
    path: str

    @classmethod
    def header(cls) -> Berichtklasse:
        return cls("Header", "Header")

    @classmethod
    def of(cls, element: Element) -> Berichtklasse:
        """The berichtklasse that ``element`` is (an element of the parsed message)."""
        return cls(_xml.local(element), _xml.path_of(element))

    @classmethod
    def parse(cls, path: str) -> Berichtklasse:
        """From a path like ``Client/StartProducten/StartProduct[2]``."""
        last = path.rsplit("/", 1)[-1]
        return cls(last.partition("[")[0], path)

    @property
    def is_header(self) -> bool:
        return self.name == "Header"

    def __str__(self) -> str:
        return self.path


@dataclass(frozen=True, slots=True)
class Remark:
    """One finding of a rule: which rule, which retourcode, where, and why (in English)."""

    rule: str
    retourcode: str
    element: str
    berichtklasse: Berichtklasse
    message: str
    controleniveau: Controleniveau = Controleniveau.INHOUD

    def __str__(self) -> str:
        return f"{self.rule} [{self.retourcode}] {self.element}: {self.message}"


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What the checks need from outside the message. Every lookup is optional.

    A lookup left at None means the rule that needs it is not checked (it is not failed).
    """

    today: datetime.date
    """The project clock's date (TR135); never ``datetime.date.today()`` inside a check."""
    seen_identificatie: Callable[[str, MessageType, str], bool] | None = None
    """TR056: has (Afzender, message type, Identificatie) been received before?"""
    seen_declaratienummer: Callable[[str, MessageType, str], bool] | None = None
    """TR333: has (Afzender, message type, DeclaratieNummer) been received before?"""
    seen_referentienummer: Callable[[str, MessageType, str], bool] | None = None
    """TR314: has (Afzender, message type, ReferentieNummer of a Prestatie) been received?"""
    gemeenten: frozenset[str] | None = None
    """TR378: the valid CBS municipality codes; None means the packaged CBS list."""
    product_codes: Mapping[str, frozenset[str]] | None = field(default=None)
    """TR381: ProductCategorie -> the ProductCodes of the product code list in use."""
    toewijzing: Callable[[str, str, str], Toewijzing | None] | None = None
    """TR019, TR304, TR307 ...: (gemeente, aanbieder, ToewijzingNummer) -> what was assigned."""


@dataclass(frozen=True, slots=True)
class Message:
    """A message being checked: its root, its type, and the header facts most rules need."""

    root: Element
    type: MessageType
    context: CheckContext

    @property
    def number(self) -> int:
        return self.type.number

    @property
    def header(self) -> Element | None:
        return _xml.child(self.root, "Header")

    @property
    def afzender(self) -> str:
        return _xml.text(self.header, "Afzender") or ""

    @property
    def dagtekening(self) -> datetime.date | None:
        return _xml.date(self.header, "BerichtIdentificatie/Dagtekening")

    def classes(self, path: str) -> Iterator[Element]:
        """Every berichtklasse at ``path`` below the root (``Client/Relaties/Relatie``)."""
        return _xml.iterate(self.root, path)


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule of the standard as implemented here: code, retourcode, level, where it applies."""

    code: str
    retourcode: str
    controleniveau: Controleniveau
    numbers: frozenset[int]
    summary: str
    function: Callable[[Rule, Message], Iterator[Remark]]

    def run(self, message: Message) -> Iterator[Remark]:
        return self.function(self, message)

    def remark(self, element: Element, klasse: Element, message: str) -> Remark:
        """A remark on ``element``, reported on the berichtklasse ``klasse`` that holds it."""
        where = Berichtklasse.of(klasse)
        return Remark(
            rule=self.code,
            retourcode=self.retourcode,
            element=_xml.path_of(element),
            berichtklasse=where,
            message=message,
            controleniveau=self.controleniveau,
        )


RULES: dict[str, Rule] = {}
"""Every implemented rule by its code, in the order they were registered."""


def rule(
    code: str,
    retourcode: str,
    numbers: str,
    summary: str,
    controleniveau: Controleniveau = Controleniveau.INHOUD,
) -> Callable[[Callable[[Rule, Message], Iterator[Remark]]], Rule]:
    """Register a check as the rule ``code`` for the messages in ``numbers`` ("301 305")."""

    def register(function: Callable[[Rule, Message], Iterator[Remark]]) -> Rule:
        if code in RULES:
            raise ValueError(f"rule {code} registered twice")
        registered = Rule(
            code=code,
            retourcode=retourcode,
            controleniveau=controleniveau,
            numbers=frozenset(int(n) for n in numbers.split()),
            summary=summary,
            function=function,
        )
        RULES[code] = registered
        return registered

    return register
