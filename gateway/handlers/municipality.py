"""A simulated municipality: it answers 305, 307, 315, 317 and 323 as the standard and its
contract profile say.

- 315: the 316 (with the level-2 remarks), then per requested product a 301 that assigns it
  (with the Einddatum the municipality sets) or a 319 that refuses it;
- 317: the 318, then a 301 with the changed assignments or a 319 refusing the request whole;
- 305: the 306; 307: the 308, and for a stop that ends the care early (not a temporary stop)
  a 301 that ends the assignment on the stop date;
- 323: the 325 with approval or rejection per line, by the contract.

A 301 always carries every assignment of the client at that provider that is current or
changed (Processen Wmo), so the municipality keeps what it assigned.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from gateway.handlers.messages import Identificaties, Outgoing, Received
from gateway.handlers.profiles import (
    JUDGED_LAST,
    Assignment,
    ContractProfile,
    Grant,
    Line,
    Refusal,
    Request,
)
from gateway.handlers.reception import Reception, retour
from gateway.participants import Participant, Role
from gateway.standard import model
from gateway.standard.codec import build, parse
from gateway.standard.message_types import MessageType
from gateway.standard.retour import Beoordeling, build_declaratie_antwoord
from gateway.standard.rules import Remark

# 307 reasons that end the care for good: the assignment ends with it (RedenWijziging).
ENDING_REASONS: dict[str, str] = {
    "21": "12",  # by the client: "geinitieerd door de aanbieder" is closest for the assignment
    "22": "12",
    "23": "05",  # ended early by agreement: herbeoordeling, verkorting
    "38": "09",  # another provider
    "31": "07",  # moved to another municipality
    "39": "06",  # to another domain
    "02": "02",  # died
}

REFUSED = "1"  # LDT_VerzoekAntwoord: verzoek afgewezen
INITIATED_BY_PROVIDER = "12"  # LDT_RedenWijziging: geinitieerd door de aanbieder


@dataclass
class ClientFile:
    """What the municipality knows of one client: person data and assignments per provider."""

    bsn: str
    geboortedatum: model.Geboortedatum
    geslacht: str
    naam: model.VolledigeNaam
    assignments: list[Assignment] = field(default_factory=list)


class Municipality:
    """One simulated municipality; ``answer`` is called per received message."""

    def __init__(
        self,
        participant: Participant,
        profile: ContractProfile,
        *,
        first_toewijzing_nummer: int = 1,
    ) -> None:
        if participant.role is not Role.GEMEENTE:
            raise ValueError(f"{participant} is not a municipality")
        self.participant = participant
        self.profile = profile
        self.ids = Identificaties()
        self.clients: dict[str, ClientFile] = {}
        self._next_nummer = first_toewijzing_nummer
        self.reception = Reception()

    # -- entry point ------------------------------------------------------------------------

    def answer(
        self,
        received: Received,
        now: dt.datetime,
        reject: Callable[[MessageType], str | None] = lambda _t: None,
    ) -> list[Outgoing]:
        """The messages this municipality sends in answer to ``received``.

        ``reject(retour type)`` gives the retourcode an answer policy forces, if any.
        """
        message_type = received.message_type
        if message_type.retour is None:
            return []
        today = now.date()
        judgement = self.reception.judge(received, today, reject)
        if message_type.number == 323:
            return [self._declaratie_antwoord(received, judgement.remarks, today, judgement.forced)]
        answer = retour(received, judgement, self.ids, today)
        if judgement.remarks:
            return [answer]  # nothing is done with a message that has remarks
        follow = {
            315: self._on_verzoek_toewijzing,
            317: self._on_verzoek_wijziging,
            307: self._on_stop,
        }.get(message_type.number)
        if follow is None:
            return [answer]  # a 305, say: the retour is all it gets, so nothing more is read
        return [answer, *follow(received, parse(judgement.doc, validated=True), now)]

    # -- 315: verzoek om toewijzing ---------------------------------------------------------

    def _on_verzoek_toewijzing(
        self, received: Received, message: model.Message, now: dt.datetime
    ) -> list[Outgoing]:
        client = message.body
        assert isinstance(client, model.VerzoekToewijzingClient)
        file = self._file(client.bsn, client.geboortedatum, client.geslacht, client.naam)
        provider = received.sender
        granted: list[Assignment] = []
        outgoing: list[Outgoing] = []
        for product in sorted(client.aangevraagde_producten, key=_judged_last):
            request = _request(
                client.bsn,
                product.product,
                product.toewijzing_ingangsdatum,
                product.toewijzing_einddatum,
                product.omvang,
            )
            # Judged beside what the client will have: the products granted so far in this
            # 315, and the running assignments they replace ended the day before.
            context, _ = _end_replaced(file.assignments, granted)
            decision = self.profile.decide(request, [*context, *granted])
            if isinstance(decision, Refusal):
                outgoing.append(
                    self._antwoord(received, product.referentie_aanbieder, decision, now)
                )
                continue
            assert isinstance(decision, Grant)
            granted.append(
                Assignment(
                    toewijzing_nummer=self._nummer(),
                    bsn=client.bsn,
                    provider=provider.code,
                    categorie=request.categorie,
                    code=request.code,
                    ingangsdatum=request.ingangsdatum,
                    einddatum=decision.einddatum,
                    volume=request.volume,
                    eenheid=request.eenheid,
                    frequentie=request.frequentie,
                    referentie_aanbieder=product.referentie_aanbieder,
                )
            )
        if granted:
            file.assignments, changed = _end_replaced(file.assignments, granted)
            file.assignments.extend(granted)
            outgoing.insert(0, self._toewijzing(received, file, provider, changed=changed, now=now))
        return outgoing

    # -- 317: verzoek om wijziging ----------------------------------------------------------

    def _on_verzoek_wijziging(
        self, received: Received, message: model.Message, now: dt.datetime
    ) -> list[Outgoing]:
        client = message.body
        assert isinstance(client, model.VerzoekWijzigingClient)
        file = self.clients.get(client.bsn)
        verzoek = client.verzoek
        if file is None:
            refusal = Refusal("1", "no assignment is known for this client")
            return [self._antwoord(received, verzoek.referentie_aanbieder, refusal, now)]
        changed: dict[int, str] = {}
        by_nummer = {a.toewijzing_nummer: a for a in file.assignments}
        for change in verzoek.te_wijzigen_producten:
            current = by_nummer.get(change.toewijzing_nummer)
            if current is None:
                refusal = Refusal("1", f"no assignment {change.toewijzing_nummer}")
                return [self._antwoord(received, verzoek.referentie_aanbieder, refusal, now)]
            if current.provider != received.sender.code:
                refusal = Refusal("1", f"assignment {change.toewijzing_nummer} is not yours")
                return [self._antwoord(received, verzoek.referentie_aanbieder, refusal, now)]
            updated = replace(
                current,
                einddatum=change.einddatum or current.einddatum,
                volume=change.omvang.volume if change.omvang else current.volume,
            )
            # The changed assignment must fit the contract as a new one would (its volume, its
            # term), beside the client's other assignments.
            others = [a for n, a in by_nummer.items() if n != current.toewijzing_nummer]
            decision = self.profile.decide(_as_request(updated), others)
            if isinstance(decision, Refusal):
                return [self._antwoord(received, verzoek.referentie_aanbieder, decision, now)]
            updated = replace(updated, einddatum=decision.einddatum)
            by_nummer[current.toewijzing_nummer] = updated
            changed[current.toewijzing_nummer] = (
                "04"
                if updated.einddatum
                and (current.einddatum is None or updated.einddatum > current.einddatum)
                else "05"
            )
        # What is judged beside a changed product is judged again: running vervoer beside a
        # dagbesteding asked down to fewer dagdelen.
        for nummer, dependent in by_nummer.items():
            if not changed or nummer in changed or dependent.categorie not in JUDGED_LAST:
                continue
            if dependent.einddatum is not None and dependent.einddatum < now.date():
                continue
            others = [a for n, a in by_nummer.items() if n != nummer]
            decision = self.profile.decide(_as_request(dependent), others)
            if isinstance(decision, Refusal):
                return [self._antwoord(received, verzoek.referentie_aanbieder, decision, now)]
        new: list[Assignment] = []
        for product in sorted(verzoek.nieuwe_producten, key=_judged_last):
            request = _request(
                client.bsn,
                product.product,
                product.gewenste_ingangsdatum,
                product.einddatum,
                product.omvang,
            )
            decision = self.profile.decide(request, [*by_nummer.values(), *new])
            if isinstance(decision, Refusal):
                # A verzoek om wijziging is judged as a whole (Processen Wmo).
                return [self._antwoord(received, verzoek.referentie_aanbieder, decision, now)]
            assert isinstance(decision, Grant)
            new.append(
                Assignment(
                    toewijzing_nummer=self._nummer(),
                    bsn=client.bsn,
                    provider=received.sender.code,
                    categorie=request.categorie,
                    code=request.code,
                    ingangsdatum=request.ingangsdatum,
                    einddatum=decision.einddatum,
                    volume=request.volume,
                    eenheid=request.eenheid,
                    frequentie=request.frequentie,
                    referentie_aanbieder=verzoek.referentie_aanbieder,
                )
            )
        file.assignments = [*by_nummer.values(), *new]
        return [self._toewijzing(received, file, received.sender, changed=changed, now=now)]

    # -- 307: stop ----------------------------------------------------------------------------

    def _on_stop(
        self, received: Received, message: model.Message, now: dt.datetime
    ) -> list[Outgoing]:
        client = message.body
        assert isinstance(client, model.StopClient)
        file = self.clients.get(client.bsn)
        if file is None:
            return []
        changed: dict[int, str] = {}
        for stop in client.stop_producten:
            reden = ENDING_REASONS.get(stop.reden_beeindiging)
            if reden is None or stop.toewijzing_nummer is None:
                continue  # planned or temporary ends keep the assignment
            for n, assignment in enumerate(file.assignments):
                if assignment.toewijzing_nummer == stop.toewijzing_nummer and (
                    assignment.einddatum is None or assignment.einddatum > stop.einddatum
                ):
                    file.assignments[n] = replace(assignment, einddatum=stop.einddatum)
                    changed[assignment.toewijzing_nummer] = reden
        if not changed:
            return []
        return [self._toewijzing(received, file, received.sender, changed=changed, now=now)]

    # -- 323: declaratie ----------------------------------------------------------------------

    def _declaratie_antwoord(
        self,
        received: Received,
        remarks: Sequence[Remark],
        today: dt.date,
        forced: str | None,
    ) -> Outgoing:
        beoordeling = Beoordeling.from_remarks(received.payload, remarks)
        if not remarks and forced is None:
            beoordeling = self._judge(parse(received.payload), received.sender)
        payload = build_declaratie_antwoord(
            received.payload, beoordeling, identificatie=self.ids.next(), dagtekening=today
        )
        return Outgoing(
            message_type=MessageType.of(received.message_type.standard, 325),
            payload=payload,
            recipient=received.sender,
            conversatie_id=received.conversatie_id,
            als_antwoord_op=received.traceer_id,
            trigger=received.message_type,
        )

    def _judge(self, message: model.Message, provider: Participant) -> Beoordeling:
        """Each line against ``provider``'s own assignment (another's is no assignment)."""
        declaratie = message.body
        assert isinstance(declaratie, model.Declaratie)
        rejected: dict[str, tuple[str, ...]] = {}
        for client in declaratie.clienten:
            file = self.clients.get(client.bsn)
            by_nummer = {
                a.toewijzing_nummer: a
                for a in (file.assignments if file else [])
                if a.provider == provider.code
            }
            for prestatie in client.prestaties:
                line = Line(
                    bsn=client.bsn,
                    toewijzing_nummer=prestatie.toewijzing_nummer,
                    categorie=prestatie.product_categorie,
                    code=prestatie.product_code,
                    begindatum=prestatie.product_periode.begindatum,
                    einddatum=prestatie.product_periode.einddatum,
                    volume=prestatie.geleverd_volume,
                    eenheid=prestatie.eenheid,
                    tarief=prestatie.product_tarief,
                    bedrag=prestatie.ingediend_bedrag.bedrag,
                )
                codes = self.profile.judge(line, by_nummer.get(prestatie.toewijzing_nummer))
                if codes:
                    rejected[prestatie.product_referentie.referentie_nummer] = tuple(codes)
        return Beoordeling(prestaties=rejected)

    # -- building blocks -----------------------------------------------------------------------

    def _file(
        self,
        bsn: str,
        geboortedatum: model.Geboortedatum,
        geslacht: str,
        naam: model.VerkorteNaam,
    ) -> ClientFile:
        file = self.clients.get(bsn)
        if file is None:
            file = ClientFile(
                bsn=bsn,
                geboortedatum=geboortedatum,
                geslacht=geslacht,
                naam=model.VolledigeNaam(
                    geslachtsnaam=naam.geslachtsnaam,
                    voornamen=naam.voornamen,
                    voorletters=naam.voorletters,
                    naam_gebruik="1",
                ),
            )
            self.clients[bsn] = file
        return file

    def _brp_adres(self, bsn: str) -> model.Contact:
        """The client's registered address, as the municipality's register would give it.

        The simulation has no register: the address is made up, the same for a BSN each time.
        """
        place = self.participant.name.removeprefix("Gemeente ").strip() or "Onbekend"
        return model.Contact(
            soort="01",
            adres=model.Adres(
                huis=model.Huis(huisnummer=int(bsn[-3:]) % 200 + 1),
                postcode="2711AB",
                straatnaam="Dorpsstraat",
                plaatsnaam=place,
                land_code="NL",
            ),
        )

    def _nummer(self) -> int:
        nummer = self._next_nummer
        self._next_nummer += 1
        return nummer

    def _header(self, provider: Participant, today: dt.date) -> model.Header:
        return model.Header(
            afzender=self.participant.code,
            ontvanger=provider.code,
            bericht_identificatie=model.BerichtIdentificatie(
                identificatie=self.ids.next(), dagtekening=today
            ),
        )

    def _toewijzing(
        self,
        received: Received,
        file: ClientFile,
        provider: Participant,
        *,
        changed: dict[int, str],
        now: dt.datetime,
    ) -> Outgoing:
        today = now.date()
        current = [
            a
            for a in file.assignments
            if a.provider == provider.code
            and (a.toewijzing_nummer in changed or a.einddatum is None or a.einddatum >= today)
        ]
        products = tuple(
            model.ToegewezenProduct(
                toewijzing_nummer=a.toewijzing_nummer,
                referentie_aanbieder=a.referentie_aanbieder,
                product=model.Product(categorie=a.categorie, code=a.code),
                toewijzingsdatum=today,
                toewijzingstijd=now.time().replace(microsecond=0, tzinfo=None),
                ingangsdatum=a.ingangsdatum,
                einddatum=a.einddatum,
                reden_wijziging=changed.get(a.toewijzing_nummer),
                omvang=(
                    model.Omvang(volume=a.volume, eenheid=a.eenheid, frequentie=a.frequentie)
                    if a.volume is not None and a.eenheid and a.frequentie
                    else None
                ),
            )
            for a in current
        )
        standard = received.message_type.standard
        message = model.Message(
            message_type=MessageType.of(standard, 301),
            header=self._header(provider, today),
            body=model.ToewijzingClient(
                bsn=file.bsn,
                geboortedatum=file.geboortedatum,
                geslacht=file.geslacht,
                naam=file.naam,
                contactgegevens=(self._brp_adres(file.bsn),),
                toegewezen_producten=products,
            ),
        )
        return Outgoing(
            message_type=message.message_type,
            payload=build(message),
            recipient=provider,
            conversatie_id=received.conversatie_id,
            als_antwoord_op=received.traceer_id,
            trigger=received.message_type,
        )

    def _antwoord(
        self, received: Received, referentie: str, refusal: Refusal, now: dt.datetime
    ) -> Outgoing:
        message = model.Message(
            message_type=MessageType.of(received.message_type.standard, 319),
            header=self._header(received.sender, now.date()),
            body=model.Antwoord(
                referentie_aanbieder=referentie,
                verzoek_antwoord=REFUSED,
                reden_afwijzing_verzoek=refusal.reden,
            ),
        )
        return Outgoing(
            message_type=message.message_type,
            payload=build(message),
            recipient=received.sender,
            conversatie_id=received.conversatie_id,
            als_antwoord_op=received.traceer_id,
            trigger=received.message_type,
        )


def _end_replaced(
    assignments: Sequence[Assignment], granted: Sequence[Assignment]
) -> tuple[list[Assignment], dict[int, str]]:
    """``assignments`` with what the new ones replace ended, and ToewijzingNummer ->
    RedenWijziging of those ended.

    Seed 003, scenario 2: a change of volume or product code is asked with a new 315; the
    municipality ends the running assignment (same provider, same category) on the day before
    the new one starts.
    """
    result = list(assignments)
    changed: dict[int, str] = {}
    for new in granted:
        day_before = new.ingangsdatum - dt.timedelta(days=1)
        for n, running in enumerate(result):
            if (
                running.provider == new.provider
                and running.categorie == new.categorie
                and running.active_on(new.ingangsdatum)
                and running.ingangsdatum <= day_before
            ):
                result[n] = replace(running, einddatum=day_before)
                changed[running.toewijzing_nummer] = INITIATED_BY_PROVIDER
    return result, changed


def _as_request(assignment: Assignment) -> Request:
    """An assignment as the profile judges a request for it (a change asked with a 317)."""
    return Request(
        bsn=assignment.bsn,
        categorie=assignment.categorie,
        code=assignment.code,
        ingangsdatum=assignment.ingangsdatum,
        einddatum=assignment.einddatum,
        volume=assignment.volume,
        eenheid=assignment.eenheid,
        frequentie=assignment.frequentie,
    )


def _judged_last(asked: model.AangevraagdProduct | model.NieuwProduct) -> bool:
    return asked.product is not None and asked.product.categorie in JUDGED_LAST


def _request(
    bsn: str,
    product: model.Product | None,
    ingangsdatum: dt.date,
    einddatum: dt.date | None,
    omvang: model.Omvang | None,
) -> Request:
    """A requested product (of a 315, or a new one in a 317), as the profile judges it."""
    return Request(
        bsn=bsn,
        categorie=product.categorie if product else "",
        code=product.code if product else None,
        ingangsdatum=ingangsdatum,
        einddatum=einddatum,
        volume=omvang.volume if omvang else None,
        eenheid=omvang.eenheid if omvang else None,
        frequentie=omvang.frequentie if omvang else None,
    )
