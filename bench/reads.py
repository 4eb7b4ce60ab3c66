"""What a read of the ledger costs: the reads of the pull and status APIs, on an SQLite file.

    .venv/bin/python -m bench.reads [--messages N] [--count N]

Opens the product's ``Ledger`` on a new SQLite file (``Ledger.open``: the writer process and,
for reads, ``ThreadReads``), admits and routes ``--messages`` 3 KB 305s, then times ``--count``
calls of each read, one after another and then all at once: ``get`` (one message by its
traceerId), ``inbox`` (the ten oldest for the recipient, as the pull list asks) and ``payload``
(one message with its payload, as a download reads it). Prints one JSON line per read: wall
time and this process's CPU (every thread) per call, in µs. The CPU is the number to watch:
it is what a read takes from the gateway's process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.ledger import Admissions
from bench.messages import REFERENCE, wmo305
from gateway.ledger import Ledger

Read = Callable[[int], Awaitable[Any]]


async def timed(read: Read, count: int) -> dict[str, float]:
    for number in range(min(count, 50)):  # warm: statements compiled, connections open
        await read(number)
    cpu, wall = time.process_time(), time.perf_counter()
    for number in range(count):
        await read(number)
    one = (time.perf_counter() - wall, time.process_time() - cpu)
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(read(number) for number in range(count)))
    together = (time.perf_counter() - wall, time.process_time() - cpu)
    return {
        "wall_us": 1e6 * one[0] / count,
        "cpu_us": 1e6 * one[1] / count,
        "at_once_wall_us": 1e6 * together[0] / count,
        "at_once_cpu_us": 1e6 * together[1] / count,
    }


async def measure(messages: int, count: int) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="bench-reads-") as directory:
        ledger = await Ledger.open(f"sqlite:///{Path(directory) / 'ledger.db'}")
        try:
            admissions = Admissions(wmo305(REFERENCE), series=1)
            ids = []
            for number in range(messages):
                new, step = admissions.make(number, ledger)
                await ledger.admit(new, step)
                ledger.routed(new.traceer_id)
                ids.append(new.traceer_id)
            recipient = admissions.recipient.key
            reads: dict[str, Read] = {
                "get": lambda n: ledger.get(ids[n % len(ids)]),
                "inbox": lambda n: ledger.inbox(recipient, limit=10),
                "payload": lambda n: ledger.payload(recipient, ids[n % len(ids)]),
            }
            return {name: await timed(read, count) for name, read in reads.items()}
        finally:
            await ledger.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reads", description=__doc__)
    parser.add_argument("--messages", type=int, default=300, help="default: %(default)s")
    parser.add_argument("--count", type=int, default=1000, help="default: %(default)s")
    args = parser.parse_args(argv)
    for name, result in asyncio.run(measure(args.messages, args.count)).items():
        print(json.dumps({"read": name, **{k: round(v, 1) for k, v in result.items()}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
