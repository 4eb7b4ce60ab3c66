"""What the ledger alone sustains: admissions of 305s, many at once, with and without group commit.

    .venv/bin/python -m bench.ledger [--count N] [--concurrency C] [--postgres] [--setup NAME]

Each admission is what the ingress writes for a 3 KB 305: ``Ledger.admit`` (the message, its
status history and the obligations its chain step opens and meets) and then ``Ledger.routed``.
Every setup is the product's ``Ledger`` with its writer (``gateway/ledger/writer.py``) built one
way or another, to show what each choice of that design is worth:

- ``sqlite-process``: as ``Ledger.open`` makes it: group commit, each batch in the writer's own
  process (gateway/ledger/writer_process.py) on the stdlib's sqlite3;
- ``sqlite``: group commit, each batch in the writer's own thread on the stdlib's sqlite3 (one
  thread hop per batch; ``GATEWAY_LEDGER_WRITER=thread``);
- ``sqlite-unbatched``: the same thread, one transaction per write (no group commit);
- ``sqlite-aiosqlite``: group commit, but the batch through aiosqlite (a hop per statement);
- ``sqlite-aiosqlite-unbatched``: through aiosqlite, one transaction per write: the ledger as it
  was before the writer;
- ``sqlite-without-obligations``: as ``sqlite``, without the SLA obligations;
- ``postgresql`` and ``postgresql-unbatched``: a throwaway database, with and without group
  commit (asyncpg).

Prints one JSON line per setup: the rate and latencies, and what the writer costs in CPU per
admission (``writer_cpu_us``: its batches, timed in the thread that runs them, or the writer
process's CPU), the number to watch when changing the writer, because the wall rate moves with
whatever else the machine runs; ``process_cpu_us`` is this process's own, the event loop's
share when the writer has a process of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import secrets
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from bench.messages import Template, identificatie, wmo305
from gateway.deadlines import profile_from_env
from gateway.ledger import Ledger
from gateway.ledger import writer as writer_module
from gateway.ledger.schema import migrate
from gateway.ledger.store import NewMessage, sqlite_pragmas
from gateway.ledger.writer import BATCH, LedgerWriter, Operation, Writer, sqlite_writer_engine
from gateway.ledger.writer_process import ProcessWriter
from gateway.participants import Participant
from gateway.sla.chains import Chains
from gateway.standard.catalog import default_catalog
from gateway.standard.message_types import RELEASE
from gateway.standard.xmlsafe import parse_xml

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432"
SETUPS = (
    "sqlite-process",
    "sqlite",
    "sqlite-unbatched",
    "sqlite-aiosqlite",
    "sqlite-aiosqlite-unbatched",
    "sqlite-without-obligations",
)
POSTGRES_SETUPS = ("postgresql", "postgresql-unbatched")


class WriterClock:
    """CPU seconds the writer spent in its batches, each timed in the thread that ran it.

    The batch runs in the writer's own thread (SQLite) or on the event loop (PostgreSQL); either
    way ``time.thread_time`` around ``transact`` counts its Python and the driver's, and not
    what other threads or processes do meanwhile. On PostgreSQL it also counts whatever the loop
    ran while the batch waited for the server: in this benchmark, little but asyncpg itself.
    """

    def __init__(self) -> None:
        self.seconds = 0.0

    @contextmanager
    def timing(self) -> Iterator[None]:
        transact = writer_module.transact

        def timed(connection: Any, operations: Sequence[Operation[Any]]) -> Any:
            started = time.thread_time()
            try:
                return transact(connection, operations)
            finally:
                self.seconds += time.thread_time() - started

        # Both writers look ``transact`` up when they run a batch.
        writer_module.transact = timed
        try:
            yield
        finally:
            writer_module.transact = transact


async def open_ledger(name: str, directory: Path, postgres_url: str | None) -> Ledger:
    """The product's ledger, with its writer built as the setup ``name`` says."""
    batch = 1 if name.endswith("-unbatched") else BATCH
    if name.startswith("postgresql"):
        assert postgres_url is not None
        engine = create_async_engine(postgres_url, pool_size=10, max_overflow=10)
        writer: LedgerWriter = Writer.on_connection(engine, batch=batch)
    else:
        path = directory / f"{name}.db"
        engine = create_async_engine(f"sqlite+aiosqlite:///{path}", connect_args={"timeout": 30})
        sa.event.listen(engine.sync_engine, "connect", sqlite_pragmas)
        if "aiosqlite" in name:
            writer = Writer.on_connection(engine, batch=batch)
        elif name == "sqlite-process":
            writer = ProcessWriter(f"sqlite:///{path}")
        else:
            writer = Writer.in_thread(
                sqlite_writer_engine(f"sqlite:///{path}", sqlite_pragmas), batch=batch
            )
    async with engine.begin() as connection:
        await connection.run_sync(migrate)
    await writer.start()
    return Ledger(engine, writer)


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
    name: str, ledger: Ledger, admissions: Admissions, count: int, concurrency: int
) -> dict[str, Any]:
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

        clock = WriterClock()
        child = ledger.writer.pid
        child_started = _cpu_of(child)
        started, cpu_started = time.perf_counter(), time.process_time()
        with clock.timing():
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        if child is not None:
            clock.seconds = _cpu_of(child) - child_started
    finally:
        await ledger.close()
    latencies.sort()
    writer = ledger.writer
    return {
        "setup": name,
        "mean_batch": writer.operations / writer.batches if writer.batches else 0,
        "admissions": count,
        "concurrency": concurrency,
        "rate": count / seconds,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
        "writer_cpu_us": 1e6 * clock.seconds / count,
        "process_cpu_us": 1e6 * cpu / count,
    }


def _cpu_of(pid: int | None) -> float:
    """User and system CPU seconds of a process so far (Linux)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


async def main(count: int, concurrency: int, postgres: bool, only: list[str]) -> None:
    template = wmo305()
    with tempfile.TemporaryDirectory(prefix="bench-ledger-") as directory:
        setups = only or [*SETUPS, *(POSTGRES_SETUPS if postgres else ())]
        postgres = any(name.startswith("postgresql") for name in setups)
        database = f"bench_ledger_{secrets.token_hex(3)}"
        if postgres:
            psql(f"CREATE DATABASE {database}")
        try:
            if not only:
                await statement_cost(directory, f"{PG}/{database}" if postgres else None)
            for series, name in enumerate(setups, start=1):
                admissions = Admissions(template, series)
                ledger = await open_ledger(name, Path(directory), f"{PG}/{database}")
                result = await measure(name, ledger, admissions, count, concurrency)
                print(json.dumps(result), flush=True)
        finally:
            if postgres:
                psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.ledger", description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument(
        "--setup",
        action="append",
        choices=[*SETUPS, *POSTGRES_SETUPS],
        help="only this setup (repeatable), without the statement costs",
    )
    args = parser.parse_args()
    asyncio.run(main(args.count, args.concurrency, args.postgres, args.setup or []))
