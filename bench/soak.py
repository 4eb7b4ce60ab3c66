"""Soak: half the measured maximum rate for 30 minutes; errors (none) and memory growth (< 10%).

    .venv/bin/python -m bench.soak [--minutes 30] [--postgres] [--out FILE]

First the maximum push rate of a ``gateway serve`` process is measured as ``bench.run`` does it
(``bench.load`` in a process of its own, as fast as answers come). Then this process pushes 305s
at half that rate, paced, for ``--minutes``, while it consumes the municipality's inbox and
samples the gateway's resident memory every ten seconds. The verdict:

- errors: every upload answered 2xx, no connection error, nothing else;
- memory: the RSS at the end is less than 10% above the RSS after the first minute (the warm-up:
  pools filled, caches and code paths hot);
- nothing lost: every accepted traceerId arrived on the inbox.

Prints a line per minute and a JSON summary (also written to ``bench/results/``); exits 1 if a
target is not met.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.load import Load, LoadSpec
from bench.run import MUNICIPALITY, RESULTS, Harness, memory_kib
from gateway.participants import Participant
from gateway.routing import Broker

SAMPLE_EVERY = 10.0
WARMUP_SECONDS = 60.0


@dataclass
class Soak:
    """What the soak saw."""

    max_rate: float
    target_rate: float
    minutes: float
    ledger: str
    sent: int = 0
    accepted: int = 0
    not_accepted: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    first_problem: str = ""
    delivered: int = 0
    lost: int = 0
    rss_kib: list[tuple[float, int]] = field(default_factory=list)
    rss_warm_kib: int = 0
    rss_end_kib: int = 0
    growth_percent: float = 0.0
    achieved_rate: float = 0.0

    @property
    def met(self) -> bool:
        return (
            self.errors == 0
            and not self.not_accepted
            and self.lost == 0
            and self.growth_percent < 10.0
        )


async def soak(spec: LoadSpec, gateway_pid: int, result: Soak) -> None:
    load = Load(spec)
    accepted: set[str] = set()
    delivered: set[str] = set()
    interval = 1.0 / result.target_rate
    started = time.monotonic()
    ends = started + 60 * result.minutes
    in_flight: set[asyncio.Task[None]] = set()
    # At most this many uploads waiting for an answer: a stalled gateway shows as errors, not
    # as an ever-growing heap in the load generator.
    slots = asyncio.Semaphore(max(8, int(result.target_rate * 2)))

    async def one(session: Any) -> None:
        try:
            traceer_id = await load.upload(session)
            if traceer_id is not None:
                accepted.add(traceer_id)
        finally:
            slots.release()

    async def consume() -> None:
        recipient = Participant.parse(f"gemeente-{MUNICIPALITY}")
        async with Broker.consumer(spec.amqp_url, recipient, prefetch=500) as deliveries:
            async for delivery in deliveries:
                delivered.add(str(delivery.message_id))
                await delivery.ack()

    async def sample() -> None:
        while True:
            elapsed = time.monotonic() - started
            rss = memory_kib(gateway_pid)["VmRSS"]
            result.rss_kib.append((round(elapsed, 1), rss))
            if elapsed >= WARMUP_SECONDS and not result.rss_warm_kib:
                result.rss_warm_kib = rss
            await asyncio.sleep(SAMPLE_EVERY)

    load.measuring = True
    consumer = asyncio.ensure_future(consume())
    sampler = asyncio.ensure_future(sample())
    next_report = started + 60
    async with load.session() as session:
        n = 0
        while (now := time.monotonic()) < ends:
            due = started + n * interval
            if due > now:
                await asyncio.sleep(due - now)
            await slots.acquire()
            task = asyncio.ensure_future(one(session))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            n += 1
            if time.monotonic() >= next_report:
                next_report += 60
                minute = round((time.monotonic() - started) / 60)
                rss = result.rss_kib[-1][1] if result.rss_kib else 0
                print(
                    f"  minute {minute}: {len(accepted)} accepted, {load.result.errors} errors, "
                    f"answers {dict(load.statuses)}, gateway RSS {rss // 1024} MiB",
                    flush=True,
                )
        await asyncio.gather(*in_flight)
    result.achieved_rate = len(accepted) / (time.monotonic() - started)
    # Let the last deliveries arrive.
    for _ in range(100):
        if accepted <= delivered:
            break
        await asyncio.sleep(0.1)
    for task in (consumer, sampler):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    result.sent = n
    result.accepted = len(accepted)
    result.not_accepted = {str(k): v for k, v in load.statuses.items() if k >= 300}
    result.errors = load.result.errors
    result.first_problem = load.result.first_problem
    result.delivered = len(delivered & accepted)
    result.lost = len(accepted - delivered)
    result.rss_end_kib = memory_kib(gateway_pid)["VmRSS"]
    warm = result.rss_warm_kib or result.rss_kib[0][1]
    result.growth_percent = round(100 * (result.rss_end_kib - warm) / warm, 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=30.0, help="soak duration (default 30)")
    parser.add_argument(
        "--max-seconds", type=float, default=15.0, help="duration of the maximum-rate measurement"
    )
    parser.add_argument("--postgres", action="store_true", help="ledger on PostgreSQL")
    parser.add_argument("--out", type=Path, help="JSON result (default: bench/results/)")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="soak-"))
    harness = Harness(workdir, quick=False)
    try:
        with harness.opened():
            db_url = harness.postgres_url() if args.postgres else harness.sqlite_url()
            gateway, port = harness.gateway(db_url=db_url)
            print("measuring the maximum rate ...", flush=True)
            maximum = harness.load("max", harness.spec(port, seconds=args.max_seconds, count=10**6))
            harness.purge(f"inbox.gemeente.{MUNICIPALITY}")
            result = Soak(
                max_rate=round(maximum["rate"], 1),
                target_rate=round(maximum["rate"] / 2, 1),
                minutes=args.minutes,
                ledger="postgresql" if args.postgres else "sqlite",
            )
            print(f"soaking at {result.target_rate}/s for {args.minutes:g} minutes ...", flush=True)
            spec = replace(harness.spec(port), concurrency=max(8, int(result.target_rate)))
            asyncio.run(soak(spec, gateway.pid, result))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    summary = {
        **{k: v for k, v in asdict(result).items() if k != "rss_kib"},
        "rss_samples_kib": result.rss_kib,
        "met": result.met,
        "cpus": os.cpu_count(),
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "rss_samples_kib"}, indent=2))
    out = args.out or RESULTS / f"soak-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary))
    print(f"{'targets met' if result.met else 'TARGETS NOT MET'}; results: {out}")
    return 0 if result.met else 1


if __name__ == "__main__":
    raise SystemExit(main())
