"""Reading the obligations: who owes which message to whom, by when, and whether it is late.

Whether an obligation is late is decided against a moment (the gateway's clock, real or virtual),
never stored as a fact that could go stale: open and past its due moment, or met at or after it.
The monitor only records *when* it announced the lateness (``late_at``), so that each late
obligation is announced once, also with several gateway processes on one ledger.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from gateway.errors import LedgerUnavailable
from gateway.ledger import Ledger
from gateway.ledger.schema import messages, obligations, status_history
from gateway.participants import Participant


class State(enum.StrEnum):
    """Where an obligation stands at a moment."""

    OPEN = "open"
    LATE = "late"
    MET = "met"
    MET_LATE = "met-late"


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    # SQLite gives naive datetimes back; everything is stored in UTC.
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(dt.UTC).isoformat()


@dataclass(frozen=True, slots=True)
class Obligation:
    """``debtor`` owes ``owed`` to ``creditor`` before ``due``; met at ``met_at`` by ``met_by``."""

    id: str
    rule: str
    owed: str
    accepts: tuple[str, ...]
    debtor: str
    creditor: str
    product: str | None
    reference: str | None
    trigger_traceer_id: str
    trigger_type: str
    trigger_identificatie: str
    conversatie_id: str | None
    opened_at: dt.datetime
    due: dt.datetime
    met_at: dt.datetime | None
    met_by: str | None
    met_by_type: str | None
    late_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: Any) -> Obligation:
        m = row._mapping
        opened_at, due = _aware(m["opened_at"]), _aware(m["due"])
        assert opened_at is not None
        assert due is not None
        return cls(
            id=m["id"],
            rule=m["rule"],
            owed=m["owed"],
            accepts=tuple(t for t in m["accepts"].split(",") if t),
            debtor=m["debtor"],
            creditor=m["creditor"],
            product=m["product"],
            reference=m["reference"],
            trigger_traceer_id=m["trigger_traceer_id"],
            trigger_type=m["trigger_type"],
            trigger_identificatie=m["trigger_identificatie"],
            conversatie_id=m["conversatie_id"],
            opened_at=opened_at,
            due=due,
            met_at=_aware(m["met_at"]),
            met_by=m["met_by"],
            met_by_type=m["met_by_type"],
            late_at=_aware(m["late_at"]),
        )

    def state(self, now: dt.datetime) -> State:
        if self.met_at is not None:
            return State.MET_LATE if self.met_at >= self.due else State.MET
        return State.LATE if now >= self.due else State.OPEN

    def is_late(self, now: dt.datetime) -> bool:
        return self.state(now) in (State.LATE, State.MET_LATE)

    def as_json(self, now: dt.datetime) -> dict[str, object]:
        """The report's view: ``owed``, ``by``, ``to`` (codes), ``due``, ``met``, ``late``, ..."""
        by, to = Participant.parse(self.debtor), Participant.parse(self.creditor)
        return {
            "owed": self.owed,
            "by": by.code,
            "to": to.code,
            "due": _iso(self.due),
            "met": _iso(self.met_at),
            "late": self.is_late(now),
            "state": self.state(now).value,
            "by_role": by.role.value,
            "to_role": to.role.value,
            "accepts": list(self.accepts),
            "rule": self.rule,
            "product": self.product,
            "reference": self.reference,
            "opened": _iso(self.opened_at),
            "trigger": {
                "traceerId": self.trigger_traceer_id,
                "berichttype": self.trigger_type,
                "identificatie": self.trigger_identificatie,
            },
            "conversatieId": self.conversatie_id,
            "met_by": (
                None
                if self.met_by is None
                else {"traceerId": self.met_by, "berichttype": self.met_by_type}
            ),
            # positive: time left; negative: overdue (open obligations only)
            "seconds_left": (
                None if self.met_at is not None else round((self.due - now).total_seconds())
            ),
            "id": self.id,
        }


@dataclass(frozen=True, slots=True)
class Tally:
    """Counts for one (message type owed, participant owing)."""

    owed: str
    debtor: str
    total: int
    met_on_time: int
    met_late: int
    open: int
    late: int


@dataclass(frozen=True, slots=True)
class Query:
    """A selection of obligations; every field narrows it."""

    late: bool = False
    open: bool = False
    participant: str | None = None
    """A code (``0637``, ``12345678``) or a key (``gemeente-0637``): owing or owed to."""
    message: str | None = None
    """The message type owed (``WMO302``)."""
    limit: int | None = None


class ObligationStore:
    """Queries and the monitor's writes on the ``obligations`` table of a ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self._engine = ledger.engine
        self._settled = ledger.settled

    async def find(self, query: Query, now: dt.datetime) -> list[Obligation]:
        """The obligations ``query`` selects, the soonest due first."""
        c = obligations.c
        select = sa.select(obligations)
        if query.message:
            select = select.where(c.owed == query.message.strip().upper())
        if query.participant:
            keys = participant_keys(query.participant)
            select = select.where(sa.or_(c.debtor.in_(keys), c.creditor.in_(keys)))
        if query.open:
            select = select.where(c.met_at.is_(None))
        if query.late:
            select = select.where(
                sa.or_(
                    sa.and_(c.met_at.is_(None), c.due <= now),
                    sa.and_(c.met_at.is_not(None), c.met_at >= c.due),
                )
            )
        select = select.order_by(c.due, c.opened_at, c.id)
        if query.limit is not None:
            select = select.limit(query.limit)
        return [Obligation.from_row(r) for r in await self._read(select)]

    async def of_messages(self, traceer_ids: Sequence[str]) -> list[Obligation]:
        """The obligations these messages opened or met."""
        c = obligations.c
        select = sa.select(obligations).where(
            sa.or_(c.trigger_traceer_id.in_(traceer_ids), c.met_by.in_(traceer_ids))
        )
        return [Obligation.from_row(r) for r in await self._read(select.order_by(c.due))]

    async def next_due(self) -> dt.datetime | None:
        """The earliest due moment of an open obligation not yet announced late."""
        c = obligations.c
        select = sa.select(sa.func.min(c.due)).where(c.met_at.is_(None), c.late_at.is_(None))
        rows = await self._read(select)
        return _aware(rows[0][0]) if rows else None

    async def claim_late(self, now: dt.datetime) -> list[Obligation]:
        """Mark open obligations past due as announced at ``now``; return those this call marked.

        Each row is claimed with its own conditional update, so that of several gateways on one
        ledger exactly one announces it.
        """
        c = obligations.c
        candidates = await self._read(
            sa.select(obligations)
            .where(c.met_at.is_(None), c.late_at.is_(None), c.due <= now)
            .order_by(c.due)
        )
        claimed: list[Obligation] = []
        try:
            async with self._engine.begin() as connection:
                for row in candidates:
                    result = await connection.execute(
                        obligations.update()
                        .where(c.id == row.id, c.late_at.is_(None))
                        .values(late_at=now)
                    )
                    if result.rowcount == 1:
                        claimed.append(Obligation.from_row(row))
        except (DBAPIError, OSError) as exc:
            raise LedgerUnavailable(f"ledger write failed: {exc}") from exc
        return claimed

    async def unclaim(self, obligation_id: str) -> None:
        """Announcing failed: leave it for the next round."""
        try:
            async with self._engine.begin() as connection:
                await connection.execute(
                    obligations.update()
                    .where(obligations.c.id == obligation_id)
                    .values(late_at=None)
                )
        except (DBAPIError, OSError) as exc:
            raise LedgerUnavailable(f"ledger write failed: {exc}") from exc

    async def tally(self, now: dt.datetime) -> list[Tally]:
        """Counts per message type owed and participant owing."""
        c = obligations.c

        def count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
            return sa.func.sum(sa.case((condition, 1), else_=0))

        select = (
            sa.select(
                c.owed,
                c.debtor,
                sa.func.count(),
                count(sa.and_(c.met_at.is_not(None), c.met_at < c.due)),
                count(sa.and_(c.met_at.is_not(None), c.met_at >= c.due)),
                count(c.met_at.is_(None)),
                count(sa.and_(c.met_at.is_(None), c.due <= now)),
            )
            .group_by(c.owed, c.debtor)
            .order_by(c.debtor, c.owed)
        )
        return [
            Tally(owed, debtor, int(total), int(on_time), int(late_met), int(open_), int(late))
            for owed, debtor, total, on_time, late_met, open_, late in await self._read(select)
        ]

    async def recent_messages(self, limit: int) -> list[dict[str, object]]:
        """The latest messages (without payload), newest first, with their status history."""
        m = messages.c
        select = (
            sa.select(
                m.traceer_id,
                m.conversatie_id,
                m.als_antwoord_op,
                m.sender,
                m.recipient,
                m.message_type,
                m.identificatie,
                m.answers_identificatie,
                m.status,
                m.received_at,
                m.status_changed_at,
            )
            .order_by(m.received_at.desc(), m.arrived_ns.desc(), m.traceer_id)
            .limit(limit)
        )
        rows = await self._read(select)
        ids = [r.traceer_id for r in rows]
        history: dict[str, list[dict[str, object]]] = {i: [] for i in ids}
        admitted: dict[str, int] = {}
        if ids:
            h = status_history.c
            for number, traceer_id, status, at in await self._read(
                sa.select(h.id, h.traceer_id, h.status, h.at)
                .where(h.traceer_id.in_(ids))
                .order_by(h.id)
            ):
                admitted.setdefault(traceer_id, number)
                history[traceer_id].append({"status": status, "at": _iso(_aware(at))})
        # A virtual clock stands still: messages admitted at one moment keep their order by
        # their first status record.
        rows.sort(
            key=lambda r: (_aware(r.received_at), admitted.get(r.traceer_id, 0)), reverse=True
        )
        return [
            {
                "traceerId": r.traceer_id,
                "conversatieId": r.conversatie_id,
                "alsAntwoordOp": r.als_antwoord_op,
                "sender": r.sender,
                "recipient": r.recipient,
                "berichttype": r.message_type,
                "identificatie": r.identificatie,
                "answers": r.answers_identificatie,
                "status": r.status,
                "received": _iso(_aware(r.received_at)),
                "status_changed": _iso(_aware(r.status_changed_at)),
                "history": history[r.traceer_id],
            }
            for r in rows
        ]

    async def _read(self, select: sa.Select[Any]) -> list[Any]:
        await self._settled()  # no message read still on offer once it is marked delivered
        try:
            async with self._engine.connect() as connection:
                return list(await connection.execute(select))
        except (DBAPIError, OSError) as exc:
            raise LedgerUnavailable(f"ledger read failed: {exc}") from exc


def participant_keys(text: str) -> list[str]:
    """The keys a code or key stands for; ``ConfigError`` for a malformed key."""
    word = text.strip()
    if "-" in word or ":" in word:
        return [Participant.parse(word).key]
    return [f"gemeente-{word}", f"aanbieder-{word}"]
