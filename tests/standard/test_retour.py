"""Retour messages and the 325: built by IV028/IV032/OP065 and IV087/IV088, valid against the
official XSDs and against our own catalog."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.standard.catalog import Catalog, default_catalog
from gateway.standard.message_types import NAMESPACES, MessageType
from gateway.standard.retour import (
    RULES_VERSIE,
    Beoordeling,
    build_declaratie_antwoord,
    build_retour,
    returned_codes,
)
from gateway.standard.rules import Berichtklasse, CheckContext, Controleniveau, Remark, check
from gateway.standard.rules._xml import children, find, iterate, local, resolve, text
from gateway.standard.xmlsafe import parse_xml

from ..conftest import REFERENCE

DAY = datetime.date(2024, 2, 1)
Element = etree._Element

HEEN_EXAMPLES = [
    "iwmo-3.2/examples/WMO301.xml",
    "iwmo-3.2/examples/WMO305.xml",
    "iwmo-3.2/examples/WMO307.xml",
    "iwmo-3.2/examples/WMO315.xml",
    "iwmo-3.2/examples/WMO317.xml",
    "iwmo-3.2/examples/WMO319.xml",
    "ijw-3.2/examples/JW301.xml",
    "ijw-3.2/examples/JW305.xml",
    "ijw-3.2/examples/JW307.xml",
    "ijw-3.2/examples/JW317.xml",
    "ijw-3.2/examples/JW319.xml",
]
# The deepest berichtklasse of each message: where a level-3 remark is put in the tests.
DEEPEST: dict[int | str, str] = {
    "JW319": "Antwoord/Woonplaatsbeginsel",
    301: "Client/ToegewezenProducten/ToegewezenProduct",
    305: "Client/StartProducten/StartProduct[2]",
    307: "Client/StopProducten/StopProduct[2]",
    315: "Client/AangevraagdeProducten/AangevraagdProduct[2]",
    317: "Client/Verzoek/NieuweProducten/NieuwProduct",
    319: "Antwoord",
}


def load(name: str) -> bytes:
    return (REFERENCE / name).read_bytes()


def parsed(data: bytes) -> etree._ElementTree:
    return parse_xml(data)


def assert_valid(data: bytes, official: Catalog) -> Element:
    """Valid against the official XSD and against our own catalog; the parsed root."""
    tree = parsed(data)
    assert official.issues(tree) == []
    assert default_catalog().issues(tree) == []
    return tree.getroot()


def retourcodes(element: Element | None) -> list[str]:
    return [c.text or "" for c in iterate(element, "RetourCodes/RetourCode")]


def remark(
    path: str, code: str = "9063", level: Controleniveau = Controleniveau.BERICHTOVERSTIJGEND
) -> Remark:
    return Remark("TR063", code, path, Berichtklasse.parse(path), "test remark", level)


@pytest.mark.parametrize("name", HEEN_EXAMPLES, ids=lambda n: Path(n).stem)
def test_no_remarks_give_the_header_alone(name: str, official: Catalog) -> None:
    """Nothing to report: header only, copied from the original, no RetourCodes (IV028)."""
    original = parsed(load(name)).getroot()
    heen = NAMESPACES[etree.QName(original).namespace or ""]
    root = assert_valid(
        build_retour(load(name), [], identificatie="R-1", dagtekening=DAY), official
    )
    assert NAMESPACES[etree.QName(root).namespace or ""] is heen.retour
    assert [local(e) for e in root] == ["Header"]
    header = root[0]
    assert text(header, "BerichtCode") == str(heen.retour.code if heen.retour else "")
    for name_ in (
        "Afzender",
        "Ontvanger",
        "BerichtIdentificatie/Identificatie",
        "BerichtIdentificatie/Dagtekening",
    ):
        assert text(header, name_) == text(find(original, "Header"), name_)
    assert text(header, "IdentificatieRetour") == "R-1"
    assert text(header, "DagtekeningRetour") == "2024-02-01"
    assert find(header, "RetourCodes") is None
    assert find(header, "XsltVersie") is None


@pytest.mark.parametrize("name", HEEN_EXAMPLES, ids=lambda n: Path(n).stem)
def test_body_remark_returns_the_client_with_codes_on_every_class(
    name: str, official: Catalog
) -> None:
    """A level-3 remark: header 0200, the whole client back, the code where the fault is (OP065)."""
    original = parsed(load(name)).getroot()
    heen = NAMESPACES[etree.QName(original).namespace or ""]
    path = DEEPEST.get(heen.name, DEEPEST[heen.number])
    root = assert_valid(
        build_retour(load(name), [remark(path)], identificatie="R-2", dagtekening=DAY), official
    )
    assert retourcodes(find(root, "Header")) == ["0200"]
    assert retourcodes(resolve(root, path)) == ["9063"]
    # Every other berichtklasse says 0200: nothing to remark there.
    classes = [
        e for e in root.iter() if isinstance(e.tag, str) and find(e, "RetourCodes") is not None
    ]
    others = [e for e in classes if e is not resolve(root, path)]
    assert others
    assert all(retourcodes(e) == ["0200"] for e in others)
    # The body is the original's, element for element, plus the RetourCodes.
    body = [
        local(e)
        for e in root.iter()
        if isinstance(e.tag, str) and local(e) not in ("RetourCodes", "RetourCode")
    ]
    header_extra = {
        "IdentificatieRetour",
        "DagtekeningRetour",
        "XsdVersieRetour",
        "BasisschemaXsdVersie",
        "BerichtXsdVersie",
    }
    expected = [local(e) for e in original.iter() if isinstance(e.tag, str)]
    assert [n for n in body if n not in header_extra] == [
        n for n in expected if n not in header_extra
    ]


def test_classes_below_a_rejected_class_are_not_assessed(official: Catalog) -> None:
    """A remark on the Client: its products come back with 0233 (not assessed)."""
    data = load("iwmo-3.2/examples/WMO305.xml")
    root = assert_valid(
        build_retour(data, [remark("Client", "8187")], identificatie="R", dagtekening=DAY), official
    )
    assert retourcodes(find(root, "Client")) == ["8187"]
    products = list(iterate(root, "Client/StartProducten/StartProduct"))
    assert [retourcodes(p) for p in products] == [["0233"], ["0233"]]


def test_several_codes_on_one_class_each_once(official: Catalog) -> None:
    """Two rules on one product give two RetourCodes; the same code twice gives it once."""
    path = "Client/StopProducten/StopProduct[1]"
    remarks = [remark(path, "9414"), remark(path, "9415"), remark(path, "9414")]
    root = assert_valid(
        build_retour(
            load("iwmo-3.2/examples/WMO307.xml"), remarks, identificatie="R", dagtekening=DAY
        ),
        official,
    )
    assert retourcodes(resolve(root, path)) == ["9414", "9415"]
    assert retourcodes(resolve(root, "Client/StopProducten/StopProduct[2]")) == ["0200"]


def test_level_2_fault_gives_header_with_0001_and_xslt_versie(official: Catalog) -> None:
    """A level-2 remark (CS002) rejects the message whole: header, 0001, XsltVersie (IV032)."""
    data = load("iwmo-3.2/examples/WMO301.xml")
    tree = parsed(data)
    find(tree.getroot(), "Client/Bsn").text = "123456789"  # type: ignore[union-attr]
    remarks = check(tree, MessageType.WMO301, CheckContext(today=DAY))
    assert [r.rule for r in remarks] == ["CS002"]
    root = assert_valid(
        build_retour(etree.tostring(tree), remarks, identificatie="R", dagtekening=DAY), official
    )
    assert [local(e) for e in root] == ["Header"]
    assert retourcodes(root[0]) == ["0001"]
    assert text(root[0], "XsltVersie") == RULES_VERSIE


def test_rejected_flag_and_given_xslt_versie(official: Catalog) -> None:
    """rejected=True gives 0001 without remarks; a given XsltVersie is used as it is."""
    data = load("ijw-3.2/examples/JW319.xml")
    root = assert_valid(
        build_retour(
            data, [], identificatie="R", dagtekening=DAY, rejected=True, xslt_versie="2.3.4"
        ),
        official,
    )
    assert retourcodes(root[0]) == ["0001"]
    assert text(root[0], "XsltVersie") == "2.3.4"


def test_header_fault_gives_the_header_alone_with_its_code(official: Catalog) -> None:
    """TR056 (9056) on the header: header only, with 9056 and no XsltVersie (IV028)."""
    data = load("iwmo-3.2/examples/WMO315.xml")
    context = CheckContext(today=DAY, seen_identificatie=lambda *_: True)
    remarks = check(parsed(data), MessageType.WMO315, context)
    assert [(r.rule, r.retourcode) for r in remarks] == [("TR056", "9056")]
    root = assert_valid(build_retour(data, remarks, identificatie="R", dagtekening=DAY), official)
    assert [local(e) for e in root] == ["Header"]
    assert retourcodes(root[0]) == ["9056"]
    assert find(root[0], "XsltVersie") is None


def test_header_remark_wins_over_body_remarks(official: Catalog) -> None:
    """With faults in header and body, only the header goes back (IV028)."""
    data = load("iwmo-3.2/examples/WMO305.xml")
    remarks = [
        remark("Client/StartProducten/StartProduct[1]"),
        remark("Header", "8848", Controleniveau.EXTERNE_BRON),
    ]
    root = assert_valid(build_retour(data, remarks, identificatie="R", dagtekening=DAY), official)
    assert [local(e) for e in root] == ["Header"]
    assert retourcodes(root[0]) == ["8848"]


def test_remark_outside_the_message_is_refused() -> None:
    """A remark naming a berichtklasse the message lacks is a caller's error, named."""
    data = load("iwmo-3.2/examples/WMO305.xml")
    with pytest.raises(ValueError, match="StartProduct\\[3\\]"):
        build_retour(
            data,
            [remark("Client/StartProducten/StartProduct[3]")],
            identificatie="R",
            dagtekening=DAY,
        )
    with pytest.raises(ValueError, match="StartProducten"):
        build_retour(data, [remark("Client/StartProducten")], identificatie="R", dagtekening=DAY)


def test_wrong_inputs_are_refused() -> None:
    """A 323 gets a 325, not a retour; an identificatie of 13 characters does not fit."""
    with pytest.raises(ValueError, match="325"):
        build_retour(load("iwmo-3.2/examples/WMO323.xml"), [], identificatie="R", dagtekening=DAY)
    with pytest.raises(ValueError, match="1 to 12"):
        build_retour(
            load("iwmo-3.2/examples/WMO301.xml"), [], identificatie="X" * 13, dagtekening=DAY
        )
    with pytest.raises(ValueError, match="answers a 323"):
        build_declaratie_antwoord(
            load("iwmo-3.2/examples/WMO301.xml"), Beoordeling(), identificatie="A", dagtekening=DAY
        )


# ---- 325: the answer to a declaration ----------------------------------------------------

DECLARATIES = ["iwmo-3.2/examples/WMO323.xml", "ijw-3.2/examples/JW323.xml"]


def totaal(root: Element, name: str) -> int:
    element = find(root, f"DeclaratieAntwoord/{name}")
    value = int(text(element, "TotaalBedrag") or "0")
    return -value if text(element, "DebetCredit") == "C" else value


@pytest.mark.parametrize("name", DECLARATIES, ids=lambda n: Path(n).stem)
def test_declaration_fully_approved(name: str, official: Catalog) -> None:
    """All lines approved: header 0200, 8001, TotaalToegekendBedrag = TotaalIngediendBedrag."""
    data = load(name)
    root = assert_valid(
        build_declaratie_antwoord(data, Beoordeling(), identificatie="A-1", dagtekening=DAY),
        official,
    )
    source = parsed(data).getroot()
    header = find(root, "Header")
    assert retourcodes(header) == ["0200"]
    assert text(header, "Afzender") == text(source, "Header/Ontvanger")
    assert text(header, "Ontvanger") == text(source, "Header/Afzender")
    assert text(header, "DeclaratieIdentificatie/Identificatie") == text(
        source, "Header/BerichtIdentificatie/Identificatie"
    )
    assert text(header, "BerichtIdentificatie/Identificatie") == "A-1"
    assert retourcodes(find(root, "DeclaratieAntwoord")) == ["8001"]
    assert find(root, "DeclaratieAntwoord/Clienten") is None
    assert totaal(root, "TotaalToegekendBedrag") == totaal(root, "TotaalIngediendBedrag")
    assert text(root, "DeclaratieAntwoord/DeclaratieNummer") == text(
        source, "Declaratie/DeclaratieNummer"
    )


def test_one_line_rejected_for_its_tariff(official: Catalog) -> None:
    """Line RN002 rejected with 0611: only it comes back, Toegekend is Ingediend minus it."""
    data = load("iwmo-3.2/examples/WMO323.xml")
    antwoord = build_declaratie_antwoord(
        data, Beoordeling(prestaties={"RN002": ("0611",)}), identificatie="A", dagtekening=DAY
    )
    root = assert_valid(antwoord, official)
    assert totaal(root, "TotaalIngediendBedrag") == 58000
    assert totaal(root, "TotaalToegekendBedrag") == 58000 - 24000
    clients = list(iterate(root, "DeclaratieAntwoord/Clienten/Client"))
    assert [text(c, "Bsn") for c in clients] == ["999900006"]
    assert retourcodes(clients[0]) == ["0200"]
    lines = list(iterate(clients[0], "Prestaties/Prestatie"))
    assert [text(p, "ProductReferentie/ReferentieNummer") for p in lines] == ["RN002"]
    assert retourcodes(lines[0]) == ["0611"]
    assert retourcodes(find(root, "DeclaratieAntwoord")) == ["0200"]
    # The standard's own consistency rule for a 325 (TR342) holds.
    assert check(parsed(antwoord), MessageType.WMO325, CheckContext(today=DAY)) == []


def test_client_rejected_marks_all_its_lines_not_assessed(official: Catalog) -> None:
    """A Client rejected (8187): its code on the Client, every line 0233, all of it withheld."""
    data = load("iwmo-3.2/examples/WMO323.xml")
    root = assert_valid(
        build_declaratie_antwoord(
            data, Beoordeling(clienten={"999900018": ("8187",)}), identificatie="A", dagtekening=DAY
        ),
        official,
    )
    client = find(root, "DeclaratieAntwoord/Clienten/Client")
    assert text(client, "Bsn") == "999900018"
    assert retourcodes(client) == ["8187"]
    assert [retourcodes(p) for p in iterate(client, "Prestaties/Prestatie")] == [["0233"], ["0233"]]
    assert totaal(root, "TotaalToegekendBedrag") == 58000 - 29000


def test_declaration_rejected_on_the_declaratie(official: Catalog) -> None:
    """DeclaratieNummer not unique (9333): that code, Toegekend 0, no lines (IV087)."""
    data = load("iwmo-3.2/examples/WMO323.xml")
    root = assert_valid(
        build_declaratie_antwoord(
            data, Beoordeling(declaratie=("9333",)), identificatie="A", dagtekening=DAY
        ),
        official,
    )
    assert retourcodes(find(root, "Header")) == ["0200"]
    assert retourcodes(find(root, "DeclaratieAntwoord")) == ["9333"]
    assert totaal(root, "TotaalToegekendBedrag") == 0
    assert text(root, "DeclaratieAntwoord/TotaalToegekendBedrag/DebetCredit") == "D"
    assert find(root, "DeclaratieAntwoord/Clienten") is None


def test_declaration_rejected_technically_or_on_the_header(official: Catalog) -> None:
    """Level 2: header alone with 0001 and XsltVersie; a header code: header alone with it."""
    data = load("ijw-3.2/examples/JW323.xml")
    technical = assert_valid(
        build_declaratie_antwoord(
            data, Beoordeling(technisch_afgekeurd=True), identificatie="A", dagtekening=DAY
        ),
        official,
    )
    assert [local(e) for e in technical] == ["Header"]
    assert retourcodes(technical[0]) == ["0001"]
    assert text(technical[0], "XsltVersie") == RULES_VERSIE
    on_header = assert_valid(
        build_declaratie_antwoord(
            data, Beoordeling(header=("9056",)), identificatie="A", dagtekening=DAY
        ),
        official,
    )
    assert [local(e) for e in on_header] == ["Header"]
    assert retourcodes(on_header[0]) == ["9056"]


def test_beoordeling_from_check_remarks(official: Catalog) -> None:
    """The remarks of check() become a judgement: a TR346 fault rejects exactly that line."""
    tree = parsed(load("iwmo-3.2/examples/WMO323.xml"))
    bedrag = resolve(
        tree.getroot(),
        "Declaratie/Clienten/Client[2]/Prestaties/Prestatie[1]/IngediendBedrag/Bedrag",
    )
    assert bedrag is not None
    bedrag.text = "5001"
    total = find(tree.getroot(), "Declaratie/TotaalIngediendBedrag/TotaalBedrag")
    assert total is not None
    total.text = "58001"
    remarks = check(tree, MessageType.WMO323, CheckContext(today=DAY))
    assert [(r.rule, r.retourcode) for r in remarks] == [("TR346", "9346")]
    beoordeling = Beoordeling.from_remarks(tree, remarks)
    assert beoordeling.prestaties == {"RN003": ("9346",)}
    root = assert_valid(
        build_declaratie_antwoord(tree, beoordeling, identificatie="A", dagtekening=DAY), official
    )
    assert totaal(root, "TotaalToegekendBedrag") == 58001 - 5001
    level2 = [Remark("CS002", "0001", "x", Berichtklasse.parse("Declaratie/Clienten/Client"), "m")]
    assert Beoordeling.from_remarks(tree, level2).technisch_afgekeurd
    forced = [
        Remark("POLICY", "0001", "Header", Berichtklasse.header(), "m", Controleniveau.EXTERNE_BRON)
    ]
    assert Beoordeling.from_remarks(tree, forced) == Beoordeling(technisch_afgekeurd=True)


def test_unknown_line_is_refused() -> None:
    """A judgement naming a ReferentieNummer or Bsn the declaration lacks is refused, named."""
    data = load("iwmo-3.2/examples/WMO323.xml")
    with pytest.raises(ValueError, match="RN999"):
        build_declaratie_antwoord(
            data, Beoordeling(prestaties={"RN999": ("0611",)}), identificatie="A", dagtekening=DAY
        )
    with pytest.raises(ValueError, match="123456782"):
        build_declaratie_antwoord(
            data, Beoordeling(clienten={"123456782": ("8187",)}), identificatie="A", dagtekening=DAY
        )


def _credit_declaratie() -> etree._ElementTree:
    """The WMO323 example with its third line turned into a credit line (total adjusted)."""
    tree = parsed(load("iwmo-3.2/examples/WMO323.xml"))
    root = tree.getroot()
    prestatie = resolve(root, "Declaratie/Clienten/Client[2]/Prestaties/Prestatie[1]")
    assert prestatie is not None
    find(prestatie, "IngediendBedrag/DebetCredit").text = "C"  # type: ignore[union-attr]
    referentie = find(prestatie, "ProductReferentie/ReferentieNummer")
    assert referentie is not None
    vorig = etree.Element(referentie.tag.replace("ReferentieNummer", "VorigReferentieNummer"))
    vorig.text = "RN000"
    referentie.addnext(vorig)
    find(root, "Declaratie/TotaalIngediendBedrag/TotaalBedrag").text = "48000"  # type: ignore[union-attr]
    return tree


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rejected=st.sets(st.sampled_from(["RN001", "RN002", "RN003", "RN004"])),
    codes=st.sampled_from(["0611", "9307", "9339"]),
)
def test_any_rejection_keeps_the_totals_consistent(
    rejected: set[str], codes: str, official: Catalog
) -> None:
    """Whichever lines are rejected (credit lines too), the 325 is valid and TR342 holds."""
    tree = _credit_declaratie()
    assert check(tree, MessageType.WMO323, CheckContext(today=DAY)) == []
    antwoord = build_declaratie_antwoord(
        tree,
        Beoordeling(prestaties=dict.fromkeys(rejected, (codes,))),
        identificatie="A",
        dagtekening=DAY,
    )
    root = assert_valid(antwoord, official)
    assert check(parsed(antwoord), MessageType.WMO325, CheckContext(today=DAY)) == []
    returned = {
        text(p, "ProductReferentie/ReferentieNummer")
        for p in iterate(root, "DeclaratieAntwoord/Clienten/Client/Prestaties/Prestatie")
    }
    assert returned == rejected
    amounts = {"RN001": 5000, "RN002": 24000, "RN003": -5000, "RN004": 24000}
    assert totaal(root, "TotaalToegekendBedrag") == 48000 - sum(amounts[r] for r in rejected)
    assert retourcodes(find(root, "DeclaratieAntwoord")) == (["0200"] if rejected else ["8001"])
    assert all(
        len(children(c, "RetourCodes")) == 1
        for c in iterate(root, "DeclaratieAntwoord/Clienten/Client")
    )


# ---- returned_codes: what `gateway validate` reports, by the builders' own rules ------------

LEVEL_2 = Controleniveau.INHOUD
RETOUR_POOL = [
    remark("Header", "9056"),
    remark("Client", "8187"),
    remark("Client/StartProducten/StartProduct[1]", "9063"),
    remark("Client/StartProducten/StartProduct[2]", "9414"),
    remark("Client/StartProducten/StartProduct[2]", "9415"),
    remark("Client", "0001", LEVEL_2),
]
ANTWOORD_POOL = [
    remark("Header", "8848"),
    remark("Declaratie", "9333"),
    remark("Declaratie/Clienten/Client[1]", "8187"),
    remark("Declaratie/Clienten/Client[1]/Prestaties/Prestatie[1]", "0611"),
    remark("Declaratie/Clienten/Client[2]/Prestaties/Prestatie[1]", "9307"),
    remark("Declaratie/Clienten/Client[2]/Prestaties/Prestatie[1]", "0001", LEVEL_2),
]
SAY_NOTHING = {"0200", "0233", "8001"}


def _codes_in(data: bytes) -> set[str]:
    return {c.text or "" for c in parsed(data).getroot().iter() if local(c) == "RetourCode"}


@settings(max_examples=60, deadline=None)
@given(
    retour=st.lists(st.sampled_from(RETOUR_POOL), unique=True),
    antwoord=st.lists(st.sampled_from(ANTWOORD_POOL), unique=True),
)
def test_returned_codes_are_those_the_answer_carries(
    retour: list[Remark], antwoord: list[Remark]
) -> None:
    """Whatever the remarks, returned_codes names exactly the codes of faults in the 306/325."""
    wmo305 = load("iwmo-3.2/examples/WMO305.xml")
    built = build_retour(wmo305, retour, identificatie="R", dagtekening=DAY)
    assert set(returned_codes(retour)) == _codes_in(built) - SAY_NOTHING
    wmo323 = parsed(load("iwmo-3.2/examples/WMO323.xml"))
    beoordeling = Beoordeling.from_remarks(wmo323, antwoord)
    built = build_declaratie_antwoord(wmo323, beoordeling, identificatie="A", dagtekening=DAY)
    assert set(returned_codes(antwoord)) == _codes_in(built) - SAY_NOTHING
    assert len(returned_codes(retour + antwoord)) == len(set(returned_codes(retour + antwoord)))
