"""Our schemas identify and judge every official example as the official XSDs do."""

from __future__ import annotations

import datetime
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway.errors import ConfigError, SchemaViolation, UnknownMessageError
from gateway.standard.catalog import Catalog, default_catalog, load_release
from gateway.standard.message_types import MessageId, MessageType
from gateway.standard.xmlsafe import parse_xml
from gateway.standard.xsdgen import stale
from tests.standard.conftest import Example

WMO305_2_1 = b"""<?xml version="1.0" encoding="UTF-8"?>
<wmo305:Bericht xmlns:iwmo="http://www.istandaarden.nl/iwmo/2_1/basisschema/schema/2_1"
    xmlns:wmo305="http://www.istandaarden.nl/iwmo/2_1/wmo305/schema/2_1">
  <wmo305:Header>
    <wmo305:BerichtCode>418</wmo305:BerichtCode>
    <wmo305:BerichtVersie>2</wmo305:BerichtVersie>
    <wmo305:BerichtSubversie>1</wmo305:BerichtSubversie>
    <wmo305:Afzender>98026987</wmo305:Afzender>
    <wmo305:Ontvanger>0637</wmo305:Ontvanger>
    <wmo305:BerichtIdentificatie>
      <iwmo:Identificatie>SIM0001</iwmo:Identificatie>
      <iwmo:Dagtekening>2020-03-10</iwmo:Dagtekening>
    </wmo305:BerichtIdentificatie>
  </wmo305:Header>
  <wmo305:Clienten>
    <wmo305:Client>
      <wmo305:Bsn>999900006</wmo305:Bsn>
      <wmo305:Geboortedatum><iwmo:Datum>1985-01-08</iwmo:Datum></wmo305:Geboortedatum>
      <wmo305:Geslacht>2</wmo305:Geslacht>
      <wmo305:Naam><iwmo:Geslachtsnaam><iwmo:Naam>Castricum</iwmo:Naam></iwmo:Geslachtsnaam>
      </wmo305:Naam>
      <wmo305:StatusAanlevering>1</wmo305:StatusAanlevering>
      <wmo305:StartProducten>
        <wmo305:StartProduct>
          <wmo305:ToewijzingNummer>12345</wmo305:ToewijzingNummer>
          <wmo305:Product><iwmo:Categorie>02</iwmo:Categorie><iwmo:Code>02A01</iwmo:Code>
          </wmo305:Product>
          <wmo305:Begindatum>2020-03-02</wmo305:Begindatum>
          <wmo305:Aanbieder>98026987</wmo305:Aanbieder>
          <wmo305:StatusAanlevering>1</wmo305:StatusAanlevering>
        </wmo305:StartProduct>
      </wmo305:StartProducten>
    </wmo305:Client>
  </wmo305:Clienten>
</wmo305:Bericht>
"""


def _doc(example: Example):  # type: ignore[no-untyped-def]
    return parse_xml(example.path.read_bytes())


def test_committed_schemas_are_the_generators_output() -> None:
    """The XSDs under gateway/standard/schemas are exactly what xsdgen writes from the model."""
    assert stale() == []


def test_every_valid_example_is_accepted(examples: list[Example]) -> None:
    """All 39 examples the official XSDs accept, our schemas accept, as the right message."""
    catalog = default_catalog()
    valid = [e for e in examples if e.valid]
    assert len(valid) == 39
    for example in valid:
        doc = _doc(example)
        assert catalog.identify(doc) is example.message_type, example.name
        catalog.validate(doc)


def test_jw315_is_rejected_naming_the_date(examples: list[Example]) -> None:
    """JW315's 2027-06-31 is rejected at ToewijzingEinddatum, with the value and the reason."""
    example = next(e for e in examples if e.name == "ijw-3.2/examples/JW315.xml")
    with pytest.raises(SchemaViolation) as caught:
        default_catalog().validate(_doc(example))
    issues = caught.value.issues
    assert [(i.line, i.element) for i in issues] == [
        (44, "ToewijzingEinddatum"),
        (66, "ToewijzingEinddatum"),
    ]
    assert "'2027-06-31' is not a valid value" in issues[0].reason
    assert caught.value.message_type == "JW315"


def test_jw318_is_rejected_naming_the_misplaced_retourcode(examples: list[Example]) -> None:
    """JW318's RetourCode outside RetourCodes is rejected, naming it and what was expected."""
    example = next(e for e in examples if e.name == "ijw-3.2/examples/JW318.xml")
    issues = default_catalog().issues(_doc(example))
    assert len(issues) == 1
    assert issues[0].element == "RetourCode"
    assert issues[0].line == 33
    assert "This element is not expected" in issues[0].reason
    assert "RetourCodes" in issues[0].reason


def test_a_pattern_in_a_reason_keeps_its_quantifiers(examples: list[Example]) -> None:
    """Namespaces are taken out of a reason, the {9} of a pattern is not: '[0-9]{9}'."""
    example = next(e for e in examples if e.name == "iwmo-3.2/examples/WMO301.xml")
    doc = _doc(example)
    bsn = doc.getroot().find(".//{*}Client/{*}Bsn")
    assert bsn is not None
    bsn.text = "12"
    issues = default_catalog().issues(doc)
    assert [i.element for i in issues] == ["Bsn"]
    assert issues[0].reason == (
        "[facet 'pattern'] The value '12' is not accepted by the pattern '[0-9]{9}'."
    )


def test_an_unknown_namespace_is_named() -> None:
    """A root in a namespace we do not know is UnknownMessageError naming that namespace."""
    doc = parse_xml(b'<Bericht xmlns="http://www.istandaarden.nl/iwmo/3_2/wmo399/schema"/>')
    with pytest.raises(UnknownMessageError, match="iwmo/3_2/wmo399/schema") as caught:
        default_catalog().identify(doc)
    assert caught.value.namespace == "http://www.istandaarden.nl/iwmo/3_2/wmo399/schema"
    with pytest.raises(UnknownMessageError, match="no namespace"):
        default_catalog().identify(parse_xml(b"<Bericht/>"))


def test_the_header_of_a_retour_and_of_a_325(examples: list[Example]) -> None:
    """header() reads Afzender, Ontvanger, both identifications; a 325's from Declaratie..."""
    catalog = default_catalog()
    jw302 = next(e for e in examples if e.name == "ijw-3.2/examples/JW302.xml")
    header = catalog.header(_doc(jw302), MessageType.JW302)
    assert header.identificatie_retour is not None
    assert isinstance(header.dagtekening_retour, datetime.date)
    wmo325 = next(e for e in examples if e.name == "iwmo-3.2/examples/WMO325.xml")
    header = catalog.header(_doc(wmo325), MessageType.WMO325)
    assert len(header.afzender) == 4
    assert header.identificatie_retour  # DeclaratieIdentificatie/Identificatie
    assert isinstance(header.dagtekening, datetime.date)


def test_a_bad_dagtekening_comes_back_as_text() -> None:
    """header() on a not yet validated message keeps an impossible date as its text."""
    doc = parse_xml(
        b'<Bericht xmlns="http://www.istandaarden.nl/iwmo/3_2/wmo301/schema"><Header>'
        b"<Afzender>0637</Afzender><BerichtIdentificatie><Identificatie>1</Identificatie>"
        b"<Dagtekening>2027-06-31</Dagtekening></BerichtIdentificatie></Header></Bericht>"
    )
    header = default_catalog().header(doc, MessageType.WMO301)
    assert header.dagtekening == "2027-06-31"
    assert header.afzender == "0637"
    assert header.ontvanger == ""


def test_the_official_32_set_plugs_in_with_the_same_verdicts(
    examples: list[Example], official: Catalog
) -> None:
    """Pointed at the official 3.2 XSDs, the validator identifies and judges like our schemas."""
    ours = default_catalog()
    for example in examples:
        doc = _doc(example)
        assert official.identify(doc) is example.message_type
        assert official.identify_id(doc) == MessageId(
            example.message_type.standard.value, "3.2", example.message_type.name
        )
        assert (official.issues(doc) == []) is example.valid, example.name
        assert [(i.line, i.element) for i in official.issues(doc)] == [
            (i.line, i.element) for i in ours.issues(doc)
        ]


def test_iwmo_21_plugs_in(reference: Path) -> None:
    """The iWmo 2.1 XSDs plug in: a 2.1 message is identified as iwmo 2.1 WMO305 and judged."""
    release = load_release(reference / "iwmo-2.1" / "xsd")
    assert len(release.message_ids()) == 8
    doc = parse_xml(WMO305_2_1)
    assert release.identify_id(doc) == MessageId("iwmo", "2.1", "WMO305")
    assert release.issues(doc) == []
    # Not one of the 28 3.2 messages, and unknown to our 3.2 catalog.
    with pytest.raises(UnknownMessageError, match="iwmo/2_1/wmo305"):
        release.identify(doc)
    with pytest.raises(UnknownMessageError, match="iwmo/2_1/wmo305"):
        default_catalog().identify(doc)
    broken = WMO305_2_1.replace(b"<wmo305:Bsn>999900006", b"<wmo305:Bsn>12")
    issues = release.issues(parse_xml(broken))
    assert [i.element for i in issues] == ["Bsn"]


def test_a_release_directory_must_hold_message_schemas(tmp_path: Path, reference: Path) -> None:
    """A missing directory, or one with only a basisschema, is a ConfigError naming it."""
    with pytest.raises(ConfigError, match="not found"):
        load_release(tmp_path / "nowhere")
    shutil.copy(reference / "iwmo-2.1" / "xsd" / "basisschema.xsd", tmp_path)
    with pytest.raises(ConfigError, match=f"no message schemas .* in {tmp_path}"):
        load_release(tmp_path)


def test_schemas_are_compiled_once() -> None:
    """The compiled XSD of a message is kept: asking twice gives the same object."""
    catalog = default_catalog()
    assert catalog.schema(MessageType.WMO305) is catalog.schema(MessageType.WMO305.id)


def test_a_huge_bad_value_gives_a_short_error(examples: list[Example]) -> None:
    """A 2 MB blank Commentaar is rejected quickly, and the error does not echo the 2 MB."""
    example = next(e for e in examples if e.name == "iwmo-3.2/examples/WMO301.xml")
    data = example.path.read_bytes()
    start = data.index(b"<wmo301:Commentaar>") + len(b"<wmo301:Commentaar>")
    end = data.index(b"</wmo301:Commentaar>")
    hostile = data[:start] + b" \n" * 1_000_000 + data[end:]
    started = time.perf_counter()
    issues = default_catalog().issues(parse_xml(hostile))
    assert time.perf_counter() - started < 5
    assert [i.element for i in issues] == ["Commentaar"]
    assert len(issues[0].reason) <= 400


def test_xmlschema_stays_off_the_hot_path(examples: list[Example]) -> None:
    """The server, the ingress and `gateway validate` never import xmlschema (~100x lxml)."""
    example = next(e for e in examples if e.name == "iwmo-3.2/examples/WMO323.xml")
    program = (
        "import sys, gateway.server, gateway.ingress, gateway.cli, gateway.handlers.municipality\n"
        "from gateway.cli import main\n"
        f"assert main(['validate', {str(example.path)!r}]) == 0\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'xmlschema'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=True
    )
    assert "schema valid" in done.stdout
    assert done.stdout.splitlines()[-1] == "[]"
