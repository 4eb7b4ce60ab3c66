"""GATEWAY_WORKERS=2: a supervisor, two worker processes on one port, the counts of both."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import aio_pika
import aiohttp
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from gateway.routing import DEAD_LETTER_LEDGER_QUEUE
from gateway.tls import client_context
from tests.hostile.rawhttp import Answer, Request, send
from tests.reliability.process import (
    AMSTERDAM,
    PROVIDER,
    ROOT,
    GatewayProcess,
    drain,
    free_port,
    push_until_accepted,
    serve_once,
    wmo305,
)
from tests.reliability.test_shutdown import slow_push

UPLOADS = 60


def workers_of(supervisor: int) -> dict[int, int]:
    """The supervisor's worker processes, as index -> pid (from ``/proc``)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name in parentheses may hold spaces: the fields follow the last ')'.
            parent = int(stat.read_text().rpartition(")")[2].split()[1])
            if parent != supervisor:
                continue
            environ = (stat.parent / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue  # gone meanwhile
        for variable in environ:
            if variable.startswith(b"GATEWAY_WORKER="):
                found[int(variable.partition(b"=")[2])] = int(stat.parent.name)
    return found


def environment_of(pid: int, name: str) -> str:
    for variable in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
        key, _, value = variable.decode().partition("=")
        if key == name:
            return value
    raise AssertionError(f"process {pid} has no {name}")


async def eventually(
    what: str, check: Callable[[], bool | Awaitable[bool]], *, within: float = 60.0
) -> None:
    deadline = time.monotonic() + within
    while not await _result(check()):
        if time.monotonic() > deadline:
            pytest.fail(f"not within {within:g} s: {what}")
        await asyncio.sleep(0.1)


async def _result(value: bool | Awaitable[bool]) -> bool:
    return value if isinstance(value, bool) else await value


def existing(paths: list[Path]) -> list[Path]:
    return [path for path in paths if path.exists()]


async def accepted_on_metrics(gateway: GatewayProcess) -> float:
    """``gateway_messages_accepted_total`` as the primary's /metrics tells it, all types."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{gateway.ops_url}/metrics") as response,
    ):
        text = await response.text()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "gateway_messages_accepted_total"
    )


def accepted_in_files(metrics_dir: Path, pid: int) -> float:
    """What one worker counted as accepted: its own multiprocess file, whose name holds its pid."""
    counters = MultiProcessCollector.merge(  # type: ignore[no-untyped-call]
        [str(metrics_dir / f"counter_{pid}.db")]
    )
    return float(
        sum(
            sample.value
            for counter in counters
            for sample in counter.samples
            if sample.name == "gateway_messages_accepted_total"
        )
    )


async def upload(
    gateway: GatewayProcess, certs_dir: Path, payloads: list[bytes]
) -> tuple[list[str], dict[int, int], list[int]]:
    """Push every payload over a new connection each, as a careful vendor does (pushing again on
    503 or a dropped connection); the accepted traceerIds, all answers and connection errors."""
    traceer_ids = [str(uuid.uuid4()) for _ in payloads]
    statuses: dict[int, int] = {}
    errors: list[int] = []
    connector = aiohttp.TCPConnector(ssl=client_context(certs_dir, PROVIDER), force_close=True)
    at_once = asyncio.Semaphore(8)
    give_up = time.monotonic() + 60

    async def one(payload: bytes, traceer_id: str) -> bool:
        async with at_once:
            return await push_until_accepted(
                session, gateway.base_url, payload, traceer_id, statuses, errors, give_up=give_up
            )

    async with aiohttp.ClientSession(connector=connector) as session:
        done = await asyncio.gather(
            *(one(p, t) for p, t in zip(payloads, traceer_ids, strict=True))
        )
    return [t for t, ok in zip(traceer_ids, done, strict=True) if ok], statuses, errors


async def ready(gateway: GatewayProcess) -> bool:
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{gateway.ops_url}/readyz") as response,
        ):
            return response.status == 200
    except aiohttp.ClientError:
        return False


async def dead_letter_consumers(amqp_url: str) -> int:
    """How many consumers the gateway's dead-letter queue has."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(DEAD_LETTER_LEDGER_QUEUE, passive=True)
        return queue.declaration_result.consumer_count or 0
    finally:
        await connection.close()


async def ledger_consumers(amqp_url: str) -> bool:
    return await dead_letter_consumers(amqp_url) > 0


def payloads(example: bytes, count: int) -> list[bytes]:
    run = uuid.uuid4().hex[:4]
    return [wmo305(example, f"{run}{n:08d}") for n in range(count)]


@pytest.fixture
def example(reference: Path) -> bytes:
    return (reference / "iwmo-3.2" / "examples" / "WMO305.xml").read_bytes()


async def test_two_workers_share_the_uploads_and_count_them_together(
    gateway_process: GatewayProcess, amqp_url: str, certs_dir: Path, example: bytes
) -> None:
    """Uploads over new connections: all 2xx, each delivered once, both workers took some."""
    gateway_process.env["GATEWAY_WORKERS"] = "2"
    await gateway_process.start()  # /readyz is 200 only when both workers serve
    workers = workers_of(gateway_process.pid)
    assert sorted(workers) == [0, 1]
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{gateway_process.ops_url}/readyz") as response,
    ):
        assert (await response.json())["checks"] == {
            "broker": True,
            "ledger": True,
            "workers": True,
        }

    # The dead-letter watch runs in the primary alone: one consumer on its queue, not two.
    await eventually("the primary consumes iwmo.dead.ledger", lambda: ledger_consumers(amqp_url))
    await asyncio.sleep(0.5)  # time for a second one to appear, were there one
    assert await dead_letter_consumers(amqp_url) == 1

    traceer_ids, statuses, errors = await upload(
        gateway_process, certs_dir, payloads(example, UPLOADS)
    )

    assert (statuses, errors) == ({204: UPLOADS}, [])
    delivered = await drain(amqp_url, AMSTERDAM, UPLOADS)
    assert sorted(delivered) == sorted(traceer_ids)
    metrics_dir = Path(environment_of(workers[0], "PROMETHEUS_MULTIPROC_DIR"))
    per_worker = {index: accepted_in_files(metrics_dir, pid) for index, pid in workers.items()}
    assert all(count > 0 for count in per_worker.values()), per_worker
    assert sum(per_worker.values()) == UPLOADS
    assert await accepted_on_metrics(gateway_process) == UPLOADS


async def test_sigterm_stops_every_worker_and_loses_nothing(
    gateway_process: GatewayProcess, amqp_url: str, certs_dir: Path, example: bytes
) -> None:
    """SIGTERM to the supervisor: pushes in flight on both workers end 2xx, then it exits 0."""
    gateway_process.env["GATEWAY_WORKERS"] = "2"
    await gateway_process.start()
    workers = workers_of(gateway_process.pid)
    metrics_dir = Path(environment_of(workers[0], "PROMETHEUS_MULTIPROC_DIR"))
    context = client_context(certs_dir, PROVIDER)
    traceer_ids = [str(uuid.uuid4()) for _ in range(12)]
    in_flight = [
        asyncio.ensure_future(
            send("127.0.0.1", gateway_process.port, context, slow_push(payload, traceer_id))
        )
        for payload, traceer_id in zip(payloads(example, 12), traceer_ids, strict=True)
    ]
    await asyncio.sleep(0.5)
    gateway_process.terminate()

    answers: list[Answer] = await asyncio.gather(*in_flight)
    assert [a.status for a in answers] == [204] * 12, [a.body[:200] for a in answers]
    assert await gateway_process.exit_status(within=60) == 0
    assert not existing([Path(f"/proc/{pid}") for pid in workers.values()] + [metrics_dir])
    with pytest.raises(ConnectionRefusedError):
        await send("127.0.0.1", gateway_process.port, context, Request("GET", "/"), within=5)
    delivered = await drain(amqp_url, AMSTERDAM, 12)
    assert sorted(delivered) == sorted(traceer_ids)


async def test_a_killed_worker_is_replaced_and_the_port_keeps_answering(
    gateway_process: GatewayProcess, amqp_url: str, certs_dir: Path, example: bytes
) -> None:
    """SIGKILL a worker, then the primary: each is replaced; nothing they counted is lost."""
    gateway_process.env["GATEWAY_WORKERS"] = "2"
    await gateway_process.start()
    messages = payloads(example, 60)
    accepted, _, _ = await upload(gateway_process, certs_dir, messages[:20])

    def replaced(index: int, killed: int) -> bool:
        return workers_of(gateway_process.pid).get(index) not in (None, killed)

    for index, batch in ((1, messages[20:40]), (0, messages[40:])):
        killed = workers_of(gateway_process.pid)[index]
        os.kill(killed, signal.SIGKILL)
        # Meanwhile the other worker answers on the port alone (a connection the killed one had
        # queued is reset, and pushed again).
        accepted += (await upload(gateway_process, certs_dir, batch))[0]
        await eventually(f"worker {index} replaced", partial(replaced, index, killed))
        await eventually("the gateway ready again", lambda: ready(gateway_process))

    assert len(accepted) == len(messages)
    assert await accepted_on_metrics(gateway_process) == len(messages)
    delivered = await drain(amqp_url, AMSTERDAM, len(messages))
    assert set(delivered) == set(accepted)
    gateway_process.terminate()
    assert await gateway_process.exit_status(within=60) == 0


def test_a_worker_that_cannot_start_stops_the_gateway_once(tmp_path: Path) -> None:
    """A bad setting only a worker finds (no certificates): one message, exit 2, no retries."""
    result = serve_once(
        "--workers",
        "2",
        "--port",
        str(free_port()),
        env={"GATEWAY_CERTS": str(tmp_path / "none")},
        cwd=ROOT,
        timeout=90,
    )
    assert result.returncode == 2
    assert result.stderr.count("no such file") == 1, result.stderr
    assert result.stderr.count("worker 0 started") == 1
    assert "worker 1 started" not in result.stderr
