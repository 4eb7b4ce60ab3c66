"""``gateway clock show|set|advance``: read or move the gateway's clock over the ops API.

Setting and advancing work in simulation mode only (the gateway refuses with 409 otherwise).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import date, datetime
from typing import Any

import aiohttp

from gateway.clock import parse_duration
from gateway.deadlines.workdays import AMSTERDAM
from gateway.errors import ClockError

DEFAULT_OPS_URL = "http://127.0.0.1:8080"


def register(subcommands: argparse._SubParsersAction[Any]) -> None:
    parser = subcommands.add_parser(
        "clock",
        help="show, set or advance the gateway's clock (simulation mode)",
        description="Show the gateway's clock, or set and advance its virtual clock.",
    )
    parser.add_argument(
        "--ops-url",
        default=DEFAULT_OPS_URL,
        metavar="URL",
        help=f"the gateway's operators' address (default: {DEFAULT_OPS_URL})",
    )
    # --ops-url also after the action (``gateway clock show --ops-url URL``); unset there, the
    # value given before it (or the default) stands.
    after = argparse.ArgumentParser(add_help=False)
    after.add_argument(
        "--ops-url",
        default=argparse.SUPPRESS,
        metavar="URL",
        help=f"the gateway's operators' address (default: {DEFAULT_OPS_URL})",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("show", parents=[after], help="print the clock's moment and day")
    set_ = actions.add_parser("set", parents=[after], help="set the virtual clock")
    set_.add_argument(
        "moment",
        metavar="MOMENT",
        help="an ISO moment (2020-04-24T09:00+02:00) or date; without zone: Europe/Amsterdam",
    )
    advance = actions.add_parser("advance", parents=[after], help="advance the virtual clock")
    advance.add_argument(
        "duration",
        nargs="?",
        metavar="DURATION",
        help="how far: ISO 8601 (PT2H, P3D) or short (2h30m, 3d)",
    )
    advance.add_argument(
        "--working-days",
        type=int,
        metavar="N",
        help="advance to the same time of day N working days later",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    url = args.ops_url.rstrip("/") + "/admin/clock"
    if args.action == "show":
        request: tuple[str, str, dict[str, object] | None] = ("GET", url, None)
    elif args.action == "set":
        request = ("PUT", url, {"now": _moment(args.moment).isoformat()})
    else:
        if (args.duration is None) == (args.working_days is None):
            raise ClockError("clock advance: give either DURATION or --working-days N")
        if args.working_days is not None:
            body: dict[str, object] = {"working_days": args.working_days}
        else:
            parse_duration(args.duration)  # refuse a bad duration before asking the server
            body = {"duration": args.duration}
        request = ("POST", url + "/advance", body)
    status, answer = asyncio.run(_call(*request))
    if status >= 400:
        title, detail = answer.get("title", status), answer.get("detail", "")
        print(f"gateway clock: {title}: {detail}", file=sys.stderr)
        return 1
    kind = "virtual" if answer.get("virtual") else "real"
    working = "working day" if answer.get("working_day") else "not a working day"
    print(f"{answer['local']} ({kind}; {answer['weekday']}, {working})")
    return 0


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ClockError(f"moment {text!r}: expected an ISO date or moment") from None
    if len(text) <= len("2020-04-24"):
        moment = datetime.combine(date.fromisoformat(text), datetime.min.time())
    return moment if moment.tzinfo else moment.replace(tzinfo=AMSTERDAM)


async def _call(method: str, url: str, body: dict[str, object] | None) -> tuple[int, Any]:
    timeout = aiohttp.ClientTimeout(total=30)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.request(method, url, json=body) as response,
        ):
            text = await response.text()
            try:
                return response.status, json.loads(text)
            except json.JSONDecodeError:
                raise ClockError(f"{url} answered {response.status} without JSON") from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ClockError(f"cannot reach the ops API at {url}: {exc}") from None
