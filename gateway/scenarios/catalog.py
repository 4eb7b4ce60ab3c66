"""The scenarios ``gateway scenario`` knows, each a chain from the seed or the standard."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from gateway.deadlines.workdays import AMSTERDAM
from gateway.handlers.messages import Identificaties
from gateway.participants import Participant
from gateway.scenarios.chain import Chain
from gateway.standard import model
from gateway.standard.codec import build
from gateway.standard.message_types import MessageType

ZOETERMEER = Participant.parse("gemeente-0637")
PROVIDER = Participant.parse("aanbieder-12345678")
START = dt.datetime(2020, 3, 2, 9, 0, tzinfo=AMSTERDAM)  # Monday, period 3 of 2020


@dataclass(frozen=True, slots=True)
class Check:
    """One thing a scenario asserts, with what it saw."""

    name: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    title: str
    play: Callable[[Chain], Awaitable[list[Check]]]
    municipalities: tuple[Participant, ...] = (ZOETERMEER,)
    providers: tuple[Participant, ...] = (PROVIDER,)
    start: dt.datetime = START


def verzoek_om_toewijzing(
    *,
    afzender: Participant,
    ontvanger: Participant,
    identificatie: str,
    dagtekening: dt.date,
    bsn: str,
    products: list[tuple[str, str, int, str, str, dt.date, dt.date | None]],
) -> bytes:
    """A 315: per product (categorie, code, volume, eenheid, frequentie, ingang, einde).

    Seed 003 (written for iWmo 2.x) leaves ToewijzingEinddatum to the municipality; in iWmo 3.2
    it is required with a frequency per week (CD076), so the provider asks for one and the
    municipality sets the Einddatum it grants.
    """
    requested = tuple(
        model.AangevraagdProduct(
            referentie_aanbieder=f"{identificatie}-{n}",
            product=model.Product(categorie=categorie, code=code),
            toewijzing_ingangsdatum=ingang,
            toewijzing_einddatum=einde,
            omvang=model.Omvang(volume=volume, eenheid=eenheid, frequentie=frequentie),
            verwijzer=model.Verwijzer(type="04", naam="Lichte toets"),
        )
        for n, (categorie, code, volume, eenheid, frequentie, ingang, einde) in enumerate(
            products, 1
        )
    )
    message = model.Message(
        message_type=MessageType.WMO315,
        header=model.Header(
            afzender=afzender.code,
            ontvanger=ontvanger.code,
            bericht_identificatie=model.BerichtIdentificatie(
                identificatie=identificatie, dagtekening=dagtekening
            ),
        ),
        body=model.VerzoekToewijzingClient(
            bsn=bsn,
            geboortedatum=model.Geboortedatum(datum=dt.date(1950, 5, 17)),
            geslacht="2",
            naam=model.VerkorteNaam(
                geslachtsnaam=model.Achternaam(achternaam="Jansen"), voorletters="M"
            ),
            aangevraagde_producten=requested,
        ),
    )
    return build(message)


def _types(rows: list[object]) -> list[str]:
    return [str(getattr(row, "message_type", "")) for row in rows]


async def viv_new(chain: Chain) -> list[Check]:
    """Seed 003, scenario 1: 315, 301, 305 and, at the end of the term, 307 (with retours)."""
    today = chain.clock.today()
    payload = verzoek_om_toewijzing(
        afzender=PROVIDER,
        ontvanger=ZOETERMEER,
        identificatie=Identificaties().next(),
        dagtekening=today,
        bsn="999900018",
        # asks for 6 years; the contract grants at most 5
        products=[("07", "07A03", 4, "16", "2", today, dt.date(2026, 3, 1))],
    )
    sent = await chain.send(PROVIDER, ZOETERMEER, MessageType.WMO315, payload)
    for message_type in (
        MessageType.WMO315,
        MessageType.WMO316,
        MessageType.WMO301,
        MessageType.WMO302,
        MessageType.WMO305,
        MessageType.WMO306,
    ):
        await chain.wait_for(message_type)
    checks = [Check("315 answered by 316, 301, 302, 305, 306", True)]
    assignment = chain.runner.responders[0]
    files = getattr(assignment, "clients", {})
    einddatum = files["999900018"].assignments[0].einddatum if "999900018" in files else None
    checks.append(
        Check(
            "the municipality sets the Einddatum: at most 5 years (seed 003)",
            einddatum == dt.date(2025, 3, 1),
            f"Einddatum {einddatum}",
        )
    )
    before = _types(list(await chain.messages(sent.conversatie_id)))
    first = ["WMO315", "WMO316", "WMO301", "WMO302", "WMO305", "WMO306"]
    checks.append(
        Check(
            "the ledger holds 315 ... 306 in one conversation",
            sorted(before) == sorted(first),
            " ".join(before),
        )
    )
    if einddatum is not None:
        # Five years on: the VSP retention (two months) has removed the early messages by then.
        await chain.advance_to(einddatum)
        await chain.wait_for(MessageType.WMO307)
        await chain.wait_for(MessageType.WMO308)
    after = _types(list(await chain.messages(sent.conversatie_id)))
    checks.append(
        Check(
            "at the Einddatum: the planned stop (307) and its 308",
            sorted(after) == ["WMO307", "WMO308"],
            " ".join(after),
        )
    )
    return checks


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (Scenario("viv-new", "Seed scenario 1: a new VIV recreatieve dagbesteding", viv_new),)
}
