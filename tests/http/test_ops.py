"""The operators' port: on loopback by default; /healthz, /readyz (broker and ledger), /metrics.

/readyz is held against the real thing going away: RabbitMQ and PostgreSQL behind TCP relays
that the test cuts and restores.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.config import Settings
from gateway.server import Gateway
from tests.fixtures.broker import AmqpRelay
from tests.fixtures.gateway import local_settings
from tests.fixtures.ledger import _create_pg_database, _drop_pg_database


@pytest.fixture
async def pg_relay() -> AsyncIterator[AmqpRelay]:
    """A plain TCP relay to the local PostgreSQL."""
    relay = AmqpRelay("127.0.0.1", 5432)
    await relay.start()
    try:
        yield relay
    finally:
        await relay.close()


@pytest.fixture
async def pg_name() -> AsyncIterator[str]:
    name = await _create_pg_database()
    try:
        yield name
    finally:
        await _drop_pg_database(name)


async def readiness(ops_url: str) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{ops_url}/readyz") as response,
    ):
        body: dict[str, Any] = await response.json()
        return response.status, body


async def until_ready_is(ops_url: str, status: int, within: float = 20.0) -> dict[str, Any]:
    """Poll /readyz until it answers ``status``; its last body."""
    async with asyncio.timeout(within):
        while True:
            answered, body = await readiness(ops_url)
            if answered == status:
                return body
            await asyncio.sleep(0.1)


async def test_ops_port_listens_on_loopback_only_by_default(
    certs_dir: Path, amqp_url: str, tmp_path: Path
) -> None:
    """Without GATEWAY_OPS_HOST the ops port is bound to 127.0.0.1, and serves all three."""
    settings = local_settings(certs_dir, amqp_url, tmp_path)
    assert settings.ops_host == "127.0.0.1"
    gateway = await Gateway.start(settings)
    try:
        _, ops = gateway.runners
        hosts = {address[0] for address in ops.addresses}
        assert hosts == {"127.0.0.1"}
        ops_url = f"http://127.0.0.1:{gateway.ops_port}"
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{ops_url}/healthz") as health:
                assert (health.status, await health.json()) == (200, {"status": "ok"})
            async with session.get(f"{ops_url}/metrics") as metrics:
                assert metrics.status == 200
                assert metrics.content_type == "text/plain"
                assert "# TYPE gateway_messages_accepted_total counter" in await metrics.text()
        status, body = await readiness(ops_url)
        assert (status, body["checks"]) == (200, {"broker": True, "ledger": True})
    finally:
        await gateway.stop()


async def test_readyz_says_when_broker_or_ledger_is_gone(
    certs_dir: Path,
    amqp_relay: AmqpRelay,
    amqp_vhost: str,
    pg_relay: AmqpRelay,
    pg_name: str,
) -> None:
    """/readyz is 503 naming the broker while RabbitMQ is away, and the ledger while PostgreSQL
    is; 200 again once each is back. /healthz stays 200 throughout."""
    settings = Settings(
        amqp_url=amqp_relay.url(amqp_vhost),
        db_url=f"postgresql://postgres@127.0.0.1:{pg_relay.port}/{pg_name}",
        certs_dir=certs_dir,
        port=0,
        ops_port=0,
    )
    gateway = await Gateway.start(settings)
    ops_url = f"http://127.0.0.1:{gateway.ops_port}"
    try:
        assert (await until_ready_is(ops_url, 200))["checks"] == {"broker": True, "ledger": True}

        await amqp_relay.cut()
        body = await until_ready_is(ops_url, 503)
        assert body == {"status": "not ready", "checks": {"broker": False, "ledger": True}}
        async with aiohttp.ClientSession() as session, session.get(f"{ops_url}/healthz") as h:
            assert h.status == 200
        await amqp_relay.restore()
        await until_ready_is(ops_url, 200)

        await pg_relay.cut()
        body = await until_ready_is(ops_url, 503)
        assert body == {"status": "not ready", "checks": {"broker": True, "ledger": False}}
        await pg_relay.restore()
        assert (await until_ready_is(ops_url, 200))["checks"] == {"broker": True, "ledger": True}
    finally:
        await gateway.stop()
