"""Dead letters: what RabbitMQ gave up offering to a recipient becomes the sender's status.

A message leaves its recipient's inbox without being taken in one of two ways, and the VSP's
berichtstatus v3 has a value for each::

    x-death reason    berichtstatus          what happened
    rejected          AanbiedenMislukt       the recipient's consumer refused the message
    expired           BezorgingAfgebroken    it waited longer than a TTL allows
    maxlen            BezorgingAfgebroken    the inbox was full (a max-length policy)
    delivery_limit    BezorgingAfgebroken    delivered more than DELIVERY_LIMIT times (requeued)

The inboxes dead-letter to the exchange ``iwmo.dead``, which puts every dead letter in two queues:
``iwmo.dead``, left alone for operators to inspect, and ``iwmo.dead.ledger``, which the watch
below consumes in the gateway's primary process. For each dead letter it moves the message in the
ledger, if it is still on offer (``WordtAangeboden``; a message already ``Bezorgd`` stays so),
publishes ``berichtstatus.<status>`` on ``iwmo.events``, and acknowledges the dead letter only
after both.
The move is idempotent, so a dead letter delivered again (after a reconnect or a crash) changes
nothing twice; its event goes out again with the same message id, for subscribers to recognise.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from aio_pika.abc import AbstractIncomingMessage

from gateway.errors import BrokerError, ConfigError, LedgerUnavailable, MalformedDelivery
from gateway.ledger import Ledger, StoredMessage
from gateway.metrics import Metrics
from gateway.participants import Participant, Role
from gateway.routing import (
    CONSUMER_CONNECT_TIMEOUT,
    DEAD_LETTER_LEDGER_QUEUE,
    Broker,
    acknowledge,
)
from gateway.vsp import Berichtstatus

log = logging.getLogger(__name__)

OUTCOMES: Mapping[str, Berichtstatus] = {
    "rejected": Berichtstatus.AANBIEDEN_MISLUKT,
    "expired": Berichtstatus.BEZORGING_AFGEBROKEN,
    "maxlen": Berichtstatus.BEZORGING_AFGEBROKEN,
    "delivery_limit": Berichtstatus.BEZORGING_AFGEBROKEN,
}

EVENT_PREFIX = "berichtstatus"

# Between tries while the ledger or the broker is away: from the first, doubling, to the last.
FIRST_RETRY = 1.0
LAST_RETRY = 30.0


class Result(enum.StrEnum):
    """What the watch did with one dead letter (the ``result`` label of the counter)."""

    MOVED = "moved"
    """The message moved to AanbiedenMislukt or BezorgingAfgebroken."""
    REPEATED = "repeated"
    """It had moved there before (this dead letter again, or one of another copy)."""
    UNCHANGED = "unchanged"
    """It is past being on offer (Bezorgd, or the other outcome): it stays as it is."""
    UNKNOWN = "unknown"
    """The ledger has no such message for the inbox's participant (or forgot it)."""
    IGNORED = "ignored"
    """Not a dead letter of an inbox of the gateway's: nothing to record."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead letter as the x-death header tells it: which message, why, from which queue."""

    traceer_id: str
    reason: str
    queue: str
    recipient: Participant | None
    """The participant whose inbox ``queue`` is; None for any other queue."""

    @property
    def outcome(self) -> Berichtstatus | None:
        """The status this dead letter gives its message; None for a reason we do not know."""
        return OUTCOMES.get(self.reason)


def read_dead_letter(message_id: str | None, headers: Mapping[str, object]) -> DeadLetter:
    """Read a dead letter's headers; raise ``MalformedDelivery`` naming what is missing.

    The reason and queue are those of the latest death: the first entry of ``x-death`` (RabbitMQ
    keeps it newest first), else ``x-last-death-*`` (3.13 and later), else ``x-first-death-*``.
    """
    if not message_id:
        raise MalformedDelivery("dead letter without a message_id")
    where = f"dead letter {message_id!r}"
    latest: Mapping[str, object] = {}
    deaths = headers.get("x-death")
    if isinstance(deaths, list | tuple) and deaths and isinstance(deaths[0], Mapping):
        latest = deaths[0]
    reason = _text(latest.get("reason"))
    queue = _text(latest.get("queue"))
    for prefix in ("x-last-death-", "x-first-death-"):
        reason = reason or _text(headers.get(prefix + "reason"))
        queue = queue or _text(headers.get(prefix + "queue"))
    if not reason or not queue:
        raise MalformedDelivery(f"{where}: no x-death header naming its reason and queue")
    return DeadLetter(message_id, reason, queue, inbox_owner(queue))


def inbox_owner(queue: str) -> Participant | None:
    """The participant whose inbox is ``queue`` (``inbox.gemeente.0637``), or None."""
    kind, _, rest = queue.partition(".")
    role, _, code = rest.partition(".")
    if kind != "inbox":
        return None
    try:
        return Participant(Role(role), code)
    except (ValueError, ConfigError):
        return None


def _text(value: object) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value if isinstance(value, str) else ""


def event_id(traceer_id: str, outcome: Berichtstatus) -> str:
    """The message id of the event: the same each time one message's outcome is announced."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:iwmo-gateway:{traceer_id}:{outcome.value}"))


def status_event(stored: StoredMessage, dead: DeadLetter) -> dict[str, object]:
    """The payload of ``berichtstatus.<status>``: the message, its new status, and why."""
    return {
        "traceerId": stored.traceer_id,
        "conversatieId": stored.conversatie_id,
        "berichttype": stored.message_type,
        "sender": stored.sender,
        "recipient": stored.recipient,
        "berichtstatus": stored.status.value,
        "at": stored.status_changed_at,
        "reason": dead.reason,
        "queue": dead.queue,
    }


class EventPublisher(Protocol):
    """Where the watch announces (``gateway.routing.Broker``)."""

    async def publish_event(
        self, routing_key: str, payload: Mapping[str, object], *, message_id: str | None = None
    ) -> None: ...


class DeadLetterWatch:
    """Consumes ``iwmo.dead.ledger`` and records each dead letter; ``start`` and ``stop`` it.

    Its connection is a robust one of its own, which comes back by itself after an outage;
    should the consumer still end or fail to start, it starts again after a pause.
    """

    name = "dead-letters"

    def __init__(
        self,
        amqp_url: str,
        ledger: Ledger,
        publisher: EventPublisher,
        metrics: Metrics,
        *,
        prefetch: int = 32,
        first_retry: float = FIRST_RETRY,
    ) -> None:
        self.amqp_url = amqp_url
        self.ledger = ledger
        self.publisher = publisher
        self.metrics = metrics
        self.prefetch = prefetch
        self.first_retry = first_retry
        self.consuming = asyncio.Event()
        """Set while the watch consumes (for readiness displays and tests)."""
        self._connected_or_failed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Stop consuming; a dead letter not yet recorded goes back to the queue, unacked."""
        if self._task is not None:
            # aio-pika cancelled while it opens a connection leaves tasks of its own pending;
            # let the attempt end first (its own timeout bounds it).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CONSUMER_CONNECT_TIMEOUT):
                    await self._connected_or_failed.wait()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.consuming.clear()

    async def _run(self) -> None:
        pause = self.first_retry
        while True:
            self._connected_or_failed.clear()
            try:
                async with Broker.consumer(
                    self.amqp_url, DEAD_LETTER_LEDGER_QUEUE, prefetch=self.prefetch
                ) as deliveries:
                    self._connected_or_failed.set()
                    self.consuming.set()
                    pause = self.first_retry
                    async for incoming in deliveries:
                        await self.handle(incoming)
                log.warning("dead letters: the consumer ended; starting it again")
            except BrokerError as exc:
                log.warning("dead letters: %s; trying again in %g s", exc, pause)
            except Exception:
                # A bug must not end the recording of statuses for good: say it, start again.
                log.exception("dead letters: the watch failed; starting again in %g s", pause)
            self._connected_or_failed.set()
            self.consuming.clear()
            await asyncio.sleep(pause)
            pause = min(pause * 2, LAST_RETRY)

    async def handle(self, incoming: AbstractIncomingMessage) -> Result:
        """Record one dead letter, then ack it; the ``Result``.

        While the ledger or the broker cannot take what is to be recorded, it tries again and
        holds the dead letter unacknowledged: a stop meanwhile leaves it in the queue.
        """
        try:
            dead = read_dead_letter(incoming.message_id, incoming.headers or {})
        except MalformedDelivery as exc:
            log.warning("%s; left in iwmo.dead", exc)
            self.metrics.dead_letters.labels("", Result.IGNORED).inc()
            await acknowledge(incoming)
            return Result.IGNORED
        outcome = dead.outcome
        if outcome is None or dead.recipient is None:
            log.warning(
                "dead letter %s (reason %r, queue %r) is not one of an inbox's; left in iwmo.dead",
                dead.traceer_id,
                dead.reason,
                dead.queue,
            )
            result = Result.IGNORED
        else:
            pause = self.first_retry
            while True:
                try:
                    result = await self._record(dead, dead.recipient, outcome)
                    break
                except (LedgerUnavailable, BrokerError) as exc:
                    log.warning(
                        "dead letter %s not recorded yet (%s); trying again in %g s",
                        dead.traceer_id,
                        exc,
                        pause,
                    )
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, LAST_RETRY)
        self.metrics.dead_letters.labels(dead.reason, result).inc()
        # If the ack is lost with its channel, the dead letter comes again and finds it done.
        await acknowledge(incoming)
        return result

    async def _record(
        self, dead: DeadLetter, recipient: Participant, outcome: Berichtstatus
    ) -> Result:
        moved = await self.ledger.undeliverable(dead.traceer_id, outcome, recipient=recipient.key)
        stored = await self.ledger.get(dead.traceer_id)
        if stored is None or stored.recipient != recipient.key:
            log.info("dead letter %s: no such message for %s", dead.traceer_id, recipient)
            return Result.UNKNOWN
        if stored.status is not outcome:
            log.info(
                "dead letter %s (%s): the message stays %s",
                dead.traceer_id,
                dead.reason,
                stored.status.value,
            )
            return Result.UNCHANGED
        await self.publisher.publish_event(
            f"{EVENT_PREFIX}.{outcome.value}",
            status_event(stored, dead),
            message_id=event_id(stored.traceer_id, outcome),
        )
        if moved:
            log.info(
                "%s %s to %s: %s (%s from %s)",
                stored.message_type,
                stored.traceer_id,
                recipient,
                outcome.value,
                dead.reason,
                dead.queue,
            )
            return Result.MOVED
        return Result.REPEATED
