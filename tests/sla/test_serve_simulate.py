"""``gateway serve --simulate`` as a process: moving its clock makes lateness and retention happen.

The in-process fixture (``simulated_gateway``) starts a Gateway with ``simulate=True``; this test
runs the command line itself, as a harness does, with the retention configured by environment.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from pathlib import Path

import aiohttp

from gateway.routing import Broker
from gateway.sla.monitor import LATE_EVENT
from tests.fixtures.gateway import PULL_URL, PUSH_URL
from tests.reliability.process import GatewayProcess, participant_session
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
    traceer_id = str(uuid.uuid4())
    metadata = {
        "routeringgegevens": {
            "afzender": {"rol": "Gemeente", "code": DIEMEN.code},
            "geadresseerden": [{"rol": "Instelling", "code": PROVIDER.code}],
            "berichtstroom": {
                "berichttype": "WMO301",
                "berichtversie": 3,
                "berichtsubversie": 2,
                "actie": "Indienen",
            },
        },
        "referentiegegevens": {"conversatieId": str(uuid.uuid4()), "traceerId": traceer_id},
    }
    form = aiohttp.FormData()
    form.add_field("berichtMetadata", json.dumps(metadata), content_type="application/json")
    form.add_field(
        "payload",
        example(reference, "WMO301"),
        content_type="application/octet-stream",
        filename="bericht.xml",
    )
    async with (
        participant_session(certs_dir, DIEMEN) as municipality,
        municipality.post(f"{gateway.base_url}{PUSH_URL}", data=form) as response,
    ):
        assert response.status == 204, await response.text()
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
    async with participant_session(certs_dir, PROVIDER) as provider:
        base = f"{gateway.base_url}{PULL_URL}/{traceer_id}"
        async with provider.get(f"{base}/payload") as download:
            assert download.status == 200
        async with provider.delete(base) as confirmed:
            assert confirmed.status in (200, 202, 204), await confirmed.text()
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
