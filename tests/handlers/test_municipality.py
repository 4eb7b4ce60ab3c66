"""The simulated municipality's decisions on a verzoek om wijziging (317), without a broker."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace

import pytest

from gateway.deadlines.workdays import AMSTERDAM
from gateway.handlers.declaring import Delivered, Month, declaratie
from gateway.handlers.messages import Outgoing, Received
from gateway.handlers.municipality import Municipality
from gateway.handlers.profiles import get_profile
from gateway.handlers.provider import Provider
from gateway.participants import Participant
from gateway.scenarios.steps import ProductRequest, contracted, verzoek_om_toewijzing
from gateway.standard import model
from gateway.standard.codec import build, parse
from gateway.standard.message_types import MessageType

ZOETERMEER = Participant.parse("gemeente-0637")
PROVIDER = Participant.parse("aanbieder-12345678")
NOW = dt.datetime(2020, 3, 2, 9, 0, tzinfo=AMSTERDAM)
BSN = "999900018"


def _received(message_type: MessageType, payload: bytes) -> Received:
    return Received(message_type, payload, "t-" + message_type.name, "c-1", PROVIDER, NOW)


def _verzoek_om_wijziging(identificatie: str, verzoek: model.Verzoek) -> bytes:
    return build(
        model.Message(
            message_type=MessageType.WMO317,
            header=model.Header(
                afzender=PROVIDER.code,
                ontvanger=ZOETERMEER.code,
                bericht_identificatie=model.BerichtIdentificatie(
                    identificatie=identificatie, dagtekening=NOW.date()
                ),
            ),
            body=model.VerzoekWijzigingClient(bsn=BSN, verzoek=verzoek),
        )
    )


def _ask(
    municipality: Municipality, identificatie: str, products: Sequence[ProductRequest]
) -> list[Outgoing]:
    """What ``municipality`` answers to PROVIDER's 315 for BSN asking ``products``."""
    payload = verzoek_om_toewijzing(
        afzender=PROVIDER,
        ontvanger=ZOETERMEER,
        identificatie=identificatie,
        dagtekening=NOW.date(),
        bsn=BSN,
        products=products,
    )
    return municipality.answer(_received(MessageType.WMO315, payload), NOW)


def _granted() -> tuple[Municipality, Outgoing]:
    """A municipality that assigned 4 dagdelen 07A03 to March 2021, and its 301."""
    municipality = Municipality(ZOETERMEER, get_profile("zoetermeer-2020"))
    answers = _ask(
        municipality, "MUN000000001", [contracted("07A03", 4, NOW.date(), dt.date(2021, 2, 28))]
    )
    assert [a.message_type for a in answers] == [MessageType.WMO316, MessageType.WMO301]
    return municipality, answers[1]


def _municipality_with_an_assignment() -> Municipality:
    return _granted()[0]


def test_a_317_shortens_an_assignment_and_adds_a_product() -> None:
    """318, then a 301 with the shortened assignment (RedenWijziging 05) and the new one."""
    municipality = _municipality_with_an_assignment()
    verzoek = model.Verzoek(
        referentie_aanbieder="VOW-1",
        reden_verzoek="1",
        te_wijzigen_producten=(
            model.TeWijzigenProduct(
                toewijzing_nummer=1,
                gewenste_ingangsdatum=NOW.date(),
                einddatum=dt.date(2020, 12, 31),
            ),
        ),
        nieuwe_producten=(
            model.NieuwProduct(
                product=model.Product(categorie="08", code="08A03"),
                gewenste_ingangsdatum=dt.date(2020, 4, 1),
                einddatum=dt.date(2020, 12, 31),
                omvang=model.Omvang(volume=2, eenheid="14", frequentie="2"),
            ),
        ),
    )
    payload = _verzoek_om_wijziging("MUN000000002", verzoek)
    retour, toewijzing = municipality.answer(_received(MessageType.WMO317, payload), NOW)
    assert retour.message_type is MessageType.WMO318
    body = parse(toewijzing.payload).body
    assert isinstance(body, model.ToewijzingClient)
    products = {p.toewijzing_nummer: p for p in body.toegewezen_producten}
    assert (products[1].einddatum, products[1].reden_wijziging) == (dt.date(2020, 12, 31), "05")
    assert products[2].product == model.Product(categorie="08", code="08A03")
    assert products[2].ingangsdatum == dt.date(2020, 4, 1)


def test_a_317_with_a_product_outside_the_contract_is_refused_whole() -> None:
    """One new product the contract refuses: a 319 for the whole request, nothing changes."""
    municipality = _municipality_with_an_assignment()
    verzoek = model.Verzoek(
        referentie_aanbieder="VOW-2",
        reden_verzoek="1",
        ongewijzigde_producten=(model.OngewijzigdProduct(toewijzing_nummer=1),),
        nieuwe_producten=(
            model.NieuwProduct(
                product=model.Product(categorie="07", code="07204"),
                gewenste_ingangsdatum=dt.date(2020, 4, 1),
                einddatum=dt.date(2020, 12, 31),
                omvang=model.Omvang(volume=2, eenheid="16", frequentie="2"),
            ),
        ),
    )
    payload = _verzoek_om_wijziging("MUN000000003", verzoek)
    retour, antwoord = municipality.answer(_received(MessageType.WMO317, payload), NOW)
    assert retour.message_type is MessageType.WMO318
    body = parse(antwoord.payload).body
    assert isinstance(body, model.Antwoord)
    assert (body.referentie_aanbieder, body.reden_afwijzing_verzoek) == ("VOW-2", "4")
    (assignment,) = municipality.clients[BSN].assignments
    assert assignment.einddatum == dt.date(2021, 2, 28)


def _wijziging(
    volume: int | None = None, einddatum: dt.date = dt.date(2021, 2, 28)
) -> model.Verzoek:
    return model.Verzoek(
        referentie_aanbieder="VOW-3",
        reden_verzoek="1",
        te_wijzigen_producten=(
            model.TeWijzigenProduct(
                toewijzing_nummer=1,
                gewenste_ingangsdatum=NOW.date(),
                einddatum=einddatum,
                omvang=(
                    model.Omvang(volume=volume, eenheid="16", frequentie="2")
                    if volume is not None
                    else None
                ),
            ),
        ),
    )


def test_a_317_that_raises_dagbesteding_above_9_dagdelen_is_refused() -> None:
    """A change is judged by the contract as a new request is: 12 dagdelen a week, reden 4."""
    municipality = _municipality_with_an_assignment()
    payload = _verzoek_om_wijziging("MUN000000004", _wijziging(volume=12))
    retour, antwoord = municipality.answer(_received(MessageType.WMO317, payload), NOW)
    assert retour.message_type is MessageType.WMO318
    body = parse(antwoord.payload).body
    assert isinstance(body, model.Antwoord)
    assert body.reden_afwijzing_verzoek == "4"
    (assignment,) = municipality.clients[BSN].assignments
    assert assignment.volume == 4


@pytest.mark.parametrize(("dagdelen", "refused"), [(2, True), (3, False)])
def test_a_317_lowering_dagbesteding_is_judged_beside_the_running_vervoer(
    dagdelen: int, refused: bool
) -> None:
    """4 dagdelen and 3 etmalen vervoer run; a 317 asks the dagbesteding down. To 2 dagdelen the
    vervoer would be above the days: refused whole (reden 4); to 3 it still fits."""
    municipality = Municipality(ZOETERMEER, get_profile("zoetermeer-2020"))
    answers = _ask(
        municipality,
        "MUN000000009",
        [
            contracted("07A03", 4, NOW.date(), dt.date(2021, 2, 28)),
            contracted("08A03", 3, NOW.date(), dt.date(2021, 2, 28)),
        ],
    )
    assert [a.message_type for a in answers] == [MessageType.WMO316, MessageType.WMO301]

    change = _verzoek_om_wijziging("MUN000000010", _wijziging(volume=dagdelen))
    retour, answer = municipality.answer(_received(MessageType.WMO317, change), NOW)
    assert retour.message_type is MessageType.WMO318
    volumes = {a.code: a.volume for a in municipality.clients[BSN].assignments}
    if refused:
        body = parse(answer.payload).body
        assert isinstance(body, model.Antwoord)
        assert body.reden_afwijzing_verzoek == "4"
        assert volumes == {"07A03": 4, "08A03": 3}
    else:
        assert answer.message_type is MessageType.WMO301
        assert volumes == {"07A03": dagdelen, "08A03": 3}


def test_a_317_that_extends_beyond_5_years_gets_the_term_of_the_contract() -> None:
    """An Einddatum asked 6 years on: the 301 extends (04) to the 5 years of the contract."""
    municipality = _municipality_with_an_assignment()
    payload = _verzoek_om_wijziging("MUN000000005", _wijziging(einddatum=dt.date(2026, 3, 1)))
    _retour, toewijzing = municipality.answer(_received(MessageType.WMO317, payload), NOW)
    body = parse(toewijzing.payload).body
    assert isinstance(body, model.ToewijzingClient)
    (product,) = body.toegewezen_producten
    assert (product.einddatum, product.reden_wijziging) == (dt.date(2025, 3, 1), "04")


def test_a_317_on_another_providers_assignment_is_refused() -> None:
    """Only the provider that holds an assignment may ask to change it."""
    municipality = _municipality_with_an_assignment()
    payload = _verzoek_om_wijziging("MUN000000006", _wijziging(volume=2))
    other = Participant.parse("aanbieder-42420001")
    received = Received(MessageType.WMO317, payload, "t-x", "c-2", other, NOW)
    answers = municipality.answer(received, NOW)
    assert [a.message_type for a in answers] == [MessageType.WMO318, MessageType.WMO319]
    assert municipality.clients[BSN].assignments[0].volume == 4


def test_vervoer_is_judged_beside_the_dagbesteding_that_replaces_the_running_one() -> None:
    """Running: 4 dagdelen. A 315 for 2 dagdelen and 3 etmalen vervoer from May: the 4 end the
    day before, so 3 etmalen are above the 2 days - refused; the 2 dagdelen are granted."""
    municipality = _municipality_with_an_assignment()
    may = dt.date(2020, 5, 4)
    answers = _ask(
        municipality,
        "MUN000000007",
        [
            contracted("07A03", 2, may, dt.date(2021, 2, 28)),
            contracted("08A03", 3, may, dt.date(2021, 2, 28)),
        ],
    )
    assert [a.message_type for a in answers] == [
        MessageType.WMO316,
        MessageType.WMO301,
        MessageType.WMO319,
    ]
    body = parse(answers[1].payload).body
    assert isinstance(body, model.ToewijzingClient)
    products = {p.toewijzing_nummer: p for p in body.toegewezen_producten}
    assert (products[1].einddatum, products[1].reden_wijziging) == (dt.date(2020, 5, 3), "12")
    assert products[2].product == model.Product(categorie="07", code="07A03")
    assert set(products) == {1, 2}


@pytest.mark.parametrize("vervoer_first", [False, True])
def test_vervoer_is_judged_beside_its_dagbesteding_in_either_order(vervoer_first: bool) -> None:
    """A new client's 315 asks 3 dagdelen and 3 etmalen vervoer: both granted, whichever the
    provider listed first."""
    municipality = Municipality(ZOETERMEER, get_profile("zoetermeer-2020"))
    dagbesteding = contracted("07A03", 3, NOW.date(), dt.date(2021, 2, 28))
    vervoer = contracted("08A03", 3, NOW.date(), dt.date(2021, 2, 28))
    answers = _ask(
        municipality,
        "MUN000000008",
        [vervoer, dagbesteding] if vervoer_first else [dagbesteding, vervoer],
    )
    assert [a.message_type for a in answers] == [MessageType.WMO316, MessageType.WMO301]
    body = parse(answers[1].payload).body
    assert isinstance(body, model.ToewijzingClient)
    granted = {p.product.code for p in body.toegewezen_producten if p.product is not None}
    assert granted == {"07A03", "08A03"}


@pytest.mark.parametrize(
    ("reden", "withdrawn"),
    [("19", None), ("20", None), ("22", "12"), ("23", "05"), ("38", "09"), ("02", "02")],
)
def test_a_307_gets_its_308_and_a_withdrawing_301_when_care_ends_for_good(
    reden: str, withdrawn: str | None
) -> None:
    """Seed 003, 7.1: after a stop that ends the care, a 301 ends the assignment on the stop's
    Einddatum; a planned end (19) or a temporary stop (20, 5.4) keeps the assignment."""
    municipality, toewijzing = _granted()
    provider = Provider(PROVIDER, autopilot=True)
    received_301 = Received(MessageType.WMO301, toewijzing.payload, "t-301", "c-1", ZOETERMEER, NOW)
    provider.answer(received_301, NOW)
    last_day = dt.date(2020, 6, 30)
    (stop,) = provider.stop_care(BSN, 1, last_day, reden, NOW.date())
    # The stop goes on its day (its Dagtekening), the day the care ended.
    then = dt.datetime(2020, 6, 30, 17, 0, tzinfo=AMSTERDAM)
    received = Received(MessageType.WMO307, stop.payload, "t-307", "c-1", PROVIDER, then)
    answers = municipality.answer(received, then)
    assert answers[0].message_type is MessageType.WMO308
    (assignment,) = municipality.clients[BSN].assignments
    if withdrawn is None:
        assert len(answers) == 1
        assert assignment.einddatum == dt.date(2021, 2, 28)
        return
    assert [a.message_type for a in answers] == [MessageType.WMO308, MessageType.WMO301]
    body = parse(answers[1].payload).body
    assert isinstance(body, model.ToewijzingClient)
    (product,) = body.toegewezen_producten
    assert (product.einddatum, product.reden_wijziging) == (last_day, withdrawn)
    assert assignment.einddatum == last_day


def test_a_323_is_answered_line_by_line_with_the_retourcodes() -> None:
    """325: the right line approved; another provider's assignment 9338, a wrong unit 9341, a
    wrong tariff 0611 - each line rejected alone, with its code."""
    municipality = _municipality_with_an_assignment()
    february = dt.datetime(2021, 2, 1, 9, 0, tzinfo=AMSTERDAM)
    right = Delivered(
        bsn=BSN,
        toewijzing_nummer=1,
        categorie="07",
        code="07A03",
        begindatum=dt.date(2021, 1, 1),
        einddatum=dt.date(2021, 1, 31),
        volume=18,
        eenheid="16",
        tarief=3423,
    )
    # One line per part of January (TR416: one debit line per assignment and period).
    lines = [
        ("R1", replace(right, einddatum=dt.date(2021, 1, 10))),
        (
            "R2",
            replace(
                right, begindatum=dt.date(2021, 1, 11), einddatum=dt.date(2021, 1, 20), eenheid="14"
            ),
        ),
        ("R3", replace(right, begindatum=dt.date(2021, 1, 21), tarief=3500)),
    ]

    def answer(sender: Participant, identificatie: str) -> dict[str, tuple[str, ...]]:
        message = declaratie(
            message_type=MessageType.WMO323,
            sender=sender,
            recipient=ZOETERMEER,
            identificatie=identificatie,
            nummer="D" + identificatie[1:],
            month=Month(2021, 1),
            dagtekening=february.date(),
            lines=lines,
        )
        received = Received(MessageType.WMO323, build(message), "t-323", "c-3", sender, february)
        (antwoord,) = municipality.answer(received, february)
        assert antwoord.message_type is MessageType.WMO325
        body = parse(antwoord.payload).body
        assert isinstance(body, model.DeclaratieAntwoord)
        return {
            p.product_referentie.referentie_nummer: p.retour_codes
            for client in body.clienten
            for p in client.prestaties
        }

    assert answer(PROVIDER, "M00000000008") == {"R2": ("9341",), "R3": ("0611",)}
    other = Participant.parse("aanbieder-42420001")
    assert answer(other, "M00000000009") == {
        "R1": ("9338",),
        "R2": ("9338",),
        "R3": ("9338", "0611"),  # no assignment of its own; the tariff is still wrong
    }
