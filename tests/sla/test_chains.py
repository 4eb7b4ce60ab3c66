"""What one message opens and meets, worked out from official examples (no database)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from gateway.deadlines import AMSTERDAM, PROFILE_NAMES, get_profile
from gateway.errors import SchemaViolation
from gateway.ledger.obligations import ChainStep
from gateway.sla.chains import Chains, reads
from gateway.standard.catalog import default_catalog
from gateway.standard.message_types import MessageType
from gateway.standard.streaming import Keep, read_message
from gateway.standard.xmlsafe import parse_xml
from tests.conftest import REFERENCE
from tests.sla.conftest import MONDAY, example, party

EXAMPLES = sorted(REFERENCE.glob("*-3.2/examples/*.xml"))


def step_of(reference: Path, name: str, profile: str = "istandaarden-3.2") -> ChainStep:
    return step_on(parse_xml(example(reference, name)), profile)


def step_on(doc: etree._ElementTree, profile: str = "istandaarden-3.2") -> ChainStep:
    catalog = default_catalog()
    message_type = catalog.identify(doc)
    header = catalog.header(doc, message_type)
    afzender, ontvanger = party(header.afzender), party(header.ontvanger)
    retour = message_type.copies_header
    return Chains(get_profile(profile)).step(
        message_type,
        doc,
        sender=ontvanger if retour else afzender,
        recipient=afzender if retour else ontvanger,
        received=MONDAY,
        answers=header.identificatie if retour else header.identificatie_retour,
    )


def end_of(day: int, month: int = 8, year: int = 2023) -> datetime:
    """The due moment of a due day: the next midnight in Amsterdam."""
    return datetime(year, month, day, tzinfo=AMSTERDAM) + timedelta(days=1)


def test_301_opens_302_305_and_307(reference: Path) -> None:
    """A 301 received on Monday: its 302 in 3 working days, 305 and 307 per ToewijzingNummer."""
    step = step_of(reference, "WMO301")
    by_owed = {o.owed: o for o in step.opens}
    assert set(by_owed) == {"WMO302", "WMO305", "WMO307"}
    retour = by_owed["WMO302"]
    assert (retour.debtor, retour.creditor) == ("aanbieder-42420001", "gemeente-0384")
    assert retour.due == end_of(17)
    assert retour.reference is None
    # Ingangsdatum 2023-01-01 lies before receipt: assigned retroactively, so 5 working days
    # after receipt (OP271).
    start = by_owed["WMO305"]
    assert (start.debtor, start.reference, start.due) == ("aanbieder-42420001", "101", end_of(21))
    stop = by_owed["WMO307"]
    assert stop.due == end_of(8, 1, 2024)  # Einddatum 2023-12-31 + 5 working days (1 Jan off)


def test_315_opens_one_316_and_a_301_or_319_per_requested_product(reference: Path) -> None:
    """A 315 with two products: one 316, and per product a 301 or 319 by ReferentieAanbieder."""
    step = step_of(reference, "WMO315")
    retours = [o for o in step.opens if o.owed == "WMO316"]
    answers = [o for o in step.opens if o.owed == "WMO301"]
    assert len(retours) == 1
    assert retours[0].debtor == "gemeente-0384"
    assert sorted((o.reference, o.product) for o in answers) == [
        ("42420001", "ABCDE"),
        ("42420002", "BCDEF"),
    ]
    assert all(o.accepts == ("WMO301", "WMO319") for o in answers)
    assert all(o.due == end_of(21) for o in answers)
    assert all(o.debtor == "gemeente-0384" for o in answers)


def test_323_opens_its_325_per_profile(reference: Path) -> None:
    """A 323 opens its 325: 10 working days in iStandaarden 3.2, 20 in Zoetermeer's contract."""
    [standard] = step_of(reference, "WMO323").opens
    [contract] = [
        o for o in step_of(reference, "WMO323", "zoetermeer-2020").opens if o.owed == "WMO325"
    ]
    assert (standard.owed, standard.debtor, standard.creditor) == (
        "WMO325",
        "gemeente-0384",
        "aanbieder-65656055",
    )
    assert standard.due == end_of(28)
    assert contract.due == end_of(11, 9)


def test_retour_meets_by_the_identification_it_copies(reference: Path) -> None:
    """A 302 meets by the BerichtIdentificatie it copies, a 325 by DeclaratieIdentificatie."""
    [closing] = step_of(reference, "WMO302").closes
    assert (closing.message_type, closing.debtor, closing.creditor, closing.answers) == (
        "WMO302",
        "aanbieder-42420001",
        "gemeente-0384",
        "123456789012",
    )
    assert step_of(reference, "WMO302").opens == ()
    [declaratie] = step_of(reference, "WMO325").closes
    assert declaratie.answers == "765432198"


def test_305_meets_by_toewijzingnummer_and_301_by_referentie(reference: Path) -> None:
    """A 305 quotes its ToewijzingNummers, a 301 its ReferentieAanbieder, to say what it meets."""
    [start] = step_of(reference, "WMO305").closes
    assert start.references == ("300201", "300202")
    [assignment] = step_of(reference, "WMO301").closes
    assert assignment.references == ("42420002",)


def test_retour_naming_no_message_meets_nothing(reference: Path) -> None:
    """A retour without the identification it answers does not meet any obligation."""
    catalog = default_catalog()
    doc = parse_xml(example(reference, "WMO302"))
    step = Chains(get_profile()).step(
        catalog.identify(doc),
        doc,
        sender=party("42420001"),
        recipient=party("0384"),
        received=MONDAY,
        answers=None,
    )
    assert step.closes == ()
    assert not step


def test_kib_315_and_323_record_whether_they_came_in_time(reference: Path) -> None:
    """Zoetermeer 2020: a KIB 315 is owed 2 working days after its start, a 323 by invoicing."""
    catalog = default_catalog()
    payload = example(reference, "WMO315").replace(b"ABCDE", b"02201")  # KIB (seed 003, 4.2)
    doc = parse_xml(payload)
    chains = Chains(get_profile("zoetermeer-2020"))
    step = chains.step(
        catalog.identify(doc),
        doc,
        sender=party("42420001"),
        recipient=party("0384"),
        received=MONDAY,
        answers=None,
    )
    [kib] = [o for o in step.opens if o.owed == "WMO315"]
    assert kib.met_on_admission
    assert (kib.rule, kib.debtor, kib.product, kib.reference) == (
        "zoetermeer-4.2",
        "aanbieder-42420001",
        "02201",
        "42420001",
    )
    assert kib.due == end_of(5, 6)  # ToewijzingIngangsdatum Thursday 1 June + 2 working days

    [declared] = [
        o for o in step_of(reference, "WMO323", "zoetermeer-2020").opens if o.owed == "WMO323"
    ]
    assert declared.met_on_admission
    assert declared.rule == "zoetermeer-bijlage-4"
    assert [o.owed for o in step_of(reference, "WMO323").opens] == ["WMO325"]


def test_dates_outside_the_calendar_never_refuse_the_message(reference: Path) -> None:
    """Einddatum 9999-12-31 drops only the 307; a receipt in year 62 opens nothing, no error."""
    catalog = default_catalog()
    doc = parse_xml(example(reference, "WMO301").replace(b"2023-12-31", b"9999-12-31"))
    chains = Chains(get_profile())

    def step(received: datetime) -> ChainStep:
        return chains.step(
            catalog.identify(doc),
            doc,
            sender=party("0384"),
            recipient=party("42420001"),
            received=received,
            answers=None,
        )

    assert sorted(o.owed for o in step(MONDAY).opens) == ["WMO302", "WMO305"]
    assert step(MONDAY.replace(year=62)).opens == ()


def test_ijw_301_opens_the_same_chain_in_jw_messages(reference: Path) -> None:
    """iJw: a JW301 with two assignments owes one JW302 and a JW305 and JW307 per assignment."""
    step = step_of(reference, "JW301")
    assert sorted((o.owed, o.reference) for o in step.opens) == [
        ("JW302", None),
        ("JW305", "300201"),
        ("JW305", "300202"),
        ("JW307", "300201"),
        ("JW307", "300202"),
    ]
    # Ingangsdatum Wednesday 1 April 2026 lies after receipt, so 5 working days after the
    # start count, without Tweede Paasdag (6 April): Thursday 9 April.
    assert {o.due for o in step.opens if o.owed == "JW305"} == {end_of(9, 4, 2026)}


def test_changed_assignment_moves_its_stop_but_owes_no_second_start(reference: Path) -> None:
    """A ToegewezenProduct with a RedenWijziging opens its 307 again, and no new 305."""
    original = example(reference, "WMO301").decode()
    changed = original.replace(
        "</wmo301:Einddatum>",
        "</wmo301:Einddatum>\n\t\t\t\t<wmo301:RedenWijziging>05</wmo301:RedenWijziging>",
        1,
    )
    assert changed != original
    doc = parse_xml(changed.encode())
    default_catalog().validate(doc)
    step = Chains(get_profile("istandaarden-3.2")).step(
        default_catalog().identify(doc),
        doc,
        sender=party("0384"),
        recipient=party("42420001"),
        received=MONDAY,
        answers=None,
    )
    assert sorted(o.owed for o in step.opens) == ["WMO302", "WMO307"]


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_the_step_of_a_message_reduced_to_what_reads_names_is_the_same(path: Path) -> None:
    """A large message is kept only as far as ``reads`` (and the Header) name: the step it makes
    is the step of the whole, for every official example under every profile (an invalid one
    is refused instead)."""
    data = path.read_bytes()
    catalog = default_catalog()
    whole = parse_xml(data)
    message_type = catalog.identify(whole)

    def keep(message_type: MessageType) -> Keep:
        return Keep(frozenset({"Header"})) | reads(message_type)

    if catalog.issues(whole, message_type):
        with pytest.raises(SchemaViolation):
            read_message(data, catalog, keep)
        return
    reduced = read_message(data, catalog, keep).doc
    assert len(list(reduced.iter())) <= len(list(whole.iter()))
    for profile in PROFILE_NAMES:
        assert step_on(reduced, profile) == step_on(whole, profile)
