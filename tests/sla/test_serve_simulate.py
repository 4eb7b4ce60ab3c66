"""``gateway serve --simulate`` as a process: moving its clock makes lateness and retention happen.

The in-process fixture (``simulated_gateway``) starts a Gateway with ``simulate=True``; this test
runs the command line itself, as a harness does, with the retention configured by environment.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import aiohttp

from gateway.client import GatewayClient
from gateway.routing import Broker
from gateway.sla.monitor import LATE_EVENT
from gateway.standard.message_types import MessageType
from tests.reliability.process import GatewayProcess
from tests.sla.conftest import example, gateway_sla, party

DIEMEN, PROVIDER = party("0384"), party("42420001")


def payload_kept(ledger: Path, traceer_id: str) -> bool:
    with sqlite3.connect(ledger) as connection:
        [(kept,)] = connection.execute(
            "SELECT count(*) FROM payloads WHERE traceer_id = ?", (traceer_id,)
        ).fetchall()
    return bool(kept)


async def sla_report(*args: str) -> list[dict[str, object]]:
    code, out, err = await gateway_sla(*args)
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


async def test_serve_simulate_advancing_the_clock_makes_lateness_and_retention_immediate(
    gateway_process: GatewayProcess, certs_dir: Path, amqp_url: str, reference: Path
) -> None:
    """Past the 302's due the report says late and sla.late is out at once; with
    GATEWAY_PAYLOAD_RETENTION_HOURS=2 the confirmed payload goes once the clock passes 2 h."""
    gateway = gateway_process
    gateway.argv = ("--simulate",)
    gateway.env["GATEWAY_CLOCK"] = "virtual@2023-08-14T10:00:00+02:00"
    gateway.env["GATEWAY_PAYLOAD_RETENTION_HOURS"] = "2"
    gateway.env["GATEWAY_RETENTION_INTERVAL"] = "600"  # every 10 minutes of the clock
    ledger = Path(gateway.env["GATEWAY_DB_URL"].removeprefix("sqlite:///"))
    await gateway.start()
    ops = gateway.ops_url
    async with GatewayClient(gateway.base_url, certs_dir, DIEMEN) as municipality:
        sent = await municipality.push(example(reference, "WMO301"), MessageType.WMO301, PROVIDER)
    traceer_id = sent.traceer_id
    assert await sla_report("--ops-url", ops, "--json", "--late") == []

    async with aiohttp.ClientSession() as session, Broker.events(amqp_url, LATE_EVENT) as events:
        async with session.post(
            f"{ops}/admin/clock/advance", json={"working_days": 4}
        ) as moved:  # Friday 18 August 10:00: past the 302's due (Thursday, 24:00)
            assert moved.status == 200, await moved.text()
        # No wait, no poll: the very next report already says late.
        [late] = await sla_report("--ops-url", ops, "--json", "--late")
        assert (late["owed"], late["by"], late["to"], late["met"], late["late"]) == (
            "WMO302",
            "42420001",
            "0384",
            None,
            True,
        )
        assert late["due"] == "2023-08-17T22:00:00+00:00"
        async with asyncio.timeout(10):
            event = await anext(events)
        assert (event.routing_key, event.payload["owed"]) == (LATE_EVENT, "WMO302")

    # The provider downloads and confirms; its payload stays 2 hours (configured), then goes.
    async with GatewayClient(gateway.base_url, certs_dir, PROVIDER) as provider:
        assert await provider.fetch(traceer_id) == example(reference, "WMO301")
        await provider.confirm(traceer_id)
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{ops}/admin/clock/advance", json={"duration": "PT1H"}) as moved:
            assert moved.status == 200, await moved.text()
        await asyncio.sleep(1)
        assert payload_kept(ledger, traceer_id), "deleted before the configured 2 hours"
        async with session.post(
            f"{ops}/admin/clock/advance", json={"duration": "PT1H15M"}
        ) as moved:
            assert moved.status == 200, await moved.text()
        for _ in range(100):
            if not payload_kept(ledger, traceer_id):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"payload kept 10 s after its 2 hours:\n{gateway.log()}")
