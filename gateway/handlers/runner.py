"""Running simulated participants: consume their queues, answer at their policy's pace.

Each simulated participant has its own consumer on its own queue and its own HTTPS client with
its own certificate, so its answers pass the same door, checks and ledger as anybody's. A
delivery is acknowledged once its answers are planned and it is confirmed to the gateway, so its
status becomes Bezorgd as with real software: by its retour when that goes at once and is
accepted (the gateway takes a retour as the confirmation of what it answers), by a REST
``DELETE`` otherwise. Planned answers live in this process: a handler that is stopped forgets
what it had not yet sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from aio_pika.abc import AbstractIncomingMessage

from gateway.client import GatewayClient, SubmitRefused
from gateway.clock import Clock
from gateway.deadlines.profiles import get_profile
from gateway.deadlines.rules import Profile
from gateway.deadlines.workdays import AMSTERDAM, WorkingDays
from gateway.errors import GatewayError
from gateway.handlers.messages import Outgoing, Received
from gateway.handlers.policy import Pace, Policies
from gateway.participants import Participant, Registry
from gateway.routing import Broker, message_from_delivery
from gateway.standard.message_types import MessageType

log = logging.getLogger(__name__)

MIDDAY = dt.time(12, 0)


class Responder(Protocol):
    participant: Participant

    def answer(
        self,
        received: Received,
        now: dt.datetime,
        reject: Callable[[MessageType], str | None] = ...,
    ) -> list[Outgoing]: ...


Prepare = Callable[[Outgoing, dt.datetime], Outgoing | None]
"""A responder's optional ``prepare``: the planned message as it goes, or None to call it off."""


@dataclass(frozen=True, slots=True)
class Event:
    """What a handler did, for progress displays and tests."""

    kind: str  # "received", "sent", "refused", "skipped"
    participant: Participant
    message_type: MessageType
    detail: str = ""
    at: dt.datetime | None = None
    payload: bytes | None = field(default=None, repr=False)
    """For "received" and "sent": the message itself."""


Listener = Callable[[Event], None]


@dataclass
class HandlerRunner:
    """Runs a set of responders against one gateway."""

    base_url: str
    certs_dir: Path
    amqp_url: str
    clock: Clock
    responders: list[Responder]
    registry: Registry
    policies: Policies = field(default_factory=Policies)
    deadlines: Profile = field(default_factory=get_profile)
    workdays: WorkingDays = field(default_factory=WorkingDays)
    listeners: list[Listener] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _clients: dict[Participant, GatewayClient] = field(default_factory=dict)
    _pushing: int = 0

    async def start(self) -> None:
        for responder in self.responders:
            client = GatewayClient(self.base_url, self.certs_dir, responder.participant)
            await client.__aenter__()
            self._clients[responder.participant] = client
        ready = [asyncio.Event() for _ in self.responders]
        for responder, event in zip(self.responders, ready, strict=True):
            self._spawn(self._consume(responder, event))
        await asyncio.gather(*(event.wait() for event in ready))

    async def stop(self, grace: float = 5.0) -> None:
        """Stop consuming; let sends already under way finish (up to ``grace`` s), drop the rest."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                while self._pushing:  # noqa: ASYNC110 - a counter, polled only at shutdown
                    await asyncio.sleep(0.01)
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for client in self._clients.values():
            await client.close()
        self._clients.clear()

    def _spawn(self, coroutine: Coroutine[object, object, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)

    def _emit(self, event: Event) -> None:
        for listener in self.listeners:
            listener(event)

    async def _consume(self, responder: Responder, ready: asyncio.Event) -> None:
        participant = responder.participant
        async with Broker.consumer(self.amqp_url, participant, prefetch=64) as deliveries:
            ready.set()
            async for delivery in deliveries:
                # Decisions are taken one message at a time, in the order of the queue (a
                # responder keeps state: TR056 memory, assignments); the round trips to the
                # gateway that follow (the answers; the confirm, then the ack) run side by side,
                # up to the prefetch.
                try:
                    received, outgoing = self._receive(responder, delivery)
                except Exception:
                    log.exception("%s could not handle a delivery; it is requeued", participant)
                    await delivery.reject(requeue=True)
                    continue
                retour = self._retour_at_once(participant, received, outgoing)
                answered = None
                if retour is not None:
                    answered = (retour, asyncio.get_running_loop().create_future())
                self._spawn(self._send_all(responder, received.received, outgoing, retour=answered))
                accepted = None if answered is None else answered[1]
                self._spawn(self._settle(participant, delivery, received.traceer_id, accepted))

    def _receive(
        self, responder: Responder, delivery: AbstractIncomingMessage
    ) -> tuple[Received, list[Outgoing]]:
        participant = responder.participant
        routed = message_from_delivery(delivery, registry=self.registry)
        received = Received(
            message_type=MessageType.parse(routed.message_type),
            payload=routed.body,
            traceer_id=routed.traceer_id,
            conversatie_id=routed.conversatie_id,
            sender=routed.sender,
            received=self.clock.now(),
        )
        self._emit(
            Event(
                "received",
                participant,
                received.message_type,
                routed.sender.key,
                received.received,
                received.payload,
            )
        )
        return received, responder.answer(received, received.received, self._rejecter(participant))

    def _retour_at_once(
        self, participant: Participant, received: Received, outgoing: list[Outgoing]
    ) -> Outgoing | None:
        """The retour of ``received`` among ``outgoing`` if its policy sends it at once."""
        for message in outgoing:
            if (
                message.message_type.answers is received.message_type
                and message.als_antwoord_op == received.traceer_id
                and self.moment(participant, received.received, message) == received.received
            ):
                return message
        return None

    async def _settle(
        self,
        participant: Participant,
        delivery: AbstractIncomingMessage,
        traceer_id: str,
        answered: asyncio.Future[bool] | None,
    ) -> None:
        """Confirm the message at the gateway, as its recipient would; then ack the delivery.

        ``answered``: whether its retour, sent at once, was accepted. An accepted retour has
        confirmed the message already (the gateway makes what it answers Bezorgd), so only a
        message without one is confirmed by a ``DELETE``: one request less per answer.
        """
        if answered is None or not await answered:
            await self._confirm(participant, traceer_id)
        await delivery.ack()

    def initiate(self, participant: Participant, outgoing: list[Outgoing]) -> None:
        """Have a simulated participant send of its own accord (a stop a scenario decides on).

        The messages go as its policies say, counted from now, like its answers.
        """
        for responder in self.responders:
            if responder.participant.key == participant.key:
                self._spawn(self._send_all(responder, self.clock.now(), outgoing))
                return
        raise ValueError(f"{participant} is not simulated here")

    def _rejecter(self, participant: Participant) -> Callable[[MessageType], str | None]:
        def reject(message_type: MessageType) -> str | None:
            policy = self.policies.get(participant, message_type)
            return policy.retourcode if policy.pace is Pace.REJECT else None

        return reject

    async def _confirm(self, participant: Participant, traceer_id: str) -> None:
        try:
            await self._clients[participant].confirm(traceer_id)
        except SubmitRefused as exc:
            if exc.status != 404:  # answered already (a retour marks it Bezorgd): fine
                log.warning("%s could not confirm %s: %s", participant, traceer_id, exc)

    def moment(
        self, participant: Participant, received: dt.datetime, outgoing: Outgoing
    ) -> dt.datetime | None:
        """When ``outgoing`` goes, by its policy; None for never.

        ``received``: when the message it answers came in (for a message sent of the
        participant's own accord: when it was decided).
        """
        policy = self.policies.get(participant, outgoing.message_type)
        base = received
        if outgoing.not_before is not None:
            planned = dt.datetime.combine(outgoing.not_before, dt.time(0), tzinfo=AMSTERDAM)
            base = max(base, planned)
        if policy.pace is Pace.NEVER:
            return None
        if policy.pace is Pace.AFTER:
            return self._working_days_later(base, policy.working_days)
        if policy.pace is Pace.LATE:
            due = self._due(received, outgoing)
            if due is None:
                return self._working_days_later(base, policy.working_days)
            day = self.workdays.add(
                due.astimezone(AMSTERDAM).date() - dt.timedelta(days=1), policy.working_days
            )
            return dt.datetime.combine(day, MIDDAY, tzinfo=AMSTERDAM)
        return base

    def _working_days_later(self, moment: dt.datetime, count: int) -> dt.datetime:
        local = moment.astimezone(AMSTERDAM)
        day = self.workdays.add(local.date(), count)
        return dt.datetime.combine(day, local.timetz())

    def _due(self, received: dt.datetime, outgoing: Outgoing) -> dt.datetime | None:
        if outgoing.trigger is None:
            return None
        for due in self.deadlines.obligations_opened(outgoing.trigger, received):
            if outgoing.message_type in due.met_by:
                return due.due
        return None

    async def _send_all(
        self,
        responder: Responder,
        received: dt.datetime,
        outgoing: list[Outgoing],
        *,
        retour: tuple[Outgoing, asyncio.Future[bool]] | None = None,
    ) -> None:
        """Send ``outgoing`` as the policies say; ``retour``: one of them, and the future told
        whether the gateway accepted it (False too when it is not sent, however that comes)."""
        try:
            await self._send_each(responder, received, outgoing, retour)
        finally:
            if retour is not None and not retour[1].done():
                retour[1].set_result(False)

    async def _send_each(
        self,
        responder: Responder,
        received: dt.datetime,
        outgoing: list[Outgoing],
        retour: tuple[Outgoing, asyncio.Future[bool]] | None,
    ) -> None:
        participant = responder.participant
        planned = [(self.moment(participant, received, o), n, o) for n, o in enumerate(outgoing)]
        for moment, _, message in sorted(
            (p for p in planned if p[0] is not None), key=lambda p: (p[0], p[1])
        ):
            assert moment is not None
            answers = retour[1] if retour is not None and message is retour[0] else None
            await self.clock.sleep_until(moment)
            prepare: Prepare | None = getattr(responder, "prepare", None)
            if prepare is not None:
                ready = prepare(message, self.clock.now())
                if ready is None:
                    self._emit(Event("skipped", participant, message.message_type, "called off"))
                    continue
                message = ready
            at = self.clock.now()
            self._pushing += 1
            try:
                await self._clients[participant].push(
                    message.payload,
                    message.message_type,
                    message.recipient,
                    conversatie_id=message.conversatie_id,
                    als_antwoord_op=message.als_antwoord_op,
                )
            except (SubmitRefused, GatewayError) as exc:
                self._emit(
                    Event("refused", participant, message.message_type, str(exc), self.clock.now())
                )
                log.warning(
                    "%s: the gateway refused its %s: %s", participant, message.message_type, exc
                )
                continue
            finally:
                self._pushing -= 1
            if answers is not None:
                answers.set_result(True)
            self._emit(
                Event(
                    "sent",
                    participant,
                    message.message_type,
                    message.recipient.key,
                    at,
                    message.payload,
                )
            )
        for moment, _, message in planned:
            if moment is None:
                self._emit(Event("skipped", participant, message.message_type, "policy: never"))


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("handler task failed", exc_info=task.exception())


def describe(event: Event) -> str:
    """One line of a chain as it happens: when, who, what, to or from whom."""
    at = event.at.astimezone(AMSTERDAM).strftime("%Y-%m-%d %H:%M") if event.at else " " * 16
    arrow = {"received": "<-", "sent": "->", "refused": "!!", "skipped": "--"}[event.kind]
    return f"{at}  {event.participant.key:<19} {arrow} {event.message_type.name:<7} {event.detail}"
