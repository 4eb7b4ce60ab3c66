"""What the ledger alone sustains: admissions of 305s, many at once, on several engine setups.

    .venv/bin/python -m bench.ledger [--count N] [--concurrency C] [--postgres]

Each admission is what the ingress writes for a 3 KB 305: ``Ledger.admit`` (the message, its
status history and the obligations its chain step opens and meets) and then ``Ledger.routed``.
The ledger is built on engines set up in several ways, to measure the choices a group commit
would make before anyone rewrites ``gateway/ledger/store.py``:

- ``sqlite-as-is``: what ``Ledger.open`` does (a pool of connections, busy_timeout, FULL sync);
- ``sqlite-one-connection``: one connection, so writers queue in asyncio instead of sleeping in
  SQLite's busy handler;
- ``sqlite-one-connection-normal``: the same with ``synchronous=NORMAL`` (WAL: still durable
  across a process crash, not across a power cut);
- ``postgresql``: a throwaway database, pool as ``Ledger.open`` makes it;
- ``*-group-commit``: ``GroupCommitLedger``, a prototype of group commit: one writer, one
  transaction (and one fsync) for all the admissions and routings waiting at that moment.
- ``sqlite-group-commit-without-obligations``: the same without the SLA obligations, to show
  what their queries cost.
- ``sqlite-group-commit-in-thread-without-obligations``: ``ThreadGroupCommitLedger``, the batch
  written in one thread through the stdlib's sqlite3: one thread hop per batch, not per statement.

Prints one JSON line per setup.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import secrets
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from bench.messages import Template, identificatie, wmo305
from gateway.deadlines import profile_from_env
from gateway.ledger import Ledger, StoredMessage, obligations
from gateway.ledger.schema import messages, migrate, status_history
from gateway.ledger.store import Admission, NewMessage
from gateway.participants import Participant
from gateway.sla.chains import Chains
from gateway.standard.catalog import default_catalog
from gateway.standard.message_types import RELEASE
from gateway.standard.xmlsafe import parse_xml
from gateway.vsp import Berichtstatus

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432"


def _pragmas(synchronous: str) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return on_connect


def sqlite_engine(path: Path, *, one_connection: bool, synchronous: str) -> AsyncEngine:
    url = f"sqlite+aiosqlite:///{path}"
    if one_connection:
        engine = create_async_engine(
            url, poolclass=AsyncAdaptedQueuePool, pool_size=1, max_overflow=0
        )
    else:
        engine = create_async_engine(url, connect_args={"timeout": 30})
    sa.event.listen(engine.sync_engine, "connect", _pragmas(synchronous))
    return engine


class GroupCommitLedger(Ledger):
    """A prototype of group commit (docs/performance.md), for measuring, not for use.

    ``admit`` and ``routed`` queue their work; one writer task takes whatever is queued (up to
    ``BATCH``) and writes it in one transaction on its one connection, each admission inside a
    SAVEPOINT so that a duplicate undoes only itself, and commits once for all of them.
    """

    BATCH = 256

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self._queue: asyncio.Queue[tuple[str, Any, asyncio.Future[Any]]] = asyncio.Queue()
        self._writer = asyncio.ensure_future(self._write())
        self.batches: list[int] = []

    async def admit(self, new: NewMessage, chain: Any = None) -> Admission:
        future: asyncio.Future[Admission] = asyncio.get_running_loop().create_future()
        await self._queue.put(("admit", (new, chain), future))
        return await future

    async def routed(self, traceer_id: str) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._queue.put(("routed", traceer_id, future))
        await future

    async def close(self) -> None:
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
        await super().close()

    async def _write(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self.batches.append(len(batch))
            now = self.now()
            results: list[Any] = []
            async with self.engine.begin() as connection:
                for kind, work, _ in batch:
                    if kind == "admit":
                        results.append(await self._admit_one(connection, work, now))
                    else:
                        results.append(None)
                routed = [work for kind, work, _ in batch if kind == "routed"]
                if routed:
                    await connection.execute(
                        messages.update()
                        .where(
                            messages.c.traceer_id.in_(routed),
                            messages.c.status == Berichtstatus.WORDT_VERWERKT.value,
                        )
                        .values(status=Berichtstatus.WORDT_AANGEBODEN.value, status_changed_at=now)
                    )
                    await connection.execute(
                        status_history.insert(),
                        [
                            {"traceer_id": t, "status": s.value, "at": now}
                            for t in routed
                            for s in (
                                Berichtstatus.VERWERKING_VOLTOOID,
                                Berichtstatus.WORDT_AANGEBODEN,
                            )
                        ],
                    )
            for (_, _, future), result in zip(batch, results, strict=True):
                future.set_result(result)

    async def _admit_one(
        self, connection: AsyncConnection, work: tuple[NewMessage, Any], now: Any
    ) -> Admission:
        new, chain = work
        async with connection.begin_nested():
            await connection.execute(messages.insert().values(_row(new, now)))
            await connection.execute(status_history.insert(), _admitted_history(new, now))
            if chain:
                trigger = obligations.Trigger(
                    new.traceer_id, new.message_type, new.identificatie, new.conversatie_id
                )
                await obligations.record(connection, trigger, chain, now)
        # The ingress reads the stored row back; the prototype hands back what it wrote.
        return Admission(_stored(new, now), replay=False)


class ThreadGroupCommitLedger(GroupCommitLedger):
    """The same group commit, the whole batch in one thread on the stdlib's sqlite3: one hop.

    Without the obligations (their code is async); compare it with the ``-without-obligations``
    row of ``GroupCommitLedger``.
    """

    def __init__(self, engine: AsyncEngine, path: Path) -> None:
        super().__init__(engine)
        self._sync = sa.create_engine(f"sqlite:///{path}")
        sa.event.listen(self._sync, "connect", _pragmas("FULL"))

    async def close(self) -> None:
        await super().close()
        self._sync.dispose()

    async def _write(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self.batches.append(len(batch))
            results = await asyncio.to_thread(self._write_batch, batch, self.now())
            for (_, _, future), result in zip(batch, results, strict=True):
                future.set_result(result)

    def _write_batch(self, batch: list[tuple[str, Any, Any]], now: Any) -> list[Any]:
        results: list[Any] = []
        with self._sync.begin() as connection:
            for kind, work, _ in batch:
                if kind != "admit":
                    results.append(None)
                    continue
                new = work[0]
                with connection.begin_nested():
                    connection.execute(messages.insert().values(_row(new, now)))
                    connection.execute(status_history.insert(), _admitted_history(new, now))
                results.append(Admission(_stored(new, now), replay=False))
            routed = [work for kind, work, _ in batch if kind == "routed"]
            if routed:
                connection.execute(
                    messages.update()
                    .where(
                        messages.c.traceer_id.in_(routed),
                        messages.c.status == Berichtstatus.WORDT_VERWERKT.value,
                    )
                    .values(status=Berichtstatus.WORDT_AANGEBODEN.value, status_changed_at=now)
                )
                connection.execute(
                    status_history.insert(),
                    [
                        {"traceer_id": t, "status": s.value, "at": now}
                        for t in routed
                        for s in (Berichtstatus.VERWERKING_VOLTOOID, Berichtstatus.WORDT_AANGEBODEN)
                    ],
                )
        return results


def _admitted_history(new: NewMessage, now: Any) -> list[dict[str, Any]]:
    return [
        {"traceer_id": new.traceer_id, "status": s.value, "at": now}
        for s in (Berichtstatus.ONTVANGEN, Berichtstatus.WORDT_VERWERKT)
    ]


def _row(new: NewMessage, now: Any) -> dict[str, Any]:
    return {
        "traceer_id": new.traceer_id,
        "conversatie_id": new.conversatie_id,
        "sender": new.sender,
        "recipient": new.recipient,
        "message_type": new.message_type,
        "release": new.release,
        "berichttype": new.berichttype,
        "identificatie": new.identificatie,
        "dagtekening": new.dagtekening,
        "dedup_key": new.dedup_key,
        "sha256": new.sha256,
        "size": len(new.payload),
        "payload": new.payload,
        "status": Berichtstatus.WORDT_VERWERKT.value,
        "status_changed_at": now,
        "received_at": now,
        "trace_id": new.trace_id,
    }


def _stored(new: NewMessage, now: Any) -> StoredMessage:
    return StoredMessage(
        traceer_id=new.traceer_id,
        conversatie_id=new.conversatie_id,
        als_antwoord_op=new.als_antwoord_op,
        referentie_id=new.referentie_id,
        sender=new.sender,
        recipient=new.recipient,
        message_type=new.message_type,
        release=new.release,
        berichttype=new.berichttype,
        identificatie=new.identificatie,
        dagtekening=new.dagtekening,
        answers_identificatie=new.answers_identificatie,
        sha256=new.sha256,
        size=len(new.payload),
        status=Berichtstatus.WORDT_VERWERKT,
        status_changed_at=now,
        received_at=now,
        confirmed_at=None,
        meldingen=None,
        trace_id=new.trace_id,
    )


class Admissions:
    """Makes the ledger rows of unique 305s as the ingress would, ahead of the timing."""

    def __init__(self, template: Template, series: int) -> None:
        self.template = template
        self.series = series
        self.catalog = default_catalog()
        self.chains = Chains(profile_from_env({}))
        self.sender = Participant.parse(template.sender)
        self.recipient = Participant.parse(template.recipient)

    def make(self, number: int, ledger: Ledger) -> tuple[NewMessage, Any]:
        payload = self.template.render(identificatie(self.series, number))
        doc = parse_xml(payload)
        message_type = self.catalog.identify(doc)
        header = self.catalog.header(doc, message_type)
        new = NewMessage(
            traceer_id=str(uuid.uuid4()),
            conversatie_id=str(uuid.uuid4()),
            als_antwoord_op=None,
            referentie_id=None,
            sender=self.sender.key,
            recipient=self.recipient.key,
            message_type=message_type.name,
            release=RELEASE,
            berichttype=message_type.name,
            identificatie=header.identificatie,
            dagtekening=str(header.dagtekening),
            answers_identificatie=None,
            sha256=hashlib.sha256(payload).hexdigest(),
            payload=payload,
            trace_id=uuid.uuid4().hex,
        )
        step = self.chains.step(
            message_type,
            doc,
            sender=self.sender,
            recipient=self.recipient,
            received=ledger.now(),
            answers=None,
        )
        return new, step


async def measure(
    name: str, engine: AsyncEngine, admissions: Admissions, count: int, concurrency: int
) -> dict[str, Any]:
    async with engine.begin() as connection:
        await connection.run_sync(migrate)
    ledger: Ledger
    if "in-thread" in name:
        ledger = ThreadGroupCommitLedger(engine, Path(str(engine.url.database)))
    elif "group-commit" in name:
        ledger = GroupCommitLedger(engine)
    else:
        ledger = Ledger(engine)
    try:
        work = [admissions.make(n, ledger) for n in range(count)]
        queue = iter(work)
        latencies: list[float] = []

        async def worker() -> None:
            for new, step in queue:
                started = time.perf_counter()
                await ledger.admit(new, None if "without-obligations" in name else step)
                await ledger.routed(new.traceer_id)
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    finally:
        await ledger.close()
    latencies.sort()
    batches = ledger.batches if isinstance(ledger, GroupCommitLedger) else []
    return {
        "setup": name,
        "mean_batch": sum(batches) / len(batches) if batches else 1,
        "admissions": count,
        "concurrency": concurrency,
        "rate": count / seconds,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
    }


def psql(sql: str) -> None:
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-qc", sql],
        check=True,
        capture_output=True,
        timeout=60,
    )


async def statement_cost(directory: str, postgres_url: str | None, n: int = 2000) -> None:
    """What one small INSERT costs, through each driver, one after the other on one connection."""
    create = sa.text("CREATE TABLE t (v TEXT)")
    insert = sa.text("INSERT INTO t (v) VALUES (:v)")
    engines = {"aiosqlite": create_async_engine(f"sqlite+aiosqlite:///{directory}/s1.db")}
    if postgres_url:
        engines["asyncpg"] = create_async_engine(postgres_url)
    for driver, engine in engines.items():
        async with engine.connect() as connection:
            await connection.execute(create)
            started = time.perf_counter()
            for _ in range(n):
                await connection.execute(insert, {"v": "x" * 100})
            await connection.commit()
            cost = (time.perf_counter() - started) / n
            await connection.execute(sa.text("DROP TABLE t"))
            await connection.commit()
        await engine.dispose()
        print(json.dumps({"statement": "INSERT", "driver": driver, "us": cost * 1e6}))
    # The same through the standard library's sqlite3, synchronously: no thread hop per statement.
    sync = sa.create_engine(f"sqlite:///{directory}/s2.db")
    with sync.connect() as connection:
        connection.execute(create)
        started = time.perf_counter()
        for _ in range(n):
            connection.execute(insert, {"v": "x" * 100})
        connection.commit()
        cost = (time.perf_counter() - started) / n
    sync.dispose()
    print(json.dumps({"statement": "INSERT", "driver": "sqlite3 (sync)", "us": cost * 1e6}))


async def main(count: int, concurrency: int, postgres: bool) -> None:
    template = wmo305()
    with tempfile.TemporaryDirectory(prefix="bench-ledger-") as directory:
        setups: list[tuple[str, AsyncEngine]] = [
            (
                "sqlite-as-is",
                sqlite_engine(Path(directory, "a.db"), one_connection=False, synchronous="FULL"),
            ),
            (
                "sqlite-one-connection",
                sqlite_engine(Path(directory, "b.db"), one_connection=True, synchronous="FULL"),
            ),
            (
                "sqlite-one-connection-normal",
                sqlite_engine(Path(directory, "c.db"), one_connection=True, synchronous="NORMAL"),
            ),
            (
                "sqlite-group-commit",
                sqlite_engine(Path(directory, "d.db"), one_connection=True, synchronous="FULL"),
            ),
            (
                "sqlite-group-commit-without-obligations",
                sqlite_engine(Path(directory, "e.db"), one_connection=True, synchronous="FULL"),
            ),
            (
                "sqlite-group-commit-in-thread-without-obligations",
                sqlite_engine(Path(directory, "f.db"), one_connection=True, synchronous="FULL"),
            ),
        ]
        database = f"bench_ledger_{secrets.token_hex(3)}"
        if postgres:
            psql(f"CREATE DATABASE {database}")
            setups.append(
                (
                    "postgresql",
                    create_async_engine(f"{PG}/{database}", pool_size=10, max_overflow=10),
                )
            )
            setups.append(
                (
                    "postgresql-group-commit",
                    create_async_engine(f"{PG}/{database}", pool_size=10, max_overflow=10),
                )
            )
        try:
            await statement_cost(directory, f"{PG}/{database}" if postgres else None)
            for series, (name, engine) in enumerate(setups, start=1):
                admissions = Admissions(template, series)
                result = await measure(name, engine, admissions, count, concurrency)
                print(json.dumps(result), flush=True)
        finally:
            if postgres:
                psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.ledger", description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.count, args.concurrency, args.postgres))
