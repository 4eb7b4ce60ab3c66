"""The VECOZO Schakelpunt's own vocabulary: message statuses, refusal codes and berichtstromen.

Vendors' software already knows these values from the real VSP, so the simulator speaks them:
the status values of berichtstatus v3, the BRS codes of a refusal, and the berichtstroom that
names a message in push and pull metadata.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from gateway.participants import Participant, Role
from gateway.standard.message_types import SUBVERSIE, VERSIE, MessageType


class Berichtstatus(enum.StrEnum):
    """The statuses of berichtstatus v3 that apply to a whole message (no partial uploads)."""

    ONTVANGEN = "Ontvangen"
    WORDT_VERWERKT = "WordtVerwerkt"
    AFGEKEURD_DOOR_DIENST = "AfgekeurdDoorDienst"
    VERWERKING_VOLTOOID = "VerwerkingVoltooid"
    WORDT_AANGEBODEN = "WordtAangeboden"
    BEZORGD = "Bezorgd"
    AANBIEDEN_MISLUKT = "AanbiedenMislukt"
    BEZORGING_AFGEBROKEN = "BezorgingAfgebroken"


class Foutcode(enum.Enum):
    """The VSP refusal codes the gateway uses, with what they mean."""

    BRS01 = "Afzender is niet bekend"
    BRS03 = "Indiener is niet gemachtigd om namens de afzender het bericht in te dienen"
    BRS04 = "Geadresseerde partij is niet aangesloten"
    BRS06 = "Bericht is te groot"
    BRS13 = "Bericht voldoet niet aan het XSD"
    BRS14 = "Bericht is geen well-formed XML"
    BRS18 = "Bericht bevat een BSN buiten het testbereik"
    BRS20 = "Identificatie is niet uniek voor deze afzender en dit berichttype"
    BRS33 = "Er is geen route voor dit bericht"
    BRS114 = "TraceerId is niet uniek"

    @property
    def code(self) -> str:
        return self.name

    @property
    def omschrijving(self) -> str:
        return str(self.value)


# The VSP roles a participant may appear under in push metadata.
VSP_ROLES: dict[Role, tuple[str, ...]] = {
    Role.AANBIEDER: ("Instelling", "Praktijk", "Zorgverlener"),
    Role.GEMEENTE: ("Gemeente",),
}

ACTIE = "Indienen"

# The most messages one REST pull list (or zoeken) gives.
MAX_PULL = 250


def vsp_role(participant: Participant) -> str:
    """The role the gateway names a participant by in metadata it writes."""
    return VSP_ROLES[participant.role][0]


def role_of_vsp(rol: str) -> Role | None:
    for role, names in VSP_ROLES.items():
        if rol in names:
            return role
    return None


@dataclass(frozen=True, slots=True)
class Berichtstroom:
    """Which kind of message flows: ``WMO305`` version 3.2, action ``Indienen``.

    The real VSP's berichtstromen are service-specific and not public; the simulator uses the
    message type as berichttype, the release's version and subversion, and the action Indienen.
    """

    berichttype: str
    berichtversie: int = VERSIE
    berichtsubversie: int = SUBVERSIE
    actie: str = ACTIE

    @classmethod
    def of(cls, message_type: MessageType) -> Berichtstroom:
        return cls(message_type.name)

    def as_json(self) -> dict[str, Any]:
        return {
            "berichttype": self.berichttype,
            "berichtversie": self.berichtversie,
            "berichtsubversie": self.berichtsubversie,
            "actie": self.actie,
        }
