"""Where the machine's CPU goes while one gateway is loaded: per process, per thread, and idle.

    .venv/bin/python -m bench.cpu_split [--seconds 20] [--new-connections] [--uvloop]
                                        [--writer process|thread] [--bare] [--concurrency 50]
                                        [--roundtrip]

One ``gateway serve`` (or the bare mTLS handler with ``--bare``) in a throwaway vhost with an
SQLite ledger, loaded by ``bench.load`` in a process of its own with the 3 KB 305. After a
warm-up, the CPU time of each process (from ``/proc/<pid>/stat``) is read at the start and the
end of a window: the gateway, each of its threads, its ledger writer process, the load
generator, RabbitMQ; and the machine's idle time from ``/proc/stat``. In cores: 1.00 is one
core busy all the window. This tells which process is the limit: a rate set by a process at
1.00 (the load generator for the bare handler) is that process's, not the server's.

With ``--roundtrip`` the load is ``bench.run``'s round trip instead: the simulated municipality
runs in a process of its own (measured beside the others; on uvloop too with ``--uvloop``, as in
``bench.run``) and answers every 305 with a 306, and the load counts a round trip when that 306
is in the provider's inbox.

Beside each process's CPU, the time its threads were ready to run but waited for a core
(``/proc/<pid>/task/*/schedstat``, the run queue): on a full machine a process at 0.70 cores
that waited 0.30 was held back by the others, not by what it waits on.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from bench.run import MUNICIPALITY_QUEUE, PROVIDER_QUEUE, PYTHON, ROOT, Harness, children


def cpu_seconds(path: str) -> tuple[float, float]:
    """User+system and user CPU seconds of ``/proc/<path>/stat`` (a process or a thread)."""
    fields = Path(f"/proc/{path}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, int(fields[11]) / tick


def waited_seconds(path: str) -> float:
    """Seconds the threads of a process (or one thread) waited on a run queue for a core."""
    if "/task/" in path:
        files = [Path(f"/proc/{path}/schedstat")]
    else:
        files = list(Path(f"/proc/{path}/task").glob("*/schedstat"))
    waited = 0
    for file in files:
        try:
            waited += int(file.read_text().split()[1])
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that ended
    return waited / 1e9


def idle_seconds() -> tuple[int, int]:
    """Idle and total jiffies of the whole machine."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return values[3], sum(values)


def rabbitmq_pid() -> int | None:
    found = subprocess.run(["pgrep", "-f", "beam.smp"], capture_output=True, text=True).stdout
    return int(found.split()[0]) if found.strip() else None


def sample(pids: dict[str, str]) -> dict[str, tuple[float, float, float]]:
    """Per name: CPU seconds, user CPU seconds, seconds waited for a core."""
    taken = {}
    for name, path in pids.items():
        try:
            taken[name] = (*cpu_seconds(path), waited_seconds(path))
        except (FileNotFoundError, ProcessLookupError):
            continue
    return taken


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cpu_split", description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0, help="the measured window")
    parser.add_argument("--new-connections", action="store_true")
    parser.add_argument("--uvloop", action="store_true")
    parser.add_argument("--writer", choices=["process", "thread"], default="process")
    parser.add_argument("--bare", action="store_true", help="the bare mTLS handler instead")
    parser.add_argument("--concurrency", type=int, default=None, help="50; 64 for --roundtrip")
    parser.add_argument(
        "--roundtrip", action="store_true", help="305 -> 306 with the simulated municipality"
    )
    args = parser.parse_args()
    if args.roundtrip and args.bare:
        parser.error("--roundtrip needs the gateway, not --bare")
    concurrency = args.concurrency or (64 if args.roundtrip else 50)
    with tempfile.TemporaryDirectory(prefix="bench-cpu-") as directory:
        harness = Harness(Path(directory), quick=False)
        with harness.opened():
            if args.bare:
                server, port = harness.bare(uvloop=args.uvloop)
            else:
                server, port = harness.gateway(
                    uvloop=args.uvloop, extra={"GATEWAY_LEDGER_WRITER": args.writer}
                )
            municipality = None
            if args.roundtrip:
                harness.purge(MUNICIPALITY_QUEUE)
                harness.purge(PROVIDER_QUEUE)
                municipality = harness.municipality(port, uvloop=args.uvloop)
            warmup = 4.0
            spec = harness.spec(
                port,
                shape="roundtrip" if args.roundtrip else "push",
                new_connections=args.new_connections,
                uvloop=args.uvloop,
                count=10**7,
                seconds=args.seconds + warmup + 2,
                warmup=0,
                concurrency=concurrency,
            )
            load = subprocess.Popen(
                [PYTHON, "-m", "bench.load", json.dumps(asdict(spec))],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            time.sleep(warmup)
            pids = {"server": str(server.pid), "load generator": str(load.pid)}
            if municipality is not None:
                pids["simulated municipality"] = str(municipality.pid)
            for child in children(server.pid):
                pids[f"server's child {child} (ledger writer)"] = str(child)
            beam = rabbitmq_pid()
            if beam is not None:
                pids["RabbitMQ"] = str(beam)
            for task in sorted(Path(f"/proc/{server.pid}/task").iterdir()):
                name = (task / "comm").read_text().strip()
                pids[f"  server thread {task.name} ({name})"] = f"{server.pid}/task/{task.name}"
            before, idle_before, started = sample(pids), idle_seconds(), time.monotonic()
            time.sleep(args.seconds)
            after, idle_after, window = sample(pids), idle_seconds(), time.monotonic() - started
            out, _ = load.communicate(timeout=args.seconds + 120)
            result = json.loads(out.strip().splitlines()[-1])
    what = "round trip" if args.roundtrip else "bare handler" if args.bare else "gateway"
    print(
        f"{what}: {result['rate']:.0f}/s, "
        f"p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
        f"answers {result['statuses']} (the load's whole run)"
    )
    for name in pids:
        if name in before and name in after:
            total = (after[name][0] - before[name][0]) / window
            user = (after[name][1] - before[name][1]) / window
            waited = (after[name][2] - before[name][2]) / window
            if total >= 0.01 or not name.startswith(" "):  # threads only when they did work
                print(
                    f"{name}: {total:.2f} cores (user {user:.2f}), waited for a core {waited:.2f}"
                )
    cores = os.cpu_count() or 1
    idle = (idle_after[0] - idle_before[0]) / (idle_after[1] - idle_before[1])
    print(f"machine idle: {idle * cores:.2f} of {cores} cores")


if __name__ == "__main__":
    main()
