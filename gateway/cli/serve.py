"""``gateway serve``: run the switchpoint (mTLS participants' port and the ops port)."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway import config, memory
from gateway.errors import ConfigError
from gateway.server import serve_forever


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
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = config.load().with_overrides(
        certs_dir=args.certs,
        host=args.host,
        port=args.port,
        ops_port=args.ops_port,
        simulate=args.simulate,
    )
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    memory.tune()  # large messages in mapped memory, given back when freed
    with asyncio.Runner(loop_factory=_loop_factory(settings)) as runner:
        runner.run(serve_forever(settings))
    return 0


def _loop_factory(settings: config.Settings) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop if GATEWAY_UVLOOP asks for it; asyncio's own otherwise."""
    if not settings.uvloop:
        return None
    try:
        import uvloop
    except ImportError:
        raise ConfigError("GATEWAY_UVLOOP=true: uvloop is not installed") from None
    return uvloop.new_event_loop
