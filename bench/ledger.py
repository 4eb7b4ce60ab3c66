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
- ``postgresql``: a throwaway database, pool as ``Ledger.open`` makes it.

Prints one JSON line per setup.
"""

from __future__ import annotations

import argparse
import asyncio
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
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from bench.messages import Template, identificatie, wmo305
from gateway.deadlines import profile_from_env
from gateway.ledger import Ledger
from gateway.ledger.schema import migrate
from gateway.ledger.store import NewMessage
from gateway.participants import Participant
from gateway.sla.chains import Chains
from gateway.standard.catalog import default_catalog
from gateway.standard.message_types import RELEASE
from gateway.standard.xmlsafe import parse_xml

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
    ledger = Ledger(engine)
    try:
        work = [admissions.make(n, ledger) for n in range(count)]
        queue = iter(work)
        latencies: list[float] = []

        async def worker() -> None:
            for new, step in queue:
                started = time.perf_counter()
                await ledger.admit(new, step)
                await ledger.routed(new.traceer_id)
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    finally:
        await ledger.close()
    latencies.sort()
    return {
        "setup": name,
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
        try:
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
