"""Where the berichtklassen of each message are, so that rules name them once.

The 3.2 messages share their berichtklassen (Client, Contact, the product classes, Prestatie);
only the path to them differs per message. A retour message (302 ... 320) has the same places as
the message it answers.
"""

from __future__ import annotations

from collections.abc import Iterator

from gateway.standard.rules._xml import Element
from gateway.standard.rules.base import Message

# Per message number: the berichtklasse name -> its path below the root.
_PLACES: dict[int, dict[str, tuple[str, ...]]] = {
    301: {
        "Client": ("Client",),
        "Relatie": ("Client/Relaties/Relatie",),
        "Contact": ("Client/Contactgegevens/Contact", "Client/Relaties/Relatie/Contact"),
        "ToegewezenProduct": ("Client/ToegewezenProducten/ToegewezenProduct",),
    },
    305: {"Client": ("Client",), "StartProduct": ("Client/StartProducten/StartProduct",)},
    307: {"Client": ("Client",), "StopProduct": ("Client/StopProducten/StopProduct",)},
    315: {
        "Client": ("Client",),
        "AangevraagdProduct": ("Client/AangevraagdeProducten/AangevraagdProduct",),
    },
    317: {
        "Client": ("Client",),
        "Verzoek": ("Client/Verzoek",),
        "OngewijzigdProduct": ("Client/Verzoek/OngewijzigdeProducten/OngewijzigdProduct",),
        "TeWijzigenProduct": ("Client/Verzoek/TeWijzigenProducten/TeWijzigenProduct",),
        "NieuwProduct": ("Client/Verzoek/NieuweProducten/NieuwProduct",),
    },
    319: {"Antwoord": ("Antwoord",), "Woonplaatsbeginsel": ("Antwoord/Woonplaatsbeginsel",)},
    323: {
        "Declaratie": ("Declaratie",),
        "Client": ("Declaratie/Clienten/Client",),
        "Prestatie": ("Declaratie/Clienten/Client/Prestaties/Prestatie",),
    },
    325: {
        "DeclaratieAntwoord": ("DeclaratieAntwoord",),
        "Client": ("DeclaratieAntwoord/Clienten/Client",),
        "Prestatie": ("DeclaratieAntwoord/Clienten/Client/Prestaties/Prestatie",),
    },
}


def berichtklassen(number: int) -> frozenset[str]:
    """The names of the berichtklassen below the Header of message ``number`` (or its heen)."""
    return frozenset(_PLACES[heen_number(number)])


def heen_number(number: int) -> int:
    """301 for 302, 305 for 306, ...: a retour message has the places of what it answers."""
    return number - 1 if number in (302, 306, 308, 316, 318, 320) else number


def all_of(message: Message, name: str) -> Iterator[Element]:
    """Every instance of the berichtklasse ``name`` in ``message``, in document order."""
    places = _PLACES.get(heen_number(message.number), {})
    for path in places.get(name, ()):
        yield from message.classes(path)
