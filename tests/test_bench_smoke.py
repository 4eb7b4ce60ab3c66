"""The benchmark harness itself runs: its messages are valid, its load generator counts right.

Nothing here is about speed; ``python -m bench.run`` measures that, on demand.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import aio_pika
import pytest

from bench.frame_cost import by_fields_classes, dataclass_pickling
from bench.load import LoadSpec
from bench.messages import identificatie, wmo305, wmo323
from bench.push_cost import measure
from bench.run import ROOT, free_port, verdicts
from bench.servers import MINIMAL_QUEUE
from gateway.errors import SchemaViolation
from gateway.ledger import store
from gateway.ledger.obligations import ChainStep, Closing, Opening, Trigger
from gateway.ledger.writer import _Outcome
from gateway.standard.catalog import default_catalog
from gateway.standard.xmlsafe import parse_xml
from tests.fixtures.gateway import RunningGateway


def run_bench(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m bench.MODULE ARGS`` from the project's root; fails the test if it fails."""
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


async def run_load(spec: LoadSpec) -> dict[str, Any]:
    """``bench.load`` with ``spec`` in a process of its own; the result it printed last."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.load",
        json.dumps(asdict(spec)),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


def _validate(payload: bytes) -> str:
    catalog = default_catalog()
    doc = parse_xml(payload)
    message_type = catalog.identify(doc)
    catalog.validate(doc, message_type)
    return message_type.name


def test_the_305_is_valid_and_about_3_kb(reference: Path) -> None:
    """The upload benchmark's 305 is schema-valid, 3 to 4 KB, and its Identificatie varies."""
    template = wmo305(reference)
    first, second = template.render(identificatie(1, 1)), template.render(identificatie(1, 2))
    assert _validate(first) == "WMO305"
    assert 3 * 1024 <= len(first) < 4 * 1024
    assert first != second
    assert template.sender == "aanbieder-65656055"
    assert template.recipient == "gemeente-0363"


def test_323_by_lines_and_by_size(reference: Path) -> None:
    """A 323 grows to the asked number of Prestaties, or to just over the asked size."""
    by_lines = wmo323(reference, lines=40).render(identificatie(2, 1))
    assert _validate(by_lines) == "WMO323"
    assert by_lines.count(b"<wmo323:Prestatie>") == 40
    by_size = wmo323(reference, size=19 * 1024)
    assert 19 * 1024 <= by_size.size < 20 * 1024
    assert _validate(by_size.render(identificatie(2, 2))) == "WMO323"


async def test_push_cost_times_every_step_of_an_accepted_upload(reference: Path) -> None:
    """bench.push_cost runs each step; its push goes through (204), not into a refusal."""
    results = await measure(2, 1, reference)
    assert "chains step" in results
    assert all(len(times) == 1 and times[0] >= 0 for times in results.values())


def test_an_unfilled_template_is_not_a_valid_message(reference: Path) -> None:
    """The placeholder itself does not pass as an Identificatie-free message by accident."""
    with pytest.raises(SchemaViolation):
        _validate(wmo305(reference).xml.replace(b"@@@@@@@@@@@@", b""))


async def test_load_generator_counts_every_accepted_upload(
    running_gateway: RunningGateway, certs_dir: Path
) -> None:
    """bench.load in its own process uploads count 305s after its warm-up and sees each 204."""
    spec = LoadSpec(
        base_url=running_gateway.base_url,
        certs_dir=str(certs_dir),
        count=20,
        warmup=5,
        concurrency=4,
        seconds=60,
    )
    result = await run_load(spec)
    assert result["statuses"] == {"204": 20}, result
    assert result["ok"] == 20
    assert result["errors"] == 0
    assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]


async def test_the_minimal_pipeline_validates_and_routes_every_upload(
    certs_dir: Path, amqp_url: str
) -> None:
    """``bench.servers minimal``, the baseline beside the gateway: every valid 305 the load sends
    is answered 202 and is in its quorum queue, each one a valid 305."""
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.servers",
        "minimal",
        str(certs_dir),
        str(port),
        amqp_url,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert server.stdout is not None
        assert (await asyncio.wait_for(server.stdout.readline(), 60)).strip() == b"ready"
        spec = LoadSpec(
            base_url=f"https://localhost:{port}",
            certs_dir=str(certs_dir),
            count=10,
            warmup=0,
            concurrency=3,
            seconds=60,
        )
        assert (await run_load(spec))["statuses"] == {"202": 10}
    finally:
        server.terminate()
        await server.wait()
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        queue = await (await connection.channel()).get_queue(MINIMAL_QUEUE)
        bodies = []
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            bodies.append(message.body)
    assert len(bodies) == 10
    assert {_validate(body) for body in bodies} == {"WMO305"}


async def test_same_identificatie_is_accepted_once(
    running_gateway: RunningGateway, certs_dir: Path
) -> None:
    """The harness's TR056 check: one Identificatie with other content each time, one 204."""
    spec = LoadSpec(
        base_url=running_gateway.base_url,
        certs_dir=str(certs_dir),
        count=6,
        warmup=0,
        concurrency=3,
        same=True,
    )
    assert (await run_load(spec))["statuses"] == {"204": 1, "409": 5}


def test_verdicts_apply_the_issue_targets() -> None:
    """Targets are judged on the ratios of one run: 35% kept-alive with p99, 85% new, 800/s;
    the 25 MB message's peak counts the gateway's ledger writer process with the gateway."""
    results = {
        "gateway kept-alive": {"ratio_to_bare": 0.40, "p99_ms": 120.0},
        "gateway new connections": {"ratio_to_bare": 0.90},
        "round trip 305 -> 306": {"rate": 799.0, "p50_ms": 10.0, "p99_ms": 50.0},
        "gateway 25 MB 323 memory": {
            "ok": 1,
            "peak_over_size": 2.5,
            "writer_process_peak_over_size": [1.6],
        },
    }
    met = {what: ok for what, _, ok in verdicts(results)}
    assert met == {
        "upload kept-alive: >= 35% of bare, p99 < 100 ms": False,
        "upload new connections: >= 85% of bare": True,
        "round trip >= 800/s": False,
        "25 MB accepted, peak memory < 4x its size": False,
    }


def test_two_gateway_processes_run_side_by_side_correctly(tmp_path: Path) -> None:
    """``bench.run --quick --only two``: two gateways on one PostgreSQL ledger, loaded at once,
    deliver every accepted upload once and accept one Identificatie sent to both exactly once."""
    out = tmp_path / "two.json"
    run_bench("run", "--quick", "--only", "two", "--out", str(out))
    correct = json.loads(out.read_text())["results"]["two gateways correct"]
    assert correct["accepted"] == correct["in inbox"] == correct["distinct in inbox"] > 0
    assert correct["duplicates answers"] == {"204": 1, "409": 49}


def test_publish_cost_runs_both_ways_and_removes_its_vhost() -> None:
    """``bench.publish_cost`` publishes a few messages both ways and deletes its vhost after."""
    done = run_bench("publish_cost", "--count", "20", "--rounds", "1", "--in-flight", "5")
    assert "Broker.publish" in done.stdout
    assert "aio-pika Exchange.publish" in done.stdout
    vhosts = subprocess.run(
        ["rabbitmqctl", "-q", "list_vhosts"], capture_output=True, text=True, check=True
    )
    vhost = done.stdout.split("vhost ", 1)[1].split()[0]
    assert vhost.startswith("bench-publish-")
    assert vhost not in vhosts.stdout.split()


def test_frame_cost_pickles_the_ledger_s_own_operations_both_ways() -> None:
    """``bench.frame_cost`` captures an admission and a routed mark per 305 and times their
    frame with ``by_fields`` and with the dataclass's own pickling."""
    done = run_bench("frame_cost", "--admissions", "3", "--rounds", "1")
    result = json.loads(done.stdout)
    assert result["operations"] == 6
    for way in ("by_fields", "dataclass"):
        assert result[way]["pickle_us"] > 0
        assert result[way]["unpickle_us"] > 0
    # The dataclass's own pickling writes its state as a list after an empty constructor call.
    assert result["dataclass"]["bytes"] > result["by_fields"]["bytes"]


def test_frame_cost_finds_every_by_fields_class_and_puts_its_pickling_back() -> None:
    """What it takes ``by_fields`` from is found, not listed: the operations a 305 crosses
    with among them, ``_Admit`` (a ``__reduce__`` of its own) not; and given back after."""
    classes = by_fields_classes()
    assert {Trigger, ChainStep, Opening, Closing, store._Routed, _Outcome} <= set(classes)
    assert store._Admit not in classes
    before = {cls: cls.__dict__["__reduce__"] for cls in classes}
    with dataclass_pickling():
        assert all("__reduce__" not in cls.__dict__ for cls in classes)
    assert {cls: cls.__dict__["__reduce__"] for cls in classes} == before


def test_cpu_split_names_the_gateway_its_writer_and_the_load() -> None:
    """``bench.cpu_split`` loads a gateway briefly and reports the CPU of the gateway, its ledger
    writer process and the load generator, what each waited for a core, and the machine's idle
    time (nothing about speed)."""
    done = run_bench("cpu_split", "--seconds", "2", "--concurrency", "4")
    lines = done.stdout.splitlines()
    assert lines[0].startswith("gateway: ")
    assert "'204'" in lines[0]
    for name in ("server: ", "(ledger writer): ", "load generator: "):
        line = next((line for line in lines if name in line), None)
        assert line is not None, (name, done.stdout)
        assert re.search(r"[0-9.]+ cores \(user [0-9.]+\), waited for a core [0-9.]+$", line), line
    assert any(line.startswith("machine idle: ") for line in lines), done.stdout


def test_cpu_split_round_trip_names_the_simulated_municipality() -> None:
    """With ``--roundtrip`` the load is 305s answered by the simulated municipality, whose CPU is
    reported beside the gateway's; round trips are counted from the first (no warm-up)."""
    done = run_bench("cpu_split", "--roundtrip", "--seconds", "2", "--concurrency", "4")
    lines = done.stdout.splitlines()
    first = re.match(r"round trip: ([0-9]+)/s", lines[0])
    assert first is not None, done.stdout
    assert int(first.group(1)) > 0, done.stdout
    municipality = next((line for line in lines if line.startswith("simulated municipality: ")), "")
    assert re.search(r"[0-9.]+ cores \(user [0-9.]+\)", municipality), done.stdout


def test_reads_times_each_read_of_the_ledger() -> None:
    """``bench.reads`` admits a few 305s and times get, inbox and payload (nothing about speed)."""
    done = run_bench("reads", "--messages", "20", "--count", "20")
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["read"] for line in lines] == ["get", "inbox", "payload"]
    for line in lines:
        assert line["cpu_us"] > 0, line
        assert line["at_once_cpu_us"] > 0, line
