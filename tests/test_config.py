"""Settings come from GATEWAY_* variables, and a bad one stops the program naming it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway import config
from gateway.errors import ConfigError


def test_defaults_are_the_documented_ones() -> None:
    """Without any variable: local RabbitMQ, the embedded SQLite ledger, ports 8443 and 8080."""
    settings = config.load({})
    assert settings.amqp_url == "amqp://guest:guest@127.0.0.1:5672/"
    assert settings.db_url == "sqlite:///var/ledger.db"
    assert settings.sqlalchemy_url == "sqlite+aiosqlite:///var/ledger.db"
    assert (settings.port, settings.ops_port, settings.ops_host) == (8443, 8080, "127.0.0.1")
    assert settings.max_message_bytes == 25 * 1024 * 1024
    assert settings.bytes_in_flight == 4 * 26 * 1024 * 1024
    assert not settings.simulate


def test_postgresql_url_gets_the_async_driver() -> None:
    """``postgresql://user@host/db`` runs on asyncpg."""
    settings = config.load({"GATEWAY_DB_URL": "postgresql://postgres@127.0.0.1/ledger"})
    assert settings.sqlalchemy_url == "postgresql+asyncpg://postgres@127.0.0.1/ledger"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("GATEWAY_PORT", "eighty", "whole number"),
        ("GATEWAY_PORT", "70000", "from 0 to 65535"),
        ("GATEWAY_AMQP_URL", "http://localhost/", "amqp://"),
        ("GATEWAY_DB_URL", "mysql://root@localhost/db", "sqlite or postgresql"),
        ("GATEWAY_SIMULATE", "perhaps", "true or false"),
        ("GATEWAY_BSN_RANGE", "999999999-100000000", "LOW-HIGH"),
        ("GATEWAY_PUBLISH_TIMEOUT", "-1", "positive"),
        ("GATEWAY_BODY_BUDGET", "1000000", "less than one request"),
    ],
)
def test_a_bad_value_names_the_variable(name: str, value: str, expected: str) -> None:
    """Every bad setting is a ConfigError naming the variable, its value and what is expected."""
    with pytest.raises(ConfigError) as caught:
        config.load({name: value})
    assert name in str(caught.value)
    assert value in str(caught.value)
    assert expected in str(caught.value)


def test_bsn_range_accepts_only_its_bsns() -> None:
    """BRS18: the configured test range contains what lies between its ends, nothing else."""
    settings = config.load({"GATEWAY_BSN_RANGE": "999900000-999999999"})
    assert settings.bsn_range is not None
    assert "999900018" in settings.bsn_range
    assert "123456782" not in settings.bsn_range


def test_serve_stops_with_a_message_naming_the_setting(tmp_path: Path) -> None:
    """``gateway serve`` with a bad setting exits 2 before it starts anything, naming it."""
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "serve"],
        env={"GATEWAY_DB_URL": "oracle://scott@tiger/db", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 2
    assert "GATEWAY_DB_URL" in result.stderr
    assert "oracle://scott@tiger/db" in result.stderr
