"""A simulated provider: it answers 301 with 302 and 319 with 320, and on autopilot delivers.

The autopilot turns each new assignment of a 301 into care: a 305 on its Ingangsdatum and a 307
on its Einddatum (reden 19, delivered as planned). When a later 301 ends a running assignment
earlier, the provider stops the care on that day instead (reden 37) and drops the planned stop.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from gateway.handlers.messages import Identificaties, Outgoing, Received
from gateway.handlers.municipality import forced_remark
from gateway.participants import Participant, Role
from gateway.standard import model
from gateway.standard.catalog import default_catalog
from gateway.standard.codec import build, parse
from gateway.standard.message_types import MessageType
from gateway.standard.retour import build_retour
from gateway.standard.rules import CheckContext, check
from gateway.standard.xmlsafe import parse_xml

PLANNED_END = "19"
CHANGE_REQUEST_END = "37"
FIRST_DELIVERY = "1"


@dataclass
class Care:
    """One assignment the provider delivers on."""

    nummer: int
    product: model.Product | None
    ingangsdatum: dt.date
    einddatum: dt.date | None
    started: bool = False
    stopped: bool = False


class Provider:
    """One simulated provider; ``answer`` is called per received message."""

    def __init__(self, participant: Participant, *, autopilot: bool = False) -> None:
        if participant.role is not Role.AANBIEDER:
            raise ValueError(f"{participant} is not a provider")
        self.participant = participant
        self.autopilot = autopilot
        self.ids = Identificaties()
        self.care: dict[tuple[str, str, int], Care] = {}  # (municipality, bsn, nummer)
        self._seen: set[tuple[str, str, str]] = set()
        self._called_off: set[str] = set()

    def answer(
        self,
        received: Received,
        now: dt.datetime,
        reject: Callable[[MessageType], str | None] = lambda _t: None,
    ) -> list[Outgoing]:
        message_type = received.message_type
        retour_type = message_type.retour
        if retour_type is None or message_type.number not in (301, 319):
            return []  # retour messages and 325s need no answer
        doc = parse_xml(received.payload)
        today = now.date()
        remarks = check(
            doc, message_type, CheckContext(today=today, seen_identificatie=self._seen_before)
        )
        header = default_catalog().header(doc, message_type)
        self._seen.add((header.afzender, message_type.name, header.identificatie))
        forced = reject(retour_type)
        if forced is not None:
            remarks = [forced_remark(forced)]
        retour = Outgoing(
            message_type=retour_type,
            payload=build_retour(
                doc,
                remarks,
                identificatie=self.ids.next(),
                dagtekening=today,
                rejected=forced == "0001",
            ),
            recipient=received.sender,
            conversatie_id=received.conversatie_id,
            als_antwoord_op=received.traceer_id,
            trigger=message_type,
        )
        if remarks or not self.autopilot or message_type.number != 301:
            return [retour]
        return [retour, *self._deliver(received, parse(doc, validated=True), today)]

    def _seen_before(self, afzender: str, message_type: MessageType, identificatie: str) -> bool:
        return (afzender, message_type.name, identificatie) in self._seen

    def wanted(self, outgoing: Outgoing) -> bool:
        """Whether a planned message still makes sense when its day comes."""
        return outgoing.key is None or outgoing.key not in self._called_off

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
                self.care[key] = care
                out.append(self._start(received, client, care, today))
                if care.einddatum is not None:
                    out.append(
                        self._stop(received, client, care, care.einddatum, PLANNED_END, today)
                    )
            elif product.einddatum is not None and (
                care.einddatum is None or product.einddatum < care.einddatum
            ):
                self._called_off.add(_stop_key(key, PLANNED_END))
                care.einddatum = product.einddatum
                out.append(
                    self._stop(received, client, care, product.einddatum, CHANGE_REQUEST_END, today)
                )
        return out

    def _message(
        self, message_type: MessageType, recipient: Participant, body: model.Body, today: dt.date
    ) -> bytes:
        return build(
            model.Message(
                message_type=message_type,
                header=model.Header(
                    afzender=self.participant.code,
                    ontvanger=recipient.code,
                    bericht_identificatie=model.BerichtIdentificatie(
                        identificatie=self.ids.next(), dagtekening=today
                    ),
                ),
                body=body,
            )
        )

    def _start(
        self, received: Received, client: model.ToewijzingClient, care: Care, today: dt.date
    ) -> Outgoing:
        standard = received.message_type.standard
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
                    begindatum=care.ingangsdatum,
                    status_aanlevering=FIRST_DELIVERY,
                ),
            ),
        )
        # The Dagtekening is the day it goes out, not the day it was planned.
        day = max(today, care.ingangsdatum)
        message_type = MessageType.of(standard, 305)
        return Outgoing(
            message_type=message_type,
            payload=self._message(message_type, received.sender, body, day),
            recipient=received.sender,
            conversatie_id=received.conversatie_id,
            als_antwoord_op=None,
            not_before=care.ingangsdatum,
        )

    def _stop(
        self,
        received: Received,
        client: model.ToewijzingClient,
        care: Care,
        einddatum: dt.date,
        reden: str,
        today: dt.date,
    ) -> Outgoing:
        standard = received.message_type.standard
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
        message_type = MessageType.of(standard, 307)
        day = max(today, einddatum)
        return Outgoing(
            message_type=message_type,
            payload=self._message(message_type, received.sender, body, day),
            recipient=received.sender,
            conversatie_id=received.conversatie_id,
            als_antwoord_op=None,
            not_before=einddatum,
            key=_stop_key((received.sender.code, client.bsn, care.nummer), reden),
        )


def _stop_key(care: tuple[str, str, int], reden: str) -> str:
    municipality, bsn, nummer = care
    return f"stop:{municipality}:{bsn}:{nummer}:{reden}"


def _short(naam: model.VolledigeNaam) -> model.VerkorteNaam:
    return model.VerkorteNaam(
        geslachtsnaam=naam.geslachtsnaam, voornamen=naam.voornamen, voorletters=naam.voorletters
    )
