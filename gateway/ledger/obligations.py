"""Obligations in the ledger, written in the transaction of the message that opens or meets them.

A message that is admitted opens what it obliges its recipient (or sender) to send, and meets what
its sender owed. Both happen inside the admission's transaction, so a message is never stored
without its obligations, and a withdrawn message (no broker confirm) takes them back with it.
What a message opens and meets is worked out by ``gateway.sla.chains``; this module only stores it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.ledger.schema import obligations


@dataclass(frozen=True, slots=True)
class Opening:
    """An obligation a message opens: ``debtor`` owes ``owed`` to ``creditor`` before ``due``."""

    rule: str
    owed: str
    accepts: tuple[str, ...]
    """Every message type that meets it: ``owed`` and its alternatives (a 319 for a 301)."""
    debtor: str
    creditor: str
    due: dt.datetime
    product: str | None = None
    reference: str | None = None
    once_per_reference: bool = False
    """Owed once per ``reference``: the 305 and 307 of an assignment (ToewijzingNummer). A later
    message naming the same reference (a 301 that changes the assignment) moves the due moment
    of the one still open and opens no second one."""
    met_on_admission: bool = False
    """Opened and met by the trigger itself: the rule counts from an event the message reports
    after the fact (care that started before its 315, a period before its 323), so the record
    is whether the message came in time."""


@dataclass(frozen=True, slots=True)
class Closing:
    """How a message meets what its sender owed its recipient.

    With ``answers`` (a retour's BerichtIdentificatie, a 325's DeclaratieIdentificatie) it meets
    the obligation opened by that very message. Otherwise each of ``references`` meets the oldest
    open obligation carrying it; when none of them matches, the message meets the oldest open one
    that carries no reference at all.
    """

    message_type: str
    debtor: str
    creditor: str
    answers: str | None = None
    references: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ChainStep:
    """What one message does to the obligations: those it opens and those it meets."""

    opens: tuple[Opening, ...] = ()
    closes: tuple[Closing, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.opens or self.closes)


@dataclass(frozen=True, slots=True)
class Trigger:
    """The admitted message a step belongs to."""

    traceer_id: str
    message_type: str
    identificatie: str
    conversatie_id: str


def accepts_text(types: tuple[str, ...]) -> str:
    return "," + ",".join(types) + ","


async def record(
    connection: AsyncConnection, trigger: Trigger, step: ChainStep, now: dt.datetime
) -> None:
    """Store ``step`` of ``trigger`` at ``now`` on the admission's connection."""
    fresh = [o for o in step.opens if not await _known(connection, o)]
    if fresh:
        await connection.execute(
            obligations.insert(),
            [
                {
                    "id": str(uuid.uuid4()),
                    "rule": opening.rule,
                    "owed": opening.owed,
                    "accepts": accepts_text(opening.accepts),
                    "debtor": opening.debtor,
                    "creditor": opening.creditor,
                    "product": opening.product,
                    "reference": opening.reference,
                    "trigger_traceer_id": trigger.traceer_id,
                    "trigger_type": trigger.message_type,
                    "trigger_identificatie": trigger.identificatie,
                    "conversatie_id": trigger.conversatie_id,
                    "opened_at": now,
                    "due": opening.due,
                    # every row has the same keys: one executemany
                    "met_at": now if opening.met_on_admission else None,
                    "met_by": trigger.traceer_id if opening.met_on_admission else None,
                    "met_by_type": trigger.message_type if opening.met_on_admission else None,
                }
                for opening in fresh
            ],
        )
    for closing in step.closes:
        for obligation_id in await _met(connection, closing):
            await connection.execute(
                obligations.update()
                .where(obligations.c.id == obligation_id, obligations.c.met_at.is_(None))
                .values(met_at=now, met_by=trigger.traceer_id, met_by_type=closing.message_type)
            )


async def _known(connection: AsyncConnection, opening: Opening) -> bool:
    """Whether ``opening`` is owed already; if so and still open, move its due moment."""
    if not opening.once_per_reference or opening.reference is None:
        return False
    c = obligations.c
    existing = (
        await connection.execute(
            sa.select(c.id, c.met_at)
            .where(
                c.owed == opening.owed,
                c.debtor == opening.debtor,
                c.creditor == opening.creditor,
                c.reference == opening.reference,
            )
            .order_by(c.opened_at.desc())
            .limit(1)
        )
    ).first()
    if existing is None:
        return False
    if existing.met_at is None:
        # A new due moment: announced late again only if it is late again.
        await connection.execute(
            obligations.update()
            .where(c.id == existing.id)
            .values(due=opening.due, rule=opening.rule, late_at=None)
        )
    return True


async def _met(connection: AsyncConnection, closing: Closing) -> list[str]:
    c = obligations.c
    open_ = sa.select(c.id).where(
        c.met_at.is_(None),
        c.debtor == closing.debtor,
        c.creditor == closing.creditor,
        c.accepts.like(f"%,{closing.message_type},%"),
    )
    if closing.answers is not None:
        query = open_.where(c.trigger_identificatie == closing.answers)
        return list((await connection.execute(query)).scalars())
    oldest = open_.order_by(c.due, c.opened_at, c.id).limit(1)
    met: list[str] = []
    for reference in dict.fromkeys(closing.references):
        query = oldest.where(c.reference == reference)
        if met:
            query = query.where(c.id.not_in(met))
        found = (await connection.execute(query)).scalar()
        if found is not None:
            met.append(found)
    if not met:
        found = (await connection.execute(oldest.where(c.reference.is_(None)))).scalar()
        if found is not None:
            met.append(found)
    return met


async def forget(connection: AsyncConnection, traceer_id: str) -> None:
    """Undo what a withdrawn message did: drop what it opened, reopen what it met."""
    await connection.execute(
        obligations.delete().where(obligations.c.trigger_traceer_id == traceer_id)
    )
    await connection.execute(
        obligations.update()
        .where(obligations.c.met_by == traceer_id)
        .values(met_at=None, met_by=None, met_by_type=None)
    )
