"""SIGTERM: the gateway stops accepting, finishes what is in flight, acknowledges nothing else."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from pathlib import Path

import pytest

from gateway.tls import client_context
from tests.fixtures.gateway import PUSH_URL
from tests.hostile.corpus import BOUNDARY, multipart, part
from tests.hostile.rawhttp import Answer, Request, send
from tests.reliability.process import AMSTERDAM, PROVIDER, GatewayProcess, drain, wmo305

IN_FLIGHT = 12


def slow_push(payload: bytes, traceer_id: str) -> Request:
    metadata = {
        "routeringgegevens": {
            "afzender": {"rol": "Instelling", "code": PROVIDER.code},
            "geadresseerden": [{"rol": "Gemeente", "code": AMSTERDAM.code}],
            "berichtstroom": {
                "berichttype": "WMO305",
                "berichtversie": 3,
                "berichtsubversie": 2,
                "actie": "Indienen",
            },
        },
        "referentiegegevens": {"conversatieId": str(uuid.uuid4()), "traceerId": traceer_id},
    }
    body = multipart(
        part("berichtMetadata", json.dumps(metadata).encode(), "application/json"),
        part("payload", payload),
    )
    # The body trickles in over about a second: the SIGTERM arrives while it is being read.
    return Request(
        "POST",
        PUSH_URL,
        (("Content-Type", f"multipart/form-data; boundary={BOUNDARY}"),),
        body,
        pieces=8,
        pause=0.12,
    )


async def test_sigterm_finishes_requests_in_flight_and_refuses_new_ones(
    gateway_process: GatewayProcess,
    amqp_url: str,
    certs_dir: Path,
    reference: Path,
    tmp_path: Path,
) -> None:
    """Pushes in flight at SIGTERM all end 2xx and are delivered; new connections are refused."""
    gateway_process.env["GATEWAY_BODY_TIMEOUT"] = "5"
    await gateway_process.start()
    example = (reference / "iwmo-3.2" / "examples" / "WMO305.xml").read_bytes()
    context = client_context(certs_dir, PROVIDER)
    traceer_ids = [str(uuid.uuid4()) for _ in range(IN_FLIGHT)]
    run = uuid.uuid4().hex[:4]
    requests = [
        send(
            "127.0.0.1",
            gateway_process.port,
            context,
            slow_push(wmo305(example, f"{run}{n:08d}"), traceer_id),
        )
        for n, traceer_id in enumerate(traceer_ids)
    ]
    # One request whose body never comes: in flight, but never processed.
    never = send(
        "127.0.0.1",
        gateway_process.port,
        context,
        Request("POST", "/v1/messages", (("Content-Type", "application/xml"),), b"<a", 10_000),
    )
    in_flight = [asyncio.ensure_future(r) for r in [*requests, never]]
    await asyncio.sleep(0.5)
    gateway_process.terminate()
    await asyncio.sleep(0.3)

    with pytest.raises(ConnectionRefusedError):
        await send("127.0.0.1", gateway_process.port, context, Request("GET", "/"), within=5)

    answers: list[Answer] = await asyncio.gather(*in_flight)
    assert [a.status for a in answers[:IN_FLIGHT]] == [204] * IN_FLIGHT, [
        a.body[:200] for a in answers
    ]
    assert answers[-1].status == 408
    assert await gateway_process.exit_status(within=40) == 0
    assert "stopping" in gateway_process.log()

    delivered = await drain(amqp_url, AMSTERDAM, IN_FLIGHT)
    assert sorted(delivered) == sorted(traceer_ids)
    ledger = tmp_path / "ledger.db"
    with sqlite3.connect(ledger) as connection:
        rows = dict(connection.execute("SELECT traceer_id, status FROM messages").fetchall())
    connection.close()
    assert rows == dict.fromkeys(traceer_ids, "WordtAangeboden")
