"""``gateway handlers``: run simulated municipalities and providers against a running gateway."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from gateway import config
from gateway.handlers.runner import Event, describe
from gateway.handlers.service import SIMULATED_ENV, parse_simulated, run_handlers
from gateway.participants import Participant, Registry
from gateway.routing import consumer_counts


def register(subcommands: Any) -> None:
    parser: argparse.ArgumentParser = subcommands.add_parser(
        "handlers",
        help="run simulated municipalities and providers",
        description="Consume the queues of the simulated participants and answer through the "
        "gateway with their own certificates. Who is simulated comes from GATEWAY_SIMULATED "
        "(e.g. gemeente-0637:zoetermeer-2020,aanbieder-12345678:autopilot); the rest from the "
        "environment `gateway serve` reads. A gateway in simulation mode lends its virtual "
        "clock and its answer policies (/admin/policies); otherwise the real clock and "
        "GATEWAY_POLICIES count.",
    )
    parser.add_argument(
        "--simulate",
        metavar="LIST",
        help=f"who to simulate, as {SIMULATED_ENV} (which it overrides)",
    )
    parser.add_argument("--certs", type=Path, help="directory of the participants' certificates")
    parser.add_argument("--port", type=int, help="the gateway's participants' port (default 8443)")
    parser.add_argument("--ops-port", type=int, help="the gateway's ops port (default 8080)")
    parser.add_argument("--quiet", action="store_true", help="do not show each message")
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not run: exit 0 if the inbox of every simulated participant has a consumer "
        "(the handlers are up and consuming), 1 if not; for a container healthcheck",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = config.load().with_overrides(
        certs_dir=args.certs, port=args.port, ops_port=args.ops_port
    )
    registry = Registry.load(settings.registry)
    simulated = parse_simulated(
        args.simulate if args.simulate is not None else settings.extra.get(SIMULATED_ENV, ""),
        registry,
        "--simulate" if args.simulate is not None else SIMULATED_ENV,
    )
    if args.check:
        return check([s.participant for s in simulated], settings.amqp_url)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    def show(event: Event) -> None:
        if not args.quiet:
            print(describe(event), flush=True)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_handlers(settings, simulated, stop, listeners=[show])

    asyncio.run(main())
    return 0


def check(participants: list[Participant], amqp_url: str) -> int:
    """0 when every participant's inbox has a consumer; 1, naming those without, when not."""
    counts = asyncio.run(consumer_counts(amqp_url, participants))
    idle = [p.queue for p in participants if counts[p] == 0]
    if idle:
        print(f"gateway handlers: nobody consumes {', '.join(idle)}", file=sys.stderr)
        return 1
    print(", ".join(f"{p.queue}: {counts[p]} consumer(s)" for p in participants))
    return 0
