"""The simulated municipality's decisions on a verzoek om wijziging (317), without a broker."""

from __future__ import annotations

import datetime as dt

from gateway.deadlines.workdays import AMSTERDAM
from gateway.handlers.messages import Received
from gateway.handlers.municipality import Municipality
from gateway.handlers.profiles import get_profile
from gateway.participants import Participant
from gateway.scenarios.steps import contracted, verzoek_om_toewijzing
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


def _municipality_with_an_assignment() -> Municipality:
    municipality = Municipality(ZOETERMEER, get_profile("zoetermeer-2020"))
    payload = verzoek_om_toewijzing(
        afzender=PROVIDER,
        ontvanger=ZOETERMEER,
        identificatie="MUN000000001",
        dagtekening=NOW.date(),
        bsn=BSN,
        products=[contracted("07A03", 4, NOW.date(), dt.date(2021, 2, 28))],
    )
    answers = municipality.answer(_received(MessageType.WMO315, payload), NOW)
    assert [a.message_type for a in answers] == [MessageType.WMO316, MessageType.WMO301]
    return municipality


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
