"""Reading and writing the ledger: admission of a message, its statuses, and the inbox queries.

A message is admitted in the state ``WordtVerwerkt`` before it is published and moves to
``WordtAangeboden`` once the broker confirmed it; a message that never got its confirm is either
removed (the sender got an error and may retry) or published again at the next start. That is
what lets a 2xx mean "stored and routed" without ever losing one. From ``WordtAangeboden`` a
message becomes ``Bezorgd`` (confirmed or answered), or ``AanbiedenMislukt`` /
``BezorgingAfgebroken`` when RabbitMQ dead-letters it from its recipient's inbox
(gateway/dead_letters.py).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import datetime as dt
import functools
import logging
import pickle
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, FrozenResult, Result
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.expression import Executable

from gateway.config import sqlalchemy_url
from gateway.errors import DuplicateIdentificatie, DuplicateTraceerId, LedgerUnavailable
from gateway.ledger import obligations
from gateway.ledger.schema import messages, migrate, payloads, status_history
from gateway.ledger.writer import (
    LedgerWriter,
    Prepared,
    Writer,
    by_fields,
    insert_later,
    later,
    sqlite_writer_engine,
)
from gateway.ledger.writer_process import NICE as WRITER_NICE
from gateway.ledger.writer_process import ProcessWriter
from gateway.vsp import Berichtstatus

log = logging.getLogger(__name__)

Now = Callable[[], dt.datetime]

# A routed mark the ledger could not write is tried again after this many seconds.
ROUTED_RETRY = 1.0

# A payload this large is written in place on SQLite (``_store_payload``).
IN_PLACE = 64 * 1024
_SLICE = 1024 * 1024
_EMPTY_PAYLOAD = payloads.insert().values(
    traceer_id=sa.bindparam("t"), data=sa.func.zeroblob(sa.bindparam("n"))
)

# What a recipient may still fetch: handed to the broker, not yet confirmed.
READY = (Berichtstatus.WORDT_AANGEBODEN.value,)

# Where a message ends that RabbitMQ dead-lettered from its recipient's inbox.
UNDELIVERABLE = (Berichtstatus.AANBIEDEN_MISLUKT, Berichtstatus.BEZORGING_AFGEBROKEN)


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One row of the ledger, as the HTTP layer and the monitor see it."""

    traceer_id: str
    conversatie_id: str
    als_antwoord_op: str | None
    referentie_id: str | None
    sender: str
    recipient: str | None
    message_type: str | None
    release: str | None
    berichttype: str | None
    identificatie: str | None
    dagtekening: str | None
    answers_identificatie: str | None
    sha256: str | None
    size: int | None
    status: Berichtstatus
    status_changed_at: dt.datetime
    received_at: dt.datetime
    confirmed_at: dt.datetime | None
    meldingen: list[dict[str, str]] | None
    trace_id: str | None
    arrived_ns: int | None = None

    @classmethod
    def from_row(cls, row: Any) -> StoredMessage:
        return cls.from_mapping(row._mapping)

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any]) -> StoredMessage:
        """From the columns of ``messages`` by name; absent optional ones are None."""
        return cls(
            traceer_id=m["traceer_id"],
            conversatie_id=m["conversatie_id"],
            als_antwoord_op=m["als_antwoord_op"],
            referentie_id=m["referentie_id"],
            sender=m["sender"],
            recipient=m["recipient"],
            message_type=m["message_type"],
            release=m["release"],
            berichttype=m["berichttype"],
            identificatie=m["identificatie"],
            dagtekening=m["dagtekening"],
            answers_identificatie=m["answers_identificatie"],
            sha256=m["sha256"],
            size=m["size"],
            status=Berichtstatus(m["status"]),
            status_changed_at=_aware(m["status_changed_at"]),
            received_at=_aware(m["received_at"]),
            confirmed_at=_aware(m["confirmed_at"]) if m.get("confirmed_at") else None,
            meldingen=m.get("meldingen"),
            trace_id=m["trace_id"],
            arrived_ns=m.get("arrived_ns"),
        )


# Oldest first; ``arrived_ns`` breaks the ties of a virtual clock that stands still.
_ARRIVAL = (messages.c.received_at, messages.c.arrived_ns, messages.c.traceer_id)


def _move_statement(*, by_recipient: bool, confirm: bool, one_from: bool = False) -> sa.Update:
    """A status change, built once: ``_move`` runs for nearly every message, twice.

    ``from``: a list of statuses, or with ``one_from`` one status (a statement that can be
    ``Prepared``)."""
    status = messages.c.status
    statement = messages.update().where(
        messages.c.traceer_id == sa.bindparam("traceer"),
        status == sa.bindparam("from")
        if one_from
        else status.in_(sa.bindparam("from", expanding=True)),
    )
    if by_recipient:
        statement = statement.where(messages.c.recipient == sa.bindparam("addressed_to"))
    values: dict[str, Any] = {"status": sa.bindparam("to"), "status_changed_at": sa.bindparam("at")}
    if confirm:
        values["confirmed_at"] = sa.bindparam("at")
    return statement.values(values)


_MOVES = {
    (by_recipient, confirm): _move_statement(by_recipient=by_recipient, confirm=confirm)
    for by_recipient in (False, True)
    for confirm in (False, True)
}

# A message on offer to a recipient moves on (it is answered, or dead-lettered): by confirming
# (confirmed_at set) or not.
_FROM_OFFER = {
    confirm: Prepared(_move_statement(by_recipient=True, confirm=confirm, one_from=True))
    for confirm in (False, True)
}

_META = list(messages.c)


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message that passed every check at the door and is about to be admitted."""

    traceer_id: str
    conversatie_id: str
    als_antwoord_op: str | None
    referentie_id: str | None
    sender: str
    recipient: str
    message_type: str
    release: str
    berichttype: str
    identificatie: str
    dagtekening: str
    answers_identificatie: str | None
    sha256: str
    payload: bytes
    trace_id: str

    @property
    def dedup_key(self) -> str:
        return original_key(self.sender, self.message_type, self.identificatie)


@dataclass(frozen=True, slots=True)
class Admission:
    """The outcome of admitting a message: new, or the replay of one admitted before."""

    message: StoredMessage
    replay: bool
    original: Original | None = None
    """For a new retour admitted with ``answers``: the message it answers, if found."""


@by_fields
@dataclass(frozen=True, slots=True)
class Answers:
    """What a retour message answers, found in its admission's batch (``find_original`` there).

    ``key``: the answered message's ``sender|message type|Identificatie``. The new message
    takes the answered one's conversatieId if ``conversatie`` (its sender gave none) and its
    traceerId as alsAntwoordOp if ``antwoord``.
    """

    key: str
    conversatie: bool
    antwoord: bool


def _aware(moment: dt.datetime) -> dt.datetime:
    # SQLite gives naive datetimes back; everything is stored in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Ledger:
    """The ledger on SQLite or PostgreSQL; every public method translates database errors."""

    def __init__(
        self,
        engine: AsyncEngine,
        writer: LedgerWriter,
        now: Now = _utcnow,
        *,
        reads: ThreadReads | None = None,
    ) -> None:
        self._engine = engine
        self._writer = writer
        self._now = now
        # An SQLite file's reads go to a reader thread (ThreadReads); others use the engine.
        self._reads = reads
        # Routed marks queued and not yet written (``routed``), which reads wait for.
        self._routing: set[asyncio.Future[None]] = set()
        self._closed = False

    @classmethod
    async def open(
        cls,
        db_url: str,
        *,
        now: Now = _utcnow,
        writer: str = "process",
        writer_nice: int = WRITER_NICE,
    ) -> Ledger:
        """Connect to ``sqlite:///...`` or ``postgresql://...`` and migrate the schema.

        ``writer``: where an SQLite file's batches are written, ``"process"`` (a process of its
        own, gateway.ledger.writer_process, its priority ``writer_nice`` below the gateway's)
        or ``"thread"``; PostgreSQL's are written on the event loop through asyncpg either way.
        An SQLite file is read through ``ThreadReads``; PostgreSQL and an in-memory SQLite
        database through the async engine.
        """
        url = sqlalchemy_url(db_url)
        reads = None
        if url.startswith("sqlite"):
            path = url.partition(":///")[2]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = create_async_engine(url, connect_args={"timeout": 30})
            sa.event.listen(engine.sync_engine, "connect", sqlite_pragmas)
            if path and path != ":memory:":
                sync_url = "sqlite:///" + path
                ledger_writer: LedgerWriter = (
                    ProcessWriter(sync_url, nice=writer_nice)
                    if writer == "process"
                    else Writer.in_thread(sqlite_writer_engine(sync_url, sqlite_pragmas))
                )
                reads = ThreadReads(sync_url)
            else:  # one database per connection: the writer has to share the engine's
                ledger_writer = Writer.on_connection(engine)
        else:
            engine = create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)
            ledger_writer = Writer.on_connection(engine)
        ledger = cls(engine, ledger_writer, now, reads=reads)
        try:
            async with engine.begin() as connection:
                await connection.run_sync(migrate)
            await ledger_writer.start()
        except (DBAPIError, OSError) as exc:
            await ledger.close()
            raise LedgerUnavailable(f"ledger {db_url}: {exc}") from exc
        except BaseException:
            # A ledger newer than this gateway (ConfigError), or a cancelled start.
            await ledger.close()
            raise
        return ledger

    async def close(self) -> None:
        """Write what is queued, then let go of the database."""
        self._closed = True
        await self._writer.close()
        if self._reads is not None:
            await asyncio.to_thread(self._reads.close)
        await self._engine.dispose()

    @property
    def writer(self) -> LedgerWriter:
        """Where every change goes: one batch, one transaction, one commit at a time."""
        return self._writer

    @property
    def engine(self) -> AsyncEngine:
        """For the modules that keep their own tables in the ledger (obligations, retention)."""
        return self._engine

    def now(self) -> dt.datetime:
        """The ledger's clock: the moment it stamps on what it records."""
        return self._now()

    async def ping(self) -> bool:
        try:
            async with self._engine.connect() as connection:
                await connection.execute(sa.text("SELECT 1"))
        except (DBAPIError, OSError):
            return False
        return True

    # -- admission -------------------------------------------------------------------------

    async def admit(
        self,
        new: NewMessage,
        chain: obligations.ChainStep | None = None,
        *,
        answers: Answers | None = None,
    ) -> Admission:
        """Store a message as ``WordtVerwerkt``, or recognise a retry of one stored before.

        ``chain``: the obligations the message opens and meets, stored in the same transaction.
        ``answers``: for a retour message, the message it answers, looked up in the same batch
        (one writer operation instead of two); the admission says what was found.

        A byte-identical retry (same sender, same traceerId or same Identificatie, same content)
        is a replay; the same Identificatie with other content is ``DuplicateIdentificatie``
        (TR056), the same traceerId with other content ``DuplicateTraceerId``.
        """
        now = self._now()
        row = {
            "traceer_id": new.traceer_id,
            "conversatie_id": new.conversatie_id,
            "als_antwoord_op": new.als_antwoord_op,
            "referentie_id": new.referentie_id,
            "sender": new.sender,
            "recipient": new.recipient,
            "message_type": new.message_type,
            "release": new.release,
            "berichttype": new.berichttype,
            "identificatie": new.identificatie,
            "dagtekening": new.dagtekening,
            "answers_identificatie": new.answers_identificatie,
            "dedup_key": new.dedup_key,
            "sha256": new.sha256,
            "size": len(new.payload),
            "status": Berichtstatus.WORDT_VERWERKT.value,
            "status_changed_at": now,
            "received_at": now,
            "arrived_ns": time.time_ns(),
            "trace_id": new.trace_id,
        }
        trigger = obligations.Trigger(
            new.traceer_id, new.message_type, new.identificatie, new.conversatie_id
        )
        try:
            original = await self._writer.run(
                _Admit(row, new.payload, now, trigger, chain, answers)
            )
        except IntegrityError:
            return await self._replay(new)
        if original is not None and answers is not None:
            row.update(_inherited(answers, original))  # as the writer wrote it
        # What was just written, without reading it back.
        return Admission(StoredMessage.from_mapping(row), replay=False, original=original)

    async def _replay(self, new: NewMessage) -> Admission:
        async with self._connect() as connection:
            result = await connection.execute(
                sa.select(*_META).where(
                    sa.or_(
                        messages.c.traceer_id == new.traceer_id,
                        messages.c.dedup_key == new.dedup_key,
                    )
                )
            )
            rows = [StoredMessage.from_row(r) for r in result]
        for existing in rows:
            if (
                existing.sender == new.sender
                and existing.sha256 == new.sha256
                and existing.status is not Berichtstatus.AFGEKEURD_DOOR_DIENST
            ):
                return Admission(existing, replay=True)
        if any(r.traceer_id == new.traceer_id for r in rows):
            raise DuplicateTraceerId(new.traceer_id)
        raise DuplicateIdentificatie(new.sender, new.message_type, new.identificatie)

    async def refuse(
        self,
        *,
        traceer_id: str,
        conversatie_id: str,
        sender: str,
        meldingen: Sequence[dict[str, str]],
        message_type: str | None = None,
        berichttype: str | None = None,
        als_antwoord_op: str | None = None,
        trace_id: str | None = None,
    ) -> None:
        """Remember a refused message for the status API (AfgekeurdDoorDienst + meldingen).

        A refusal never overwrites a message admitted before under the same traceerId.
        """
        now = self._now()
        row = {
            "traceer_id": traceer_id,
            "conversatie_id": conversatie_id,
            "als_antwoord_op": als_antwoord_op,
            "sender": sender,
            "message_type": message_type,
            "berichttype": berichttype,
            "status": Berichtstatus.AFGEKEURD_DOOR_DIENST.value,
            "status_changed_at": now,
            "received_at": now,
            "arrived_ns": time.time_ns(),
            "meldingen": list(meldingen),
            "trace_id": trace_id,
        }

        with contextlib.suppress(IntegrityError):
            await self._writer.run(_Refuse(row))

    def routed(
        self, traceer_id: str, *, delivers: tuple[str, str] | None = None
    ) -> asyncio.Future[None]:
        """The broker confirmed the message: it is processed and on offer to its recipient.

        ``delivers``: the traceerId of the message this one answers, and that message's
        recipient (this one's sender): it becomes ``Bezorgd`` in the same batch, as ``delivered``
        would make it, since a retour is the confirmation of what it answers.

        Written with the next batch, one statement for every message of the batch. The caller
        may await it or not: until it is written, the ledger's reads and status moves wait for
        it, so nobody sees the message still ``WordtVerwerkt`` (nor what it answers still on
        offer), and a write that fails is tried again every ``ROUTED_RETRY`` seconds while the
        ledger is open (a crash in between leaves the message ``WordtVerwerkt``; the start-up
        recovery publishes it again and marks both then).
        """
        future = self._writer.submit(_Routed(traceer_id, self._now(), delivers))
        self._routing.add(future)
        future.add_done_callback(lambda done: self._routed_done(traceer_id, delivers, done))
        return future

    def _routed_done(
        self,
        traceer_id: str,
        delivers: tuple[str, str] | None,
        future: asyncio.Future[None],
    ) -> None:
        self._routing.discard(future)
        if future.cancelled() or future.exception() is None or self._closed:
            return
        log.warning(
            "could not mark %s routed (%s); trying again in %g s",
            traceer_id,
            future.exception(),
            ROUTED_RETRY,
        )

        def again() -> None:
            if not self._closed:
                self.routed(traceer_id, delivers=delivers)

        asyncio.get_running_loop().call_later(ROUTED_RETRY, again)

    async def settled(self) -> None:
        """Wait for the routed (and delivered) marks queued so far, whether they were written or
        not: the ledger's reads and status moves do, and so do reads of its tables from outside
        (the SLA store)."""
        if self._routing:
            await asyncio.wait(list(self._routing))

    async def withdraw(self, traceer_id: str) -> None:
        """The broker did not confirm and the sender gets an error: forget the message."""
        await self._writer.run(_Withdraw(traceer_id))

    async def delivered(self, traceer_id: str, *, recipient: str | None = None) -> bool:
        """The recipient has the message (it confirmed it, or answered it): ``Bezorgd``."""
        return await self._move(
            traceer_id,
            (Berichtstatus.BEZORGD,),
            only_from=(Berichtstatus.WORDT_AANGEBODEN,),
            recipient=recipient,
            confirm=True,
        )

    async def undeliverable(
        self, traceer_id: str, outcome: Berichtstatus, *, recipient: str
    ) -> bool:
        """RabbitMQ gave up offering the message to ``recipient`` (a dead letter of its inbox):
        ``AanbiedenMislukt`` or ``BezorgingAfgebroken``. False when nothing moved: the message
        is not ``recipient``'s, or it is past being on offer (``Bezorgd``, or moved before).

        A message still ``WordtVerwerkt`` moves too: the dead letter proves that the broker took
        it, and the ingress only had not yet recorded that (it will then find nothing to move).

        A message that was never offered counts as not sent, as a withdrawn one does: what it
        opened is dropped (its recipient owes no answer to what it never got), and what it met
        is open again (its sender still owes it).
        """
        if outcome not in UNDELIVERABLE:
            raise ValueError(f"{outcome}: not a status of a message that could not be offered")
        await self.settled()
        return await self._writer.run(_Undeliverable(traceer_id, outcome, recipient, self._now()))

    async def _move(
        self,
        traceer_id: str,
        statuses: Sequence[Berichtstatus],
        *,
        only_from: Sequence[Berichtstatus],
        recipient: str | None = None,
        confirm: bool = False,
    ) -> bool:
        await self.settled()
        now = self._now()
        # (Keys named after a column would be SET by an UPDATE: none of these is.)
        parameters: dict[str, Any] = {
            "traceer": traceer_id,
            "from": [s.value for s in only_from],
            "to": statuses[-1].value,
            "at": now,
        }
        if recipient is not None:
            parameters["addressed_to"] = recipient
        return await self._writer.run(
            _Move(traceer_id, tuple(statuses), (recipient is not None, confirm), parameters, now)
        )

    # -- queries -----------------------------------------------------------------------------

    async def get(self, traceer_id: str) -> StoredMessage | None:
        async with self._connect() as connection:
            return await _fetch(connection, traceer_id)

    async def inbox(
        self,
        recipient: str,
        *,
        limit: int,
        berichttype: str | None = None,
        conversatie_id: str | None = None,
        als_antwoord_op: str | None = None,
    ) -> list[StoredMessage]:
        """The oldest messages ready for ``recipient``, optionally narrowed by a search path."""
        narrowed = {
            "berichttype": berichttype,
            "conversatie_id": conversatie_id,
            "als_antwoord_op": als_antwoord_op,
        }
        given = {name: value for name, value in narrowed.items() if value is not None}
        query = _inbox_query(tuple(given))
        async with self._connect() as connection:
            rows = await connection.execute(
                query, {"recipient": recipient, "limit": limit, **given}
            )
        return [StoredMessage.from_row(r) for r in rows]

    async def payload(self, recipient: str, traceer_id: str) -> tuple[StoredMessage, bytes] | None:
        """The payload of a message addressed to ``recipient`` that is not yet confirmed."""
        async with self._connect() as connection:
            rows = await connection.execute(
                _PAYLOAD, {"traceer": traceer_id, "recipient": recipient}
            )
        row = rows.first()
        if row is None:
            return None
        return StoredMessage.from_row(row), bytes(row.data)

    async def statuses(
        self,
        participant: str,
        *,
        traceer_id: str | None = None,
        conversatie_id: str | None = None,
        limit: int = 250,
    ) -> list[StoredMessage]:
        """What ``participant`` sent or received, by traceerId (or alsAntwoordOp) or conversatie."""
        query = _statuses_query(traceer_id is not None, conversatie_id is not None)
        parameters = {"participant": participant, "limit": limit}
        if traceer_id is not None:
            parameters["traceer"] = traceer_id
        if conversatie_id is not None:
            parameters["conversatie"] = conversatie_id
        async with self._connect() as connection:
            rows = await connection.execute(query, parameters)
        return [StoredMessage.from_row(r) for r in rows]

    async def history(self, traceer_id: str) -> list[tuple[Berichtstatus, dt.datetime]]:
        async with self._connect() as connection:
            rows = await connection.execute(_HISTORY, {"traceer": traceer_id})
        return [(Berichtstatus(row.status), _aware(row.at)) for row in rows]

    async def find_original(
        self, sender: str, message_type: str, identificatie: str
    ) -> Original | None:
        """The accepted message a retour message answers, by its BerichtIdentificatie.

        Asked in the writer's next batch, as one prepared statement (a read through the async
        engine cost the event loop about a millisecond of hops to the driver's thread and back,
        docs/performance.md). A new retour's admission asks it in its own batch instead
        (``admit(..., answers=)``); this is for the start-up recovery and retried retours.
        """
        return await self.find_original_by_key(original_key(sender, message_type, identificatie))

    async def find_original_by_key(self, key: str) -> Original | None:
        """``find_original`` by the answered message's ``original_key``."""
        return await self._writer.run(_FindOriginal(key))

    async def unconfirmed_by_broker(self) -> list[StoredMessage]:
        """Messages admitted but never confirmed by the broker (a crash between the two)."""
        query = (
            sa.select(*_META)
            .where(messages.c.status == Berichtstatus.WORDT_VERWERKT.value)
            .order_by(*_ARRIVAL)
        )
        async with self._connect() as connection:
            return [StoredMessage.from_row(r) for r in await connection.execute(query)]

    async def payload_of(self, traceer_id: str) -> bytes | None:
        async with self._connect() as connection:
            value = (
                await connection.execute(
                    sa.select(payloads.c.data).where(payloads.c.traceer_id == traceer_id)
                )
            ).scalar()
        return None if value is None else bytes(value)

    def _connect(self) -> _Guarded:
        return _Guarded(self._engine, self._reads, self.settled)


class _Reads(Protocol):
    """What a read needs of a connection (an ``AsyncConnection``, or ``ThreadReads``)."""

    async def execute(
        self, statement: Executable, parameters: Mapping[str, Any] | None = None
    ) -> Result[Any]: ...


class ThreadReads:
    """The reads of an SQLite file ledger, each statement in one hop to a reader thread.

    Through the async engine every step of a read (checkout, execute, fetch, the rollback on
    return) was a hop to aiosqlite's thread and back: 1.3-2.1 ms of CPU per read
    (``bench.reads``, docs/performance.md). Here the statement runs on the stdlib's ``sqlite3``
    in a thread of its own and comes back with all its rows. WAL lets readers run beside the
    writer.
    """

    def __init__(self, url: str, threads: int = 2) -> None:
        self._engine = sa.create_engine(
            url, pool_size=threads, max_overflow=0, connect_args={"check_same_thread": False}
        )
        sa.event.listen(self._engine, "connect", sqlite_pragmas)
        self._threads = concurrent.futures.ThreadPoolExecutor(
            threads, thread_name_prefix="ledger-reader"
        )

    async def execute(
        self, statement: Executable, parameters: Mapping[str, Any] | None = None
    ) -> Result[Any]:
        loop = asyncio.get_running_loop()
        rows = await loop.run_in_executor(self._threads, self._read, statement, parameters)
        return rows()

    def _read(
        self, statement: Executable, parameters: Mapping[str, Any] | None
    ) -> FrozenResult[Any]:
        with self._engine.connect() as connection:
            return connection.execute(statement, parameters).freeze()

    def close(self) -> None:
        self._threads.shutdown(wait=True)
        self._engine.dispose()


class _Guarded:
    """``async with`` a way to read, with database errors translated."""

    def __init__(
        self,
        engine: AsyncEngine,
        reads: ThreadReads | None,
        settled: Callable[[], Awaitable[None]],
    ) -> None:
        self._engine = engine
        self._reads = reads
        self._settled = settled
        self._connection: AsyncConnection | None = None

    async def __aenter__(self) -> _Reads:
        await self._settled()
        if self._reads is not None:
            return self._reads
        try:
            self._connection = await self._engine.connect()
        except (DBAPIError, OSError) as exc:
            raise LedgerUnavailable(f"ledger unreachable: {exc}") from exc
        return self._connection

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if self._connection is not None:
            try:
                await self._connection.close()
            except (DBAPIError, OSError) as lost:
                # A connection that died under the read fails its rollback on close as well;
                # that is the database going away too, not a surprise to answer with a 500.
                if exc is None:
                    raise LedgerUnavailable(f"ledger connection lost: {lost}") from lost
        if isinstance(exc, DBAPIError | OSError):
            raise LedgerUnavailable(f"ledger read failed: {exc}") from exc


async def _fetch(connection: _Reads, traceer_id: str) -> StoredMessage | None:
    row = (await connection.execute(_GET, {"traceer": traceer_id})).first()
    return None if row is None else StoredMessage.from_row(row)


# The reads' statements, built once with bound parameters: one built per call cost SQLAlchemy
# about twice its execution in building it and making its cache key (docs/performance.md).
_GET = sa.select(*_META).where(messages.c.traceer_id == sa.bindparam("traceer"))
_PAYLOAD = (
    sa.select(*_META, payloads.c.data)
    .join_from(messages, payloads, payloads.c.traceer_id == messages.c.traceer_id)
    .where(
        messages.c.traceer_id == sa.bindparam("traceer"),
        messages.c.recipient == sa.bindparam("recipient"),
        messages.c.status.in_(READY),
    )
)
_HISTORY = (
    sa.select(status_history.c.status, status_history.c.at)
    .where(status_history.c.traceer_id == sa.bindparam("traceer"))
    .order_by(status_history.c.id)
)


@functools.cache
def _inbox_query(narrowed_by: tuple[str, ...]) -> sa.Select[Any]:
    """The inbox of ``:recipient``, ``:limit`` oldest first, narrowed by the columns named (each
    equal to the parameter of its name)."""
    query = sa.select(*_META).where(
        messages.c.recipient == sa.bindparam("recipient"), messages.c.status.in_(READY)
    )
    for column in narrowed_by:
        query = query.where(messages.c[column] == sa.bindparam(column))
    return query.order_by(*_ARRIVAL).limit(sa.bindparam("limit"))


@functools.cache
def _statuses_query(by_traceer: bool, by_conversatie: bool) -> sa.Select[Any]:
    """What ``:participant`` sent or received, ``:limit`` oldest first, by ``:traceer`` (also as
    alsAntwoordOp) and/or ``:conversatie``."""
    query = sa.select(*_META).where(
        sa.or_(
            messages.c.sender == sa.bindparam("participant"),
            messages.c.recipient == sa.bindparam("participant"),
        )
    )
    if by_traceer:
        traceer: sa.BindParameter[str] = sa.bindparam("traceer")
        query = query.where(
            sa.or_(messages.c.traceer_id == traceer, messages.c.als_antwoord_op == traceer)
        )
    if by_conversatie:
        query = query.where(messages.c.conversatie_id == sa.bindparam("conversatie"))
    return query.order_by(*_ARRIVAL).limit(sa.bindparam("limit"))


@by_fields
@dataclass(frozen=True, slots=True)
class Original:
    """What a retour message takes from the message it answers (``find_original``)."""

    traceer_id: str
    conversatie_id: str


_ORIGINAL = Prepared(
    sa.select(messages.c.traceer_id, messages.c.conversatie_id).where(
        messages.c.dedup_key == sa.bindparam("key")
    )
)


@by_fields
@dataclass(frozen=True, slots=True)
class _FindOriginal:
    """A lookup, run by the writer with its batch: the accepted message with ``dedup_key``."""

    dedup_key: str

    def __call__(self, connection: Connection) -> Original | None:
        row = _ORIGINAL.execute(connection, {"key": self.dedup_key}).first()
        return None if row is None else Original(row.traceer_id, row.conversatie_id)


# -- the writes ----------------------------------------------------------------------------------
#
# Each change is an operation the ledger's writer runs in its next batch (gateway.ledger.writer):
# a frozen value that holds all it needs and is called with the batch's connection. Values, not
# closures, so that a writer in a process of its own gets them as they are.


@dataclass(frozen=True, slots=True)
class _Admit:
    """A new message as ``WordtVerwerkt``: its row, payload, history and obligations."""

    row: dict[str, Any]
    payload: bytes
    now: dt.datetime
    trigger: obligations.Trigger
    chain: obligations.ChainStep | None
    answers: Answers | None = None

    def __call__(self, connection: Connection) -> Original | None:
        row, trigger, original = self.row, self.trigger, None
        if self.answers is not None:
            original = _FindOriginal(self.answers.key)(connection)
            if original is not None:
                inherited = _inherited(self.answers, original)
                row = {**row, **inherited}
                if "conversatie_id" in inherited:
                    trigger = dataclasses.replace(trigger, conversatie_id=original.conversatie_id)
        traceer_id = trigger.traceer_id
        insert_later(connection, messages, row)
        _store_payload(connection, traceer_id, self.payload)
        _history(
            connection, traceer_id, self.now, Berichtstatus.ONTVANGEN, Berichtstatus.WORDT_VERWERKT
        )
        if self.chain:
            obligations.record(connection, trigger, self.chain, self.now)
        return original

    def __reduce__(self) -> tuple[Any, ...]:
        # A large payload travels beside the pickle, not copied into it (gateway.ledger.writer).
        payload: Any = self.payload
        if len(payload) >= IN_PLACE:
            payload = pickle.PickleBuffer(payload)
        return (_Admit, (self.row, payload, self.now, self.trigger, self.chain, self.answers))


def original_key(sender: str, message_type: str, identificatie: str) -> str:
    """How a message is found by what a retour says of it: its ``dedup_key``."""
    return f"{sender}|{message_type}|{identificatie}"


def _inherited(answers: Answers, original: Original) -> dict[str, str]:
    """The columns a retour takes from the message it answers."""
    taken = {}
    if answers.conversatie:
        taken["conversatie_id"] = original.conversatie_id
    if answers.antwoord:
        taken["als_antwoord_op"] = original.traceer_id
    return taken


@by_fields
@dataclass(frozen=True, slots=True)
class _Refuse:
    """A refused message, for the status API; its row holds the meldingen."""

    row: dict[str, Any]

    def __call__(self, connection: Connection) -> None:
        connection.execute(messages.insert(), self.row)
        _history(
            connection,
            self.row["traceer_id"],
            self.row["received_at"],
            Berichtstatus.ONTVANGEN,
            Berichtstatus.AFGEKEURD_DOOR_DIENST,
        )


@by_fields
@dataclass(frozen=True, slots=True)
class _Routed:
    """The broker confirmed it: marked with the rest of the batch (``_mark_routed``), and what it
    answers ``Bezorgd`` after that (``_mark_delivered``)."""

    traceer_id: str
    now: dt.datetime
    delivers: tuple[str, str] | None = None

    def __call__(self, connection: Connection) -> None:
        later(connection, _mark_routed, (self.traceer_id, self.now))
        if self.delivers is not None:
            # Registered after _mark_routed, so done after it: what it answers may be marked
            # routed in this same batch.
            later(connection, _mark_delivered, (*self.delivers, self.now))


@by_fields
@dataclass(frozen=True, slots=True)
class _Withdraw:
    """A message the broker never confirmed, gone with what it opened and its history."""

    traceer_id: str

    def __call__(self, connection: Connection) -> None:
        traceer_id = self.traceer_id
        withdrawn = connection.execute(
            messages.delete().where(
                messages.c.traceer_id == traceer_id,
                messages.c.status == Berichtstatus.WORDT_VERWERKT.value,
            )
        )
        if withdrawn.rowcount:
            obligations.forget(connection, traceer_id)
            connection.execute(payloads.delete().where(payloads.c.traceer_id == traceer_id))
        connection.execute(status_history.delete().where(status_history.c.traceer_id == traceer_id))


@by_fields
@dataclass(frozen=True, slots=True)
class _Undeliverable:
    """A dead letter from ``recipient``'s inbox: True if the message moved (``undeliverable``)."""

    traceer_id: str
    outcome: Berichtstatus
    recipient: str
    now: dt.datetime

    def __call__(self, connection: Connection) -> bool:
        moved = _move_from_offer(
            connection, self.traceer_id, self.recipient, self.now, self.outcome, confirm=False
        )
        if moved:
            obligations.forget(connection, self.traceer_id)
        return moved


@by_fields
@dataclass(frozen=True, slots=True)
class _Move:
    """A status change by one of ``_MOVES``; True if the message was in a state to move."""

    traceer_id: str
    statuses: tuple[Berichtstatus, ...]
    statement: tuple[bool, bool]  # the key of ``_MOVES``: by recipient, confirming
    parameters: dict[str, Any]
    now: dt.datetime

    def __call__(self, connection: Connection) -> bool:
        if connection.execute(_MOVES[self.statement], self.parameters).rowcount == 0:
            return False
        _history(connection, self.traceer_id, self.now, *self.statuses)
        return True


# Every message of a batch the broker confirmed: one UPDATE, whichever are still unmarked.
_ROUTE = (
    messages.update()
    .where(
        messages.c.traceer_id.in_(sa.bindparam("traceers", expanding=True)),
        messages.c.status == Berichtstatus.WORDT_VERWERKT.value,
    )
    .values(status=Berichtstatus.WORDT_AANGEBODEN.value, status_changed_at=sa.bindparam("at"))
    .returning(messages.c.traceer_id)
)


def _mark_routed(connection: Connection, marks: list[tuple[str, dt.datetime]]) -> None:
    """``WordtVerwerkt`` -> ``WordtAangeboden`` for the batch's confirmed messages.

    One moment for the batch's status change (its latest); each message's history keeps its own.
    A message that moved on meanwhile (a dead letter recorded first) is left as it is.
    """
    moments = dict(marks)  # a message marked twice (a retry republished) moves once
    at = max(moments.values())
    moved = set(connection.execute(_ROUTE, {"traceers": list(moments), "at": at}).scalars())
    for traceer_id, moment in moments.items():
        if traceer_id in moved:
            _history(
                connection,
                traceer_id,
                moment,
                Berichtstatus.VERWERKING_VOLTOOID,
                Berichtstatus.WORDT_AANGEBODEN,
            )


def _mark_delivered(connection: Connection, items: list[tuple[str, str, dt.datetime]]) -> None:
    """``Bezorgd`` for what the batch's routed retours answer, as a confirmation would make it.
    A message confirmed or moved on before is left as it is."""
    for traceer_id, recipient, at in items:
        _move_from_offer(connection, traceer_id, recipient, at, Berichtstatus.BEZORGD, confirm=True)


def _move_from_offer(
    connection: Connection,
    traceer_id: str,
    recipient: str,
    at: dt.datetime,
    outcome: Berichtstatus,
    *,
    confirm: bool,
) -> bool:
    """``outcome`` for a message on offer to ``recipient``; True if it moved.

    A message still ``WordtVerwerkt`` moves too, with the statuses in between: what moves it (a
    dead letter from its inbox, an answer from its recipient) proves that the broker took it,
    and its own routed mark is only not written yet (queued in this ledger, or in another
    gateway process's).
    """
    parameters = {"traceer": traceer_id, "to": outcome.value, "at": at, "addressed_to": recipient}
    statement = _FROM_OFFER[confirm]
    offered = {**parameters, "from": Berichtstatus.WORDT_AANGEBODEN.value}
    if statement.execute(connection, offered).rowcount:
        _history(connection, traceer_id, at, outcome)
        return True
    unmarked = {**parameters, "from": Berichtstatus.WORDT_VERWERKT.value}
    if statement.execute(connection, unmarked).rowcount:
        _history(
            connection,
            traceer_id,
            at,
            Berichtstatus.VERWERKING_VOLTOOID,
            Berichtstatus.WORDT_AANGEBODEN,
            outcome,
        )
        return True
    return False


def _history(
    connection: Connection, traceer_id: str, at: dt.datetime, *statuses: Berichtstatus
) -> None:
    for status in statuses:
        insert_later(
            connection, status_history, {"traceer_id": traceer_id, "status": status.value, "at": at}
        )


def _store_payload(connection: Connection, traceer_id: str, payload: bytes) -> None:
    """Store a message's payload with the rest of its batch; a large one in place on SQLite.

    Bound to an INSERT, a payload is copied by the driver and again into the record SQLite
    builds, and the copy bound to the cached statement stays until that statement runs again:
    three times a 25 MB message (docs/performance.md). In place, the row is inserted with a
    zeroblob of the payload's size (SQLite writes a trailing zeroblob without building it) and
    filled slice by slice through incremental blob I/O, in the same transaction.
    """
    raw = connection.connection.driver_connection
    if len(payload) < IN_PLACE or not isinstance(raw, sqlite3.Connection):
        insert_later(connection, payloads, {"traceer_id": traceer_id, "data": payload})
        return
    rowid = connection.execute(_EMPTY_PAYLOAD, {"t": traceer_id, "n": len(payload)}).lastrowid
    view = memoryview(payload)
    with raw.blobopen("payloads", "data", rowid) as blob:
        for start in range(0, len(view), _SLICE):
            blob.write(view[start : start + _SLICE])


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
