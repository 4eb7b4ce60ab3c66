"""Playing one scenario from the command line, with the chain shown as it happens."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import tempfile
from collections.abc import Callable, Iterator, Mapping

from gateway.config import Settings
from gateway.deadlines.workdays import AMSTERDAM
from gateway.scenarios.catalog import Scenario
from gateway.scenarios.chain import Chain
from gateway.sla.store import ObligationStore

Printer = Callable[[str], None]


@contextlib.contextmanager
def own_ledger(settings: Settings, environ: Mapping[str, str]) -> Iterator[Settings]:
    """A ledger of the run's own unless ``GATEWAY_DB_URL`` names one: a scenario played again
    would otherwise find the last run's messages and obligations in its SLA summary."""
    if environ.get("GATEWAY_DB_URL"):
        yield settings
        return
    with tempfile.TemporaryDirectory(prefix="gateway-scenario-") as directory:
        yield settings.with_overrides(db_url=f"sqlite:///{directory}/ledger.db")


async def sla_summary(chain: Chain) -> list[str]:
    """The SLA state per participant owing, as the ops port's ``/sla/summary`` counts it.

    Retention runs first, at the same moment: otherwise what the summary counts would depend on
    whether the job had caught up with the chain's last steps (a met obligation goes with the
    two months once the rest of its assignment is met too).
    """
    now = chain.clock.now()
    if chain.gateway.retention is not None:
        await chain.gateway.retention.run_once(now)
    tallies = await ObligationStore(chain.gateway.ledger).tally(now)
    lines = [
        f"SLA at {now.astimezone(AMSTERDAM):%Y-%m-%d %H:%M}"
        "   owed  met on time  met late  open  late"
    ]
    totals: dict[str, list[int]] = {}
    for t in tallies:
        row = totals.setdefault(t.debtor, [0, 0, 0, 0, 0])
        for n, value in enumerate((t.total, t.met_on_time, t.met_late, t.open, t.late)):
            row[n] += value
    for debtor, (owed, on_time, met_late, open_, late) in sorted(totals.items()):
        lines.append(f"  {debtor:<25}{owed:>5}{on_time:>13}{met_late:>10}{open_:>6}{late:>6}")
    return lines


async def play(
    scenario: Scenario, settings: Settings, printer: Printer, *, keep_running: bool = False
) -> int:
    """Play ``scenario``; 0 when every check holds, 1 otherwise."""
    printer(f"scenario {scenario.name}: {scenario.title}")
    chain = await Chain.start(
        settings,
        municipalities=list(scenario.municipalities),
        providers=list(scenario.providers),
        start=scenario.start,
        prices=scenario.prices,
        printer=printer,
    )
    printer(
        f"gateway on https://localhost:{chain.gateway.port}, "
        f"ops on http://{settings.ops_host}:{chain.gateway.ops_port}; "
        f"virtual clock at {chain.clock.now().astimezone(AMSTERDAM):%Y-%m-%d %H:%M}"
    )
    try:
        try:
            checks = await scenario.play(chain)
        except TimeoutError as exc:
            printer(f"FAILED: the chain stopped: an expected message did not come ({exc})")
            return 1
        printer("")
        for check in checks:
            mark = "ok  " if check.ok else "FAIL"
            printer(f"{mark} {check.name}" + (f" ({check.detail})" if check.detail else ""))
        failed = [c for c in checks if not c.ok]
        printer("")
        for line in await sla_summary(chain):
            printer(line)
        printer(f"\n{len(checks) - len(failed)} of {len(checks)} checks hold")
        if keep_running:
            printer("running until Ctrl-C (the ops port shows /dashboard)")
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
        return 1 if failed else 0
    finally:
        await chain.stop()
