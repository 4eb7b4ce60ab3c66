"""What every simulated participant does first with a message it received.

It checks the message by the level-2 rules (with TR056 against what it received before),
applies a rejection its answer policy forces, and writes the retour message that copies the
original's header (IV028). Municipality and provider differ only in what follows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from gateway.handlers.messages import Identificaties, Outgoing, Received
from gateway.standard.catalog import default_catalog
from gateway.standard.message_types import MessageType
from gateway.standard.retour import build_retour
from gateway.standard.rules import Berichtklasse, CheckContext, Controleniveau, Remark, check
from gateway.standard.xmlsafe import parse_xml

Reject = Callable[[MessageType], str | None]
"""Given a retour message type, the retourcode an answer policy forces, if any."""

TECHNISCH_AFGEKEURD = "0001"


def forced_remark(retourcode: str) -> Remark:
    """A remark on the header, for an answer policy that rejects with a given code."""
    return Remark(
        rule="POLICY",
        retourcode=retourcode,
        element="Header",
        berichtklasse=Berichtklasse.header(),
        message=f"rejected by the answer policy with {retourcode}",
        controleniveau=Controleniveau.EXTERNE_BRON,
    )


@dataclass(frozen=True, slots=True)
class Judgement:
    """A received message, parsed, with the remarks its receiver makes on it."""

    doc: etree._ElementTree
    remarks: list[Remark]
    forced: str | None

    @property
    def rejected_whole(self) -> bool:
        return self.forced == TECHNISCH_AFGEKEURD


class Reception:
    """The checks one receiver makes; it remembers every Identificatie it received (TR056)."""

    def __init__(self) -> None:
        self._seen: set[tuple[str, str, str]] = set()

    def judge(self, received: Received, today: dt.date, reject: Reject) -> Judgement:
        doc = parse_xml(received.payload)
        message_type = received.message_type
        context = CheckContext(today=today, seen_identificatie=self._seen_before)
        remarks = check(doc, message_type, context)
        header = default_catalog().header(doc, message_type)
        self._seen.add((header.afzender, message_type.name, header.identificatie))
        retour_type = message_type.retour
        forced = reject(retour_type) if retour_type is not None else None
        if forced is not None:
            remarks = [forced_remark(forced)]
        return Judgement(doc, remarks, forced)

    def _seen_before(self, afzender: str, message_type: MessageType, identificatie: str) -> bool:
        return (afzender, message_type.name, identificatie) in self._seen


def retour(
    received: Received, judgement: Judgement, ids: Identificaties, today: dt.date
) -> Outgoing:
    """The header-copying retour message (302 ... 320) for ``received``."""
    retour_type = received.message_type.retour
    if retour_type is None:
        raise ValueError(f"{received.message_type} has no retour message")
    return Outgoing(
        message_type=retour_type,
        payload=build_retour(
            judgement.doc,
            judgement.remarks,
            identificatie=ids.next(),
            dagtekening=today,
            rejected=judgement.rejected_whole,
        ),
        recipient=received.sender,
        conversatie_id=received.conversatie_id,
        als_antwoord_op=received.traceer_id,
        trigger=received.message_type,
    )
