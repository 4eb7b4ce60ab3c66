"""The level-2 checks: one valid and one invalid case per implemented rule, on official examples.

Each case starts from an official example message, changes it the way the rule cares about, and
asserts that the result is still valid against the OFFICIAL XSD (so the fault is one XSD cannot
see) before checking whether the rule speaks.
"""

from __future__ import annotations

import copy
import datetime
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.standard.message_types import NAMESPACES, MessageType, basis_namespace
from gateway.standard.rules import (
    RULES,
    CheckContext,
    Controleniveau,
    Remark,
    Toewijzing,
    cbs_gemeenten,
    check,
    rules_for,
)
from gateway.standard.rules._xml import resolve
from gateway.standard.rules.content import eleven_test
from gateway.standard.xmlsafe import parse_xml

from ..conftest import REFERENCE

Element = etree._Element
Mutation = Callable[[Element], None]
FAR_FUTURE = datetime.date(2099, 1, 1)


def example_path(name: str) -> Path:
    folder = "ijw-3.2" if name.startswith("JW") else "iwmo-3.2"
    return REFERENCE / folder / "examples" / f"{name}.xml"


@functools.cache
def example_bytes(name: str) -> bytes:
    return example_path(name).read_bytes()


def example(name: str) -> Element:
    return parse_xml(example_bytes(name)).getroot()


@functools.cache
def official_schema(message_type: MessageType) -> etree.XMLSchema:
    folder = "ijw-3.2" if message_type.standard.value == "ijw" else "iwmo-3.2"
    path = REFERENCE / folder / "xsd" / f"{message_type.name}.xsd"
    return etree.XMLSchema(etree.parse(str(path)))


def message_type_of(root: Element) -> MessageType:
    return NAMESPACES[etree.QName(root).namespace or ""]


def at(root: Element, path: str) -> Element:
    found = resolve(root, path)
    assert found is not None, f"no {path} in the example"
    return found


def text(path: str, value: str) -> Mutation:
    def mutate(root: Element) -> None:
        at(root, path).text = value

    return mutate


def drop(path: str) -> Mutation:
    def mutate(root: Element) -> None:
        element = at(root, path)
        parent = element.getparent()
        assert parent is not None
        parent.remove(element)

    return mutate


def insert(after: str, name: str, value: str | None = None, *, basis: bool = False) -> Mutation:
    """A new element ``name`` right after the element at ``after``."""

    def mutate(root: Element) -> None:
        sibling = at(root, after)
        message_type = message_type_of(root)
        namespace = basis_namespace(message_type.standard) if basis else message_type.namespace
        element = etree.Element(f"{{{namespace}}}{name}")
        element.text = value
        sibling.addnext(element)

    return mutate


def duplicate(path: str) -> Mutation:
    """A copy of the element at ``path`` right after it."""

    def mutate(root: Element) -> None:
        element = at(root, path)
        element.addnext(copy.deepcopy(element))

    return mutate


def periode(path: str, begin: str, end: str) -> Mutation:
    def mutate(root: Element) -> None:
        text(f"{path}/Begindatum", begin)(root)
        text(f"{path}/Einddatum", end)(root)

    return mutate


def seen(result: bool) -> Callable[[str, MessageType, str], bool]:
    return lambda afzender, message_type, value: result


def assigned(
    gemeente: str, aanbieder: str, *toewijzingen: Toewijzing
) -> Callable[[str, str, str], Toewijzing | None]:
    """A municipality's memory of its 301s, for one pair of parties."""
    table = {t.toewijzingnummer: t for t in toewijzingen}

    def lookup(g: str, a: str, nummer: str) -> Toewijzing | None:
        return table.get(nummer) if (g, a) == (gemeente, aanbieder) else None

    return lookup


def toewijzing(
    nummer: str, bsn: str = "999900006", code: str | None = None, **more: object
) -> Toewijzing:
    facts: dict[str, object] = {
        "ingangsdatum": datetime.date(2023, 1, 1),
        "einddatum": datetime.date(2023, 12, 31),
        "categorie": "01",
        "code": code,
        "eenheid": "04",
    }
    facts.update(more)
    return Toewijzing(nummer, bsn, **facts)  # type: ignore[arg-type]


# The assignments behind the WMO323 example's four lines, and behind the 305 and the 317.
DECLARED = assigned(
    "0384",
    "65656055",
    toewijzing("20072", code="01A03"),
    toewijzing("200730", code="01A04"),
    toewijzing("20074", "999900018", code="01A03"),
    toewijzing("20073", "999900018", code="01A04"),
)
REMOVED = assigned("0384", "65656055", toewijzing("20072", code="01A03", reden_wijziging="13"))
STARTED = assigned("0363", "65656055", toewijzing("300201"), toewijzing("300202"))
CURRENT = assigned(
    "0384", "65656055", toewijzing("10071", einddatum=None), toewijzing("10072", einddatum=None)
)


@dataclass(frozen=True)
class Case:
    rule: str
    example: str
    changes: tuple[Mutation, ...]
    fails: bool
    klasse: str = ""
    context: dict[str, object] = field(default_factory=dict)

    def build(self) -> Element:
        root = example(self.example)
        for change in self.changes:
            change(root)
        return root


def bad(rule: str, example_name: str, klasse: str, *changes: Mutation, **context: object) -> Case:
    return Case(rule, example_name, changes, True, klasse, dict(context))


def good(rule: str, example_name: str, *changes: Mutation, **context: object) -> Case:
    return Case(rule, example_name, changes, False, "", dict(context))


C301 = "Client/Contactgegevens/Contact"
TP = "Client/ToegewezenProducten/ToegewezenProduct"
TP2 = "Client/ToegewezenProducten/ToegewezenProduct[2]"
AP = "Client/AangevraagdeProducten/AangevraagdProduct"
NP = "Client/Verzoek/NieuweProducten/NieuwProduct"
P1 = "Declaratie/Clienten/Client[1]/Prestaties/Prestatie[1]"
P2 = "Declaratie/Clienten/Client[1]/Prestaties/Prestatie[2]"
P3 = "Declaratie/Clienten/Client[2]/Prestaties/Prestatie[1]"
SP = "Client/StartProducten/StartProduct"
STOP = "Client/StopProducten/StopProduct[1]"


def credit(prestatie: str, vorig: str) -> tuple[Mutation, ...]:
    return (
        text(f"{prestatie}/IngediendBedrag/DebetCredit", "C"),
        insert(
            f"{prestatie}/ProductReferentie/ReferentieNummer",
            "VorigReferentieNummer",
            vorig,
            basis=True,
        ),
    )


def budget_instead_of_omvang(product: str) -> tuple[Mutation, ...]:
    return (insert(f"{product}/Omvang", "Budget", "500000"), drop(f"{product}/Omvang"))


CASES: list[Case] = [
    good("CS002", "WMO301", text("Client/Bsn", "123456782")),
    bad("CS002", "WMO301", "Client", text("Client/Bsn", "123456789")),
    bad("CS002", "WMO323", "Client", text("Declaratie/Clienten/Client[2]/Bsn", "999900019")),
    good("IV034", "WMO305", text("Header/XsdVersie/BerichtXsdVersie", "1.0.0")),
    bad("IV034", "WMO305", "Header", text("Header/XsdVersie/BerichtXsdVersie", "1.0.1")),
    good("TR002", "WMO305", text("Client/Geboortedatum/Datum", "1905-04-05")),
    good(
        "TR002",
        "WMO305",
        text("Client/Geboortedatum/Datum", "1900-01-01"),
        insert("Client/Geboortedatum/Datum", "DatumGebruik", "3", basis=True),
    ),
    bad("TR002", "WMO305", "Client", text("Client/Geboortedatum/Datum", "1905-04-04")),
    good("TR006", "WMO301", drop("Client/Relaties/Relatie[1]/Contact/Adres/Postcode")),
    bad("TR006", "WMO301", "Contact", drop(f"{C301}/Adres/Postcode")),
    good("TR018", "WMO307", text(f"{STOP}/Einddatum", "2025-04-03")),
    bad("TR018", "WMO307", "StopProduct", text(f"{STOP}/Einddatum", "2025-04-02")),
    good("TR061", "WMO301", text(f"{C301}/Soort", "02")),
    bad("TR061", "WMO301", "Client", text(f"{C301}/Soort", "04")),
    good("TR101", "WMO305", text(f"{SP}[2]/ToewijzingNummer", "300201")),
    bad(
        "TR101",
        "WMO305",
        "StartProduct",
        text(f"{SP}[2]/ToewijzingNummer", "300201"),
        text(f"{SP}[2]/Product/Code", "01A11"),
        text(f"{SP}[2]/Begindatum", "2025-04-03"),
    ),
    good("TR134", "WMO301", text(f"{TP}/Toewijzingsdatum", "2023-08-13")),
    bad("TR134", "WMO301", "ToegewezenProduct", text(f"{TP}/Toewijzingsdatum", "2023-08-14")),
    bad("TR134", "WMO323", "Declaratie", text("Declaratie/DeclaratieDagtekening", "2023-05-07")),
    good("TR137", "WMO323", text(f"{P1}/ProductPeriode/Einddatum", "2023-04-01")),
    bad("TR137", "WMO323", "Prestatie", text(f"{P1}/ProductPeriode/Einddatum", "2023-03-31")),
    good(
        "TR302",
        "WMO301",
        duplicate(TP),
        text(f"{TP2}/ToewijzingNummer", "102"),
        text(f"{TP2}/Ingangsdatum", "2024-01-01"),
        text(f"{TP2}/Einddatum", "2024-06-30"),
    ),
    bad(
        "TR302",
        "WMO301",
        "ToegewezenProduct",
        duplicate(TP),
        text(f"{TP2}/ToewijzingNummer", "102"),
    ),
    good("TR386", "WMO315", text(f"{AP}[2]/Product/Code", "ABCDE")),
    bad(
        "TR386",
        "WMO315",
        "AangevraagdProduct",
        text(f"{AP}[2]/Product/Categorie", "01"),
        text(f"{AP}[2]/Product/Code", "ABCDE"),
    ),
    good("TR410", "WMO317", duplicate(NP), text(f"{NP}[2]/Product/Code", "01A13")),
    bad("TR410", "WMO317", "NieuwProduct", duplicate(NP)),
    good("TR315", "WMO323", *credit(P1, "X1"), *credit(P3, "X2")),
    bad("TR315", "WMO323", "Prestatie", *credit(P1, "X1"), *credit(P3, "X1")),
    good("TR316", "WMO323", *credit(P2, "RN999")),
    bad("TR316", "WMO323", "Prestatie", *credit(P2, "RN001")),
    good("TR335", "WMO323", periode(f"{P1}/ProductPeriode", "2018-05-01", "2018-05-06")),
    bad(
        "TR335", "WMO323", "Prestatie", periode(f"{P1}/ProductPeriode", "2018-04-01", "2018-04-30")
    ),
    good(
        "TR358",
        "WMO323",
        *credit(P1, "X1"),
        text("Declaratie/TotaalIngediendBedrag/TotaalBedrag", "48000"),
    ),
    bad(
        "TR358",
        "WMO323",
        "Declaratie",
        text("Declaratie/TotaalIngediendBedrag/TotaalBedrag", "58001"),
    ),
    good("TR342", "WMO325", text("DeclaratieAntwoord/TotaalToegekendBedrag/TotaalBedrag", "24000")),
    bad(
        "TR342",
        "WMO325",
        "DeclaratieAntwoord",
        text("DeclaratieAntwoord/TotaalToegekendBedrag/TotaalBedrag", "24001"),
    ),
    good("TR352", "WMO317", drop("Client/Verzoek/OngewijzigdeProducten")),
    bad(
        "TR352",
        "WMO317",
        "Verzoek",
        drop("Client/Verzoek/OngewijzigdeProducten"),
        drop("Client/Verzoek/TeWijzigenProducten"),
    ),
    good("TR353", "WMO317", drop("Client/Verzoek/NieuweProducten")),
    bad(
        "TR353",
        "WMO317",
        "Verzoek",
        drop("Client/Verzoek/TeWijzigenProducten"),
        drop("Client/Verzoek/NieuweProducten"),
    ),
    good("TR383", "WMO315", text(f"{AP}[2]/ReferentieAanbieder", "42420003")),
    bad("TR383", "WMO315", "AangevraagdProduct", text(f"{AP}[2]/ReferentieAanbieder", "42420001")),
    good("TR416", "WMO323", text(f"{P2}/ToewijzingNummer", "20072")),
    bad(
        "TR416",
        "WMO323",
        "Prestatie",
        text(f"{P2}/ToewijzingNummer", "20072"),
        text(f"{P2}/ProductCode", "01A03"),
    ),
    good("CS003", "WMO301", text(f"{TP}/Einddatum", "2023-01-01")),
    bad("CS003", "WMO301", "ToegewezenProduct", text(f"{TP}/Einddatum", "2022-12-31")),
    bad(
        "CS003", "WMO315", "AangevraagdProduct", text(f"{AP}[1]/ToewijzingEinddatum", "2023-05-31")
    ),
    good("CS050", "WMO301", text("Client/Relaties/Relatie[1]/Naam/NaamGebruik", "2")),
    bad("CS050", "WMO301", "Relatie", text("Client/Relaties/Relatie[1]/Naam/NaamGebruik", "6")),
    good("CS058", "WMO305", text(f"{SP}[1]/StatusAanlevering", "3")),
    bad("CS058", "WMO305", "StartProduct", text(f"{SP}[1]/StatusAanlevering", "2")),
    bad("CS058", "WMO307", "StopProduct", text(f"{STOP}/StatusAanlevering", "2")),
    good("CS089", "WMO301", text(f"{C301}/Adres/LandCode", "NL")),
    bad(
        "CS089",
        "WMO301",
        "Contact",
        text(f"{C301}/Adres/LandCode", "NL"),
        text(f"{C301}/Adres/Postcode", "0999XX"),
    ),
    good("CS100", "WMO323", periode("Declaratie/DeclaratiePeriode", "2021-01-01", "2021-01-31")),
    bad(
        "CS100",
        "WMO323",
        "Declaratie",
        periode("Declaratie/DeclaratiePeriode", "2020-12-01", "2020-12-31"),
    ),
    good(
        "CS139",
        "WMO305",
        text("Client/Geboortedatum/Datum", "1967-08-01"),
        insert("Client/Geboortedatum/Datum", "DatumGebruik", "1", basis=True),
    ),
    bad(
        "CS139",
        "WMO305",
        "Client",
        insert("Client/Geboortedatum/Datum", "DatumGebruik", "1", basis=True),
    ),
    good("CS318", "WMO301", text("Client/Naam/NaamGebruik", "1")),
    bad("CS318", "WMO301", "Client", text("Client/Naam/NaamGebruik", "6")),
    good("CS325", "WMO323", text(f"{P1}/IngediendBedrag/Bedrag", "0")),
    bad(
        "CS325", "WMO323", "Prestatie", text(f"{P1}/IngediendBedrag/Bedrag", "0"), *credit(P1, "X1")
    ),
    good(
        "CS335",
        "WMO301",
        text(f"{TP}/Einddatum", "2023-01-01"),
        insert(f"{TP}/Einddatum", "RedenWijziging", "13"),
    ),
    bad("CS335", "WMO301", "ToegewezenProduct", insert(f"{TP}/Einddatum", "RedenWijziging", "13")),
    good("CS336", "WMO301", insert(f"{TP}/Einddatum", "RedenWijziging", "02")),
    bad("CS336", "WMO301", "ToegewezenProduct", insert(f"{TP}/Einddatum", "RedenWijziging", "01")),
    good("CS337", "WMO323", text(f"{P1}/ProductPeriode/Einddatum", "2023-04-15")),
    bad("CS337", "WMO323", "Prestatie", text(f"{P1}/ProductPeriode/Einddatum", "2023-05-01")),
    good(
        "CS338", "WMO301", text(f"{TP}/Omvang/Eenheid", "14"), text(f"{TP}/Omvang/Frequentie", "2")
    ),
    bad(
        "CS338",
        "WMO301",
        "ToegewezenProduct",
        text(f"{TP}/Omvang/Eenheid", "14"),
        text(f"{TP}/Omvang/Frequentie", "1"),
    ),
    good("CS343", "WMO315", text(f"{AP}[1]/Omvang/Frequentie", "6")),
    bad("CS343", "WMO315", "AangevraagdProduct", text(f"{AP}[1]/Omvang/Frequentie", "1")),
    good(
        "CS339",
        "WMO323",
        text(f"{P1}/Eenheid", "83"),
        drop(f"{P1}/ProductTarief"),
        text(f"{P1}/GeleverdVolume", "5000"),
    ),
    bad("CS339", "WMO323", "Prestatie", text(f"{P1}/Eenheid", "83"), drop(f"{P1}/ProductTarief")),
    good("CS340", "WMO323", periode("Declaratie/DeclaratiePeriode", "2023-02-01", "2023-02-28")),
    bad(
        "CS340",
        "WMO323",
        "Declaratie",
        periode("Declaratie/DeclaratiePeriode", "2023-04-01", "2023-04-29"),
    ),
    good("CD005", "WMO301", drop(f"{C301}/Adres/Postcode"), drop(f"{C301}/Adres/LandCode")),
    bad("CD005", "WMO301", "Contact", drop(f"{C301}/Adres/LandCode")),
    good("CD007", "WMO301", text("Client/Communicatie/Taal", "Fries")),
    bad("CD007", "WMO301", "Client", drop("Client/Communicatie/Taal")),
    good(
        "CD009",
        "WMO301",
        text(f"{C301}/Soort", "04"),
        insert(f"{C301}/Emailadres", "Periode"),
    ),
    bad("CD009", "WMO301", "Contact", insert(f"{C301}/Emailadres", "Periode")),
    good("CD025", "WMO301", text(f"{C301}/Adres/LandCode", "NL")),
    bad(
        "CD025",
        "WMO301",
        "Contact",
        text(f"{C301}/Adres/LandCode", "NL"),
        drop(f"{C301}/Adres/Huis"),
    ),
    good(
        "CD034",
        "WMO301",
        text(f"{C301}/Soort", "02"),
        drop(f"{C301}/Adres/Postcode"),
        drop(f"{C301}/Adres/LandCode"),
    ),
    bad(
        "CD034", "WMO301", "Contact", drop(f"{C301}/Adres/Postcode"), drop(f"{C301}/Adres/LandCode")
    ),
    good("CD041", "WMO301", drop(f"{TP}/Omvang"), drop(f"{TP}/Product/Code")),
    bad("CD041", "WMO301", "ToegewezenProduct", drop(f"{TP}/Omvang")),
    good(
        "CD043",
        "WMO315",
        drop(f"{AP}[1]/BeschikkingNummer"),
        drop(f"{AP}[1]/BeschikkingIngangsdatum"),
    ),
    bad("CD043", "WMO315", "AangevraagdProduct", drop(f"{AP}[1]/BeschikkingIngangsdatum")),
    good("CD060", "WMO323", *credit(P1, "X1")),
    bad("CD060", "WMO323", "Prestatie", text(f"{P1}/IngediendBedrag/DebetCredit", "C")),
    good("CD075", "WMO301", *budget_instead_of_omvang(TP)),
    bad(
        "CD075",
        "WMO301",
        "ToegewezenProduct",
        *budget_instead_of_omvang(TP),
        drop(f"{TP}/Einddatum"),
    ),
    good("CD076", "WMO301", text(f"{TP}/Omvang/Frequentie", "2")),
    bad(
        "CD076",
        "WMO301",
        "ToegewezenProduct",
        text(f"{TP}/Omvang/Frequentie", "2"),
        drop(f"{TP}/Einddatum"),
    ),
    good("CD077", "WMO301", *budget_instead_of_omvang(TP)),
    bad("CD077", "WMO301", "ToegewezenProduct", insert(f"{TP}/Omvang", "Budget", "500000")),
    good("CD079", "WMO301", drop(f"{TP}/Product"), *budget_instead_of_omvang(TP)),
    bad("CD079", "WMO301", "ToegewezenProduct", drop(f"{TP}/Product")),
    good(
        "CD080",
        "WMO301",
        drop(f"{TP}/Product/Code"),
        text(f"{TP}/Einddatum", "2020-12-31"),
        text(f"{TP}/Ingangsdatum", "2020-01-01"),
    ),
    bad("CD080", "WMO301", "ToegewezenProduct", drop(f"{TP}/Product/Code")),
    good("CD095", "WMO315", drop(f"{AP}[1]/Product/Code"), drop(f"{AP}[1]/Omvang")),
    bad("CD095", "WMO315", "AangevraagdProduct", drop(f"{AP}[1]/Product/Code")),
    good("CD096", "WMO317", drop(f"{NP}/Product/Code"), drop(f"{NP}/Omvang")),
    bad("CD096", "WMO317", "NieuwProduct", drop(f"{NP}/Product/Code")),
    good("CD085", "WMO319", text("Antwoord/RedenAfwijzingVerzoek", "8")),
    bad("CD085", "WMO319", "Antwoord", drop("Antwoord/RedenAfwijzingVerzoek")),
    bad("CD085", "WMO319", "Antwoord", text("Antwoord/VerzoekAntwoord", "2")),
    good("CD087", "WMO323", text(f"{P1}/ProductTarief", "1250")),
    bad("CD087", "WMO323", "Prestatie", drop(f"{P1}/ProductTarief")),
    # Levels 3 and 4: against earlier messages, the clock, the CBS list, a product list.
    good("TR056", "WMO301", seen_identificatie=seen(False)),
    bad("TR056", "WMO301", "Header", seen_identificatie=seen(True)),
    good("TR135", "WMO301", today=datetime.date(2023, 8, 13)),
    bad("TR135", "WMO301", "Header", today=datetime.date(2023, 8, 12)),
    good("TR378", "WMO301", text("Header/Afzender", "0637")),
    bad("TR378", "WMO301", "Header", text("Header/Afzender", "0001")),
    bad("TR378", "WMO305", "Header", text("Header/Ontvanger", "9999")),
    good("TR378", "WMO305", text("Header/Ontvanger", "0638")),
    good("TR381", "WMO305", product_codes={"01": frozenset({"01A11", "01A12"})}),
    bad("TR381", "WMO305", "StartProduct", product_codes={"01": frozenset({"01A11"})}),
    good("TR314", "WMO323", seen_referentienummer=seen(False)),
    bad("TR314", "WMO323", "Prestatie", text(f"{P2}/ProductReferentie/ReferentieNummer", "RN001")),
    bad("TR314", "WMO323", "Prestatie", seen_referentienummer=seen(True)),
    good("TR333", "WMO323", seen_declaratienummer=seen(False)),
    bad("TR333", "WMO323", "Declaratie", seen_declaratienummer=seen(True)),
    good("TR346", "WMO323", text(f"{P1}/IngediendBedrag/Bedrag", "5000")),
    good(
        "TR346",
        "WMO323",
        text(f"{P1}/Eenheid", "01"),
        text(f"{P1}/GeleverdVolume", "90"),
        text(f"{P1}/ProductTarief", "6001"),
        text(f"{P1}/IngediendBedrag/Bedrag", "9002"),
    ),
    bad("TR346", "WMO323", "Prestatie", text(f"{P1}/IngediendBedrag/Bedrag", "5001")),
    # Level 3 against the municipality's assignments (CheckContext.toewijzing).
    good("TR019", "WMO305", toewijzing=STARTED),
    bad(
        "TR019",
        "WMO305",
        "StartProduct",
        text(f"{SP}[2]/ToewijzingNummer", "300209"),
        toewijzing=STARTED,
    ),
    good("TR338", "WMO323", toewijzing=DECLARED),
    bad(
        "TR338", "WMO323", "Prestatie", text(f"{P1}/ToewijzingNummer", "99999"), toewijzing=DECLARED
    ),
    good("TR304", "WMO323", toewijzing=DECLARED),
    bad(
        "TR304", "WMO323", "Prestatie", text(f"{P1}/ToewijzingNummer", "20074"), toewijzing=DECLARED
    ),
    good(
        "TR307",
        "WMO323",
        periode(f"{P1}/ProductPeriode", "2023-01-01", "2023-01-31"),
        toewijzing=DECLARED,
    ),
    bad(
        "TR307",
        "WMO323",
        "Prestatie",
        periode(f"{P1}/ProductPeriode", "2022-12-01", "2022-12-31"),
        toewijzing=DECLARED,
    ),
    good(
        "TR308",
        "WMO323",
        periode(f"{P1}/ProductPeriode", "2023-12-01", "2023-12-31"),
        toewijzing=DECLARED,
    ),
    bad(
        "TR308",
        "WMO323",
        "Prestatie",
        periode(f"{P1}/ProductPeriode", "2024-01-01", "2024-01-31"),
        toewijzing=DECLARED,
    ),
    good("TR339", "WMO323", toewijzing=DECLARED),
    bad("TR339", "WMO323", "Prestatie", text(f"{P1}/ProductCategorie", "02"), toewijzing=DECLARED),
    good("TR340", "WMO323", toewijzing=DECLARED),
    bad("TR340", "WMO323", "Prestatie", text(f"{P1}/ProductCode", "01A04"), toewijzing=DECLARED),
    good("TR341", "WMO323", text(f"{P1}/Eenheid", "01"), toewijzing=DECLARED),
    bad("TR341", "WMO323", "Prestatie", text(f"{P1}/Eenheid", "14"), toewijzing=DECLARED),
    good("TR384", "WMO323", toewijzing=DECLARED),
    bad("TR384", "WMO323", "Prestatie", toewijzing=REMOVED),
    good("TR350", "WMO317", toewijzing=CURRENT),
    bad(
        "TR350",
        "WMO317",
        "OngewijzigdProduct",
        text("Client/Verzoek/OngewijzigdeProducten/OngewijzigdProduct/ToewijzingNummer", "10079"),
        toewijzing=CURRENT,
    ),
    good("TR351", "WMO317", toewijzing=CURRENT),
    bad(
        "TR351",
        "WMO317",
        "TeWijzigenProduct",
        toewijzing=assigned(
            "0384", "65656055", toewijzing("10071", einddatum=None), toewijzing("10072")
        ),
    ),
]


def run(case: Case) -> tuple[Element, list[Remark]]:
    root = case.build()
    context = CheckContext(today=FAR_FUTURE)
    if case.context:
        context = replace(context, **case.context)  # type: ignore[arg-type]
    return root, check(root, message_type_of(root), context)


def case_id(index: int, case: Case) -> str:
    """``TR056-bad-7``: what docs/rules.md's ``test_rule_case[TR056-*]`` selects."""
    return f"{case.rule}-{'bad' if case.fails else 'good'}-{index}"


@pytest.mark.parametrize("case", CASES, ids=[case_id(i, c) for i, c in enumerate(CASES)])
def test_rule_case(case: Case) -> None:
    """The rule speaks on its invalid case (code, berichtklasse) and is silent on its valid one."""
    root, remarks = run(case)
    message_type = message_type_of(root)
    schema = official_schema(message_type)
    assert schema.validate(root), f"case is not schema-valid: {schema.error_log}"
    mine = [r for r in remarks if r.rule == case.rule]
    if not case.fails:
        assert mine == [], [str(r) for r in mine]
        return
    assert mine, f"{case.rule} said nothing; all remarks: {[str(r) for r in remarks]}"
    rule = RULES[case.rule]
    for remark in mine:
        assert remark.retourcode == rule.retourcode
        assert remark.controleniveau is rule.controleniveau
        assert remark.berichtklasse.name == case.klasse
        assert resolve(root, remark.berichtklasse.path) is not None
        assert resolve(root, remark.element) is not None


def test_every_rule_has_a_valid_and_an_invalid_case() -> None:
    """No rule is registered without both kinds of case in the table above."""
    good_rules = {c.rule for c in CASES if not c.fails}
    bad_rules = {c.rule for c in CASES if c.fails}
    assert set(RULES) == good_rules == bad_rules
    assert len(RULES) >= 30


def test_retourcodes_and_levels_follow_the_standard(reference: Path) -> None:
    """Each rule's retourcode is in the official list, and 0001 exactly for level 2."""
    with (reference / "codelists/iwmo-3.2_retourcodes.csv").open(encoding="utf-8") as f:
        official = {line.split(",", 1)[0] for line in f.read().splitlines()[1:]}
    for rule in RULES.values():
        assert rule.retourcode in official, rule.code
        assert (rule.retourcode == "0001") == (rule.controleniveau is Controleniveau.INHOUD)


# Remarks the official examples themselves earn (checked by hand against the rule texts).
EXAMPLE_FINDINGS = {
    "JW316": {"TR383"},  # two AangevraagdProducten with ReferentieAanbieder 42420001
    "JW317": {"CS003"},  # NieuwProduct Einddatum 2024-02-28 before GewensteIngangsdatum 2026-11-01
    "JW323": {"TR101", "TR416", "TR314"},  # ReferentieNummer RN004 twice, same debit line twice
    "WMO302": {"TR302"},  # a category-less product overlapping another (copied from its 301)
}


@pytest.mark.parametrize(
    "path",
    sorted([*REFERENCE.glob("iwmo-3.2/examples/*.xml"), *REFERENCE.glob("ijw-3.2/examples/*.xml")]),
    ids=lambda p: p.stem,
)
def test_official_examples(path: Path) -> None:
    """The official examples pass every rule but for the faults they really have."""
    root = parse_xml(path.read_bytes()).getroot()
    remarks = check(root, message_type_of(root), CheckContext(today=FAR_FUTURE))
    assert {r.rule for r in remarks} == EXAMPLE_FINDINGS.get(path.stem, set())


def test_tr056_asks_with_sender_type_and_identificatie() -> None:
    """TR056 asks the ledger about (Afzender, message type, Identificatie) of the header."""
    asked: list[tuple[str, MessageType, str]] = []

    def seen_before(afzender: str, message_type: MessageType, identificatie: str) -> bool:
        asked.append((afzender, message_type, identificatie))
        return False

    root = example("WMO315")
    check(root, MessageType.WMO315, CheckContext(today=FAR_FUTURE, seen_identificatie=seen_before))
    assert asked == [("42420001", MessageType.WMO315, "123456789012")]


def test_retour_messages_get_only_the_content_rules_of_what_they_answer() -> None:
    """A 302 is checked by the 301's level-2 rules; identity and date rules are the 301's."""
    codes = {r.code for r in rules_for(MessageType.WMO302)}
    assert {"CS002", "TR302"} <= codes
    assert not codes & {"TR056", "TR135", "TR378"}
    assert all(r.controleniveau is Controleniveau.INHOUD for r in rules_for(MessageType.JW306))


def test_cbs_list_holds_the_demo_region() -> None:
    """The packaged CBS list has the seed's municipalities and 342 codes of 4 digits."""
    gemeenten = cbs_gemeenten()
    assert len(gemeenten) == 342
    assert gemeenten["0637"] == "Zoetermeer"
    assert {"0546", "0547", "0579", "0638"} <= set(gemeenten)
    assert all(len(code) == 4 and code.isdigit() for code in gemeenten)


@settings(deadline=None)
@given(st.lists(st.integers(0, 9), min_size=8, max_size=8), st.integers(0, 9))
def test_eleven_test_accepts_exactly_one_check_digit(digits: list[int], last: int) -> None:
    """For eight digits, the BSN eleven-test accepts only the check digit the weights give."""
    weighted = sum(d * w for d, w in zip(digits, range(9, 1, -1), strict=True))
    bsn = "".join(map(str, digits)) + str(last)
    assert eleven_test(bsn) == (weighted % 11 == last)


NUMBERS = (301, 302, 305, 306, 307, 308, 315, 316, 317, 318, 319, 320, 323, 325)
_LEAF_VALUES = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=12),
    st.sampled_from(["0", "-1", "2023-02-29", "0001-01-01", "9999-12-31", "1.5", "C", "D", "83"]),
)


@settings(max_examples=100, deadline=None)
@given(
    name=st.sampled_from([f"{standard}{n}" for standard in ("WMO", "JW") for n in NUMBERS]),
    data=st.data(),
)
def test_check_never_raises_on_odd_values(name: str, data: st.DataObject) -> None:
    """On any of the 28 types, whatever the leaves hold or whichever elements miss, it returns."""
    root = example(name)
    leaves = [e for e in root.iter() if isinstance(e.tag, str) and len(e) == 0]
    for leaf in data.draw(st.lists(st.sampled_from(leaves), max_size=6)):
        leaf.text = data.draw(_LEAF_VALUES)
    elements = [e for e in root.iter() if isinstance(e.tag, str) and e.getparent() is not None]
    for element in data.draw(st.lists(st.sampled_from(elements), max_size=3)):
        parent = element.getparent()
        if parent is not None and element.getroottree().getroot() is root:
            parent.remove(element)
    remarks = check(
        root, message_type_of(root), CheckContext(today=FAR_FUTURE, seen_identificatie=seen(True))
    )
    assert all(isinstance(r, Remark) for r in remarks)


def test_docs_table_lists_every_rule() -> None:
    """docs/rules.md has a row per implemented rule, and no other: its retourcode, level and
    messages, and a test that exists (test_rule_case with a valid and an invalid case)."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "rules.md").read_text(encoding="utf-8")
    rows = {
        cells[1]: cells[2:7]
        for line in docs.splitlines()
        if re.match(r"^\| [A-Z]{2}\d{3} \|", line)
        and len(cells := [c.strip() for c in line.split("|")]) == 8
    }
    assert set(rows) == set(RULES)
    ids = {case_id(i, case) for i, case in enumerate(CASES)}
    for rule in RULES.values():
        retourcode, level, numbers, _, test = rows[rule.code]
        assert (retourcode, level) == (rule.retourcode, str(int(rule.controleniveau))), rule.code
        assert {int(n) for n in numbers.split()} == rule.numbers, rule.code
        assert test == f"`test_rule_case[{rule.code}-*]`", rule.code
        assert {f"{rule.code}-good", f"{rule.code}-bad"} <= {i.rsplit("-", 1)[0] for i in ids}


def test_toewijzingen_read_from_a_301() -> None:
    """A 301's ToegewezenProducten become the Toewijzingen the level-3 rules look up."""
    found = Toewijzing.from_toewijzingsbericht(example("WMO301"))
    assert found == [
        Toewijzing(
            toewijzingnummer="101",
            bsn="999900006",
            ingangsdatum=datetime.date(2023, 1, 1),
            einddatum=datetime.date(2023, 12, 31),
            categorie="01",
            code="01A01",
            eenheid="01",
        )
    ]
    assert found[0].current_on(datetime.date(2023, 12, 31))
    assert not found[0].current_on(datetime.date(2024, 1, 1))
    removed = replace(found[0], reden_wijziging="13", einddatum=found[0].ingangsdatum)
    assert removed.removed
    assert not removed.current_on(datetime.date(2022, 1, 1))
