"""``gateway demo``: the whole chain once - gateway, simulated municipality and provider."""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from gateway import config
from gateway.scenarios.catalog import SCENARIOS
from gateway.scenarios.play import own_ledger, play


def register(subcommands: Any) -> None:
    parser: argparse.ArgumentParser = subcommands.add_parser(
        "demo",
        help="play the viv-new chain on the embedded defaults and show it",
        description="Start the gateway in simulation mode with a simulated municipality "
        "(Zoetermeer, contract 2020) and provider, play seed scenario 1 (viv-new) on the "
        "virtual clock, and show the chain. Uses GATEWAY_AMQP_URL; the ledger is the run's own "
        "(a new SQLite file) unless GATEWAY_DB_URL names one.",
    )
    parser.add_argument("--keep-running", action="store_true", help="stay up after the chain")
    parser.add_argument("--port", type=int, help="participants' port (default 8443)")
    parser.add_argument("--ops-port", type=int, help="ops port (default 8080)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = config.load().with_overrides(simulate=True, port=args.port, ops_port=args.ops_port)
    with own_ledger(settings, os.environ) as settings:
        return asyncio.run(
            play(SCENARIOS["viv-new"], settings, print, keep_running=args.keep_running)
        )
