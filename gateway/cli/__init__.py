"""The ``gateway`` command line: one program, one module per subcommand.

Each module in this package has ``register(subcommands)``, which adds its parser and sets
``func`` to a callable taking the parsed arguments and returning the exit status.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from gateway import __version__
from gateway.errors import GatewayError

# Subcommand modules, in the order ``gateway --help`` lists them.
COMMANDS: tuple[str, ...] = (
    "demo",
    "serve",
    "handlers",
    "scenario",
    "certs",
    "send",
    "mailbox",
    "calendar",
    "deadline",
    "clock",
    "validate",
    "sla",
    "amqp",
)

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gateway",
        description="A local stand-in for the iWmo/iJw message chain (VECOZO Schakelpunt).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"gateway.cli.{name}").register(subcommands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Handler | None = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return func(args)
    except GatewayError as exc:
        print(f"gateway {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``gateway calendar 2025 | head``): nothing more to say.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
