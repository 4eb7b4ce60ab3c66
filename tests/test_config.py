"""Settings come from GATEWAY_* variables, and a bad one stops the program naming it."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway import config
from gateway.errors import ConfigError
from gateway.ledger import writer_process
from tests.reliability.process import serve_once


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
    assert settings.workers == 1
    assert settings.ledger_writer_nice == writer_process.NICE == 10  # one default, two places


def test_where_a_participant_client_goes() -> None:
    """``gateway send``/``mailbox`` reach GATEWAY_PUBLIC_URL, else this machine's GATEWAY_PORT;
    what they sent is noted in GATEWAY_SENT_LOG."""
    assert config.load({}).client_url == "https://localhost:8443"
    assert config.load({"GATEWAY_PORT": "9443"}).client_url == "https://localhost:9443"
    public = {"GATEWAY_PUBLIC_URL": "https://gateway:8443/", "GATEWAY_PORT": "9443"}
    assert config.load(public).client_url == "https://gateway:8443"
    assert config.load({}).sent_log == Path("var/sent.jsonl")
    assert config.load({"GATEWAY_SENT_LOG": "/tmp/s.jsonl"}).sent_log == Path("/tmp/s.jsonl")


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
        ("GATEWAY_WORKERS", "two", "whole number"),
        ("GATEWAY_WORKERS", "0", "from 1 to 64"),
        ("GATEWAY_BODY_BUDGET", "1000000", "less than one request"),
        ("GATEWAY_LEDGER_WRITER_NICE", "-5", "from 0 to 19"),
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
    result = serve_once(env={"GATEWAY_DB_URL": "oracle://scott@tiger/db"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "GATEWAY_DB_URL" in result.stderr
    assert "oracle://scott@tiger/db" in result.stderr


def test_workers_come_from_the_environment_and_the_command_line() -> None:
    """GATEWAY_WORKERS sets how many processes serve; ``--workers`` overrides it."""
    settings = config.load({"GATEWAY_WORKERS": "4"})
    assert settings.workers == 4
    assert settings.with_overrides(workers=2).workers == 2
    assert config.check_workers(settings) is settings


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"simulate": True}, "the virtual clock and the answer policies live in one process"),
        ({"port": 0}, "GATEWAY_PORT=0"),
    ],
)
def test_what_several_workers_cannot_do_is_refused(
    changes: dict[str, object], expected: str
) -> None:
    """Simulation mode and a port the system picks need one process; with more: a ConfigError."""
    settings = config.load({"GATEWAY_WORKERS": "2"}).with_overrides(**changes)
    with pytest.raises(ConfigError) as caught:
        config.check_workers(settings)
    assert "GATEWAY_WORKERS=2" in str(caught.value)
    assert expected in str(caught.value)
    config.check_workers(settings.with_overrides(workers=1))  # one worker may


@pytest.mark.parametrize(
    ("env", "argv"),
    [
        ({"GATEWAY_WORKERS": "2"}, ["--simulate"]),
        ({"GATEWAY_SIMULATE": "true"}, ["--workers", "2"]),
    ],
)
def test_serve_refuses_to_simulate_with_workers(
    tmp_path: Path, env: dict[str, str], argv: list[str]
) -> None:
    """``gateway serve`` simulating with several workers exits 2 before it starts, saying why."""
    result = serve_once(*argv, env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "GATEWAY_WORKERS=2" in result.stderr
    assert "simulation mode" in result.stderr
    assert "starting" not in result.stderr


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port another program listens on, as a gateway worker would (SO_REUSEPORT)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


@pytest.mark.parametrize(
    ("option", "setting", "others"),
    [
        ("--port", "GATEWAY_PORT", ["--ops-port", "0"]),
        ("--ops-port", "GATEWAY_OPS_PORT", ["--port", "0"]),
        ("--port", "GATEWAY_PORT", ["--ops-port", "0", "--workers", "2"]),
    ],
    ids=["participants' port", "ops port", "participants' port, two workers"],
)
def test_serve_stops_on_a_port_in_use_naming_it(
    taken_port: int,
    option: str,
    setting: str,
    others: list[str],
    amqp_url: str,
    certs_dir: Path,
    tmp_path: Path,
) -> None:
    """A port another program listens on stops ``gateway serve`` with exit 2 and a message
    naming the setting, instead of sharing the port with it."""
    env = {
        "GATEWAY_AMQP_URL": amqp_url,
        "GATEWAY_DB_URL": f"sqlite:///{tmp_path / 'ledger.db'}",
        "GATEWAY_CERTS": str(certs_dir),
    }
    result = serve_once(option, str(taken_port), *others, env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"{setting}={taken_port}: cannot listen on 127.0.0.1:{taken_port}" in result.stderr
    assert "Traceback" not in result.stderr
