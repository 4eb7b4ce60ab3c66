"""``gateway deadline MESSAGE --received DATE``: what a message makes somebody owe, by when.

MESSAGE is a message type (``WMO301``, ``JW305``) or an event without a message:
``care-started`` (with ``--on`` the start day and ``--product`` the product code) or
``period-ended`` (with ``--on`` a day in the period).
"""

from __future__ import annotations

import argparse
import json
import os
from datetime import date, datetime, time
from typing import Any

from gateway.deadlines.profiles import DEFAULT_PROFILE, PROFILE_NAMES, profile_from_env
from gateway.deadlines.rules import Due, Event, Facts
from gateway.deadlines.workdays import AMSTERDAM
from gateway.errors import CalendarError
from gateway.standard.message_types import MessageType, Standard

EVENTS = (Event.CARE_STARTED.value, Event.PERIOD_ENDED.value)


def register(subcommands: argparse._SubParsersAction[Any]) -> None:
    parser = subcommands.add_parser(
        "deadline",
        help="the obligations a message (or event) opens, with their due dates",
        description=(
            "Print each obligation that receiving MESSAGE opens: what is owed, by whom, to whom, "
            "the last day it is in time (ISO date, Europe/Amsterdam) and the rule."
        ),
    )
    parser.add_argument(
        "trigger",
        metavar="MESSAGE",
        help=f"a message type (WMO301, JW305, ...) or an event ({', '.join(EVENTS)})",
    )
    parser.add_argument(
        "--received",
        "--on",
        dest="received",
        required=True,
        metavar="DATE",
        help="the day (or ISO moment) the message was received; for an event, its day",
    )
    parser.add_argument(
        "--profile",
        choices=PROFILE_NAMES,
        default=None,
        help=f"deadline profile (default: GATEWAY_DEADLINE_PROFILE or {DEFAULT_PROFILE})",
    )
    parser.add_argument("--start", metavar="DATE", help="the start date the message carries")
    parser.add_argument("--end", metavar="DATE", help="the end date the message carries")
    parser.add_argument(
        "--product",
        action="append",
        default=[],
        metavar="CODE",
        help="a product code (requested in a 315, or whose care started); repeat for more",
    )
    parser.add_argument("--ijw", action="store_true", help="for an event: the iJw messages")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def _date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CalendarError(f"{option} {text!r}: expected an ISO date like 2020-04-24") from None


def _moment(text: str) -> datetime:
    """An ISO moment, or a date read as noon in Europe/Amsterdam."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CalendarError(f"--received {text!r}: expected an ISO date or moment") from None
    if len(text) <= len("2020-04-24"):
        return datetime.combine(moment.date(), time(12), tzinfo=AMSTERDAM)
    return moment if moment.tzinfo else moment.replace(tzinfo=AMSTERDAM)


def run(args: argparse.Namespace) -> int:
    profile = profile_from_env(os.environ, args.profile)
    dates = {
        name: _date(value, f"--{name}")
        for name, value in (("start", args.start), ("end", args.end))
        if value is not None
    }
    facts = Facts(dates=dates, products=tuple(args.product))
    if args.trigger in EVENTS:
        standard = Standard.IJW if args.ijw else Standard.IWMO
        on = _moment(args.received).astimezone(AMSTERDAM).date()
        opened = profile.obligations_on(Event(args.trigger), on, facts, standard)
    else:
        try:
            message_type = MessageType.parse(args.trigger)
        except ValueError as exc:
            raise CalendarError(f"{exc}; or an event: {', '.join(EVENTS)}") from None
        opened = profile.obligations_opened(message_type, _moment(args.received), facts)
    if args.json:
        print(json.dumps([_as_json(due) for due in opened], indent=2))
        return 0
    if not opened:
        print(f"{args.trigger} opens no obligation under {profile.name}")
        return 0
    print(f"{'owed':<18} {'by':<10} {'to':<10} {'due':<10}  rule")
    for due in opened:
        owed = " or ".join(str(m) for m in (due.owed, *due.alternatives))
        product = f" (product {due.product})" if due.product else ""
        print(f"{owed:<18} {due.by:<10} {due.to:<10} {due.day}  {due.rule}{product}")
    return 0


def _as_json(due: Due) -> dict[str, object]:
    return {
        "owed": str(due.owed),
        "alternatives": [str(m) for m in due.alternatives],
        "by": str(due.by),
        "to": str(due.to),
        "due_day": due.day.isoformat(),
        "due": due.due.isoformat(),
        "rule": due.rule,
        "product": due.product,
    }
