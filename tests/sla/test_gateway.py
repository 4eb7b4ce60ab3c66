"""The SLA of a live gateway in simulation mode: mTLS in, obligations out, clock moved by HTTP."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path

from gateway.participants import Participant
from gateway.routing import Broker
from gateway.sla.monitor import LATE_EVENT
from tests.fixtures.gateway import RunningGateway
from tests.sla.conftest import example, gateway_sla

PROVIDER = Participant.parse("aanbieder-42420001")
DIEMEN = Participant.parse("gemeente-0384")


async def test_315_chain_goes_late_when_the_clock_is_advanced(
    simulated_gateway: RunningGateway, reference: Path
) -> None:
    """315 in, 316 back in time; advancing past 5 working days makes both 301s late at once."""
    running = simulated_gateway
    provider = await running.client(PROVIDER)
    municipality = await running.client(DIEMEN)
    ops = provider.session  # plain HTTP to the ops port needs no certificate, any session does

    response = await provider.push(example(reference, "WMO315"), "WMO315", recipient=DIEMEN)
    assert response.status == 204, await response.text()
    response = await municipality.push(example(reference, "WMO316"), "WMO316", recipient=PROVIDER)
    assert response.status == 204, await response.text()

    listing = await (await ops.get(f"{running.ops_url}/sla/obligations")).json()
    states = sorted((o["owed"], o["state"]) for o in listing)
    assert states == [("WMO301", "open"), ("WMO301", "open"), ("WMO316", "met")]
    [retour] = [o for o in listing if o["owed"] == "WMO316"]
    assert (retour["by"], retour["to"], retour["late"]) == ("0384", "42420001", False)
    assert retour["met"] is not None

    async with Broker.events(running.amqp_url, LATE_EVENT) as events:
        moved = await ops.post(f"{running.ops_url}/admin/clock/advance", json={"working_days": 6})
        assert moved.status == 200, await moved.text()
        late = await (await ops.get(f"{running.ops_url}/sla/obligations?late=true")).json()
        assert sorted((o["owed"], o["reference"], o["late"]) for o in late) == [
            ("WMO301", "42420001", True),
            ("WMO301", "42420002", True),
        ]
        async with asyncio.timeout(10):
            announced = {(await anext(events)).payload["reference"] for _ in range(2)}
        assert announced == {"42420001", "42420002"}

    code, out, err = await gateway_sla("--ops-url", running.ops_url, "--json", "--late")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["owed"], r["by"], r["to"], r["met"], r["late"]) for r in rows] == [
        ("WMO301", "0384", "42420001", None, True)
    ] * 2
    assert all(r["due"].startswith("2023-08-21T22:00:00") for r in rows)  # Mon 21 Aug, 24:00

    metrics = await (await ops.get(f"{running.ops_url}/metrics")).text()
    assert 'gateway_sla_late{message_type="WMO301",participant="gemeente-0384"} 2.0' in metrics


async def test_report_filters_over_the_ops_port(
    simulated_gateway: RunningGateway, reference: Path
) -> None:
    """``--participant`` and ``--message`` narrow the report; ``--csv`` has a header and rows."""
    running = simulated_gateway
    provider = await running.client(PROVIDER)
    response = await provider.push(example(reference, "WMO315"), "WMO315", recipient=DIEMEN)
    assert response.status == 204, await response.text()

    code, out, err = await gateway_sla(
        "--ops-url", running.ops_url, "--csv", "--message", "WMO316", "--participant", "0384"
    )
    assert code == 0, err
    [row] = list(csv.DictReader(io.StringIO(out)))
    assert (row["owed"], row["by"], row["to"], row["late"], row["met"]) == (
        "WMO316",
        "0384",
        "42420001",
        "false",
        "",
    )
    code, out, _ = await gateway_sla("--ops-url", running.ops_url, "--participant", "12345678")
    assert code == 0
    assert out.strip().endswith("0 obligation(s)")

    bad = await provider.session.get(f"{running.ops_url}/sla/obligations?late=maybe")
    assert bad.status == 400
    assert "late" in (await bad.json())["detail"]
    bad = await provider.session.get(f"{running.ops_url}/sla/obligations?participant=gemeente-x")
    assert bad.status == 400
    assert "participant" in (await bad.json())["detail"]


async def test_dashboard_data_shows_the_chain_and_statuses(
    simulated_gateway: RunningGateway, reference: Path
) -> None:
    """``/dashboard/data``: the messages with their VSP statuses and what each opened and met."""
    running = simulated_gateway
    provider = await running.client(PROVIDER)
    municipality = await running.client(DIEMEN)
    conversatie = "7d0c4c36-1d53-4f7e-9a3b-6f5f0c3b1a01"
    response = await provider.push(
        example(reference, "WMO315"), "WMO315", recipient=DIEMEN, conversatie_id=conversatie
    )
    assert response.status == 204
    response = await municipality.push(
        example(reference, "WMO316"), "WMO316", recipient=PROVIDER, conversatie_id=conversatie
    )
    assert response.status == 204

    data = await (await provider.session.get(f"{running.ops_url}/dashboard/data")).json()
    assert data["clock"]["virtual"] is True
    by_type = {m["berichttype"]: m for m in data["messages"]}
    assert set(by_type) == {"WMO315", "WMO316"}
    assert by_type["WMO315"]["status"] == "Bezorgd"  # answered: delivered (VSP status)
    assert [h["status"] for h in by_type["WMO316"]["history"]][:2] == [
        "Ontvangen",
        "WordtVerwerkt",
    ]
    opened = [o for o in data["chains"] if o["trigger"]["berichttype"] == "WMO315"]
    assert len(opened) == 3
    assert {p["participant"] for p in data["participants"]} == {"gemeente-0384"}
    page = await provider.session.get(f"{running.ops_url}/dashboard")
    assert page.status == 200
    assert "SLA dashboard" in await page.text()


async def test_without_simulation_the_clock_cannot_be_moved(
    running_gateway: RunningGateway, reference: Path
) -> None:
    """Outside simulation: SLA routes served, clock admin absent; the summary counts per debtor."""
    running = running_gateway
    provider = await running.client(PROVIDER)
    response = await provider.push(example(reference, "WMO315"), "WMO315", recipient=DIEMEN)
    assert response.status == 204, await response.text()

    moved = await provider.session.post(
        f"{running.ops_url}/admin/clock/advance", json={"working_days": 6}
    )
    assert moved.status in (404, 405)
    summary = await (await provider.session.get(f"{running.ops_url}/sla/summary")).json()
    assert summary == [
        {
            "participant": "gemeente-0384",
            "owed": 3,
            "met_on_time": 0,
            "met_late": 0,
            "open": 3,
            "late": 0,
            "late_ratio": 0.0,
        }
    ]
