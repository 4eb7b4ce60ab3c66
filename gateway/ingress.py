"""The ingress pipeline: from the bytes a participant sent to a message stored and routed.

The steps of the design, in order, each refusing with the VSP's code where it applies::

    limits (25 MB, BRS06) -> safe parse (BRS14) -> identify -> XSD (BRS13) -> authorise (BRS03,
    BRS04) -> metadata agrees -> BSN test range (BRS18) -> ledger admission (TR056: BRS20,
    BRS114) -> publish, confirmed -> 2xx

Nothing here knows HTTP: a refusal is a ``Refused`` with the status to answer, and the HTTP
layer only renders it. A message is first stored as ``WordtVerwerkt``; only the broker's confirm
gets the sender its 2xx, and makes it ``WordtAangeboden`` with the ledger's next batch (reads of
the ledger wait for that mark).
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from dataclasses import dataclass

from lxml import etree

from gateway.authorisation import DeclaredRoute, Route, authorise, check_declared
from gateway.config import BsnRange
from gateway.errors import (
    BrokerUnavailable,
    DuplicateIdentificatie,
    DuplicateTraceerId,
    LedgerUnavailable,
    NotWellFormedError,
    Refused,
    SchemaViolation,
    UnknownMessageError,
    Unroutable,
    UnsafeXmlError,
)
from gateway.ledger import Ledger, StoredMessage
from gateway.ledger.store import Answers, NewMessage, Original, original_key
from gateway.metrics import Metrics
from gateway.participants import Participant, Registry
from gateway.routing import Broker, RoutedMessage
from gateway.sla.chains import Chains, reads
from gateway.standard.catalog import Catalog, MessageHeader
from gateway.standard.message_types import RELEASE, MessageType
from gateway.standard.streaming import STREAM_ABOVE, Keep, read_message
from gateway.standard.xmlsafe import parse_xml
from gateway.vsp import Berichtstatus, Foutcode

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Submission:
    """What a participant handed in: the payload and, from push metadata, its references."""

    sender: Participant
    payload: bytes
    traceer_id: str | None = None
    conversatie_id: str | None = None
    als_antwoord_op: str | None = None
    referentie_id: str | None = None
    declared: DeclaredRoute | None = None


@dataclass(frozen=True, slots=True)
class Receipt:
    """The answer to an accepted submission (or to an identical retry of one)."""

    traceer_id: str
    conversatie_id: str
    message_type: str
    recipient: str
    status: Berichtstatus
    replay: bool

    @classmethod
    def of(
        cls, stored: StoredMessage, *, replay: bool, status: Berichtstatus | None = None
    ) -> Receipt:
        """``status``: where the message is now, if it has moved on since ``stored`` was read."""
        return cls(
            traceer_id=stored.traceer_id,
            conversatie_id=stored.conversatie_id,
            message_type=stored.message_type or "",
            recipient=stored.recipient or "",
            status=status or stored.status,
            replay=replay,
        )


def _refused(status: int, code: Foutcode, detail: str, errors: list[str] | None = None) -> Refused:
    """A refusal for the message; ``errors`` are about the message itself (``payload``)."""
    return Refused(
        status,
        code.omschrijving,
        detail,
        code=code.code,
        errors={PAYLOAD: errors} if errors else None,
    )


# What the errors of a refused message are listed under: the message, by its push part's name.
PAYLOAD = "payload"


class Ingress:
    """The pipeline, with everything it needs loaded once: catalog, registry, ledger, broker."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        registry: Registry,
        ledger: Ledger,
        broker: Broker,
        max_message_bytes: int,
        bsn_range: BsnRange | None = None,
        metrics: Metrics | None = None,
        chains: Chains | None = None,
    ) -> None:
        self.catalog = catalog
        self.registry = registry
        self.ledger = ledger
        self.broker = broker
        self.max_message_bytes = max_message_bytes
        self.bsn_range = bsn_range
        self.metrics = metrics or Metrics()
        self.chains = chains

    async def submit(self, submission: Submission) -> Receipt:
        """Run the whole pipeline; return a receipt or raise ``Refused``."""
        traceer_id = submission.traceer_id or str(uuid.uuid4())
        with self.metrics.ingress_seconds.time():
            try:
                receipt = await self._submit(submission, traceer_id)
            except Refused as refusal:
                self.metrics.refused.labels(str(refusal.status), refusal.code or "").inc()
                await self._remember_refusal(submission, traceer_id, refusal)
                raise
        if receipt.replay:
            self.metrics.replayed.inc()
        else:
            self.metrics.accepted.labels(receipt.message_type).inc()
        return receipt

    async def _submit(self, submission: Submission, traceer_id: str) -> Receipt:
        payload = submission.payload
        if len(payload) > self.max_message_bytes:
            raise _refused(
                413,
                Foutcode.BRS06,
                f"the message is {len(payload)} bytes; "
                f"at most {self.max_message_bytes} are accepted",
            )
        doc, message_type = self._read(payload)
        header = self.catalog.header(doc, message_type)
        route = authorise(submission.sender, header, self.registry)
        if submission.declared is not None:
            check_declared(submission.declared, route, message_type)
        self._check_bsns(doc)

        # A retour message takes what its sender left out from the message it answers, found
        # in the admission's batch: a conversatieId (a new one if nothing is found), its
        # traceerId as alsAntwoordOp.
        answers = self._answers(route, message_type, header, submission)
        new = NewMessage(
            traceer_id=traceer_id,
            conversatie_id=submission.conversatie_id or str(uuid.uuid4()),
            als_antwoord_op=submission.als_antwoord_op,
            referentie_id=submission.referentie_id,
            sender=route.sender.key,
            recipient=route.recipient.key,
            message_type=message_type.name,
            release=RELEASE,
            berichttype=message_type.name,
            identificatie=_own_identificatie(message_type, header),
            dagtekening=str(_own_dagtekening(message_type, header)),
            answers_identificatie=_answers_identificatie(message_type, header),
            sha256=hashlib.sha256(payload).hexdigest(),
            payload=payload,
            trace_id=os.urandom(16).hex(),  # 128 random bits; uuid4().hex took four times as long
        )
        # The obligations it opens and meets go into the ledger with it (gateway.sla.chains).
        step = None
        if self.chains is not None:
            step = self.chains.step(
                message_type,
                doc,
                sender=route.sender,
                recipient=route.recipient,
                received=self.ledger.now(),
                answers=new.answers_identificatie,
            )
        try:
            admission = await self.ledger.admit(new, step, answers=answers)
        except DuplicateIdentificatie as exc:
            raise _refused(409, Foutcode.BRS20, str(exc)) from exc
        except DuplicateTraceerId as exc:
            raise _refused(409, Foutcode.BRS114, str(exc)) from exc
        except LedgerUnavailable as exc:
            raise _unavailable("the ledger", exc) from exc

        stored = admission.message
        if admission.replay and stored.status is not Berichtstatus.WORDT_VERWERKT:
            return Receipt.of(stored, replay=True)
        original = admission.original
        if admission.replay and answers is not None:
            # A retry of one whose confirm never came: what it answers, looked up on its own.
            original = await self._find(answers.key)
        # New, or a retry of one whose confirm never came: (re)publish. Consumers see the same
        # message id again and deduplicate.
        await self._publish(
            route,
            stored,
            payload,
            withdraw_on_failure=not admission.replay,
            answers=None if original is None else original.traceer_id,
        )
        # Confirmed: it is on offer to its recipient now.
        return Receipt.of(stored, replay=admission.replay, status=Berichtstatus.WORDT_AANGEBODEN)

    def _read(self, payload: bytes) -> tuple[etree._ElementTree, MessageType]:
        """Parse, identify and validate (BRS14, BRS13): a small message as a whole tree, a
        large one in one streaming pass that keeps only what the rest of the pipeline reads."""
        try:
            if len(payload) <= STREAM_ABOVE:
                doc = parse_xml(payload, max_bytes=self.max_message_bytes)
                message_type = self.catalog.identify(doc)
                self.catalog.validate(doc, message_type)
                return doc, message_type
            digest = read_message(
                payload, self.catalog, self._keep, max_bytes=self.max_message_bytes
            )
            return digest.doc, digest.message_type
        except UnsafeXmlError as exc:
            raise _refused(400, Foutcode.BRS14, f"unsafe XML refused: {exc}") from exc
        except NotWellFormedError as exc:
            raise _refused(400, Foutcode.BRS14, str(exc)) from exc
        except UnknownMessageError as exc:
            raise Refused(
                422,
                "Unknown message",
                str(exc),
                code=Foutcode.BRS13.code,
                errors={PAYLOAD: [str(exc)]},
            ) from exc
        except SchemaViolation as exc:
            raise _refused(
                422,
                Foutcode.BRS13,
                f"the {exc.message_type} is not valid against its schema: {exc.count} error(s)",
                [str(issue) for issue in exc.issues],
            ) from exc

    def _keep(self, message_type: MessageType) -> Keep:
        """What of a large message is read after validation: the Header (routing, the ledger),
        the BSNs (BRS18), and what the chain step reads."""
        names = {"Header"} | ({"Bsn"} if self.bsn_range is not None else set())
        keep = Keep(frozenset(names))
        if self.chains is not None:
            keep |= reads(message_type)
        return keep

    def _check_bsns(self, doc: etree._ElementTree) -> None:
        if self.bsn_range is None:
            return
        outside = sorted(
            {
                bsn
                for element in doc.iter("{*}Bsn")
                if (bsn := (element.text or "").strip()) not in self.bsn_range
            }
        )
        if outside:
            raise _refused(
                422,
                Foutcode.BRS18,
                f"BSN(s) outside the test range {self.bsn_range.low}-{self.bsn_range.high}: "
                + ", ".join(outside),
            )

    @staticmethod
    def _answers(
        route: Route, message_type: MessageType, header: MessageHeader, submission: Submission
    ) -> Answers | None:
        answered = message_type.answers
        identificatie = _answers_identificatie(message_type, header)
        if answered is None or identificatie is None:
            return None
        return Answers(
            original_key(route.recipient.key, answered.name, identificatie),
            conversatie=submission.conversatie_id is None,
            antwoord=submission.als_antwoord_op is None,
        )

    async def _find(self, key: str) -> Original | None:
        try:
            return await self.ledger.find_original_by_key(key)
        except LedgerUnavailable as exc:
            raise _unavailable("the ledger", exc) from exc

    async def _publish(
        self,
        route: Route,
        stored: StoredMessage,
        payload: bytes,
        *,
        withdraw_on_failure: bool,
        answers: str | None = None,
    ) -> None:
        """Publish, confirmed; then mark it on offer and what it ``answers`` (a traceerId)
        ``Bezorgd``: a retour is the confirmation of the message it answers."""
        message = RoutedMessage(
            traceer_id=stored.traceer_id,
            conversatie_id=stored.conversatie_id,
            als_antwoord_op=stored.als_antwoord_op,
            sender=route.sender,
            recipient=route.recipient,
            message_type=stored.message_type or "",
            release=stored.release or RELEASE,
            trace_id=stored.trace_id or stored.traceer_id,
            body=payload,
        )
        try:
            await self.broker.publish(message)
        except (BrokerUnavailable, Unroutable) as exc:
            if withdraw_on_failure:
                try:
                    await self.ledger.withdraw(stored.traceer_id)
                except LedgerUnavailable:
                    log.warning(
                        "could not withdraw %s; it is republished at start", stored.traceer_id
                    )
            if isinstance(exc, Unroutable):
                raise _refused(503, Foutcode.BRS33, str(exc)) from exc
            raise _unavailable("the broker", exc) from exc
        # Confirmed: stored and routed, so the sender may have its 2xx now. The mark that it
        # is on offer, and that what it answers is delivered, go into the ledger's next batch
        # without holding the answer up; reads of the ledger wait for them
        # (gateway.ledger.store.Ledger.routed).
        delivers = None if answers is None else (answers, route.sender.key)
        self.ledger.routed(stored.traceer_id, delivers=delivers)

    async def _remember_refusal(
        self, submission: Submission, traceer_id: str, refusal: Refused
    ) -> None:
        if refusal.status >= 500 or refusal.code in (Foutcode.BRS20.code, Foutcode.BRS114.code):
            return  # not a verdict on the message, or it would overwrite nothing useful
        melding = {"code": refusal.code or "BRS13", "omschrijving": refusal.title}
        if refusal.detail:
            melding["toelichting"] = refusal.detail[:1000]
        try:
            await self.ledger.refuse(
                traceer_id=traceer_id,
                conversatie_id=submission.conversatie_id or str(uuid.uuid4()),
                sender=submission.sender.key,
                meldingen=[melding],
                berichttype=submission.declared.berichttype if submission.declared else None,
                als_antwoord_op=submission.als_antwoord_op,
            )
        except LedgerUnavailable:
            log.warning("could not record the refusal of %s", traceer_id)

    async def recover(self) -> int:
        """Publish again what was admitted but never confirmed (a crash in between), and mark
        what each retour among them answers delivered, as its first publish would have."""
        count = 0
        for stored in await self.ledger.unconfirmed_by_broker():
            payload = await self.ledger.payload_of(stored.traceer_id)
            sender = Participant.parse(stored.sender)
            recipient = Participant.parse(stored.recipient or "")
            if payload is None:
                continue
            answers = None
            message_type = MessageType.__members__.get(stored.message_type or "")
            answered = None if message_type is None else message_type.answers
            if answered is not None and stored.answers_identificatie:
                original = await self.ledger.find_original(
                    recipient.key, answered.name, stored.answers_identificatie
                )
                answers = None if original is None else original.traceer_id
            await self._publish(
                Route(sender, recipient),
                stored,
                payload,
                withdraw_on_failure=False,
                answers=answers,
            )
            count += 1
        return count


def _own_identificatie(message_type: MessageType, header: MessageHeader) -> str:
    if message_type.copies_header and header.identificatie_retour:
        return header.identificatie_retour
    return header.identificatie


def _own_dagtekening(message_type: MessageType, header: MessageHeader) -> object:
    if message_type.copies_header and header.dagtekening_retour is not None:
        return header.dagtekening_retour
    return header.dagtekening


def _answers_identificatie(message_type: MessageType, header: MessageHeader) -> str | None:
    if message_type.copies_header:
        return header.identificatie
    if message_type.answers is not None:  # the 325: DeclaratieIdentificatie
        return header.identificatie_retour
    return None


def _unavailable(what: str, exc: Exception) -> Refused:
    return Refused(
        503,
        "Service unavailable",
        f"{what} is unavailable; nothing was accepted, try again: {exc}",
    )
