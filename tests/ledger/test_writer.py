"""Group commit: concurrent writes share transactions, and a failure stays with its caller."""

from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import hashlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.errors import DuplicateIdentificatie, DuplicateTraceerId, LedgerUnavailable
from gateway.ledger import Ledger, obligations, schema, store
from gateway.ledger.store import IN_PLACE
from gateway.ledger.writer import Prepared, sqlite_writer_engine
from gateway.vsp import Berichtstatus
from tests.fixtures.ledger import empty_database
from tests.ledger.test_store import MUNICIPALITY, PROVIDER, new_message
from tests.test_dead_letters import eventually


@pytest.fixture(params=["sqlite", "sqlite-thread", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """tests.fixtures.ledger's databases, and SQLite once more with its writer in a thread."""
    async with empty_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def writer(request: pytest.FixtureRequest) -> str:
    """Where the SQLite ledger of this test writes its batches."""
    return "thread" if request.node.callspec.params.get("db_url") == "sqlite-thread" else "process"


@pytest.fixture
async def ledger(db_url: str, writer: str) -> AsyncIterator[Ledger]:
    """An open, migrated ledger on each database kind and SQLite writer."""
    opened = await Ledger.open(db_url, writer=writer)
    try:
        yield opened
    finally:
        await opened.close()


def broken(connection: Connection) -> None:
    """An operation with a bug in it."""
    raise ValueError("this operation is broken")


async def test_concurrent_admissions_share_batches(ledger: Ledger) -> None:
    """Fifty admissions at once are written in fewer transactions than fifty, all of them kept."""
    messages = [new_message(identificatie=f"ID{n}") for n in range(50)]
    batches_before = ledger.writer.batches

    admissions = await asyncio.gather(*(ledger.admit(m) for m in messages))

    assert [a.message.traceer_id for a in admissions] == [m.traceer_id for m in messages]
    assert ledger.writer.batches - batches_before < 50
    await asyncio.gather(*(ledger.routed(m.traceer_id) for m in messages))
    inbox = await ledger.inbox(MUNICIPALITY, limit=100)
    assert {m.traceer_id for m in inbox} == {m.traceer_id for m in messages}


async def test_a_duplicate_in_a_batch_fails_only_itself(ledger: Ledger) -> None:
    """A TR056 duplicate among concurrent admissions is refused; the others in its batch stay."""
    await ledger.admit(new_message(b"<first/>", identificatie="DUP"))
    batches_before = ledger.writer.batches
    others = [new_message(identificatie=f"OK{n}") for n in range(10)]
    duplicate = new_message(b"<other/>", identificatie="DUP")

    outcomes = await asyncio.gather(
        *(ledger.admit(m) for m in [*others[:5], duplicate, *others[5:]]),
        return_exceptions=True,
    )

    assert isinstance(outcomes[5], DuplicateIdentificatie)
    assert ledger.writer.batches - batches_before < 11  # it did share a batch with others
    for message in others:
        stored = await ledger.get(message.traceer_id)
        assert stored is not None
        assert stored.status is Berichtstatus.WORDT_VERWERKT
    assert await ledger.get(duplicate.traceer_id) is None


async def test_an_operation_that_fails_reaches_only_its_caller(ledger: Ledger) -> None:
    """An error inside one operation is raised to its caller; the batch around it is written."""
    messages = [new_message(identificatie=f"ID{n}") for n in range(6)]
    outcomes = await asyncio.gather(
        *(ledger.admit(m) for m in messages[:3]),
        ledger.writer.run(broken),
        *(ledger.admit(m) for m in messages[3:]),
        return_exceptions=True,
    )

    assert isinstance(outcomes[3], ValueError)
    for message in messages:
        assert await ledger.get(message.traceer_id) is not None
    # and the writer goes on
    assert not (await ledger.admit(new_message(identificatie="AFTER"))).replay


async def test_close_writes_what_is_queued(db_url: str, writer: str) -> None:
    """Closing the ledger waits for writes already asked for; a later open finds them."""
    ledger = await Ledger.open(db_url, writer=writer)
    messages = [new_message(identificatie=f"ID{n}") for n in range(20)]
    pending = [asyncio.ensure_future(ledger.admit(m)) for m in messages]
    await asyncio.sleep(0)  # every admission queued its write
    await ledger.close()
    admissions = await asyncio.gather(*pending)
    assert all(not a.replay for a in admissions)

    reopened = await Ledger.open(db_url)
    try:
        for message in messages:
            stored = await reopened.get(message.traceer_id)
            assert stored is not None
            assert stored.sha256 == hashlib.sha256(message.payload).hexdigest()
    finally:
        await reopened.close()


@pytest.mark.parametrize("count", [1, 7])
async def test_writes_are_visible_to_reads_once_returned(ledger: Ledger, count: int) -> None:
    """What the writer returned is committed: the readers' connections see it at once."""
    messages = [new_message(identificatie=f"V{n}") for n in range(count)]
    for message in messages:
        await ledger.admit(message)
        await ledger.routed(message.traceer_id)
        assert [m.traceer_id for m in await ledger.inbox(MUNICIPALITY, limit=1000)][-1] == (
            message.traceer_id
        )


def _opening(owed: str, due: dt.datetime, reference: str | None = None) -> obligations.Opening:
    return obligations.Opening(
        rule="TEST",
        owed=owed,
        accepts=(owed,),
        debtor=MUNICIPALITY,
        creditor=PROVIDER,
        due=due,
        reference=reference,
        once_per_reference=reference is not None,
    )


async def _obligation_rows(ledger: Ledger) -> list[sa.Row[Any]]:
    async with ledger.engine.connect() as connection:
        result = await connection.execute(
            sa.select(schema.obligations).order_by(schema.obligations.c.opened_at)
        )
        return list(result)


async def test_an_answer_in_the_same_batch_meets_what_its_batch_mate_opened(
    ledger: Ledger,
) -> None:
    """Obligations wait for the batch's insert, unless a query of the batch needs to see them."""
    due = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    opener = new_message(identificatie="OPENS")
    answer = new_message(identificatie="ANSWERS", sender=MUNICIPALITY, recipient=PROVIDER)
    opens = obligations.ChainStep(opens=(_opening("WMO306", due),))
    meets = obligations.ChainStep(
        closes=(obligations.Closing("WMO306", MUNICIPALITY, PROVIDER, answers="OPENS"),)
    )
    batches_before = ledger.writer.batches

    await asyncio.gather(ledger.admit(opener, opens), ledger.admit(answer, meets))

    assert ledger.writer.batches - batches_before == 1
    [row] = await _obligation_rows(ledger)
    assert row.met_by == answer.traceer_id


async def test_a_debt_owed_once_is_opened_once_within_a_batch(ledger: Ledger) -> None:
    """Two messages of one batch owing the same once-per-reference debt open one obligation."""
    first, later = (dt.datetime(2030, 1, day, tzinfo=dt.UTC) for day in (1, 9))
    messages = [new_message(identificatie=f"T{n}") for n in range(2)]
    steps = [
        obligations.ChainStep(opens=(_opening("WMO305", due, "ASSIGNMENT-1"),))
        for due in (first, later)
    ]

    await asyncio.gather(*(ledger.admit(m, s) for m, s in zip(messages, steps, strict=True)))

    [row] = await _obligation_rows(ledger)
    assert row.trigger_traceer_id == messages[0].traceer_id
    assert row.due.replace(tzinfo=dt.UTC) == later  # the second moved the due moment


async def test_large_payloads_are_stored_whole_beside_small_ones(ledger: Ledger) -> None:
    """Payloads from IN_PLACE up (written in place on SQLite) read back byte for byte."""
    sizes = (IN_PLACE - 1, IN_PLACE, 3 * 1024 * 1024 + 5)
    batch = [
        new_message(b"<x>" + bytes([65 + n]) * size + b"</x>", identificatie=f"L{n}")
        for n, size in enumerate(sizes)
    ]
    await asyncio.gather(*(ledger.admit(m) for m in batch))
    await ledger.admit(new_message(identificatie="SMALL"))

    for message in batch:
        await ledger.routed(message.traceer_id)
        found = await ledger.payload(MUNICIPALITY, message.traceer_id)
        assert found is not None
        assert found[1] == message.payload


async def test_a_refused_large_payload_leaves_the_first_one(ledger: Ledger) -> None:
    """The same traceerId with another large payload: a conflict; the stored payload is kept."""
    first = new_message(b"<x>" + b"a" * IN_PLACE + b"</x>", identificatie="FIRST")
    again = new_message(
        b"<x>" + b"b" * IN_PLACE + b"</x>", identificatie="AGAIN", traceer_id=first.traceer_id
    )
    await ledger.admit(first)

    with pytest.raises(DuplicateTraceerId):
        await ledger.admit(again)

    assert await ledger.payload_of(first.traceer_id) == first.payload


async def _history_of(ledger: Ledger, traceer_id: str) -> list[str]:
    async with ledger.engine.connect() as connection:
        result = await connection.execute(
            sa.select(schema.status_history.c.status)
            .where(schema.status_history.c.traceer_id == traceer_id)
            .order_by(schema.status_history.c.id)
        )
        return list(result.scalars())


async def test_the_routed_marks_of_a_batch_are_written_together(ledger: Ledger) -> None:
    """Marks asked for at once share one batch; each message moves once, with its history."""
    messages = [new_message(identificatie=f"R{n}") for n in range(20)]
    for message in messages:
        await ledger.admit(message)
    batches_before = ledger.writer.batches

    marks = [ledger.routed(m.traceer_id) for m in messages]
    marks.append(ledger.routed(messages[0].traceer_id))  # a retry's second mark moves nothing
    await asyncio.gather(*marks)

    assert ledger.writer.batches - batches_before == 1
    for message in messages:
        stored = await ledger.get(message.traceer_id)
        assert stored is not None
        assert stored.status is Berichtstatus.WORDT_AANGEBODEN
        assert await _history_of(ledger, message.traceer_id) == [
            Berichtstatus.ONTVANGEN.value,
            Berichtstatus.WORDT_VERWERKT.value,
            Berichtstatus.VERWERKING_VOLTOOID.value,
            Berichtstatus.WORDT_AANGEBODEN.value,
        ]


async def test_reads_wait_for_a_routed_mark_nobody_awaited(ledger: Ledger) -> None:
    """The ingress answers without waiting for the mark; whoever reads next sees it made."""
    message = new_message()
    await ledger.admit(message)

    ledger.routed(message.traceer_id)  # not awaited, as the ingress does
    stored = await ledger.get(message.traceer_id)

    assert stored is not None
    assert stored.status is Berichtstatus.WORDT_AANGEBODEN


async def test_a_routed_mark_leaves_a_message_that_moved_on(ledger: Ledger) -> None:
    """A dead letter recorded before the confirm's mark keeps its status."""
    message = new_message()
    await ledger.admit(message)
    assert await ledger.undeliverable(
        message.traceer_id, Berichtstatus.AANBIEDEN_MISLUKT, recipient=MUNICIPALITY
    )
    history = await _history_of(ledger, message.traceer_id)

    await ledger.routed(message.traceer_id)

    stored = await ledger.get(message.traceer_id)
    assert stored is not None
    assert stored.status is Berichtstatus.AANBIEDEN_MISLUKT
    assert await _history_of(ledger, message.traceer_id) == history


async def test_a_routed_mark_that_could_not_be_written_is_written_later(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sender had its 2xx already: a mark the ledger failed to write is tried again.

    (The failure is patched into this process, so an SQLite ledger writes in a thread here.)
    """
    ledger = await Ledger.open(db_url, writer="thread")
    monkeypatch.setattr(store, "ROUTED_RETRY", 0.05)
    failures = 0
    mark = store._mark_routed

    def unreachable_once(connection: Connection, marks: list[tuple[str, dt.datetime]]) -> None:
        nonlocal failures
        if failures == 0:
            failures += 1
            raise sa.exc.OperationalError("UPDATE", {}, sqlite3.OperationalError("disk I/O error"))
        mark(connection, marks)

    monkeypatch.setattr(store, "_mark_routed", unreachable_once)
    message = new_message()
    await ledger.admit(message)

    with pytest.raises(LedgerUnavailable):
        await ledger.routed(message.traceer_id)

    async def marked() -> bool:
        stored = await ledger.get(message.traceer_id)
        return stored is not None and stored.status is Berichtstatus.WORDT_AANGEBODEN

    try:
        await eventually(marked, seconds=10)
    finally:
        await ledger.close()
    assert failures == 1


async def test_a_prepared_statement_reaches_the_driver_as_execute_would_send_it(
    ledger: Ledger,
) -> None:
    """Prepared: the same SQL and the same processed values (datetimes, JSON, a fixed LIMIT)."""
    at = dt.datetime(2030, 1, 2, 3, 4, 5, 6789, tzinfo=dt.UTC)
    m = schema.messages.c
    o = schema.obligations.c
    cases: list[tuple[Any, dict[str, Any]]] = [
        (
            schema.status_history.insert().values(
                traceer_id=sa.bindparam("t"), status=sa.bindparam("s"), at=sa.bindparam("at")
            ),
            {"t": "T1", "s": "Bezorgd", "at": at},
        ),
        (
            schema.messages.update()
            .where(m.traceer_id == sa.bindparam("t"))
            .values(meldingen=sa.bindparam("meldingen"), confirmed_at=sa.bindparam("at")),
            {"t": "none", "meldingen": [{"code": "X", "tekst": "é"}], "at": at},
        ),
        (
            sa.select(o.id).where(o.due < sa.bindparam("at")).order_by(o.due).limit(3),
            {"at": at},
        ),
    ]
    sent: list[tuple[str, Any]] = []

    def capture(*args: Any) -> None:
        sent.append((args[2], args[3]))

    def run(connection: Connection) -> None:
        for statement, parameters in cases:
            connection.execute(statement, parameters)
            Prepared(statement).execute(connection, parameters)
        connection.rollback()

    engine = ledger.engine.sync_engine
    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        async with ledger.engine.connect() as connection:
            await connection.run_sync(run)
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    assert len(sent) == 2 * len(cases)
    assert sent[1::2] == sent[0::2]


def _turns_engine(path: Path, busy_ms: int | None = None) -> sa.Engine:
    """A writer's engine on ``path``, with the ledger's pragmas (and another busy_timeout)."""

    def pragmas(dbapi_connection: Any, record: Any) -> None:
        store.sqlite_pragmas(dbapi_connection, record)
        if busy_ms is not None:
            dbapi_connection.execute(f"PRAGMA busy_timeout={busy_ms}")

    engine = sqlite_writer_engine(f"sqlite:///{path}", pragmas)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS turns (who TEXT)")
    return engine


def _turn_taken(path: Path) -> bool:
    with open(f"{path}-writers", "a+b") as turn:
        try:
            fcntl.flock(turn, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(turn, fcntl.LOCK_UN)
        return False


async def test_a_writer_that_waited_writes_before_one_that_came_after_it(tmp_path: Path) -> None:
    """Two writers of one SQLite file take its write lock in turn: while the lock is held, the
    first to wait holds the turn, and a later one cannot try for the lock until the first has
    it, however the sleeps of SQLite's busy handler would have fallen."""
    path = tmp_path / "ledger.db"
    first, later = _turns_engine(path), _turns_engine(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")

    def write(engine: sa.Engine, who: str) -> None:
        with engine.begin() as connection:
            connection.exec_driver_sql("INSERT INTO turns VALUES (?)", (who,))

    try:
        waiting = asyncio.create_task(asyncio.to_thread(write, first, "first"))

        async def turn_taken() -> bool:
            return _turn_taken(path)

        await eventually(turn_taken)
        coming = asyncio.create_task(asyncio.to_thread(write, later, "later"))
        await asyncio.sleep(0.05)  # the later writer is queued for the turn by now
        assert not waiting.done()
        assert not coming.done()
        holder.execute("COMMIT")
        await asyncio.wait_for(asyncio.gather(waiting, coming), 10)
        order = [who for (who,) in holder.execute("SELECT who FROM turns ORDER BY rowid")]
        assert order == ["first", "later"]
    finally:
        holder.close()
        first.dispose()
        later.dispose()


def test_a_writer_gives_up_waiting_for_the_lock_after_the_timeout(tmp_path: Path) -> None:
    """Kept from the write lock (or from its turn) past its connection's busy_timeout, a writer
    fails as SQLite's busy handler did: an error of the database, which the writer answers as
    unavailable; once the lock is free it writes, its busy_timeout as it was."""
    path = tmp_path / "ledger.db"
    engine = _turns_engine(path, busy_ms=200)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(sa.exc.OperationalError, match="database is locked"), engine.begin():
            pass
        holder.execute("COMMIT")
        with open(f"{path}-writers", "a+b") as turn:
            fcntl.flock(turn, fcntl.LOCK_EX)
            with pytest.raises(TimeoutError, match="kept its turn"), engine.begin():
                pass
        with engine.begin() as connection:
            connection.exec_driver_sql("INSERT INTO turns VALUES ('after')")
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 200
    finally:
        holder.close()
        engine.dispose()
