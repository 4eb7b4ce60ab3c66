"""What ``gateway send`` and ``gateway mailbox`` share: acting as one participant over mTLS.

Not a command itself. ``--as`` names the participant by its registry key (``aanbieder-12345678``,
``gemeente-0637``); its client certificate and key are ``<role>-<code>.crt/.key`` in the
certificates directory (``--certs``, else ``GATEWAY_CERTS``: what ``gateway certs init`` wrote),
and the gateway is at ``--url`` (else ``GATEWAY_PUBLIC_URL``, else
``https://localhost:GATEWAY_PORT``). Both commands talk through ``gateway.client``, as the
simulated participants and vendors' software do.
"""

from __future__ import annotations

import argparse
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gateway import config
from gateway.client import GatewayClient
from gateway.errors import ConfigError
from gateway.participants import Participant, Registry


def add_options(parser: argparse.ArgumentParser, *, after: bool = False) -> None:
    """``--as``, ``--certs``, ``--url`` and ``--json``; ``after``: for the parser of an action,
    where an option left out must not undo the one given before the action."""
    unset: Any = argparse.SUPPRESS if after else None
    parser.add_argument(
        "--as",
        dest="participant",
        metavar="PARTICIPANT",
        help="who to act as: a registered participant, like aanbieder-12345678 or gemeente-0637",
        default=unset,
    )
    parser.add_argument(
        "--certs",
        type=Path,
        metavar="DIR",
        help="directory of ca.crt and <role>-<code>.crt/.key (default: GATEWAY_CERTS, certs/dev)",
        default=unset,
    )
    parser.add_argument(
        "--url",
        metavar="URL",
        help="the gateway's participants' port (default: GATEWAY_PUBLIC_URL, else "
        "https://localhost:GATEWAY_PORT, which is https://localhost:8443)",
        default=unset,
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="one JSON object a line instead of text",
        default=argparse.SUPPRESS if after else False,
    )


@dataclass(frozen=True, slots=True)
class Acting:
    """A participant, where its certificate is, and the gateway it talks to."""

    participant: Participant
    url: str
    certs_dir: Path
    settings: config.Settings

    def client(self) -> GatewayClient:
        """Its client; a missing or unreadable certificate file is a ConfigError naming it."""
        return GatewayClient(self.url, self.certs_dir, self.participant)


def acting(args: argparse.Namespace) -> Acting:
    """Read ``--as``, ``--certs`` and ``--url`` over the settings; refuse what cannot work."""
    settings = config.load().with_overrides(certs_dir=args.certs)
    if not args.participant:
        raise ConfigError("--as PARTICIPANT is required, like aanbieder-12345678 or gemeente-0637")
    participant = registered(args.participant, Registry.load(settings.registry))
    if args.url:
        url = gateway_url(args.url, "--url")
    else:
        url = gateway_url(settings.client_url, "GATEWAY_PUBLIC_URL")
    return Acting(participant, url, settings.certs_dir, settings)


def registered(text: str, registry: Registry) -> Participant:
    """The participant ``text`` names (``aanbieder-12345678``), if the registry has it."""
    try:
        parsed = Participant.parse(text)
    except ConfigError as exc:
        raise ConfigError(f"--as: {exc}") from None
    found = registry.get(parsed.role, parsed.code)
    if found is None:
        known = ", ".join(p.key for p in registry)
        raise ConfigError(
            f"unknown participant {parsed.key}: not in the registry {registry.source} "
            f"(GATEWAY_REGISTRY); it has {known}"
        )
    return found


def gateway_url(url: str, name: str) -> str:
    """An ``https://host[:port]`` URL; the participants' port speaks nothing but mutual TLS."""
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - a bad port only shows when asked for
    except ValueError:
        raise ConfigError(f"{name} {url!r}: not a valid port") from None
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigError(
            f"{name} {url!r}: expected https://host:port (the participants' port speaks "
            "mutual TLS only), like https://localhost:8443"
        )
    return url.rstrip("/")


def traceer_id(text: str) -> str:
    """An ID given on the command line: a traceerId is a UUID."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise ConfigError(f"ID {text!r}: expected a traceerId, a UUID") from None
