"""Settings, read once from the environment (and the command line), typed, and checked loudly.

Every setting has an environment variable ``GATEWAY_*``; a bad value stops the program with a
message that names the variable and what was expected. Nothing falls back silently.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gateway.errors import ConfigError

MB = 1024 * 1024
MAX_WORKERS = 64  # a sanity bound: each worker holds its own ledger and broker connections


@dataclass(frozen=True, slots=True)
class BsnRange:
    """The BSNs a test chain accepts (VSP BRS18); anything outside is refused."""

    low: int
    high: int

    def __contains__(self, bsn: object) -> bool:
        return isinstance(bsn, str) and bsn.isdigit() and self.low <= int(bsn) <= self.high


@dataclass(frozen=True)
class Settings:
    """Everything the gateway can be told; see the README's configuration reference."""

    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    db_url: str = "sqlite:///var/ledger.db"
    certs_dir: Path = Path("certs/dev")
    registry: Path | None = None
    crl: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8443
    ops_host: str = "127.0.0.1"
    ops_port: int = 8080
    public_url: str = ""
    max_message_bytes: int = 25 * MB
    simulate: bool = False
    bsn_range: BsnRange | None = None
    publish_timeout: float = 5.0
    body_timeout: float = 30.0
    # bytes of request bodies held at once (gateway.http.budget); 0: four at the largest
    body_budget: int = 0
    # retention (VSP defaults) and the SLA monitor
    retention_months: int = 2
    payload_retention_hours: int = 24
    retention_interval: float = 3600.0
    sla_poll: float = 1.0
    # uvloop as the event loop of ``gateway serve`` (docs/performance.md has the measured gain)
    uvloop: bool = False
    # where an SQLite ledger's batches are written: "process" or "thread" (gateway.ledger.writer)
    ledger_writer: str = "process"
    # how much lower the writer process's scheduling priority is than the event loop's (nice)
    ledger_writer_nice: int = 10
    # processes serving the participants' port (gateway/workers.py): one per core to use
    workers: int = 1
    # where ``gateway send`` notes what it sent, for ``gateway mailbox status`` without an id
    sent_log: Path = Path("var/sent.jsonl")
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def max_request_bytes(self) -> int:
        """The largest request body: a message and the multipart envelope around it."""
        return self.max_message_bytes + MB

    @property
    def bytes_in_flight(self) -> int:
        """GATEWAY_BODY_BUDGET, or room for four requests at the largest."""
        return self.body_budget or 4 * self.max_request_bytes

    @property
    def client_url(self) -> str:
        """Where a participant's client reaches the gateway: GATEWAY_PUBLIC_URL, else this
        machine's participants' port."""
        return self.public_url or f"https://localhost:{self.port}"

    @property
    def sqlalchemy_url(self) -> str:
        return sqlalchemy_url(self.db_url)

    def with_overrides(self, **changes: Any) -> Settings:
        """Apply command-line options; ``None`` means "not given"."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a whole number") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={raw!r}: expected a number from {low} to {high}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a number of seconds") from None
    if value <= 0:
        raise ConfigError(f"{name}={raw!r}: expected a positive number of seconds")
    return value


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name}={raw!r}: expected true or false")


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = env.get(name, "").strip().lower() or default
    if raw not in choices:
        raise ConfigError(f"{name}={raw!r}: expected one of {', '.join(choices)}")
    return raw


# Where an SQLite ledger writes its batches (gateway.ledger.writer).
WRITERS = ("process", "thread")


def _path(env: Mapping[str, str], name: str) -> Path | None:
    raw = env.get(name)
    return Path(raw) if raw else None


def amqp_url(raw: str, name: str = "GATEWAY_AMQP_URL") -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("amqp", "amqps") or not parts.hostname:
        raise ConfigError(f"{name}={raw!r}: expected amqp://user:password@host:port/vhost")
    return raw


def sqlalchemy_url(raw: str, name: str = "GATEWAY_DB_URL") -> str:
    """Turn ``sqlite:///path`` or ``postgresql://user@host/db`` into an async driver URL."""
    scheme, sep, rest = raw.partition("://")
    if not sep or not rest:
        raise ConfigError(
            f"{name}={raw!r}: expected sqlite:///path/to/ledger.db or postgresql://user@host/db"
        )
    drivers = {
        "sqlite": "sqlite+aiosqlite",
        "sqlite+aiosqlite": "sqlite+aiosqlite",
        "postgresql": "postgresql+asyncpg",
        "postgres": "postgresql+asyncpg",
        "postgresql+asyncpg": "postgresql+asyncpg",
    }
    driver = drivers.get(scheme)
    if driver is None:
        raise ConfigError(f"{name}={raw!r}: the ledger runs on sqlite or postgresql, not {scheme}")
    return f"{driver}://{rest}"


def bsn_range(raw: str, name: str = "GATEWAY_BSN_RANGE") -> BsnRange:
    match = re.fullmatch(r"\s*([0-9]{9})\s*-\s*([0-9]{9})\s*", raw)
    if not match or int(match[1]) > int(match[2]):
        raise ConfigError(
            f"{name}={raw!r}: expected LOW-HIGH, nine digits each, like 999900000-999999999"
        )
    return BsnRange(int(match[1]), int(match[2]))


def load(env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from ``env`` (default: the process environment)."""
    env = os.environ if env is None else env
    settings = Settings(
        amqp_url=amqp_url(env.get("GATEWAY_AMQP_URL") or Settings.amqp_url),
        db_url=env.get("GATEWAY_DB_URL") or Settings.db_url,
        certs_dir=_path(env, "GATEWAY_CERTS") or Settings.certs_dir,
        registry=_path(env, "GATEWAY_REGISTRY"),
        crl=_path(env, "GATEWAY_CRL"),
        host=env.get("GATEWAY_HOST") or Settings.host,
        port=_int(env, "GATEWAY_PORT", Settings.port, 0, 65535),
        ops_host=env.get("GATEWAY_OPS_HOST") or Settings.ops_host,
        ops_port=_int(env, "GATEWAY_OPS_PORT", Settings.ops_port, 0, 65535),
        public_url=env.get("GATEWAY_PUBLIC_URL", "").rstrip("/"),
        max_message_bytes=_int(env, "GATEWAY_MAX_MESSAGE_BYTES", 25 * MB, 1024, 1024 * MB),
        simulate=_bool(env, "GATEWAY_SIMULATE"),
        bsn_range=bsn_range(env["GATEWAY_BSN_RANGE"]) if env.get("GATEWAY_BSN_RANGE") else None,
        publish_timeout=_float(env, "GATEWAY_PUBLISH_TIMEOUT", Settings.publish_timeout),
        body_timeout=_float(env, "GATEWAY_BODY_TIMEOUT", Settings.body_timeout),
        body_budget=_int(env, "GATEWAY_BODY_BUDGET", 0, 0, 64 * 1024 * MB),
        retention_months=_int(env, "GATEWAY_RETENTION_MONTHS", Settings.retention_months, 1, 1200),
        payload_retention_hours=_int(
            env, "GATEWAY_PAYLOAD_RETENTION_HOURS", Settings.payload_retention_hours, 0, 100_000
        ),
        retention_interval=_float(env, "GATEWAY_RETENTION_INTERVAL", Settings.retention_interval),
        sla_poll=_float(env, "GATEWAY_SLA_POLL", Settings.sla_poll),
        uvloop=_bool(env, "GATEWAY_UVLOOP"),
        ledger_writer=_choice(env, "GATEWAY_LEDGER_WRITER", Settings.ledger_writer, WRITERS),
        ledger_writer_nice=_int(
            env, "GATEWAY_LEDGER_WRITER_NICE", Settings.ledger_writer_nice, 0, 19
        ),
        workers=_int(env, "GATEWAY_WORKERS", Settings.workers, 1, MAX_WORKERS),
        sent_log=_path(env, "GATEWAY_SENT_LOG") or Settings.sent_log,
        extra={k: v for k, v in env.items() if k.startswith("GATEWAY_")},
    )
    sqlalchemy_url(settings.db_url)  # fail now, not at the first message
    if 0 < settings.body_budget < settings.max_request_bytes:
        raise ConfigError(
            f"GATEWAY_BODY_BUDGET={settings.body_budget}: less than one request may take "
            f"({settings.max_request_bytes} bytes, GATEWAY_MAX_MESSAGE_BYTES and its envelope)"
        )
    return settings


def check_workers(settings: Settings) -> Settings:
    """Refuse what several worker processes cannot do; after the command line's overrides."""
    if settings.workers == 1:
        return settings
    if settings.simulate:
        raise ConfigError(
            f"GATEWAY_WORKERS={settings.workers} (--workers) with simulation mode "
            "(GATEWAY_SIMULATE, --simulate): the virtual clock and the answer policies live in "
            "one process's memory, so a simulating gateway runs as one worker"
        )
    if settings.port == 0:
        raise ConfigError(
            f"GATEWAY_WORKERS={settings.workers} (--workers) with GATEWAY_PORT=0: the workers "
            "share one port (SO_REUSEPORT), so it has to be a fixed port"
        )
    return settings
