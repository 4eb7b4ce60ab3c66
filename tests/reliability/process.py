"""A gateway in a process of its own, and the tools to hurt it: kill, terminate, cut what it needs.

The reliability tests must see what a participant sees when the gateway, its broker or its ledger
fails under load, so the gateway runs as ``python -m gateway serve`` in a child process (the load
comes from the test process), on fixed free ports so that a restarted gateway is found where the
killed one was. The broker fixtures' TCP relay, in front of RabbitMQ or PostgreSQL, is an outage
that stops none of the shared services other people's tests use.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from gateway.participants import Participant
from gateway.routing import Broker
from gateway.tls import client_context
from tests.fixtures.gateway import PUSH_URL

ROOT = Path(__file__).resolve().parents[2]
PROVIDER = Participant.parse("aanbieder-65656055")
AMSTERDAM = Participant.parse("gemeente-0363")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve_once(
    *argv: str, env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``python -m gateway serve ARGV`` with only ``env`` (and PATH), run to its end.

    For a start that must fail: what it printed and its exit status.
    """
    return subprocess.run(
        [sys.executable, "-m", "gateway", "serve", *argv],
        env={**env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        check=False,
    )


def rss_kib(pid: int) -> int:
    """The resident set size of a process, in KiB, from ``/proc``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for process {pid}")


@dataclass
class GatewayProcess:
    """``python -m gateway serve ARGV`` with GATEWAY_* settings; restartable on the same ports."""

    env: dict[str, str]
    log_path: Path
    argv: tuple[str, ...] = ()
    """Arguments after ``gateway serve`` (``--simulate``)."""
    port: int = field(default_factory=free_port)
    ops_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def base_url(self) -> str:
        return f"https://localhost:{self.port}"

    @property
    def ops_url(self) -> str:
        return f"http://127.0.0.1:{self.ops_port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "the gateway process is not running"
        return self.process.pid

    async def start(self, *, within: float = 30.0) -> None:
        """Start the process and wait until it answers ``/readyz`` with 200."""
        self.spawn()
        deadline = time.monotonic() + within
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.process_or_fail().poll() is not None:
                    pytest.fail(
                        f"gateway exited with {self.process_or_fail().returncode}:\n{self.log()}"
                    )
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{self.ops_url}/readyz") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.1)
        pytest.fail(f"gateway not ready within {within:g} s:\n{self.log()}")

    def spawn(self) -> None:
        """Start the process; do not wait for it."""
        env = {
            **os.environ,
            **self.env,
            "GATEWAY_PORT": str(self.port),
            "GATEWAY_OPS_PORT": str(self.ops_port),
        }
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts} ---\n".encode())
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway", "serve", *self.argv],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        """SIGKILL: no chance to finish anything."""
        self.process_or_fail().kill()
        self.process_or_fail().wait(10)

    def terminate(self) -> None:
        """SIGTERM: the graceful stop."""
        self.process_or_fail().send_signal(signal.SIGTERM)

    async def exit_status(self, *, within: float = 60.0) -> int:
        """Wait for the process to end; its exit status."""
        process = self.process_or_fail()
        deadline = time.monotonic() + within
        while process.poll() is None:
            if time.monotonic() > deadline:
                pytest.fail(f"gateway still running {within:g} s after the signal")
            await asyncio.sleep(0.05)
        return process.returncode

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def process_or_fail(self) -> subprocess.Popen[bytes]:
        assert self.process is not None, "the gateway process was never started"
        return self.process

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def stop(self) -> None:
        if self.alive():
            process = self.process_or_fail()
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


@pytest.fixture
def gateway_env(certs_dir: Path, amqp_url: str, tmp_path: Path) -> dict[str, str]:
    """The settings of a gateway process: this test's vhost, an SQLite ledger, the dev certs."""
    return {
        "GATEWAY_AMQP_URL": amqp_url,
        "GATEWAY_DB_URL": f"sqlite:///{tmp_path / 'ledger.db'}",
        "GATEWAY_CERTS": str(certs_dir),
        "GATEWAY_PUBLISH_TIMEOUT": "2",
    }


@pytest.fixture
def gateway_process(gateway_env: dict[str, str], tmp_path: Path) -> Iterator[GatewayProcess]:
    """A gateway process (not started yet: tests adjust ``env`` first), stopped afterwards."""
    process = GatewayProcess(gateway_env, tmp_path / "gateway.log")
    try:
        yield process
    finally:
        process.stop()


@contextlib.asynccontextmanager
async def participant_session(
    certs_dir: Path, participant: Participant, *, limit: int = 100
) -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTPS session presenting ``participant``'s certificate."""
    connector = aiohttp.TCPConnector(ssl=client_context(certs_dir, participant), limit=limit)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


def wmo305(example: bytes, identificatie: str) -> bytes:
    """The official 305 example (65656055 to 0363) with another BerichtIdentificatie."""
    marker = b"<iwmo:Identificatie>123456789013</iwmo:Identificatie>"
    assert marker in example, "the official WMO305 example changed"
    return example.replace(
        marker, f"<iwmo:Identificatie>{identificatie}</iwmo:Identificatie>".encode()
    )


async def push_until_accepted(
    session: aiohttp.ClientSession,
    base_url: str,
    payload: bytes,
    traceer_id: str,
    statuses: dict[int, int],
    errors: list[int],
    *,
    give_up: float,
) -> bool:
    """Push one message as a careful vendor does: on 503 or a dropped connection, the same again."""
    form_metadata = (
        '{"routeringgegevens":{"afzender":{"rol":"Instelling","code":"65656055"},'
        '"geadresseerden":[{"rol":"Gemeente","code":"0363"}],"berichtstroom":'
        '{"berichttype":"WMO305","berichtversie":3,"berichtsubversie":2,"actie":"Indienen"}},'
        f'"referentiegegevens":{{"conversatieId":"{uuid.uuid4()}","traceerId":"{traceer_id}"}}}}'
    )
    while time.monotonic() < give_up:
        form = aiohttp.FormData()
        form.add_field("berichtMetadata", form_metadata, content_type="application/json")
        form.add_field(
            "payload", payload, content_type="application/octet-stream", filename="bericht.xml"
        )
        try:
            async with session.post(f"{base_url}{PUSH_URL}", data=form) as response:
                statuses[response.status] = statuses.get(response.status, 0) + 1
                if 200 <= response.status < 300:
                    return True
                body = await response.text()
                assert response.status == 503, f"{response.status}: {body}"
        except (TimeoutError, aiohttp.ClientError, OSError):
            errors.append(1)
        await asyncio.sleep(0.05)
    return False


async def drain(
    amqp_url: str, participant: Participant, expected: int, *, quiet: float = 2.0
) -> list[str]:
    """Every message id on ``participant``'s inbox, acknowledged, until ``quiet`` seconds pass."""
    seen: list[str] = []
    async with Broker.consumer(amqp_url, participant, prefetch=200) as deliveries:
        iterator = aiter(deliveries)
        while True:
            wait = quiet if len(seen) >= expected else 20.0
            try:
                async with asyncio.timeout(wait):
                    delivery = await anext(iterator)
            except TimeoutError:
                return seen
            async with delivery.process():
                seen.append(str(delivery.message_id))
