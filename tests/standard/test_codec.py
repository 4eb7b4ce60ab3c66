"""The typed model reads every message and writes it back unchanged, valid for the official XSD."""

from __future__ import annotations

import dataclasses
import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.errors import SchemaViolation
from gateway.standard.catalog import Catalog
from gateway.standard.codec import build, parse
from gateway.standard.message_types import MessageType
from gateway.standard.model import (
    Achternaam,
    BerichtIdentificatie,
    Contact,
    Geboortedatum,
    Header,
    Message,
    Omvang,
    Product,
    StartClient,
    StartProduct,
    ToegewezenProduct,
    ToewijzingClient,
    VerkorteNaam,
    VerzoekToewijzingClient,
    VolledigeNaam,
)
from gateway.standard.xmlsafe import parse_xml
from tests.standard.conftest import Example
from tests.standard.strategies import messages


def canonical(data: bytes) -> bytes:
    """The document in canonical form, without the indentation between elements."""
    doc = parse_xml(data)
    for element in doc.iter():
        if len(element):
            element.text = None
        element.tail = None
    return etree.tostring(doc, method="c14n2")


def test_build_of_parse_is_the_official_example(examples: list[Example]) -> None:
    """build(parse(x)) is canonically equal to x for every valid official example."""
    checked = 0
    for example in examples:
        if not example.valid:
            continue
        data = example.path.read_bytes()
        message = parse(data)
        assert message.message_type is example.message_type
        assert canonical(build(message)) == canonical(data), example.name
        checked += 1
    assert checked == 39


def _parts(value: object) -> list[object]:
    """Every dataclass instance in a parsed message, the message first."""
    if isinstance(value, tuple):
        return [part for item in value for part in _parts(item)]
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        return []
    found: list[object] = [value]
    for f in dataclasses.fields(value):
        found.extend(_parts(getattr(value, f.name)))
    return found


def test_every_message_parses_into_frozen_dataclasses(examples: list[Example]) -> None:
    """Each part of each parsed example is a frozen dataclass; repeated parts are tuples."""
    kinds: set[str] = set()
    for example in examples:
        if not example.valid:
            continue
        parts = _parts(parse(example.path.read_bytes()))
        assert len(parts) > 3, example.name
        for part in parts:
            kinds.add(type(part).__name__)
            first = dataclasses.fields(part)[0].name  # type: ignore[arg-type]
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(part, first, None)
            for f in dataclasses.fields(part):  # type: ignore[arg-type]
                assert not isinstance(getattr(part, f.name), list), (type(part), f.name)
    assert {"Message", "Header", "ToewijzingClient", "Declaratie", "Prestatie"} <= kinds


def test_parse_gives_typed_values(examples: list[Example]) -> None:
    """Dates, times and numbers come out as date, time and int; repeated elements as tuples."""
    example = next(e for e in examples if e.name == "iwmo-3.2/examples/WMO301.xml")
    message = parse(example.path.read_bytes())
    assert message.header.afzender == "0384"
    assert message.header.dagtekening == datetime.date(2023, 8, 13)
    client = message.body
    assert isinstance(client, ToewijzingClient)
    product = client.toegewezen_producten[0]
    assert isinstance(product.toewijzing_nummer, int)
    assert isinstance(product.toewijzingstijd, datetime.time)
    assert product.retour_codes == ()


def test_parse_refuses_an_invalid_message(examples: list[Example]) -> None:
    """parse validates first: JW315 with 2027-06-31 is a SchemaViolation, not a half model."""
    example = next(e for e in examples if e.name == "ijw-3.2/examples/JW315.xml")
    with pytest.raises(SchemaViolation, match="ToewijzingEinddatum"):
        parse(example.path.read_bytes())


@pytest.mark.parametrize("message_type", list(MessageType), ids=str)
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_generated_messages_round_trip_and_are_officially_valid(
    message_type: MessageType, official: Catalog, data: st.DataObject
) -> None:
    """A generated message builds to XML the official XSD accepts, and parses back equal."""
    message = data.draw(messages(message_type))
    xml = build(message)
    doc = parse_xml(xml)
    assert official.issues(doc, message_type.id) == []
    assert parse(doc) == message


def _start_305() -> Message:
    return Message(
        message_type=MessageType.WMO305,
        header=Header(
            afzender="12345678",
            ontvanger="0637",
            bericht_identificatie=BerichtIdentificatie(
                identificatie="SIM-1", dagtekening=datetime.date(2026, 1, 5)
            ),
        ),
        body=StartClient(
            bsn="999900006",
            geboortedatum=Geboortedatum(datum=datetime.date(1950, 3, 1)),
            geslacht="2",
            naam=VerkorteNaam(geslachtsnaam=Achternaam(achternaam="Jansen")),
            start_producten=(
                StartProduct(
                    toewijzing_nummer=4711,
                    product=Product(categorie="02", code="02A01"),
                    begindatum=datetime.date(2026, 1, 2),
                    status_aanlevering="1",
                ),
            ),
        ),
    )


def test_a_hand_built_305_is_officially_valid(official: Catalog) -> None:
    """Code that creates messages gets a valid 305 from a few constructors and build()."""
    xml = build(_start_305())
    assert xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert not xml.startswith(b"\xef\xbb\xbf")
    assert official.issues(parse_xml(xml)) == []


def test_retour_codes_do_not_exist_in_a_heen_message() -> None:
    """RetourCodes on a 305's StartProduct is an error naming the field, not silently dropped."""
    message = _start_305()
    assert isinstance(message.body, StartClient)
    product = dataclasses.replace(message.body.start_producten[0], retour_codes=("0200",))
    body = dataclasses.replace(message.body, start_producten=(product,))
    with pytest.raises(ValueError, match=r"StartProduct.retour_codes \(RetourCodes\)"):
        build(dataclasses.replace(message, body=body))


def test_ijw_only_elements_are_refused_in_iwmo() -> None:
    """GezagsdragerBekend exists in a JW315 only; in a WMO315 it is an error naming it."""
    client = VerzoekToewijzingClient(
        bsn="999900006",
        geboortedatum=Geboortedatum(datum=datetime.date(2010, 1, 1)),
        geslacht="1",
        naam=VerkorteNaam(geslachtsnaam=Achternaam(achternaam="Smit")),
        gezagsdrager_bekend="1",
        aangevraagde_producten=(),
    )
    header = _start_305().header
    message = Message(message_type=MessageType.WMO315, header=header, body=client)
    with pytest.raises(ValueError, match="GezagsdragerBekend"):
        build(message, validate=False)


def test_a_message_refuses_the_wrong_body() -> None:
    """A 301 must carry a ToewijzingClient, and a heen message a body at all."""
    header = _start_305().header
    with pytest.raises(ValueError, match="WMO301 carries a ToewijzingClient, not a StartClient"):
        Message(message_type=MessageType.WMO301, header=header, body=_start_305().body)
    with pytest.raises(ValueError, match="needs a StartClient"):
        Message(message_type=MessageType.WMO305, header=header, body=None)


def test_build_refuses_what_the_schema_refuses() -> None:
    """A value out of its facets (a 5-digit AGB code) gives a SchemaViolation naming Afzender."""
    message = _start_305()
    bad = dataclasses.replace(message, header=dataclasses.replace(message.header, afzender="1"))
    with pytest.raises(SchemaViolation, match="Afzender"):
        build(bad)


def test_a_hand_built_301_is_officially_valid(official: Catalog) -> None:
    """A municipality's 301 with a client, an address contact and one product validates."""
    client = ToewijzingClient(
        bsn="999900006",
        geboortedatum=Geboortedatum(datum=datetime.date(1950, 3, 1)),
        geslacht="2",
        naam=VolledigeNaam(geslachtsnaam=Achternaam(achternaam="Jansen"), naam_gebruik="1"),
        contactgegevens=(Contact(soort="01"),),
        toegewezen_producten=(
            ToegewezenProduct(
                toewijzing_nummer=4711,
                product=Product(categorie="02", code="02A01"),
                toewijzingsdatum=datetime.date(2026, 1, 2),
                toewijzingstijd=datetime.time(9, 30),
                ingangsdatum=datetime.date(2026, 1, 5),
                omvang=Omvang(volume=4, eenheid="04", frequentie="2"),
            ),
        ),
    )
    header = dataclasses.replace(_start_305().header, afzender="0637", ontvanger="12345678")
    xml = build(Message(message_type=MessageType.WMO301, header=header, body=client))
    assert official.issues(parse_xml(xml)) == []
