"""``gateway calendar YEAR``: the year's 4-week periods and their invoicing dates."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from gateway.deadlines.periods import PeriodCalendar


def register(subcommands: argparse._SubParsersAction[Any]) -> None:
    parser = subcommands.add_parser(
        "calendar",
        help="the 4-week periods of a year and their invoicing dates",
        description=(
            "Print, per 4-week period of YEAR, its number, first day, last day and invoicing "
            "date (ISO dates). GATEWAY_PERIOD_TABLE names a CSV that overrides whole years."
        ),
    )
    parser.add_argument("year", type=int, metavar="YEAR")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    periods = PeriodCalendar.from_env(os.environ).year(args.year)
    if args.json:
        rows = [
            {
                "period": p.number,
                "first": p.first.isoformat(),
                "last": p.last.isoformat(),
                "invoicing": p.invoicing.isoformat(),
            }
            for p in periods
        ]
        print(json.dumps({"year": args.year, "periods": rows}, indent=2))
        return 0
    print(f"{'period':>6}  {'first':<10}  {'last':<10}  invoicing")
    for p in periods:
        print(f"{p.number:>6}  {p.first}  {p.last}  {p.invoicing}")
    return 0
