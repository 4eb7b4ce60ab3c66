"""Level-3 and level-4 rules: against earlier messages, the clock, the CBS list, a product list.

These have retourcodes of their own (9056, 8848, S300, ...) that the retour message places on
the berichtklasse at fault. What they need from outside comes in through ``CheckContext``; a
lookup the caller did not give leaves its rule unchecked.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from importlib import resources

from gateway.participants import Role
from gateway.standard.rules import _xml
from gateway.standard.rules.base import Controleniveau, Message, Remark, Rule, rule
from gateway.standard.rules.places import all_of

HEEN = "301 305 307 315 317 319 323 325"
LEVEL3 = Controleniveau.BERICHTOVERSTIJGEND
LEVEL4 = Controleniveau.EXTERNE_BRON


@functools.cache
def cbs_gemeenten() -> dict[str, str]:
    """The CBS municipality codes and names the project ships (``data/gemeenten.tsv``)."""
    data = resources.files("gateway.standard").joinpath("data/gemeenten.tsv")
    table: dict[str, str] = {}
    for line in data.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            code, _, name = line.partition("\t")
            table[code] = name
    return table


@rule("TR056", "9056", HEEN, "Identificatie unique per sender and message type", LEVEL3)
def _tr056(r: Rule, m: Message) -> Iterator[Remark]:
    seen = m.context.seen_identificatie
    header = m.header
    element = _xml.find(header, "BerichtIdentificatie/Identificatie")
    identificatie = _xml.text(element)
    if seen is None or header is None or element is None or identificatie is None:
        return
    if seen(m.afzender, m.type, identificatie):
        yield r.remark(
            element,
            header,
            f"Identificatie {identificatie} of {m.afzender} was received before in a {m.type}",
        )


@rule("TR135", "8848", HEEN, "Dagtekening not after the system date", LEVEL4)
def _tr135(r: Rule, m: Message) -> Iterator[Remark]:
    today = m.context.today
    header = m.header
    places = [(_xml.find(header, "BerichtIdentificatie/Dagtekening"), header)]
    places += [(_xml.child(d, "DeclaratieDagtekening"), d) for d in all_of(m, "Declaratie")]
    for element, klasse in places:
        value = _xml.date(element)
        if element is not None and klasse is not None and value is not None and value > today:
            yield r.remark(
                element, klasse, f"{_xml.local(element)} {value} is after today ({today})"
            )


@rule("TR378", "S300", HEEN, "a municipality code is in the CBS list", LEVEL4)
def _tr378(r: Rule, m: Message) -> Iterator[Remark]:
    known = m.context.gemeenten
    if known is None:
        known = frozenset(cbs_gemeenten())
    header = m.header
    party = "Afzender" if m.type.header_afzender_role is Role.GEMEENTE else "Ontvanger"
    places = [(_xml.child(header, party), header)]
    places += [(_xml.child(w, "Gemeente"), w) for w in all_of(m, "Woonplaatsbeginsel")]
    for element, klasse in places:
        code = _xml.text(element)
        if element is not None and klasse is not None and code is not None and code not in known:
            yield r.remark(
                element, klasse, f"{_xml.local(element)} {code} is not a CBS municipality code"
            )


@rule("TR381", "S329", "301 305 307 315 317 323", "ProductCode fits its ProductCategorie", LEVEL4)
def _tr381(r: Rule, m: Message) -> Iterator[Remark]:
    codes = m.context.product_codes
    if codes is None:
        return
    for name in ("ToegewezenProduct", "StartProduct", "StopProduct", "AangevraagdProduct"):
        for klasse in all_of(m, name):
            yield from _fits(r, klasse, "Product/Categorie", "Product/Code", codes)
    for klasse in all_of(m, "NieuwProduct"):
        yield from _fits(r, klasse, "Product/Categorie", "Product/Code", codes)
    for klasse in all_of(m, "Prestatie"):
        yield from _fits(r, klasse, "ProductCategorie", "ProductCode", codes)


def _fits(
    r: Rule,
    klasse: _xml.Element,
    category_path: str,
    code_path: str,
    codes: Mapping[str, frozenset[str]],
) -> Iterator[Remark]:
    category = _xml.text(klasse, category_path)
    element = _xml.find(klasse, code_path)
    code = _xml.text(element)
    if category is None or element is None or code is None:
        return
    allowed = codes.get(category, frozenset())
    if code not in allowed:
        yield r.remark(element, klasse, f"ProductCode {code} is not a code of category {category}")


@rule("TR314", "8021", "323", "a Prestatie's ReferentieNummer is new for the provider", LEVEL3)
def _tr314(r: Rule, m: Message) -> Iterator[Remark]:
    seen_before = m.context.seen_referentienummer
    in_message: set[str] = set()
    for prestatie in all_of(m, "Prestatie"):
        element = _xml.find(prestatie, "ProductReferentie/ReferentieNummer")
        nummer = _xml.text(element)
        if element is None or nummer is None:
            continue
        if nummer in in_message:
            yield r.remark(element, prestatie, f"ReferentieNummer {nummer} twice in the message")
        elif seen_before is not None and seen_before(m.afzender, m.type, nummer):
            yield r.remark(element, prestatie, f"ReferentieNummer {nummer} was declared before")
        in_message.add(nummer)


@rule("TR333", "9333", "323", "DeclaratieNummer is new for the provider", LEVEL3)
def _tr333(r: Rule, m: Message) -> Iterator[Remark]:
    seen_before = m.context.seen_declaratienummer
    if seen_before is None:
        return
    for declaratie in all_of(m, "Declaratie"):
        element = _xml.child(declaratie, "DeclaratieNummer")
        nummer = _xml.text(element)
        if element is not None and nummer is not None and seen_before(m.afzender, m.type, nummer):
            yield r.remark(element, declaratie, f"DeclaratieNummer {nummer} was used before")


@rule("TR346", "9346", "323", "IngediendBedrag is GeleverdVolume times ProductTarief", LEVEL4)
def _tr346(r: Rule, m: Message) -> Iterator[Remark]:
    for prestatie in all_of(m, "Prestatie"):
        eenheid = _xml.text(prestatie, "Eenheid")
        volume = _xml.integer(prestatie, "GeleverdVolume")
        tarief = _xml.integer(prestatie, "ProductTarief")
        element = _xml.find(prestatie, "IngediendBedrag/Bedrag")
        bedrag = _xml.integer(element)
        if eenheid in (None, "83") or volume is None or tarief is None or element is None:
            continue
        expected = {volume * tarief}
        if eenheid == "01":
            # Minutes against an hourly tariff: volume x tariff / 60, rounded to cents (IV081).
            expected.add(_round_half_up(volume * tarief, 60))
        if bedrag is not None and bedrag not in expected:
            yield r.remark(
                element,
                prestatie,
                f"Bedrag {bedrag} is not GeleverdVolume {volume} x ProductTarief {tarief}",
            )


def _round_half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)
