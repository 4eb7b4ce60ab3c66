"""``gateway serve``: run the switchpoint (mTLS participants' port and the ops port)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway import config, memory
from gateway.errors import ConfigError
from gateway.server import serve_forever
from gateway.workers import Worker, supervise


def register(subcommands: Any) -> None:
    parser: argparse.ArgumentParser = subcommands.add_parser(
        "serve",
        help="run the gateway",
        description="Run the gateway: participants over mutual TLS, operators on the ops port. "
        "Further settings come from GATEWAY_* environment variables (see the README).",
    )
    parser.add_argument("--certs", type=Path, help="directory of ca.crt, server.crt/.key")
    parser.add_argument("--host", help="address of the participants' port (GATEWAY_HOST)")
    parser.add_argument("--port", type=int, help="participants' mTLS port (default 8443)")
    parser.add_argument("--ops-port", type=int, help="operators' port (default 8080)")
    parser.add_argument(
        "--simulate", action="store_true", default=None, help="virtual clock and admin endpoints"
    )
    parser.add_argument(
        "--workers",
        type=_workers,
        help="processes serving the participants' port, one per core to use (GATEWAY_WORKERS)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = config.load().with_overrides(
        certs_dir=args.certs,
        host=args.host,
        port=args.port,
        ops_port=args.ops_port,
        simulate=args.simulate,
        workers=args.workers,
    )
    config.check_workers(settings)
    worker = Worker.from_env(os.environ)
    who = "" if worker is None else f"worker-{worker.index} "
    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s %(levelname)s {who}%(name)s: %(message)s"
    )
    if settings.workers > 1 and worker is None:
        return asyncio.run(supervise(settings))
    memory.tune()  # large messages in mapped memory, given back when freed
    with asyncio.Runner(loop_factory=_loop_factory(settings)) as runner:
        runner.run(serve_forever(settings, worker))
    return 0


def _workers(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= config.MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"expected a number from 1 to {config.MAX_WORKERS}")
    return value


def _loop_factory(settings: config.Settings) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop if GATEWAY_UVLOOP asks for it; asyncio's own otherwise."""
    if not settings.uvloop:
        return None
    try:
        import uvloop
    except ImportError:
        raise ConfigError("GATEWAY_UVLOOP=true: uvloop is not installed") from None
    return uvloop.new_event_loop
