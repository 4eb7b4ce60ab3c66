"""A simulated provider: it answers 301 with 302 and 319 with 320, and on autopilot delivers.

The autopilot turns each new assignment of a 301 into care: a 305 on its Ingangsdatum and a 307
on its Einddatum (reden 19, delivered as planned). When a later 301 ends a running assignment
earlier, the provider stops the care on that day instead (reden 37) and drops the planned stop.
With a contract profile that prices the products, it also declares: after each 4-week period, a
323 per municipality for the calendar month that ended in it (``gateway.handlers.declaring``).
A line the 325 rejects for its tariff (0611) is declared again, at the contract tariff, with the
next month.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from gateway.deadlines.workdays import WorkingDays
from gateway.handlers import declaring
from gateway.handlers.declaring import Delivered, Month
from gateway.handlers.messages import Identificaties, Outgoing, Received
from gateway.handlers.profiles import ContractProfile
from gateway.handlers.reception import Reception, retour
from gateway.participants import Participant, Role
from gateway.standard import model
from gateway.standard.codec import build, parse
from gateway.standard.message_types import MessageType

PLANNED_END = "19"
CHANGE_REQUEST_END = "37"
TEMPORARY_END = "20"
FIRST_DELIVERY = "1"
TARIEF_ONJUIST = "0611"
# Without an Einddatum, declarations are planned this many months ahead.
OPEN_ENDED_MONTHS = 12


@dataclass
class Care:
    """One assignment the provider delivers on."""

    nummer: int
    product: model.Product | None
    ingangsdatum: dt.date
    einddatum: dt.date | None
    bsn: str = ""
    omvang: model.Omvang | None = None
    origin: tuple[Received, model.ToewijzingClient] | None = None
    """The 301 that assigned it, and its client: what a stop or a restart is built from."""


class Provider:
    """One simulated provider; ``answer`` is called per received message."""

    def __init__(
        self,
        participant: Participant,
        *,
        autopilot: bool = False,
        profile: ContractProfile | None = None,
        prices: Mapping[str, int] | None = None,
        workdays: WorkingDays | None = None,
    ) -> None:
        """``profile``: the contract it declares under (none: it does not declare);
        ``prices``: its own tariffs (cents) per product code where they differ from the contract.
        """
        if participant.role is not Role.AANBIEDER:
            raise ValueError(f"{participant} is not a provider")
        self.participant = participant
        self.autopilot = autopilot
        self.profile = profile
        self.prices = dict(prices or {})
        self.workdays = workdays or WorkingDays()
        self.ids = Identificaties()
        self.declaration_ids = Identificaties("D" + secrets.token_hex(2)[:3].upper())
        self.references = Identificaties("R" + secrets.token_hex(2)[:3].upper())
        self.care: dict[tuple[str, str, int], Care] = {}  # (municipality, bsn, nummer)
        self.reception = Reception()
        self._called_off: set[str] = set()
        self._declared: set[tuple[str, Month]] = set()
        self._lines: dict[str, Delivered] = {}  # ReferentieNummer -> what that line declared
        self._corrections: dict[str, list[Delivered]] = {}  # municipality -> lines to declare

    def answer(
        self,
        received: Received,
        now: dt.datetime,
        reject: Callable[[MessageType], str | None] = lambda _t: None,
    ) -> list[Outgoing]:
        message_type = received.message_type
        if message_type.number == 325:
            self._on_declaratie_antwoord(received)
            return []
        retour_type = message_type.retour
        if retour_type is None or message_type.number not in (301, 319):
            return []  # retour messages need no answer
        today = now.date()
        judgement = self.reception.judge(received, today, reject)
        answer = retour(received, judgement, self.ids, today)
        if judgement.remarks or not self.autopilot or message_type.number != 301:
            return [answer]
        return [answer, *self._deliver(received, parse(judgement.doc, validated=True), today)]

    def _on_declaratie_antwoord(self, received: Received) -> None:
        """Note the lines rejected for their tariff, to declare them again at the contract's."""
        antwoord = parse(received.payload).body
        if not isinstance(antwoord, model.DeclaratieAntwoord) or self.profile is None:
            return
        for client in antwoord.clienten:
            for prestatie in client.prestaties:
                nummer = prestatie.product_referentie.referentie_nummer
                line = self._lines.get(nummer)
                product = self.profile.product(line.code if line else None)
                if line is None or product is None or TARIEF_ONJUIST not in prestatie.retour_codes:
                    continue
                # The provider's price list was wrong: it takes the contract's from now on.
                self.prices.pop(line.code, None)
                corrected = replace(line, tarief=product.tarief)
                self._corrections.setdefault(received.sender.code, []).append(corrected)

    def prepare(self, outgoing: Outgoing, now: dt.datetime) -> Outgoing | None:
        """What a planned message is when its day comes: itself, rebuilt, or None (called off).

        A declaration is composed only now, from the care as it stands and the corrections the
        325s asked for.
        """
        if outgoing.key is None:
            return outgoing
        if outgoing.key in self._called_off:
            return None
        if outgoing.key.startswith("declare:"):
            return self._declaration(outgoing, now.date())
        return outgoing

    def _deliver(
        self, received: Received, message: model.Message, today: dt.date
    ) -> list[Outgoing]:
        client = message.body
        assert isinstance(client, model.ToewijzingClient)
        municipality = received.sender
        out: list[Outgoing] = []
        for product in client.toegewezen_producten:
            key = (municipality.code, client.bsn, product.toewijzing_nummer)
            care = self.care.get(key)
            if care is None:
                care = Care(
                    product.toewijzing_nummer,
                    product.product,
                    product.ingangsdatum,
                    product.einddatum,
                )
                care.bsn = client.bsn
                care.omvang = product.omvang
                care.origin = (received, client)
                self.care[key] = care
                out.append(self._start(received, client, care, today))
                if care.einddatum is not None:
                    out.append(
                        self._stop(received, client, care, care.einddatum, PLANNED_END, today)
                    )
                out.extend(self._plan_declarations(received, care))
            elif product.einddatum is not None and (
                care.einddatum is None or product.einddatum < care.einddatum
            ):
                self._called_off.add(_stop_key(key, PLANNED_END))
                care.einddatum = product.einddatum
                out.append(
                    self._stop(received, client, care, product.einddatum, CHANGE_REQUEST_END, today)
                )
        return out

    def _planned(
        self,
        received: Received,
        number: int,
        body: model.Body,
        day: dt.date,
        today: dt.date,
        key: str | None = None,
    ) -> Outgoing:
        """A 305 or 307 to the municipality of ``received``, to go on ``day``.

        Its Dagtekening is the day it goes out, not the day it was planned.
        """
        message_type = MessageType.of(received.message_type.standard, number)
        payload = build(
            model.Message(
                message_type=message_type,
                header=model.Header(
                    afzender=self.participant.code,
                    ontvanger=received.sender.code,
                    bericht_identificatie=model.BerichtIdentificatie(
                        identificatie=self.ids.next(), dagtekening=max(today, day)
                    ),
                ),
                body=body,
            )
        )
        return Outgoing(
            message_type=message_type,
            payload=payload,
            recipient=received.sender,
            conversatie_id=received.conversatie_id,
            als_antwoord_op=None,
            not_before=day,
            key=key,
        )

    def _start(
        self,
        received: Received,
        client: model.ToewijzingClient,
        care: Care,
        today: dt.date,
        begindatum: dt.date | None = None,
    ) -> Outgoing:
        begindatum = begindatum or care.ingangsdatum
        body = model.StartClient(
            bsn=client.bsn,
            geboortedatum=client.geboortedatum,
            geslacht=client.geslacht,
            naam=_short(client.naam),
            start_producten=(
                model.StartProduct(
                    toewijzing_nummer=care.nummer,
                    product=care.product,
                    toewijzing_ingangsdatum=care.ingangsdatum,
                    begindatum=begindatum,
                    status_aanlevering=FIRST_DELIVERY,
                ),
            ),
        )
        return self._planned(received, 305, body, begindatum, today)

    def _stop(
        self,
        received: Received,
        client: model.ToewijzingClient,
        care: Care,
        einddatum: dt.date,
        reden: str,
        today: dt.date,
    ) -> Outgoing:
        body = model.StopClient(
            bsn=client.bsn,
            geboortedatum=client.geboortedatum,
            geslacht=client.geslacht,
            naam=_short(client.naam),
            stop_producten=(
                model.StopProduct(
                    toewijzing_nummer=care.nummer,
                    product=care.product,
                    toewijzing_ingangsdatum=care.ingangsdatum,
                    begindatum=care.ingangsdatum,
                    reden_beeindiging=reden,
                    einddatum=einddatum,
                    status_aanlevering=FIRST_DELIVERY,
                ),
            ),
        )
        key = _stop_key((received.sender.code, client.bsn, care.nummer), reden)
        return self._planned(received, 307, body, einddatum, today, key)

    # -- what a scenario has the provider do of its own accord ---------------------------------

    def stop_care(
        self, bsn: str, nummer: int, einddatum: dt.date, reden: str, today: dt.date
    ) -> list[Outgoing]:
        """End the care of assignment ``nummer`` on ``einddatum`` (a 307 with ``reden``).

        The planned stop is called off; a 301 that later ends the assignment on that same day
        (the municipality's withdrawal) asks for no second 307.
        """
        key, care, (received, client) = self._care_of(bsn, nummer)
        self._called_off.add(_stop_key(key, PLANNED_END))
        care.einddatum = einddatum
        return [self._stop(received, client, care, einddatum, reden, today)]

    def pause_care(
        self, bsn: str, nummer: int, last_day: dt.date, restart: dt.date, today: dt.date
    ) -> list[Outgoing]:
        """Stop delivering after ``last_day`` for a while (307, reden 20, levering is tijdelijk
        beeindigd) and start again on ``restart`` (a new 305), as seed 003 section 5.4 says."""
        _key, care, (received, client) = self._care_of(bsn, nummer)
        stop = self._stop(received, client, care, last_day, TEMPORARY_END, today)
        start = self._start(received, client, care, today, begindatum=restart)
        return [stop, start]

    def _care_of(
        self, bsn: str, nummer: int
    ) -> tuple[tuple[str, str, int], Care, tuple[Received, model.ToewijzingClient]]:
        for key, care in self.care.items():
            if key[1:] == (bsn, nummer) and care.origin is not None:
                return key, care, care.origin
        raise ValueError(f"{self.participant}: no care for Bsn {bsn}, assignment {nummer}")

    # -- declarations ----------------------------------------------------------------------------

    def _plan_declarations(self, received: Received, care: Care) -> list[Outgoing]:
        """A placeholder per month the care runs in; ``prepare`` composes it on its day."""
        if self.profile is None or self.profile.product(_code(care)) is None:
            return []
        last = care.einddatum or _months_later(care.ingangsdatum, OPEN_ENDED_MONTHS)
        municipality = received.sender
        return [
            Outgoing(
                message_type=MessageType.of(received.message_type.standard, 323),
                payload=b"",
                recipient=municipality,
                # A declaration starts a conversation of its own (VSP: a UUID).
                conversatie_id=str(uuid.uuid4()),
                als_antwoord_op=None,
                not_before=declaring.declaration_day(month, self.workdays),
                key=f"declare:{municipality.key}:{month}",
            )
            for month in declaring.months(care.ingangsdatum, last)
        ]

    def _declaration(self, outgoing: Outgoing, today: dt.date) -> Outgoing | None:
        municipality = outgoing.recipient
        month_text = (outgoing.key or "").rsplit(":", 1)[-1]
        year, number = (int(part) for part in month_text.split("-"))
        month = Month(year, number)
        if (municipality.code, month) in self._declared:
            return None  # another assignment's placeholder declared this month already
        lines = [
            *self._corrections.pop(municipality.code, []),
            *self._delivered(municipality, month),
        ]
        if not lines:
            return None
        self._declared.add((municipality.code, month))
        numbered = []
        for line in lines:
            nummer = self.references.next()
            self._lines[nummer] = line
            numbered.append((nummer, line))
        message = declaring.declaratie(
            message_type=outgoing.message_type,
            sender=self.participant,
            recipient=municipality,
            identificatie=self.ids.next(),
            nummer=self.declaration_ids.next(),
            month=month,
            dagtekening=today,
            lines=numbered,
        )
        return replace(outgoing, payload=build(message))

    def _delivered(self, municipality: Participant, month: Month) -> list[Delivered]:
        assert self.profile is not None
        lines = []
        for (code, _bsn, _nummer), care in sorted(self.care.items()):
            product = self.profile.product(_code(care))
            if code != municipality.code or product is None or care.product is None:
                continue
            begin = max(care.ingangsdatum, month.first)
            end = min(care.einddatum or month.last, month.last)
            if begin > end:
                continue
            omvang = care.omvang
            volume = declaring.delivered_volume(
                omvang.volume if omvang else 1,
                omvang.frequentie if omvang else None,
                begin,
                end,
                first_month=Month.of(care.ingangsdatum) == month,
            )
            if volume == 0:
                continue
            lines.append(
                Delivered(
                    bsn=care.bsn,
                    toewijzing_nummer=care.nummer,
                    categorie=care.product.categorie,
                    code=product.code,
                    begindatum=begin,
                    einddatum=end,
                    volume=volume,
                    eenheid=omvang.eenheid if omvang else product.eenheid,
                    tarief=self.prices.get(product.code, product.tarief),
                )
            )
        return lines


def _code(care: Care) -> str | None:
    return care.product.code if care.product else None


def _months_later(day: dt.date, count: int) -> dt.date:
    month = Month.of(day)
    for _ in range(count):
        month = month.following
    return month.last


def _stop_key(care: tuple[str, str, int], reden: str) -> str:
    municipality, bsn, nummer = care
    return f"stop:{municipality}:{bsn}:{nummer}:{reden}"


def _short(naam: model.VolledigeNaam) -> model.VerkorteNaam:
    return model.VerkorteNaam(
        geslachtsnaam=naam.geslachtsnaam, voornamen=naam.voornamen, voorletters=naam.voorletters
    )
