"""Level-3 rules against the assignments (toewijzingen) a municipality has sent before.

Start and stop messages, requests for change and declarations refer to an assigned product by
its ToewijzingNummer. The caller (a municipality's handler, which keeps its 301s) gives
``CheckContext.toewijzing``: a lookup from (gemeente, aanbieder, ToewijzingNummer) to what was
assigned. Without it these rules are not checked.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass

from gateway.participants import Role
from gateway.standard.rules import _xml
from gateway.standard.rules._xml import Element
from gateway.standard.rules.base import Controleniveau, Message, Remark, Rule, rule
from gateway.standard.rules.places import all_of

LEVEL3 = Controleniveau.BERICHTOVERSTIJGEND


@dataclass(frozen=True, slots=True)
class Toewijzing:
    """What a 301 assigned under one ToewijzingNummer, as far as the rules need it."""

    toewijzingnummer: str
    bsn: str
    ingangsdatum: datetime.date
    einddatum: datetime.date | None = None
    categorie: str | None = None
    code: str | None = None
    eenheid: str | None = None
    reden_wijziging: str | None = None

    @property
    def removed(self) -> bool:
        """Withdrawn (RedenWijziging 13, or 01 with Einddatum = Ingangsdatum): never current."""
        return self.reden_wijziging == "13" or (
            self.reden_wijziging == "01" and self.einddatum == self.ingangsdatum
        )

    def current_on(self, day: datetime.date) -> bool:
        """Valid on ``day`` or later (TR349: 'actuele toewijzing')."""
        return not self.removed and (self.einddatum is None or self.einddatum >= day)

    @classmethod
    def from_toewijzingsbericht(cls, root: Element) -> list[Toewijzing]:
        """Every ToegewezenProduct of a parsed 301, as the municipality sent it."""
        bsn = _xml.text(root, "Client/Bsn") or ""
        found: list[Toewijzing] = []
        for product in _xml.iterate(root, "Client/ToegewezenProducten/ToegewezenProduct"):
            nummer = _xml.text(product, "ToewijzingNummer")
            ingang = _xml.date(product, "Ingangsdatum")
            if nummer is None or ingang is None:
                continue
            found.append(
                cls(
                    toewijzingnummer=nummer,
                    bsn=bsn,
                    ingangsdatum=ingang,
                    einddatum=_xml.date(product, "Einddatum"),
                    categorie=_xml.text(product, "Product/Categorie"),
                    code=_xml.text(product, "Product/Code"),
                    eenheid=_xml.text(product, "Omvang/Eenheid"),
                    reden_wijziging=_xml.text(product, "RedenWijziging"),
                )
            )
        return found


def _parties(m: Message) -> tuple[str, str]:
    """(gemeente, aanbieder) of the message, whichever way it goes."""
    header = m.header
    afzender = _xml.text(header, "Afzender") or ""
    ontvanger = _xml.text(header, "Ontvanger") or ""
    if m.type.header_afzender_role is Role.GEMEENTE:
        return afzender, ontvanger
    return ontvanger, afzender


def _assigned(m: Message, klasse: Element) -> tuple[Element, Toewijzing | None] | None:
    """The ToewijzingNummer element of ``klasse`` and what it names; None if not checkable."""
    lookup = m.context.toewijzing
    element = _xml.child(klasse, "ToewijzingNummer")
    nummer = _xml.text(element)
    if lookup is None or element is None or nummer is None:
        return None
    gemeente, aanbieder = _parties(m)
    return element, lookup(gemeente, aanbieder, nummer)


@rule("TR019", "9019", "305 307", "a start or stop names an assigned ToewijzingNummer", LEVEL3)
def _tr019(r: Rule, m: Message) -> Iterator[Remark]:
    for name in ("StartProduct", "StopProduct"):
        for product in all_of(m, name):
            found = _assigned(m, product)
            if found is not None and found[1] is None:
                yield r.remark(
                    found[0], product, f"no assignment with ToewijzingNummer {found[0].text}"
                )


def _prestaties(m: Message) -> Iterator[tuple[Element, Element, Element, Toewijzing | None]]:
    """(client, prestatie, ToewijzingNummer element, assignment) for every checkable line."""
    for client in all_of(m, "Client"):
        for prestatie in _xml.iterate(client, "Prestaties/Prestatie"):
            found = _assigned(m, prestatie)
            if found is not None:
                yield client, prestatie, found[0], found[1]


@rule("TR338", "9338", "323", "each Prestatie names an assigned ToewijzingNummer", LEVEL3)
def _tr338(r: Rule, m: Message) -> Iterator[Remark]:
    for _client, prestatie, element, toewijzing in _prestaties(m):
        if toewijzing is None:
            yield r.remark(
                element, prestatie, f"no assignment with ToewijzingNummer {element.text}"
            )


@rule("TR304", "8187", "323", "the Prestatie's assignment is for this Client's Bsn", LEVEL3)
def _tr304(r: Rule, m: Message) -> Iterator[Remark]:
    for client, prestatie, element, toewijzing in _prestaties(m):
        bsn = _xml.text(client, "Bsn")
        if toewijzing is not None and bsn is not None and toewijzing.bsn != bsn:
            yield r.remark(
                element,
                prestatie,
                f"ToewijzingNummer {element.text} was assigned for another client than Bsn {bsn}",
            )


@rule(
    "TR307",
    "9307",
    "323",
    "ProductPeriode begins on or after the assignment's Ingangsdatum",
    LEVEL3,
)
def _tr307(r: Rule, m: Message) -> Iterator[Remark]:
    for _client, prestatie, _element, toewijzing in _prestaties(m):
        begin_element = _xml.find(prestatie, "ProductPeriode/Begindatum")
        begin = _xml.date(begin_element)
        if toewijzing and begin_element is not None and begin and begin < toewijzing.ingangsdatum:
            yield r.remark(
                begin_element,
                prestatie,
                f"Begindatum {begin} is before the assignment's Ingangsdatum "
                f"{toewijzing.ingangsdatum}",
            )


@rule("TR308", "9308", "323", "ProductPeriode ends by the assignment's Einddatum", LEVEL3)
def _tr308(r: Rule, m: Message) -> Iterator[Remark]:
    for _client, prestatie, _element, toewijzing in _prestaties(m):
        end_element = _xml.find(prestatie, "ProductPeriode/Einddatum")
        end = _xml.date(end_element)
        if toewijzing is None or toewijzing.einddatum is None or end_element is None:
            continue
        if end is not None and end > toewijzing.einddatum:
            yield r.remark(
                end_element,
                prestatie,
                f"Einddatum {end} is after the assignment's Einddatum {toewijzing.einddatum}",
            )


def _same_as_assigned(r: Rule, m: Message, element_name: str, assigned_of: str) -> Iterator[Remark]:
    for _client, prestatie, _element, toewijzing in _prestaties(m):
        if toewijzing is None:
            continue
        assigned = getattr(toewijzing, assigned_of)
        element = _xml.child(prestatie, element_name)
        value = _xml.text(element)
        if assigned is not None and element is not None and value != assigned:
            yield r.remark(
                element, prestatie, f"{element_name} {value} differs from the assigned {assigned}"
            )


@rule("TR339", "9339", "323", "ProductCategorie is the assigned one, if one was assigned", LEVEL3)
def _tr339(r: Rule, m: Message) -> Iterator[Remark]:
    yield from _same_as_assigned(r, m, "ProductCategorie", "categorie")


@rule("TR340", "9340", "323", "ProductCode is the assigned one, if one was assigned", LEVEL3)
def _tr340(r: Rule, m: Message) -> Iterator[Remark]:
    yield from _same_as_assigned(r, m, "ProductCode", "code")


@rule("TR341", "9341", "323", "Eenheid fits the assigned Eenheid (minutes for hours)", LEVEL3)
def _tr341(r: Rule, m: Message) -> Iterator[Remark]:
    for _client, prestatie, _element, toewijzing in _prestaties(m):
        element = _xml.child(prestatie, "Eenheid")
        eenheid = _xml.text(element)
        if toewijzing is None or toewijzing.eenheid is None or element is None:
            continue
        fits = eenheid == toewijzing.eenheid or (toewijzing.eenheid, eenheid) == ("04", "01")
        if not fits:
            yield r.remark(
                element,
                prestatie,
                f"Eenheid {eenheid} does not fit the assigned {toewijzing.eenheid}",
            )


@rule("TR384", "9384", "323", "no declaration on an assignment removed (RedenWijziging 13)", LEVEL3)
def _tr384(r: Rule, m: Message) -> Iterator[Remark]:
    for _client, prestatie, element, toewijzing in _prestaties(m):
        if toewijzing is not None and toewijzing.reden_wijziging == "13":
            yield r.remark(
                element,
                prestatie,
                f"ToewijzingNummer {element.text} was removed (RedenWijziging 13)",
            )


def _current(r: Rule, m: Message, name: str) -> Iterator[Remark]:
    for product in all_of(m, name):
        found = _assigned(m, product)
        if found is None:
            continue
        element, toewijzing = found
        if toewijzing is None or not toewijzing.current_on(m.context.today):
            yield r.remark(
                element, product, f"ToewijzingNummer {element.text} is not a current assignment"
            )


@rule("TR350", "9350", "317", "each OngewijzigdProduct names a current assignment", LEVEL3)
def _tr350(r: Rule, m: Message) -> Iterator[Remark]:
    yield from _current(r, m, "OngewijzigdProduct")


@rule("TR351", "9351", "317", "each TeWijzigenProduct names a current assignment", LEVEL3)
def _tr351(r: Rule, m: Message) -> Iterator[Remark]:
    yield from _current(r, m, "TeWijzigenProduct")
