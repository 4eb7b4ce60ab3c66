"""One writer per ledger: every change to messages and obligations, written in batches.

Why: an admission is a handful of SQL statements, and through an async driver each statement is a
round trip (aiosqlite: a hop to its thread and back; asyncpg: to the server). Under load the
ingress waited on those hops, not on the disk (docs/performance.md). So writes are queued as
small synchronous operations, and one writer task takes whatever is queued and runs it in one
transaction with one commit - group commit. On SQLite the batch runs in one thread of its own
on the standard library's ``sqlite3`` (one hop per batch); on PostgreSQL through asyncpg, in one
connection checkout and one transaction.

The writer shares the event loop's interpreter lock, so its Python is the gateway's. Hence
fewer statements per batch: rows are inserted with one statement per table (``insert_later``),
lookups several operations need are made once for all of them at the batch's end (``later``);
and the hot statements run as ``Prepared``: rendered once per database, then each call goes to
the driver with SQLAlchemy's own bind processing, without the work ``Connection.execute``
repeats for every call.

A batch is written optimistically, all operations in one transaction. When one of them fails
(a TR056 duplicate is an ``IntegrityError``), the transaction is rolled back and the batch is
written again with each operation in a SAVEPOINT of its own, so the failure undoes only itself
and reaches only its caller. An operation must therefore be safe to run twice: it computes from
its inputs and the database, nothing else. A database that cannot be reached fails the whole
batch: every caller gets ``LedgerUnavailable`` and nothing of it is stored.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import fcntl
import logging
import operator
import sqlite3
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, CursorResult, Dialect, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

from gateway.errors import LedgerUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
Operation = Callable[[Connection], T]
C = TypeVar("C", bound=type)

# Enough to take everything fifty clients have in flight, few enough to keep a batch short.
BATCH = 256


def by_fields(cls: C) -> C:
    """A frozen dataclass pickled as its class and its fields' values, rebuilt by its
    constructor. For the values that cross to the writer process and back: a slotted
    dataclass is otherwise pickled through the ``__getstate__`` and ``__setstate__`` that
    ``dataclass`` gives it, which look the fields up on every call; with this a batch of 3 KB
    305s pickles and unpickles in about half the time (docs/performance.md).

    Apply it above ``@dataclass``, to the class that decorator returns.
    """
    names = [field.name for field in dataclasses.fields(cls)]
    values = operator.attrgetter(*names)
    if len(names) == 1:

        def reduce(self: object) -> tuple[Any, ...]:
            return cls, (values(self),)

    else:

        def reduce(self: object) -> tuple[Any, ...]:
            return cls, values(self)

    setattr(cls, "__reduce__", reduce)  # noqa: B010 - mypy does not let a method be assigned
    return cls


@by_fields
@dataclass(frozen=True, slots=True)
class _Outcome:
    value: Any = None
    error: BaseException | None = None


def _unreachable(exc: BaseException) -> bool:
    """A failure of the database itself, as opposed to one operation's (a constraint, a bug)."""
    return isinstance(exc, DBAPIError | OSError) and not isinstance(exc, IntegrityError)


class Prepared:
    """A statement rendered once per database, run through the driver with SQLAlchemy's binds.

    ``Connection.execute`` looks the statement up in its compiled cache, builds and processes
    its parameters and sets up typed results, every call and, for many rows, every row: under
    load that was most of the writer's time, more than the database's (docs/performance.md).
    Here the SQL and each parameter's bind processor (a datetime as text on SQLite, JSON) are
    taken once from SQLAlchemy's compilation, so the driver gets exactly what ``execute`` would
    give it; the statement still goes through ``exec_driver_sql``, so a driver error arrives
    translated (a TR056 duplicate is an ``IntegrityError``).

    Rows come back as the driver gives them, without result processing (SQLite returns a
    datetime as text): for queries that read ids and text, or compare a column with NULL.
    An expanding parameter (``IN`` a list) is rendered per call and cannot be prepared.
    """

    __slots__ = ("_many", "_rendered", "_statement")

    def __init__(self, statement: ClauseElement, *, many: bool = False) -> None:
        self._statement = statement
        self._many = many
        self._rendered: weakref.WeakKeyDictionary[Dialect, _Rendered] = weakref.WeakKeyDictionary()

    def execute(self, connection: Connection, parameters: Mapping[str, Any]) -> CursorResult[Any]:
        rendered = self._render(connection.dialect)
        return connection.exec_driver_sql(rendered.sql, rendered.arguments(parameters))

    def executemany(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        rendered = self._render(connection.dialect)
        connection.exec_driver_sql(rendered.sql, [rendered.arguments(row) for row in rows])

    def _render(self, dialect: Dialect) -> _Rendered:
        rendered = self._rendered.get(dialect)
        if rendered is None:
            rendered = self._rendered[dialect] = _Rendered.of(self._statement, dialect, self._many)
        return rendered


@dataclass(frozen=True, slots=True)
class _Rendered:
    sql: str
    names: tuple[str, ...]
    """The parameters in the order the driver takes them."""
    fixed: dict[str, Any]
    """The values the statement itself gives (a LIMIT), unless the call gives its own."""
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]
    """Where in ``names`` a value is processed before the driver gets it, and by what."""
    positional: bool

    @classmethod
    def of(cls, statement: ClauseElement, dialect: Dialect, many: bool) -> _Rendered:
        kw: dict[str, Any] = {}
        if isinstance(statement, sa.Insert):
            # the columns of the rows, and no RETURNING of the new key (PostgreSQL)
            kw["for_executemany"] = many
        compiled = statement.compile(dialect=dialect, **kw)
        assert isinstance(compiled, SQLCompiler)
        if compiled.literal_execute_params or compiled.post_compile_params:
            raise ValueError(f"rendered per call, cannot be prepared: {compiled.string}")
        names = compiled.positiontup if dialect.positional else list(compiled.bind_names.values())
        assert names is not None
        fixed = {}
        processors = []
        for index, name in enumerate(names):
            bind = compiled.binds[name]
            if not bind.required:
                fixed[name] = bind.effective_value
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                processors.append((index, processor))
        return cls(compiled.string, tuple(names), fixed, tuple(processors), dialect.positional)

    def arguments(self, parameters: Mapping[str, Any]) -> Any:
        if self.fixed:
            parameters = {**self.fixed, **parameters}
        values = [parameters[name] for name in self.names]
        for index, processor in self.processors:
            values[index] = processor(values[index])
        if self.positional:
            return tuple(values)
        return dict(zip(self.names, values, strict=True))


def insert_later(connection: Connection, table: sa.Table, row: dict[str, Any]) -> None:
    """Insert ``row`` with the rest of the batch: one statement per table for all operations.

    For rows nothing in the same operation reads back (a message, its status history): one
    multi-row INSERT costs about what one single-row INSERT does. A constraint a row breaks
    (TR056) still reaches the operation that wrote it, through the SAVEPOINT pass.
    """
    connection.info.setdefault(_PENDING, {}).setdefault(table, []).append(row)


_PENDING = "gateway.ledger.writer.pending"


def pending(connection: Connection, table: sa.Table) -> list[dict[str, Any]]:
    """The rows of ``table`` this batch will insert but has not yet."""
    rows: list[dict[str, Any]] = connection.info.get(_PENDING, {}).get(table, [])
    return rows


def insert_now(connection: Connection, table: sa.Table) -> None:
    """Insert the pending rows of ``table`` before a query that has to see them."""
    rows = connection.info.get(_PENDING, {}).pop(table, None)
    if rows:
        _insert(connection, table, rows)


Later = Callable[[Connection, list[Any]], None]
_LATER = "gateway.ledger.writer.later"


def later(connection: Connection, work: Later, item: Any) -> None:
    """Have ``work`` done for ``item`` with the rest of the batch: called once at its end with
    every item queued for it, in the order they came, so that what each operation would look
    up on its own is looked up for all of them in one statement.

    Whatever in the batch could change what ``work`` finds, or must see what it does, calls
    ``settle`` first: the items are then as good as done in their place.
    """
    connection.info.setdefault(_LATER, {}).setdefault(work, []).append(item)


def queued(connection: Connection, work: Later) -> list[Any]:
    """The items this batch has queued for ``work`` and not yet done."""
    items: list[Any] = connection.info.get(_LATER, {}).get(work, [])
    return items


def settle(connection: Connection, work: Later) -> None:
    """Do ``work`` now for what is queued for it."""
    items = connection.info.get(_LATER, {}).pop(work, None)
    if items:
        work(connection, items)


def _flush(connection: Connection) -> None:
    for work, items in connection.info.pop(_LATER, {}).items():
        work(connection, items)
    pending: dict[sa.Table, list[dict[str, Any]]] = connection.info.pop(_PENDING, {})
    for table, rows in pending.items():
        _insert(connection, table, rows)


def _discard(connection: Connection) -> None:
    """Forget what a batch (or an operation) that failed left to do."""
    connection.info.pop(_LATER, None)
    connection.info.pop(_PENDING, None)


# One INSERT per table and set of columns; a table's rows all have the same keys.
_INSERTS: dict[tuple[sa.Table, tuple[str, ...]], Prepared] = {}


def _insert(connection: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    columns = tuple(rows[0])
    insert = _INSERTS.get((table, columns))
    if insert is None:
        insert = _INSERTS[table, columns] = Prepared(
            table.insert().values({c: sa.bindparam(c) for c in columns}), many=True
        )
    insert.executemany(connection, rows)


def transact(connection: Connection, operations: Sequence[Operation[Any]]) -> list[_Outcome]:
    """Run ``operations`` in one transaction; one that fails undoes only itself."""
    _discard(connection)
    try:
        with connection.begin():
            outcomes = [_Outcome(operation(connection)) for operation in operations]
            _flush(connection)
            return outcomes
    except Exception as exc:
        _discard(connection)
        if _unreachable(exc):
            raise
        if len(operations) == 1:
            return [_Outcome(error=exc)]
    outcomes = []
    with connection.begin():
        for operation in operations:
            try:
                with connection.begin_nested():
                    value = operation(connection)
                    _flush(connection)
                outcomes.append(_Outcome(value))
            except Exception as exc:
                _discard(connection)
                if _unreachable(exc):
                    raise
                outcomes.append(_Outcome(error=exc))
    return outcomes


class _Batches(Protocol):
    async def __call__(self, operations: Sequence[Operation[Any]]) -> list[_Outcome]: ...


class LedgerWriter(Protocol):
    """What the ledger writes through: this module's ``Writer``, or the writer process's
    (gateway.ledger.writer_process)."""

    batches: int
    operations: int

    @property
    def pid(self) -> int | None:
        """The id of the process that writes, when that is not this one."""
        ...

    async def start(self) -> None: ...

    async def run(self, operation: Operation[T]) -> T: ...

    def submit(self, operation: Operation[T]) -> asyncio.Future[T]: ...

    async def close(self) -> None: ...


class Writer:
    """Queue of write operations and the task that writes them, a batch per transaction."""

    def __init__(
        self, write: _Batches, close: Callable[[], None] = lambda: None, *, batch: int = BATCH
    ) -> None:
        self._write = write
        self._close = close
        self._batch = batch
        self._queue: asyncio.Queue[tuple[Operation[Any], asyncio.Future[Any]] | None] = (
            asyncio.Queue()
        )
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.operations = 0

    @classmethod
    def in_thread(cls, engine: Engine, *, batch: int = BATCH) -> Writer:
        """For SQLite: each batch in one call to a thread of its own, on the sync driver."""
        thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="ledger-writer")

        def write_batch(operations: Sequence[Operation[Any]]) -> list[_Outcome]:
            with engine.connect() as connection:
                return transact(connection, operations)

        async def write(operations: Sequence[Operation[Any]]) -> list[_Outcome]:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(thread, write_batch, operations)

        def close() -> None:
            thread.shutdown(wait=True)
            engine.dispose()

        return cls(write, close, batch=batch)

    @classmethod
    def on_connection(cls, engine: AsyncEngine, *, batch: int = BATCH) -> Writer:
        """For PostgreSQL: each batch on one pooled connection, through asyncpg."""

        async def write(operations: Sequence[Operation[Any]]) -> list[_Outcome]:
            async with engine.connect() as connection:
                return await connection.run_sync(transact, operations)

        return cls(write, batch=batch)

    @property
    def pid(self) -> int | None:
        """The batches are written in this process."""
        return None

    async def start(self) -> None:
        """Nothing to start: the task that writes starts with the first write."""

    async def run(self, operation: Operation[T]) -> T:
        """Write ``operation`` with the next batch; its result once that batch is committed."""
        return await self.submit(operation)

    def submit(self, operation: Operation[T]) -> asyncio.Future[T]:
        """Queue ``operation`` for the next batch; the future is done once that batch is."""
        if self._task is None:
            self._task = asyncio.create_task(self._serve(), name="ledger-writer")
        elif self._task.done():
            raise LedgerUnavailable("the ledger writer has stopped")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((operation, future))
        return future

    async def close(self) -> None:
        """Write what is queued, then stop."""
        if self._task is not None and not self._task.done():
            self._queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._close()

    async def _serve(self) -> None:
        stopping = False
        while not stopping:
            batch: list[tuple[Operation[Any], asyncio.Future[Any]]] = []
            item = await self._queue.get()
            while True:
                if item is None:
                    stopping = True
                else:
                    batch.append(item)
                if stopping or len(batch) >= self._batch or self._queue.empty():
                    break
                item = self._queue.get_nowait()
            if batch:
                await self._write_batch(batch)

    async def _write_batch(self, batch: list[tuple[Operation[Any], asyncio.Future[Any]]]) -> None:
        self.batches += 1
        self.operations += len(batch)
        try:
            outcomes = await self._write([operation for operation, _ in batch])
        except (DBAPIError, OSError) as exc:
            self._fail(batch, LedgerUnavailable(f"ledger write failed: {exc}"))
            return
        except Exception as exc:
            log.exception("ledger writer: a batch of %d failed", len(batch))
            self._fail(batch, LedgerUnavailable(f"ledger writer failed: {exc!r}"))
            return
        except BaseException:
            # Cancelled: the callers learn that nothing is known of their writes.
            self._fail(batch, LedgerUnavailable("the ledger writer was stopped"))
            raise
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():  # its caller gave up; what it asked for is written all the same
                continue
            if outcome.error is not None:
                future.set_exception(outcome.error)
            else:
                future.set_result(outcome.value)

    @staticmethod
    def _fail(
        batch: list[tuple[Operation[Any], asyncio.Future[Any]]], failure: LedgerUnavailable
    ) -> None:
        for _, future in batch:
            if not future.done():
                future.set_exception(failure)


def sqlite_writer_engine(url: str, pragmas: Callable[[Any, Any], None]) -> Engine:
    """A sync engine on the stdlib's sqlite3 for the writer thread, with working SAVEPOINTs.

    pysqlite opens transactions by itself and not for every statement; it is told to leave
    that to SQLAlchemy, which begins each with ``BEGIN IMMEDIATE``: the write lock is taken at
    the start, so two writers wait for it instead of failing on an upgrade. They wait in turn
    (``_WriteTurns``), not in SQLite's busy handler.
    """
    engine = sa.create_engine(url, pool_size=1, max_overflow=0)
    database = sa.engine.make_url(url).database
    turns = _WriteTurns(f"{database}-writers") if database and database != ":memory:" else None

    def connect(dbapi_connection: Any, record: Any) -> None:
        pragmas(dbapi_connection, record)
        dbapi_connection.isolation_level = None

    def begin(connection: Connection) -> None:
        if turns is None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            turns.begin(connection)

    sa.event.listen(engine, "connect", connect)
    sa.event.listen(engine, "begin", begin)
    return engine


class _WriteTurns:
    """SQLite's write lock taken in turn by the writers of one database file.

    Two gateway workers on one SQLite file each have a writer, and SQLite lets one write at a
    time. Its busy handler sleeps 1, 2, 5, 10, 15, 20, 25 ms... between tries, however soon the
    lock is free, while the writer that holds it takes it again right after its commit if it
    has more: under load a waiting writer slept 10-15 ms at a time, and the p99 of two workers
    went to 150-170 ms against 55-65 ms for one (docs/performance.md). Here a writer first
    takes the turn, a ``flock`` on a file beside the database, then tries for SQLite's lock every
    ``POLL`` seconds, and gives the turn up as soon as it has the lock: the writer that has just
    committed finds the turn taken by the one waiting and goes after it, so busy writers
    alternate. Both waits together end after the connection's ``busy_timeout``, as the busy
    handler's did; the handler itself is kept out of the way meanwhile (``busy_timeout=0``).
    """

    POLL = 0.0005

    def __init__(self, path: str) -> None:
        self._path = path

    def begin(self, connection: Connection) -> None:
        raw = connection.connection.dbapi_connection
        assert raw is not None
        (busy_ms,) = raw.execute("PRAGMA busy_timeout").fetchone()
        deadline = time.monotonic() + busy_ms / 1000
        with open(self._path, "a+b") as turn:
            while True:
                try:
                    fcntl.flock(turn, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(
                            f"another writer of this ledger kept its turn ({self._path}) for"
                            f" {busy_ms / 1000:g} s"
                        ) from None
                time.sleep(self.POLL)
            raw.execute("PRAGMA busy_timeout=0")
            try:
                while True:
                    try:
                        connection.exec_driver_sql("BEGIN IMMEDIATE")
                        return
                    except sa.exc.OperationalError as exc:
                        code = getattr(exc.orig, "sqlite_errorcode", None)
                        if code != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                            raise
                    time.sleep(self.POLL)
            finally:
                raw.execute(f"PRAGMA busy_timeout={busy_ms}")
