"""What the scenarios are made of: the provider's software's messages, moving the clock,
reading what came back, and the checks on messages and on the SLA state of the ledger."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import aiohttp

from gateway.client import Sent
from gateway.deadlines.workdays import AMSTERDAM
from gateway.handlers.messages import Identificaties
from gateway.handlers.profiles import ZOETERMEER_2020, Assignment
from gateway.participants import Participant
from gateway.scenarios.chain import Chain
from gateway.sla.store import Obligation, Query, State
from gateway.standard import model
from gateway.standard.codec import build, parse
from gateway.standard.message_types import MessageType
from gateway.standard.xmlsafe import parse_xml

ZOETERMEER = Participant.parse("gemeente-0637")
PROVIDER = Participant.parse("aanbieder-12345678")
OTHER_PROVIDER = Participant.parse("aanbieder-42420001")
START = dt.datetime(2020, 3, 2, 9, 0, tzinfo=AMSTERDAM)  # Monday, period 3 of 2020
BSN = "999900018"

# Retourcodes that are no remark: 0200 (geen opmerking), 8001 (declaratie volledig toegewezen).
NO_REMARK = frozenset({"0200", "8001"})

ProductRequest = tuple[str, str, int, str, str, dt.date, dt.date | None]
"""(categorie, code, volume, eenheid, frequentie, ingangsdatum, einddatum) of a 315."""


@dataclass(frozen=True, slots=True)
class Check:
    """One thing a scenario asserts, with what it saw."""

    name: str
    ok: bool
    detail: str = ""


# -- building what the provider's software sends ----------------------------------------------


def contracted(
    code: str, volume: int, ingang: dt.date, einde: dt.date | None = None
) -> ProductRequest:
    """A requested product of the Zoetermeer 2020 contract, in its unit and frequency."""
    p = ZOETERMEER_2020[code]
    return (p.categorie, code, volume, p.eenheid, p.frequentie, ingang, einde)


def verzoek_om_toewijzing(
    *,
    afzender: Participant,
    ontvanger: Participant,
    identificatie: str,
    dagtekening: dt.date,
    bsn: str,
    products: Sequence[ProductRequest],
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


_IDS = Identificaties()


async def ask(
    chain: Chain,
    products: Sequence[ProductRequest],
    *,
    provider: Participant = PROVIDER,
    bsn: str = BSN,
) -> Sent:
    """The provider's software sends a 315 to Zoetermeer."""
    payload = verzoek_om_toewijzing(
        afzender=provider,
        ontvanger=ZOETERMEER,
        identificatie=_IDS.next(),
        dagtekening=chain.clock.today(),
        bsn=bsn,
        products=products,
    )
    return await chain.send(provider, ZOETERMEER, MessageType.WMO315, payload)


async def at(chain: Chain, day: dt.date, hour: int = 9) -> None:
    """Move the virtual clock to ``hour`` o'clock of ``day`` (Europe/Amsterdam)."""
    chain.clock.set(dt.datetime.combine(day, dt.time(hour), tzinfo=AMSTERDAM))
    await asyncio.sleep(0)


async def wait_all(chain: Chain, counts: Mapping[MessageType, int]) -> None:
    """Until the simulated participants received at least so many of each type."""
    for message_type, count in counts.items():
        await chain.wait_for(message_type, count)


# -- reading what came back -------------------------------------------------------------------


def bodies(chain: Chain, message_type: MessageType, by: Participant | None = None) -> list[object]:
    return [parse(payload).body for payload in chain.received(message_type, by)]


def toewijzingen(chain: Chain, by: Participant = PROVIDER) -> list[model.ToewijzingClient]:
    found = bodies(chain, MessageType.WMO301, by)
    return [b for b in found if isinstance(b, model.ToewijzingClient)]


def antwoorden(chain: Chain) -> list[model.Antwoord]:
    return [b for b in bodies(chain, MessageType.WMO319) if isinstance(b, model.Antwoord)]


def retourcodes(chain: Chain, message_type: MessageType) -> list[str]:
    """Every retourcode in the retours of this type, header and body (0200: no remark)."""
    return [
        (element.text or "").strip()
        for payload in chain.received(message_type)
        for element in parse_xml(payload).getroot().iter("{*}RetourCode")
    ]


def no_remarks(chain: Chain, *types: MessageType) -> Check:
    """Each of these retours came, and none carries a remark (a 3.2 retour without remarks is
    its header alone; a 325 says 0200, and 8001 when it approves the declaration whole)."""
    codes = sorted({code for t in types for code in retourcodes(chain, t)} - NO_REMARK)
    missing = [t.name for t in types if not chain.received(t)]
    names = "/".join(t.name[3:] for t in types)
    return Check(
        f"the {names} retours came, without remarks",
        not codes and not missing,
        f"remarks {codes}, missing {missing}" if codes or missing else "",
    )


async def nobody_late(chain: Chain) -> Check:
    """The SLA state: no obligation is late (open past its due, or met after it)."""
    late = await chain.obligations(Query(late=True))
    detail = ", ".join(f"{o.owed} by {o.debtor} due {o.due:%Y-%m-%d}" for o in late)
    return Check("SLA: nobody is late", not late, detail or "no late obligations")


async def all_met(chain: Chain, owed: MessageType) -> Check:
    """Every obligation to send ``owed`` is met."""
    found = await chain.obligations(Query(message=owed.name))
    states = [o.state(chain.clock.now()).value for o in found]
    ok = bool(found) and all(state == State.MET for state in states)
    return Check(f"SLA: every {owed.name} owed was sent in time", ok, " ".join(states))


def assigned(chain: Chain, bsn: str = BSN) -> list[Assignment]:
    file = chain.municipality(ZOETERMEER).clients.get(bsn)
    return list(file.assignments) if file else []


def declared_lines(body: object) -> dict[str, tuple[str, dt.date, int | None, int]]:
    """ReferentieNummer -> (code, begin, tariff, amount) of a 323."""
    assert isinstance(body, model.Declaratie)
    return {
        p.product_referentie.referentie_nummer: (
            p.product_code,
            p.product_periode.begindatum,
            p.product_tarief,
            p.ingediend_bedrag.bedrag,
        )
        for client in body.clienten
        for p in client.prestaties
    }


def rejected_lines(body: object) -> dict[str, list[str]]:
    """ReferentieNummer -> retourcodes of the lines a 325 rejects."""
    assert isinstance(body, model.DeclaratieAntwoord)
    return {
        p.product_referentie.referentie_nummer: list(p.retour_codes)
        for client in body.clienten
        for p in client.prestaties
    }


async def set_policy(
    chain: Chain, participant: Participant, message_type: MessageType, policy: str
) -> Check:
    """Change an answer policy through the ops admin API, as a harness would."""
    url = (
        f"http://{chain.gateway.settings.ops_host}:{chain.gateway.ops_port}"
        f"/admin/policies/{participant.key}/{message_type.name}"
    )
    async with (
        aiohttp.ClientSession() as session,
        session.put(url, json={"policy": policy}) as response,
    ):
        table = await response.json()
    return Check(
        f"policy {participant.key}/{message_type.name}={policy} set through /admin/policies",
        response.status == 200
        and {"participant": participant.key, "message": message_type.name, "policy": policy}
        in table.get("policies", []),
        str(table),
    )


async def until(
    chain: Chain, query: Query, condition: Callable[[Obligation], bool], seconds: float = 10.0
) -> Obligation:
    """The first obligation of ``query`` that meets ``condition``, polling the ledger."""
    async with asyncio.timeout(seconds):
        while True:
            for obligation in await chain.obligations(query):
                if condition(obligation):
                    return obligation
            await asyncio.sleep(0.05)
