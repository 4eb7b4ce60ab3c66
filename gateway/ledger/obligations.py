"""Obligations in the ledger, written in the transaction of the message that opens or meets them.

A message that is admitted opens what it obliges its recipient (or sender) to send, and meets what
its sender owed. Both happen inside the admission's transaction, so a message is never stored
without its obligations, and a withdrawn message (no broker confirm) takes them back with it.
What a message opens and meets is worked out by ``gateway.sla.chains``; this module only stores it.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.ledger.schema import obligations
from gateway.ledger.writer import (
    Prepared,
    by_fields,
    insert_later,
    insert_now,
    later,
    pending,
    queued,
    settle,
)


@by_fields
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


@by_fields
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


@by_fields
@dataclass(frozen=True, slots=True)
class ChainStep:
    """What one message does to the obligations: those it opens and those it meets."""

    opens: tuple[Opening, ...] = ()
    closes: tuple[Closing, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.opens or self.closes)


@by_fields
@dataclass(frozen=True, slots=True)
class Trigger:
    """The admitted message a step belongs to."""

    traceer_id: str
    message_type: str
    identificatie: str
    conversatie_id: str


def accepts_text(types: tuple[str, ...]) -> str:
    return "," + ",".join(types) + ","


# The statements, prepared once (``Prepared``): under load an admission's cost was mostly
# SQLAlchemy building, keying and executing statements, not the database running them
# (docs/performance.md). A list of references is bound as a fixed number of parameters, the next
# power of two (``_references``): an expanding ``IN`` is rendered anew for every call.
_c = obligations.c
_OLDEST_FIRST = (_c.due, _c.opened_at, _c.id)
_OPEN = sa.select(_c.id, _c.reference).where(
    _c.met_at.is_(None),
    _c.debtor == sa.bindparam("debtor"),
    _c.creditor == sa.bindparam("creditor"),
    # The pattern built in SQL, not bound whole: SQLite prepares a statement again at every
    # execution when a LIKE's pattern is a parameter (it might serve an index).
    _c.accepts.contains(sa.bindparam("accepts", type_=_c.accepts.type)),
)
_OPEN_ANSWERED = Prepared(_OPEN.where(_c.trigger_identificatie == sa.bindparam("answers")))
_OPEN_UNREFERENCED = Prepared(_OPEN.where(_c.reference.is_(None)).order_by(*_OLDEST_FIRST).limit(1))
_MEET = Prepared(
    obligations.update()
    .where(_c.id == sa.bindparam("obligation"), _c.met_at.is_(None))
    .values(met_at=sa.bindparam("at"), met_by=sa.bindparam("by"), met_by_type=sa.bindparam("type")),
    many=True,
)
_MOVE_DUE = Prepared(
    obligations.update()
    .where(_c.id == sa.bindparam("obligation"))
    .values(due=sa.bindparam("new_due"), rule=sa.bindparam("new_rule"), late_at=None)
)


def _in_references(size: int) -> sa.ColumnElement[bool]:
    return _in(_c.reference, "r", size)


@functools.cache
def _open_by_reference(size: int) -> Prepared:
    """The open ones carrying any of ``size`` references and the oldest carrying none, oldest
    first, in one query."""
    oldest_first = _OPEN.add_columns(*_OLDEST_FIRST[:2])
    return Prepared(
        sa.union_all(
            oldest_first.where(_in_references(size)),
            sa.select(
                oldest_first.where(_c.reference.is_(None))
                .order_by(*_OLDEST_FIRST)
                .limit(1)
                .subquery()
            ),
        ).order_by(*(sa.literal_column(c.name) for c in _OLDEST_FIRST))
    )


@functools.cache
def _owed(size: int) -> Prepared:
    """What is owed already of one kind between two, for any of ``size`` references."""
    return Prepared(
        sa.select(_c.id, _c.reference, _c.met_at)
        .where(
            _c.owed == sa.bindparam("owed"),
            _c.debtor == sa.bindparam("debtor"),
            _c.creditor == sa.bindparam("creditor"),
            _in_references(size),
        )
        .order_by(_c.reference, _c.opened_at.desc())
    )


@functools.cache
def _candidates(references: int, answers: int) -> Prepared:
    """What the closings of one kind (``_meet``) between two may meet: the open ones carrying
    any of ``references`` or answering any of ``answers`` (pool 0), and the ``k`` oldest open
    ones carrying no reference (pool 1), oldest first."""
    columns = (_c.id, _c.reference, _c.trigger_identificatie, _c.accepts, *_OLDEST_FIRST[:2])
    open_ones = _OPEN.with_only_columns(*columns)
    oldest = (
        open_ones.add_columns(sa.literal_column("1").label("pool"))
        .where(_c.reference.is_(None))
        .order_by(*_OLDEST_FIRST)
        .limit(sa.bindparam("k", type_=sa.Integer))
    )
    named = []
    if references:
        named.append(_in(_c.reference, "r", references))
    if answers:
        named.append(_in(_c.trigger_identificatie, "a", answers))
    if not named:
        return Prepared(oldest)
    return Prepared(
        sa.union_all(
            open_ones.add_columns(sa.literal_column("0").label("pool")).where(sa.or_(*named)),
            sa.select(oldest.subquery()),
        ).order_by(*(sa.literal_column(c.name) for c in _OLDEST_FIRST))
    )


def _in(column: sa.Column[str], prefix: str, size: int) -> sa.ColumnElement[bool]:
    return column.in_([sa.bindparam(f"{prefix}{n}", type_=column.type) for n in range(size)])


def _references(references: Sequence[str], prefix: str = "r") -> tuple[int, dict[str, str]]:
    """``references`` as parameters ``r0``, ``r1``, ... of the next power of two in number, the
    last one repeated (``IN`` a list with a value twice finds what it finds once): a statement
    per power of two instead of one per length. None for none."""
    if not references:
        return 0, {}
    size = 1 << (len(references) - 1).bit_length()
    padded = [*references, *[references[-1]] * (size - len(references))]
    return size, {f"{prefix}{n}": reference for n, reference in enumerate(padded)}


def record(connection: Connection, trigger: Trigger, step: ChainStep, now: dt.datetime) -> None:
    """Store ``step`` of ``trigger`` at ``now`` in the admission's transaction."""
    known = _known(connection, step.opens)
    fresh = [o for o in step.opens if _key(o) not in known]
    rows = [
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
    ]
    # An earlier message of the batch that could meet one of these meets it only if it came
    # later: what it meets is looked up now, before they exist.
    waiting = _waiting(connection)
    if waiting and any(
        (opening.debtor, opening.creditor, accepted) in waiting
        for opening in fresh
        if not opening.met_on_admission
        for accepted in opening.accepts
    ):
        settle(connection, _meet)
    # Inserted with the rest of the batch; a later query of the batch that could see one of
    # them (``_known``, ``_met``) has them inserted first.
    for row in rows:
        insert_later(connection, obligations, row)
    # What each closing meets is looked up with those of the rest of the batch (``_meet``).
    for closing in step.closes:
        later(connection, _meet, _Meeting(closing, trigger.traceer_id, now))


@dataclass(frozen=True, slots=True)
class _Meeting:
    """A closing of an admitted message, to be met with the rest of its batch."""

    closing: Closing
    by: str
    """The traceerId of the message that meets."""
    at: dt.datetime


@dataclass(slots=True)
class _Waiting:
    meetings: list[_Meeting]
    kinds: set[tuple[str, str, str]]
    counted: int = 0


_WAITING = "gateway.ledger.obligations.waiting"


def _waiting(connection: Connection) -> set[tuple[str, str, str]]:
    """Debtor, creditor and message type of the closings the batch has queued (``_meet``).

    Kept up with the queue as it grows, not worked out anew for every message: that was a
    scan of the batch per message.
    """
    meetings = queued(connection, _meet)
    known: _Waiting | None = connection.info.get(_WAITING)
    if known is None or known.meetings is not meetings:
        known = connection.info[_WAITING] = _Waiting(meetings, set())
    for meeting in meetings[known.counted :]:
        c = meeting.closing
        known.kinds.add((c.debtor, c.creditor, c.message_type))
    known.counted = len(meetings)
    return known.kinds


def _meet(connection: Connection, meetings: list[_Meeting]) -> None:
    """Meet what the closings of a batch meet, as if each had met its own in its turn.

    One query per kind of closing between two (usually one for the batch) instead of one per
    message: on PostgreSQL each statement is a round trip. When that one query cannot tell
    (two kinds could meet the same obligation, or more closings fell back on the oldest
    unreferenced than it fetched), they are met one by one after all.
    """
    # The batch's openings, of messages earlier than any that could meet them (``record``).
    insert_now(connection, obligations)
    met = _resolve(connection, meetings) if len(meetings) > 1 else None
    if met is None:
        for meeting in meetings:
            found = _met(connection, meeting.closing)
            if found:
                _MEET.executemany(connection, [_meeting_row(meeting, o) for o in found])
        return
    if met:
        _MEET.executemany(connection, met)


def _meeting_row(meeting: _Meeting, obligation: str) -> dict[str, Any]:
    return {
        "obligation": obligation,
        "at": meeting.at,
        "by": meeting.by,
        "type": meeting.closing.message_type,
    }


def _resolve(connection: Connection, meetings: list[_Meeting]) -> list[dict[str, Any]] | None:
    """The ``_MEET`` rows of ``meetings`` in their order, from one query per kind; None when
    that cannot tell."""
    kinds: dict[tuple[str, str, str], list[_Meeting]] = {}
    for meeting in meetings:
        c = meeting.closing
        kinds.setdefault((c.debtor, c.creditor, c.message_type), []).append(meeting)
    types: dict[tuple[str, str], set[str]] = {}
    for debtor, creditor, message_type in kinds:
        types.setdefault((debtor, creditor), set()).add(message_type)
    met: list[dict[str, Any]] = []
    taken: set[str] = set()
    for (debtor, creditor, message_type), group in kinds.items():
        references = list(
            dict.fromkeys(
                r for m in group if m.closing.answers is None for r in m.closing.references
            )
        )
        answers = list(
            dict.fromkeys(m.closing.answers for m in group if m.closing.answers is not None)
        )
        wanting_oldest = sum(1 for m in group if m.closing.answers is None)
        r_size, r_parameters = _references(references, "r")
        a_size, a_parameters = _references(answers, "a")
        rows = _candidates(r_size, a_size).execute(
            connection,
            {
                "debtor": debtor,
                "creditor": creditor,
                "accepts": f",{message_type},",
                "k": wanting_oldest,
                **r_parameters,
                **a_parameters,
            },
        )
        others = [f",{t}," for t in types[debtor, creditor] if t != message_type]
        by_reference: dict[str, list[str]] = {}
        by_answer: dict[str, list[str]] = {}
        oldest: list[str] = []
        for row in rows:
            if any(other in row.accepts for other in others):
                return None
            if row.pool:
                oldest.append(row.id)
                continue
            if row.reference is not None:
                by_reference.setdefault(row.reference, []).append(row.id)
            by_answer.setdefault(row.trigger_identificatie, []).append(row.id)
        more_beyond = len(oldest) == wanting_oldest
        for meeting in group:
            closing = meeting.closing
            if closing.answers is not None:
                meets = [o for o in by_answer.get(closing.answers, ()) if o not in taken]
            else:
                meets = []
                # Each reference meets the oldest open obligation carrying it; none matching,
                # the message meets the oldest open one that carries no reference.
                for reference in dict.fromkeys(closing.references):
                    first = next(
                        (o for o in by_reference.get(reference, ()) if o not in taken), None
                    )
                    if first is not None:
                        meets.append(first)
                        taken.add(first)
                if not meets:
                    first = next((o for o in oldest if o not in taken), None)
                    if first is None and more_beyond:
                        return None
                    if first is not None:
                        meets.append(first)
            taken.update(meets)
            met.extend(_meeting_row(meeting, o) for o in meets)
    return met


def _key(opening: Opening) -> tuple[str, str, str, str] | None:
    """What makes an opening owed once: the same debt between the same two, per reference."""
    if not opening.once_per_reference or opening.reference is None:
        return None
    return (opening.owed, opening.debtor, opening.creditor, opening.reference)


def _known(connection: Connection, openings: Sequence[Opening]) -> set[tuple[str, str, str, str]]:
    """The once-per-reference openings owed already; the due moment of open ones moves.

    One query per kind of debt (usually one), however many references the message names.
    """
    wanted: dict[tuple[str, str, str], dict[str, Opening]] = {}
    for opening in openings:
        key = _key(opening)
        if key is not None:
            wanted.setdefault(key[:3], {})[key[3]] = opening
    known: set[tuple[str, str, str, str]] = set()
    if wanted:
        # It reads whether they are met, and moves what the batch's closings look for.
        settle(connection, _meet)
    for (owed, debtor, creditor), by_reference in wanted.items():
        if any(
            row["owed"] == owed
            and row["debtor"] == debtor
            and row["creditor"] == creditor
            and row["reference"] in by_reference
            for row in pending(connection, obligations)
        ):
            insert_now(connection, obligations)
        size, references = _references(list(by_reference))
        rows = _owed(size).execute(
            connection, {"owed": owed, "debtor": debtor, "creditor": creditor, **references}
        )
        latest: dict[str, Any] = {}
        for row in rows:
            latest.setdefault(row.reference, row)
        for reference, row in latest.items():
            known.add((owed, debtor, creditor, reference))
            if row.met_at is None:
                opening = by_reference[reference]
                # A new due moment: announced late again only if it is late again.
                _MOVE_DUE.execute(
                    connection,
                    {"obligation": row.id, "new_due": opening.due, "new_rule": opening.rule},
                )
    return known


def _met(connection: Connection, closing: Closing) -> list[str]:
    accepts = f",{closing.message_type},"
    if any(
        row["met_at"] is None
        and row["debtor"] == closing.debtor
        and row["creditor"] == closing.creditor
        and accepts in row["accepts"]
        for row in pending(connection, obligations)
    ):
        insert_now(connection, obligations)
    between = {"debtor": closing.debtor, "creditor": closing.creditor, "accepts": accepts}
    if closing.answers is not None:
        rows = _OPEN_ANSWERED.execute(connection, {**between, "answers": closing.answers})
        return [row.id for row in rows]
    references = list(dict.fromkeys(closing.references))
    if not references:
        found_id = _OPEN_UNREFERENCED.execute(connection, between).scalar()
        return [] if found_id is None else [found_id]
    # Each reference meets the oldest open obligation carrying it; none matching, the message
    # meets the oldest open one that carries no reference.
    size, parameters = _references(references)
    candidates: dict[str | None, list[str]] = {}
    for row in _open_by_reference(size).execute(connection, {**between, **parameters}):
        candidates.setdefault(row.reference, []).append(row.id)
    met = [found.pop(0) for reference in references if (found := candidates.get(reference))]
    if not met and candidates.get(None):
        met.append(candidates[None][0])
    return met


def forget(connection: Connection, traceer_id: str) -> None:
    """Undo what a withdrawn message did: drop what it opened, reopen what it met."""
    settle(connection, _meet)
    connection.execute(obligations.delete().where(obligations.c.trigger_traceer_id == traceer_id))
    connection.execute(
        obligations.update()
        .where(obligations.c.met_by == traceer_id)
        .values(met_at=None, met_by=None, met_by_type=None)
    )
