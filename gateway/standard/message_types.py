"""The 28 message types of iWmo 3.2 and iJw 3.2, and what the standard says of each.

Facts per message: its number (301 ... 325), its BerichtCode, who sends it, which message answers
it (the retour message that copies its header), and its root namespace. Everything else in the
package names a message by ``MessageType``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gateway.participants import Role


class Standard(enum.StrEnum):
    IWMO = "iwmo"
    IJW = "ijw"

    @property
    def prefix(self) -> str:
        """The message name prefix: ``WMO`` for iWmo, ``JW`` for iJw."""
        return "WMO" if self is Standard.IWMO else "JW"


RELEASE = "3.2"
VERSIE = 3
SUBVERSIE = 2


@dataclass(frozen=True, slots=True)
class MessageId:
    """Standard, release and message: names any message, also one of a plugged-in release."""

    standard: str  # "iwmo", "ijw"
    release: str  # "3.2", "2.1"
    name: str  # "WMO301", "JW325"

    def __str__(self) -> str:
        return f"{self.standard} {self.release} {self.name}"


@dataclass(frozen=True, slots=True)
class _Facts:
    number: int
    code: int
    sender: Role
    title: str


# number -> (iWmo BerichtCode, iJw BerichtCode, sender of the message, what it is for)
_TABLE: dict[int, tuple[int, int, Role, str]] = {
    301: (414, 436, Role.GEMEENTE, "Toewijzing"),
    302: (415, 437, Role.AANBIEDER, "Retour toewijzing"),
    305: (418, 438, Role.AANBIEDER, "Start levering"),
    306: (419, 439, Role.GEMEENTE, "Retour start levering"),
    307: (420, 440, Role.AANBIEDER, "Stop levering"),
    308: (421, 441, Role.GEMEENTE, "Retour stop levering"),
    315: (444, 446, Role.AANBIEDER, "Verzoek om toewijzing"),
    316: (445, 447, Role.GEMEENTE, "Retour verzoek om toewijzing"),
    317: (480, 486, Role.AANBIEDER, "Verzoek om wijziging"),
    318: (481, 487, Role.GEMEENTE, "Retour verzoek om wijziging"),
    319: (482, 488, Role.GEMEENTE, "Antwoord op verzoek"),
    320: (483, 489, Role.AANBIEDER, "Retour antwoord op verzoek"),
    323: (484, 490, Role.AANBIEDER, "Declaratie"),
    325: (485, 491, Role.GEMEENTE, "Declaratie-antwoord"),
}

# heen message -> the retour message that answers it
_RETOUR: dict[int, int] = {301: 302, 305: 306, 307: 308, 315: 316, 317: 318, 319: 320, 323: 325}
_ANSWERS: dict[int, int] = {retour: heen for heen, retour in _RETOUR.items()}


class MessageType(enum.Enum):
    """One of the 28 messages, named as the standard names it (``WMO305``, ``JW323``)."""

    WMO301 = (Standard.IWMO, 301)
    WMO302 = (Standard.IWMO, 302)
    WMO305 = (Standard.IWMO, 305)
    WMO306 = (Standard.IWMO, 306)
    WMO307 = (Standard.IWMO, 307)
    WMO308 = (Standard.IWMO, 308)
    WMO315 = (Standard.IWMO, 315)
    WMO316 = (Standard.IWMO, 316)
    WMO317 = (Standard.IWMO, 317)
    WMO318 = (Standard.IWMO, 318)
    WMO319 = (Standard.IWMO, 319)
    WMO320 = (Standard.IWMO, 320)
    WMO323 = (Standard.IWMO, 323)
    WMO325 = (Standard.IWMO, 325)
    JW301 = (Standard.IJW, 301)
    JW302 = (Standard.IJW, 302)
    JW305 = (Standard.IJW, 305)
    JW306 = (Standard.IJW, 306)
    JW307 = (Standard.IJW, 307)
    JW308 = (Standard.IJW, 308)
    JW315 = (Standard.IJW, 315)
    JW316 = (Standard.IJW, 316)
    JW317 = (Standard.IJW, 317)
    JW318 = (Standard.IJW, 318)
    JW319 = (Standard.IJW, 319)
    JW320 = (Standard.IJW, 320)
    JW323 = (Standard.IJW, 323)
    JW325 = (Standard.IJW, 325)

    standard: Standard
    number: int
    is_retour: bool
    """A retour message copies the header of the message it answers (IV028)."""

    def __init__(self, standard: Standard, number: int) -> None:
        # Plain attributes, set once: the ingress reads them a few dozen times per message,
        # and a property reading ``value`` goes through the enum's descriptor every time.
        self.standard = standard
        self.number = number
        self.is_retour = number in _ANSWERS

    @property
    def code(self) -> int:
        """The BerichtCode in the header (COD002)."""
        wmo, jw, _, _ = _TABLE[self.number]
        return wmo if self.standard is Standard.IWMO else jw

    @property
    def sender_role(self) -> Role:
        """The role of the party that sends this message."""
        return _TABLE[self.number][2]

    @property
    def receiver_role(self) -> Role:
        return Role.AANBIEDER if self.sender_role is Role.GEMEENTE else Role.GEMEENTE

    @property
    def title(self) -> str:
        return _TABLE[self.number][3]

    @property
    def retour(self) -> MessageType | None:
        """The message that answers this one, if any (301 -> 302, 323 -> 325, ...)."""
        retour = _RETOUR.get(self.number)
        return None if retour is None else MessageType.of(self.standard, retour)

    @property
    def answers(self) -> MessageType | None:
        """For a retour message: the message it answers (302 -> 301)."""
        heen = _ANSWERS.get(self.number)
        return None if heen is None else MessageType.of(self.standard, heen)

    @property
    def copies_header(self) -> bool:
        """True for 302, 306, 308, 316, 318, 320: their header is the original's (IV028).

        The 325 answers a 323 too, but with a header of its own (Afzender is the municipality)
        and the declaration's identification in DeclaratieIdentificatie.
        """
        return self.is_retour and self.number != 325

    @property
    def header_afzender_role(self) -> Role:
        """The role named in Afzender: for a header-copying retour it is the original's sender."""
        original = self.answers
        if original is not None and self.copies_header:
            return original.sender_role
        return self.sender_role

    @property
    def namespace(self) -> str:
        return message_namespace(self.standard, self.name.lower())

    @property
    def id(self) -> MessageId:
        return MessageId(self.standard.value, RELEASE, self.name)

    @classmethod
    def of(cls, standard: Standard, number: int) -> MessageType:
        return cls[f"{standard.prefix}{number}"]

    @classmethod
    def parse(cls, text: str) -> MessageType:
        """Read ``WMO305``, ``wmo305`` or ``JW323``; a clear ValueError otherwise."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            known = ", ".join(m.name for m in cls)
            raise ValueError(f"unknown message type {text!r}; known: {known}") from None

    def __str__(self) -> str:
        return self.name


def message_namespace(standard: Standard, message: str, release: str = RELEASE) -> str:
    """``http://www.istandaarden.nl/iwmo/3_2/wmo305/schema`` for ('iwmo', 'wmo305')."""
    return f"http://www.istandaarden.nl/{standard}/{release.replace('.', '_')}/{message}/schema"


def basis_namespace(standard: Standard, release: str = RELEASE) -> str:
    return message_namespace(standard, "basisschema", release)


NAMESPACES: dict[str, MessageType] = {m.namespace: m for m in MessageType}
