"""The ingress benchmark: baselines and the gateway measured side by side in one run.

    .venv/bin/python -m bench.run [--quick] [--only NAME,...] [--out FILE]

Each scenario starts what it measures (a bare aiohttp server, a ``gateway serve`` process, the
simulated municipality) and a load generator (``bench.load``) in processes of their own, on
127.0.0.1, in a throwaway RabbitMQ vhost and temporary ledgers (SQLite files, a PostgreSQL
database for two processes), all removed at the end. Every load stops at a count or a time,
whichever comes first. The result is a table of rates and latencies, the ratios the issue asks
for, and a JSON file under ``bench/results/``; the numbers only mean something side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

import aio_pika

from bench.load import LoadSpec
from bench.servers import MINIMAL_QUEUE
from gateway import pki
from gateway.participants import Registry

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PYTHON = sys.executable
MUNICIPALITY = "0363"  # the official 305 is addressed to Amsterdam
MUNICIPALITY_QUEUE = f"inbox.gemeente.{MUNICIPALITY}"
PROVIDER_QUEUE = "inbox.aanbieder.65656055"
PG_DSN = "postgresql://postgres@127.0.0.1:5432"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (the peak) of a process, in KiB."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


def children(pid: int) -> list[int]:
    """The processes ``pid`` started (its ledger writer), by /proc."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def reset_peak(pid: int) -> None:
    """Start VmHWM afresh from the current RSS (Linux: clear_refs 5)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def rabbitmqctl(*args: str) -> str:
    done = subprocess.run(
        ["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def psql(sql: str) -> None:
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-qc", sql],
        check=True,
        capture_output=True,
        timeout=60,
    )


@dataclass
class Process:
    """A child process of the benchmark, stopped with SIGTERM (then SIGKILL) at the end."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def _exit_on_signal(signum: int, _frame: object) -> NoReturn:
    raise SystemExit(128 + signum)


@dataclass
class Harness:
    """The run's temporary world: certificates, vhost, ledgers, child processes, results."""

    workdir: Path
    quick: bool
    vhost: str = field(default_factory=lambda: f"bench-{os.getpid()}-{secrets.token_hex(3)}")
    processes: list[Process] = field(default_factory=list)
    databases: list[str] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    _ledgers: int = 0
    _series: int = 0

    @property
    def certs(self) -> Path:
        return self.workdir / "certs"

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:5672/{quote(self.vhost, safe='')}"

    @contextlib.contextmanager
    def opened(self) -> Iterator[Harness]:
        # A run stopped with SIGTERM (kill, a timeout) still stops its servers and removes its
        # vhost and databases: the signal becomes SystemExit, which the finally below sees.
        previous = signal.signal(signal.SIGTERM, _exit_on_signal)
        pki.init(self.certs, Registry.load())
        rabbitmqctl("add_vhost", self.vhost)
        try:
            rabbitmqctl("set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*")
            yield self
        finally:
            for process in reversed(self.processes):
                process.stop()
            rabbitmqctl("delete_vhost", self.vhost)
            for database in self.databases:
                psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
            signal.signal(signal.SIGTERM, previous)

    # -- processes -----------------------------------------------------------------------------

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Process:
        log = self.workdir / f"{name}-{len(self.processes)}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [PYTHON, *argv],
                cwd=ROOT,
                env={**os.environ, **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        process = Process(name, popen, log)
        self.processes.append(process)
        return process

    def stop(self, process: Process) -> None:
        process.stop()
        self.processes.remove(process)

    def wait_for(self, process: Process, ready: Callable[[], bool], within: float = 60) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if process.popen.poll() is not None:
                raise RuntimeError(f"{process.name} exited:\n{process.tail()}")
            if ready():
                return
            time.sleep(0.1)
        raise RuntimeError(f"{process.name} not ready within {within:g} s:\n{process.tail()}")

    def sqlite_url(self) -> str:
        self._ledgers += 1
        return f"sqlite:///{self.workdir / f'ledger-{self._ledgers}.db'}"

    def postgres_url(self) -> str:
        database = f"bench_{os.getpid()}_{secrets.token_hex(3)}"
        psql(f"CREATE DATABASE {database}")
        self.databases.append(database)
        return f"{PG_DSN}/{database}"

    def gateway(
        self,
        *,
        db_url: str | None = None,
        port: int | None = None,
        uvloop: bool = False,
        extra: dict[str, str] | None = None,
    ) -> tuple[Process, int]:
        """``gateway serve`` in a child process; returns it and its mTLS port once ready."""
        port = port or free_port()
        ops_port = free_port()
        env = {
            "GATEWAY_AMQP_URL": self.amqp_url,
            "GATEWAY_DB_URL": db_url or self.sqlite_url(),
            "GATEWAY_CERTS": str(self.certs),
            "GATEWAY_PORT": str(port),
            "GATEWAY_OPS_PORT": str(ops_port),
            "GATEWAY_UVLOOP": "true" if uvloop else "false",
            **(extra or {}),
        }
        process = self.spawn("gateway", ["-m", "gateway", "serve"], env)

        def ready() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{ops_port}/readyz", timeout=2):
                    return True
            except (urllib.error.URLError, OSError):
                return False

        self.wait_for(process, ready)
        return process, port

    def bare(self, *, uvloop: bool = False, tickets: int | None = None) -> tuple[Process, int]:
        port = free_port()
        argv = ["-m", "bench.servers", "bare", str(self.certs), str(port)]
        argv += [] if tickets is None else [str(tickets)]
        process = self.spawn("bare", [*argv, "--uvloop"] if uvloop else argv)
        self.wait_for(process, lambda: "ready" in process.log.read_text())
        return process, port

    def minimal(self) -> tuple[Process, int]:
        """The issue's minimal pipeline (validate, publish with confirm, 202) on its own port."""
        port = free_port()
        argv = ["-m", "bench.servers", "minimal", str(self.certs), str(port), self.amqp_url]
        process = self.spawn("minimal", argv)
        self.wait_for(process, lambda: "ready" in process.log.read_text())
        return process, port

    def municipality(self, port: int, *, uvloop: bool = False) -> Process:
        argv = ["-m", "bench.servers", "municipality", f"https://localhost:{port}"]
        argv += [str(self.certs), self.amqp_url, MUNICIPALITY]
        if uvloop:
            argv.append("--uvloop")
        process = self.spawn("municipality", argv)
        self.wait_for(process, lambda: "ready" in process.log.read_text())
        return process

    # -- loads ---------------------------------------------------------------------------------

    def spec(self, port: int, **changes: Any) -> LoadSpec:
        self._series += 1
        count, seconds, warmup = (300, 5.0, 50) if self.quick else (6000, 15.0, 300)
        spec = LoadSpec(
            base_url=f"https://localhost:{port}",
            certs_dir=str(self.certs),
            count=count,
            seconds=seconds,
            warmup=warmup,
            series=self._series,
            amqp_url=self.amqp_url,
        )
        return replace(spec, **changes)

    def load(self, name: str, spec: LoadSpec) -> dict[str, Any]:
        """Run one load in its own process; record and return what it saw."""
        done = subprocess.run(
            [PYTHON, "-m", "bench.load", json.dumps(asdict(spec))],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=spec.seconds + 180,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"load {name} failed:\n{done.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        self.record(name, result)
        return result

    def loads_side_by_side(self, name: str, specs: list[LoadSpec]) -> dict[str, Any]:
        """Run loads at once, each in a process of its own; record what they saw together.

        The rate is the sum of their rates, answers and counts are added up, the latencies are
        the worst of the loads'.
        """
        running = [
            subprocess.Popen(
                [PYTHON, "-m", "bench.load", json.dumps(asdict(spec))],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for spec in specs
        ]
        parts: list[dict[str, Any]] = []
        for process, spec in zip(running, specs, strict=True):
            out, err = process.communicate(timeout=spec.seconds + 180)
            if process.returncode != 0:
                raise RuntimeError(f"load {name} failed:\n{err[-3000:]}")
            parts.append(json.loads(out.strip().splitlines()[-1]))
        statuses: dict[str, int] = {}
        for part in parts:
            for status, count in part["statuses"].items():
                statuses[status] = statuses.get(status, 0) + count
        result = {
            "rate": sum(part["rate"] for part in parts),
            "ok": sum(part["ok"] for part in parts),
            "errors": sum(part["errors"] for part in parts),
            "statuses": statuses,
            "p50_ms": max(part["p50_ms"] for part in parts),
            "p99_ms": max(part["p99_ms"] for part in parts),
            "parts": parts,
        }
        self.record(name, result)
        return result

    def record(self, name: str, result: dict[str, Any]) -> None:
        self.results[name] = result
        print(f"  {name}: {_summary(result)}", flush=True)

    def drain(self, queue: str) -> tuple[int, int]:
        """Take everything off ``queue``: how many messages, and how many distinct message ids.

        Counted by consuming, not from the queue's statistics, which lag by seconds.
        """

        async def take_all() -> tuple[int, int]:
            connection = await aio_pika.connect(self.amqp_url)
            async with connection:
                channel = await connection.channel()
                source = await channel.get_queue(queue, ensure=True)
                total, ids = 0, set()
                while (message := await source.get(no_ack=True, fail=False)) is not None:
                    total += 1
                    ids.add(message.message_id)
            return total, len(ids)

        return asyncio.run(take_all())

    def purge(self, queue: str) -> None:
        with contextlib.suppress(RuntimeError):  # not declared yet: nothing to purge
            rabbitmqctl("purge_queue", "-p", self.vhost, queue)


def _summary(result: dict[str, Any]) -> str:
    if "rate" not in result:
        return json.dumps(result)
    text = f"{result['rate']:.0f}/s"
    if result.get("p50_ms"):
        text += f", p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms"
    if "ratio_to_bare" in result:
        text += f", {result['ratio_to_bare']:.0%} of bare"
    if "ratio_to_minimal" in result:
        text += f", {result['ratio_to_minimal']:.0%} of the minimal pipeline"
    if result.get("statuses"):
        text += f", answers {result['statuses']}"
    if result.get("errors"):
        text += f", {result['errors']} errors"
    if result.get("first_problem"):
        text += f", first problem: {result['first_problem'][:200]}"
    return text


# -- scenarios ---------------------------------------------------------------------------------


def publishing(h: Harness) -> None:
    """1. aio-pika: persistent, confirmed publishing to a quorum queue, many in flight."""
    count = "2000" if h.quick else "20000"
    done = subprocess.run(
        [PYTHON, "-m", "bench.servers", "publish", h.amqp_url, count],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    publish = json.loads(done.stdout.strip().splitlines()[-1])
    h.record("aio-pika confirmed publishing", {**publish, "rate": publish["rate_many"]})


def upload(h: Harness) -> None:
    """1-3, 7: the bare mTLS handler and the gateway (3 KB 305, push API), asyncio and uvloop,
    the gateway as two worker processes (GATEWAY_WORKERS=2, asyncio), and the minimal pipeline
    (validate, publish with confirm, 202: the floor for any server that validates and routes).

    All five servers run at once and the loads take turns, round after round, so that what else
    the machine is doing hits them alike; each ratio is taken within a round, and the median of
    the rounds is reported.
    """
    servers: dict[str, int] = {}
    for use_uvloop in (False, True):
        suffix = "+uvloop" if use_uvloop else ""
        servers[f"bare{suffix}"] = h.bare(uvloop=use_uvloop)[1]
        servers[f"gateway{suffix}"] = h.gateway(uvloop=use_uvloop)[1]
    # Ready only once both workers serve the port (its /readyz says so).
    servers["gateway x2"] = h.gateway(extra={"GATEWAY_WORKERS": "2"})[1]
    servers["minimal pipeline"] = h.minimal()[1]
    rounds = 1 if h.quick else 3
    for number in range(1, rounds + 1):
        for connections, new in (("kept-alive", False), ("new connections", True)):
            for server, port in servers.items():
                spec = h.spec(port, new_connections=new, uvloop="uvloop" in server)
                h.load(f"{server} {connections} #{number}", spec)
        h.purge(MUNICIPALITY_QUEUE)
        h.purge(MINIMAL_QUEUE)
    for server in servers:
        for connections in ("kept-alive", "new connections"):
            runs = [h.results[f"{server} {connections} #{n}"] for n in range(1, rounds + 1)]
            h.results[f"{server} {connections}"] = {
                "rate": statistics.median(r["rate"] for r in runs),
                "p50_ms": statistics.median(r["p50_ms"] for r in runs),
                "p99_ms": statistics.median(r["p99_ms"] for r in runs),
                "rounds": rounds,
            }
    for gateway, bare in (
        ("gateway", "bare"),
        ("gateway+uvloop", "bare+uvloop"),
        ("gateway x2", "bare"),
        ("minimal pipeline", "bare"),
    ):
        for connections in ("kept-alive", "new connections"):
            h.results[f"{gateway} {connections}"]["ratio_to_bare"] = _ratio(
                h, f"{gateway} {connections}", f"{bare} {connections}", rounds
            )
    for connections in ("kept-alive", "new connections"):
        h.results[f"gateway {connections}"]["ratio_to_minimal"] = _ratio(
            h, f"gateway {connections}", f"minimal pipeline {connections}", rounds
        )
    for server in servers:
        for connections in ("kept-alive", "new connections"):
            name = f"{server} {connections}"
            print(f"  median of {rounds}: {name}: {_summary(h.results[name])}", flush=True)


def _ratio(h: Harness, load: str, baseline: str, rounds: int) -> float:
    """The median over the rounds of ``load``'s rate to ``baseline``'s in the same round."""
    ratios: list[float] = [
        h.results[f"{load} #{n}"]["rate"] / h.results[f"{baseline} #{n}"]["rate"]
        for n in range(1, rounds + 1)
    ]
    return statistics.median(ratios)


def large(h: Harness) -> None:
    """4. Larger messages: 19 KB and 1,000 lines reported; 25 MB accepted, its peak memory."""
    gateway, port = h.gateway(uvloop=True)
    few = 200 if h.quick else 2000
    h.load(
        "gateway 19 KB 323",
        h.spec(port, message="323:size=19456", count=few, concurrency=16, uvloop=True),
    )
    h.load(
        "gateway 1,000-line 323",
        h.spec(port, message="323:lines=1000", count=few // 10, concurrency=4, uvloop=True),
    )
    size = 25 * 1024 * 1024 - 8 * 1024  # the payload at the limit, less room for the metadata
    # The gateway's own peak is the target; its ledger writer process is reported beside it.
    writer = children(gateway.pid)
    before = {pid: memory_kib(pid) for pid in (gateway.pid, *writer)}
    for pid in before:
        reset_peak(pid)
    result = h.load(
        "gateway 25 MB 323",
        h.spec(port, message=f"323:size={size}", count=1, warmup=0, concurrency=1, uvloop=True),
    )
    peaks = {pid: (memory_kib(pid)["VmHWM"] - kib["VmRSS"]) * 1024 for pid, kib in before.items()}
    peak = peaks[gateway.pid]
    result["peak_bytes_over_rss_before"] = peak
    result["peak_over_size"] = peak / result["message_bytes"]
    result["writer_process_peak_over_size"] = [
        peaks[pid] / result["message_bytes"] for pid in writer
    ]
    h.record("gateway 25 MB 323 memory", result)
    h.stop(gateway)
    h.purge("inbox.gemeente.0384")
    h.purge(MUNICIPALITY_QUEUE)


def roundtrip(h: Harness) -> None:
    """5. 305 to 306-in-the-provider's-inbox, the simulated municipality answering at once."""
    gateway, port = h.gateway(uvloop=True)
    h.purge(MUNICIPALITY_QUEUE)
    h.purge(PROVIDER_QUEUE)
    municipality = h.municipality(port, uvloop=True)
    h.load(
        "round trip 305 -> 306",
        h.spec(port, shape="roundtrip", concurrency=64, uvloop=True),
    )
    h.stop(municipality)
    h.stop(gateway)
    h.purge(MUNICIPALITY_QUEUE)
    h.purge(PROVIDER_QUEUE)


def two_processes(h: Harness) -> None:
    """6. Two gateway processes on one PostgreSQL ledger and one broker, each on a port of its own
    (as behind a load balancer), loaded side by side."""
    db_url = h.postgres_url()
    one, port = h.gateway(db_url=db_url, uvloop=True)
    h.purge(MUNICIPALITY_QUEUE)
    single = h.load("one gateway on PostgreSQL", h.spec(port, uvloop=True))
    two, other_port = h.gateway(db_url=db_url, uvloop=True)
    h.purge(MUNICIPALITY_QUEUE)
    # Half the clients on each (each spec a series of its own: their Identificaties differ).
    halves = [h.spec(p, uvloop=True, warmup=0, concurrency=25) for p in (port, other_port)]
    both = h.loads_side_by_side("two gateways on PostgreSQL", halves)
    # Correct side by side: every accepted upload is in the inbox exactly once ...
    delivered, distinct = h.drain(MUNICIPALITY_QUEUE)
    accepted = both["ok"]
    # ... and one BerichtIdentificatie sent to both at once is accepted exactly once (TR056).
    series = h.spec(port).series  # one series for both: the same Identificatie at both
    same = h.loads_side_by_side(
        "two gateways, one Identificatie 50 times at once",
        [
            h.spec(
                p,
                count=25,
                warmup=0,
                concurrency=25,
                new_connections=True,
                same=True,
                series=series,
                first=first,  # the two loads' bytes differ: a 409, not a replay of the first
            )
            for p, first in ((port, 0), (other_port, 1000))
        ],
    )
    h.record(
        "two gateways correct",
        {
            "accepted": accepted,
            "in inbox": delivered,
            "distinct in inbox": distinct,
            "single rate": single["rate"],
            "combined rate": both["rate"],
            "duplicates answers": same["statuses"],
            "correct": delivered == distinct == accepted
            and same["statuses"].get("204") == 1
            and same["statuses"].get("409") == 49,
        },
    )
    h.stop(two)
    h.stop(one)


def ledger(h: Harness) -> None:
    """7. The ledger alone: statement costs per driver, admissions per engine setup."""
    count = "200" if h.quick else "600"
    done = subprocess.run(
        [PYTHON, "-m", "bench.ledger", "--postgres", "--count", count],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    for line in done.stdout.strip().splitlines():
        result = json.loads(line)
        if "setup" in result:
            h.record(f"ledger {result['setup']}", result)
        else:
            h.record(f"one {result['statement']} via {result['driver']}", result)


SCENARIOS: dict[str, Callable[[Harness], None]] = {
    "publishing": publishing,
    "upload": upload,
    "large": large,
    "roundtrip": roundtrip,
    "two": two_processes,
    "ledger": ledger,
}


def verdicts(results: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """The issue's targets, as (what, measured, met) for those measured in this run."""
    found: list[tuple[str, str, bool]] = []

    for suffix in ("", "+uvloop"):
        kept = results.get(f"gateway{suffix} kept-alive", {})
        if "ratio_to_bare" in kept:
            ratio, p99 = kept["ratio_to_bare"], kept["p99_ms"]
            found.append(
                (
                    f"upload kept-alive{suffix}: >= 35% of bare, p99 < 100 ms",
                    f"{ratio:.0%} of bare, p99 {p99:.0f} ms",
                    ratio >= 0.35 and p99 < 100,
                )
            )
        new = results.get(f"gateway{suffix} new connections", {})
        if "ratio_to_bare" in new:
            found.append(
                (
                    f"upload new connections{suffix}: >= 85% of bare",
                    f"{new['ratio_to_bare']:.0%} of bare",
                    new["ratio_to_bare"] >= 0.85,
                )
            )
    memory = results.get("gateway 25 MB 323 memory")
    if memory:
        accepted = memory["ok"] == 1
        # The gateway's ledger writer process holds the message too: its peak counts with it.
        writer = sum(memory.get("writer_process_peak_over_size", []))
        total = memory["peak_over_size"] + writer
        found.append(
            (
                "25 MB accepted, peak memory < 4x its size",
                f"accepted {accepted}, {total:.1f}x "
                f"(gateway {memory['peak_over_size']:.1f}x, its ledger writer {writer:.1f}x)",
                accepted and total < 4,
            )
        )
    trip = results.get("round trip 305 -> 306")
    if trip:
        found.append(
            (
                "round trip >= 800/s",
                f"{trip['rate']:.0f}/s, p50 {trip['p50_ms']:.0f} ms, p99 {trip['p99_ms']:.0f} ms",
                trip["rate"] >= 800,
            )
        )
    two = results.get("two gateways correct")
    if two:
        found.append(
            (
                "two gateway processes correct side by side",
                f"combined {two['combined rate']:.0f}/s (one: {two['single rate']:.0f}/s)",
                bool(two["correct"]),
            )
        )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few hundred requests each")
    parser.add_argument(
        "--only", help=f"comma-separated scenarios, of {', '.join(SCENARIOS)} (default: all)"
    )
    parser.add_argument("--out", type=Path, help="JSON results (default: bench/results/)")
    args = parser.parse_args(argv)
    chosen = args.only.split(",") if args.only else list(SCENARIOS)
    unknown = [name for name in chosen if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    harness = Harness(workdir, args.quick)
    failed = 0
    try:
        with harness.opened():
            for name in chosen:
                print(f"{name}: {SCENARIOS[name].__doc__}", flush=True)
                try:
                    SCENARIOS[name](harness)
                except (RuntimeError, OSError, subprocess.SubprocessError, ValueError) as exc:
                    # One scenario failing must not lose the others' numbers.
                    failed += 1
                    stderr = getattr(exc, "stderr", None) or ""
                    harness.results[f"{name} failed"] = {"error": f"{exc!r} {stderr[-2000:]}"}
                    print(f"  {name} FAILED: {exc!r}\n{stderr[-2000:]}", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("\ntargets:")
    for what, measured, met in verdicts(harness.results):
        print(f"  [{'met' if met else 'NOT met'}] {what}: {measured}")
    out = args.out or RESULTS / f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"quick": args.quick, "cpus": os.cpu_count(), "results": harness.results})
    )
    print(f"\nresults: {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
