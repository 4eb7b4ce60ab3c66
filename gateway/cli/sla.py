"""``gateway sla``: who owes which message to whom, by when, and who is late.

With ``--ops-url`` it asks a running gateway (its clock, virtual or real, decides what is late);
without, it reads the ledger at ``GATEWAY_DB_URL`` directly, on the clock of ``GATEWAY_CLOCK``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp

from gateway import config
from gateway.clock import clock_from_env
from gateway.errors import ConfigError, LedgerUnavailable
from gateway.ledger import Ledger
from gateway.sla.report import Format, Row, render
from gateway.sla.store import ObligationStore, Query


def register(subcommands: argparse._SubParsersAction[Any]) -> None:
    parser = subcommands.add_parser(
        "sla",
        help="report obligations: owed, by whom, to whom, due, met, late",
        description="Report the obligations in the ledger: which message is owed by whom to "
        "whom, due when, met when, and whether it is late.",
    )
    parser.add_argument("--late", action="store_true", help="only late obligations")
    parser.add_argument("--open", action="store_true", help="only obligations not met yet")
    parser.add_argument(
        "--participant", metavar="CODE", help="owed by or to this participant (code or key)"
    )
    parser.add_argument("--message", metavar="TYPE", help="only this message owed, like WMO302")
    forms = parser.add_mutually_exclusive_group()
    forms.add_argument(
        "--json", dest="form", action="store_const", const=Format.JSON, help="one object a line"
    )
    forms.add_argument("--csv", dest="form", action="store_const", const=Format.CSV, help="CSV")
    parser.add_argument(
        "--ops-url",
        metavar="URL",
        help="ask the gateway at this operators' address (default: read GATEWAY_DB_URL)",
    )
    parser.set_defaults(func=run, form=Format.TABLE)


def run(args: argparse.Namespace) -> int:
    query = Query(
        late=args.late,
        open=args.open,
        participant=args.participant,
        message=args.message,
    )
    if args.ops_url:
        rows = asyncio.run(_from_gateway(args.ops_url, query))
    else:
        settings = config.load()
        # A report reads a ledger; it does not make an empty one where none is.
        scheme, _, path = settings.db_url.partition(":///")
        if scheme.startswith("sqlite") and path and not Path(path).exists():
            raise ConfigError(f"GATEWAY_DB_URL={settings.db_url!r}: no ledger at {path}")
        rows = asyncio.run(_from_ledger(settings, query))
    sys.stdout.write(render(rows, args.form))
    return 0


async def _from_gateway(ops_url: str, query: Query) -> list[Row]:
    params = {"late": str(query.late).lower(), "open": str(query.open).lower()}
    if query.participant:
        params["participant"] = query.participant
    if query.message:
        params["message"] = query.message
    url = ops_url.rstrip("/") + "/sla/obligations"
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
            session.get(url, params=params) as response,
        ):
            if response.status != 200:
                raise ConfigError(f"--ops-url {ops_url}: {response.status} {await response.text()}")
            rows: list[Row] = await response.json()
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ConfigError(f"--ops-url {ops_url}: cannot reach the gateway ({exc!r})") from exc
    return rows


async def _from_ledger(settings: config.Settings, query: Query) -> list[Row]:
    clock = clock_from_env(os.environ, simulate=settings.simulate)
    try:
        ledger = await Ledger.open(settings.db_url)
    except LedgerUnavailable as exc:
        raise ConfigError(f"GATEWAY_DB_URL: {exc}") from exc
    try:
        now = clock.now()
        return [o.as_json(now) for o in await ObligationStore(ledger).find(query, now)]
    finally:
        await ledger.close()
