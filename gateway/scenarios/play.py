"""Playing one scenario from the command line, with the chain shown as it happens."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

from gateway.config import Settings
from gateway.deadlines.workdays import AMSTERDAM
from gateway.scenarios.catalog import Scenario
from gateway.scenarios.chain import Chain

Printer = Callable[[str], None]


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
        except TimeoutError:
            printer("FAILED: the chain stopped: an expected message did not come")
            return 1
        printer("")
        for check in checks:
            mark = "ok  " if check.ok else "FAIL"
            printer(f"{mark} {check.name}" + (f" ({check.detail})" if check.detail else ""))
        failed = [c for c in checks if not c.ok]
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
