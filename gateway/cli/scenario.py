"""``gateway scenario list|run NAME``: the scenarios, played end to end on the virtual clock."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from gateway import config
from gateway.scenarios.catalog import SCENARIOS
from gateway.scenarios.play import own_ledger, play


def register(subcommands: Any) -> None:
    parser: argparse.ArgumentParser = subcommands.add_parser(
        "scenario", help="list or run the chain scenarios"
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="name the scenarios").set_defaults(func=list_scenarios)
    run_parser = actions.add_parser("run", help="play one scenario; exit 0 when its checks hold")
    run_parser.add_argument("name", help="the scenario, as `gateway scenario list` names it")
    run_parser.add_argument(
        "--port", type=int, default=0, help="participants' port (default: free)"
    )
    run_parser.add_argument("--ops-port", type=int, default=0, help="ops port (default: free)")
    run_parser.set_defaults(func=run_scenario)


def list_scenarios(_args: argparse.Namespace) -> int:
    width = max(len(name) for name in SCENARIOS)
    for scenario in SCENARIOS.values():
        print(f"{scenario.name:<{width}}  {scenario.title}")
    return 0


def run_scenario(args: argparse.Namespace) -> int:
    scenario = SCENARIOS.get(args.name)
    if scenario is None:
        known = ", ".join(SCENARIOS)
        print(f"gateway scenario: unknown scenario {args.name!r}; known: {known}", file=sys.stderr)
        return 2
    settings = config.load().with_overrides(simulate=True, port=args.port, ops_port=args.ops_port)
    with own_ledger(settings, os.environ) as settings:
        return asyncio.run(play(scenario, settings, print))
