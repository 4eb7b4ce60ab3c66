"""The OpenAPI document: served on both ports, covering every route, and held to by the server.

The last test runs schemathesis (its command line, with every check it has) against live
gateways: over mutual TLS with a provider's certificate on the participants' port, and plainly on
the ops port of a gateway in simulation mode, which serves the clock and policy admin too. The
other tests pin what it found. Valid messages from ``../shared/reference/`` are given to it as
examples, so that the accepting paths are exercised too; the document does not depend on them.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import schemathesis
from aiohttp import web
from schemathesis.core.result import Ok

from gateway.config import Settings
from gateway.http.openapi import document
from gateway.participants import Participant
from gateway.server import Gateway
from tests.fixtures.gateway import PULL_URL, PUSH_URL, STATUS_URL, Client, RunningGateway
from tests.http.test_end_to_end import example

PROVIDER = Participant.parse("aanbieder-42420001")
DIEMEN = Participant.parse("gemeente-0384")

METHODS = ("get", "put", "post", "delete", "patch")
# Enough to find what a schema and a server disagree on, few enough for CI's two cores.
MAX_EXAMPLES = "15"

# What a schema cannot say. Any bytes fit the payload's schema, but only a valid iWmo/iJw message
# is accepted: the others are refused for their content (400 BRS14, 422 BRS13 ...). And the
# status query takes exactly one of its two optional parameters, which OpenAPI cannot express.
SCHEMATHESIS_TOML = """
[[operations]]
include-operation-id = ["PostBericht", "PostMessage"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "403", "409", "422"]

[[operations]]
include-operation-id = "ZoekBerichtstatussen"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400"]
"""

# On the ops port, what depends on state: the clock stays in the calendar's years, and a policy
# names a participant of the registry, known message types and a policy that can be read.
OPS_TOML = """
[[operations]]
include-operation-id = ["SetClock", "AdvanceClock", "ReplacePolicies", "PutPolicy", "DeletePolicy"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "404", "422"]
"""


def documented(spec: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in METHODS
        if method in item
    }


def served(app: web.Application) -> set[tuple[str, str]]:
    """The (method, path template) pairs an app routes; aiohttp adds HEAD to every GET."""
    return {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }


def apps(running: RunningGateway) -> tuple[web.Application, web.Application]:
    participants, ops = (runner.app for runner in running.gateway.runners)
    return participants, ops


@pytest.fixture
async def simulated_gateway(
    certs_dir: Path, amqp_url: str, tmp_path: Path
) -> AsyncIterator[RunningGateway]:
    """Like ``running_gateway``, in simulation mode: the ops port has the clock admin too."""
    settings = Settings(
        amqp_url=amqp_url,
        db_url=f"sqlite:///{tmp_path / 'simulated.db'}",
        certs_dir=certs_dir,
        port=0,
        ops_port=0,
        simulate=True,
    )
    running = RunningGateway(await Gateway.start(settings), certs_dir, amqp_url)
    try:
        yield running
    finally:
        await running.close()


def test_document_loads_as_openapi_3_1() -> None:
    """The document is OpenAPI 3.1 that schemathesis reads, every $ref resolving."""
    spec = document()
    assert spec["openapi"].startswith("3.1")
    schema = schemathesis.openapi.from_dict(spec)
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    assert {(op.method.upper(), op.path) for op in operations} == documented(spec)


def test_every_error_response_is_problem_json() -> None:
    """Every 4xx and 5xx response in the document is application/problem+json with Problem."""
    spec = document()
    shared = spec["components"]["responses"]
    for path, item in spec["paths"].items():
        for method in METHODS:
            for status, response in item.get(method, {}).get("responses", {}).items():
                if not status.startswith(("4", "5")) or path == "/readyz":
                    continue
                if "$ref" in response:
                    response = shared[response["$ref"].rsplit("/", 1)[1]]
                content = response["content"]
                assert list(content) == ["application/problem+json"], (method, path, status)
                schema = content["application/problem+json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Problem"}, (method, path, status)


async def test_document_names_every_route_of_both_ports(
    simulated_gateway: RunningGateway,
) -> None:
    """The document names exactly the routes the two ports serve (in simulation mode, the most)."""
    participants, ops = apps(simulated_gateway)
    spec = document()
    missing = (served(participants) | served(ops)) - documented(spec)
    assert not missing, f"routes served but not in gateway/http/openapi.json: {sorted(missing)}"
    assert documented(spec) == served(participants) | served(ops)


async def test_document_is_served_on_both_ports(running_gateway: RunningGateway) -> None:
    """``GET /openapi.json`` answers the document on the mTLS port and on the ops port."""
    provider = await running_gateway.client(PROVIDER)
    on_tls = await provider.session.get(provider.url("/openapi.json"))
    assert on_tls.status == 200
    assert on_tls.content_type == "application/json"
    assert await on_tls.json() == document()
    async with aiohttp.ClientSession() as session:
        on_ops = await session.get(f"{running_gateway.ops_url}/openapi.json")
        assert on_ops.status == 200
        assert await on_ops.json() == document()


async def test_what_schemathesis_found_stays_fixed(running_gateway: RunningGateway) -> None:
    """405 names the allowed methods; odd limits, zoekpads and metadata are 400, not 2xx or 5xx."""
    provider = await running_gateway.client(PROVIDER)
    session = provider.session
    traced = await session.request("TRACE", provider.url(PUSH_URL))
    assert (traced.status, traced.headers.get("Allow")) == (405, "POST")
    deleted = await session.delete(provider.url(f"{PULL_URL}/zoeken"))
    assert (deleted.status, deleted.headers.get("Allow")) == (405, "POST")
    # "²" is a digit to str.isdigit() and not a number to int().
    squared = await session.get(provider.url(PULL_URL), params={"limit": "²"})
    assert squared.status == 400
    # To JSON, 3.0 is a whole number as much as 3 is.
    whole = {"zoekpadType": "ZoekpadOpBerichtstroom", "berichttype": "WMO301", "berichtversie": 3.0}
    assert (await session.post(provider.url(f"{PULL_URL}/zoeken"), json=whole)).status == 200
    for zoekpad in (
        {"zoekpadType": "ZoekpadOpBerichtstroom", "berichttype": "WMO301", "berichtversie": "3"},
        {"zoekpadType": "ZoekpadOpBerichtstroom", "berichttype": "W" * 61},
        {"zoekpadType": "ZoekpadOpBerichtstroom", "berichttype": "WMO301", "geadresseerdeCode": 1},
    ):
        searched = await session.post(provider.url(f"{PULL_URL}/zoeken"), json=zoekpad)
        assert searched.status == 400, zoekpad
    base = push_metadata(str(uuid.uuid4()), str(uuid.uuid4()))
    for extra in (
        {"verwerkingscontext": [{"sleutel": "k", "waarde": ["v"], "onbekend": 1}]},
        {"verwerkingscontext": [{"sleutel": "k", "waarde": []}]},
        {"referentiegegevens": {**base["referentiegegevens"], "alsAntwoordOp": None}},
    ):
        pushed = await provider.push(
            b"<x/>", "WMO315", recipient=DIEMEN, metadata={**base, **extra}
        )
        assert pushed.status == 400, extra
        assert "berichtMetadata" in (await pushed.json(content_type=None))["title"]


async def test_what_schemathesis_found_on_the_admin_routes_stays_fixed(
    simulated_gateway: RunningGateway,
) -> None:
    """Clock and policy admin: bodies not UTF-8, years off the calendar, "²" are 4xx, not 500."""
    ops = simulated_gateway.ops_url
    async with aiohttp.ClientSession() as session:
        for method, path in (("PUT", "/admin/clock"), ("PUT", "/admin/policies")):
            response = await session.request(method, f"{ops}{path}", data=b"\xb3")
            assert response.status in (400, 422), (path, await response.text())
        # The calendar counts working days from 1970 to 2199; the clock stays inside it.
        for now in ("9999-12-31T23:30:00+00:00", "1970-06-01T00:00:00+00:00"):
            moved = await session.put(f"{ops}/admin/clock", json={"now": now})
            assert moved.status == 422, now
        far = await session.post(f"{ops}/admin/clock/advance", json={"working_days": 10**6})
        assert far.status == 422
        shown = await session.get(f"{ops}/admin/clock")
        assert shown.status == 200
        squared = await session.put(f"{ops}/admin/policies/*/WMO302", json={"policy": "after:²"})
        assert squared.status == 422


def for_port(spec: dict[str, Any], app: web.Application) -> dict[str, Any]:
    """The document narrowed to the operations one port serves."""
    routes = served(app)
    narrowed = dict(spec)
    narrowed["paths"] = {}
    for path, item in spec["paths"].items():
        kept = {
            key: value
            for key, value in item.items()
            if key not in METHODS or (key.upper(), path) in routes
        }
        if any(method in kept for method in METHODS):
            narrowed["paths"][path] = kept
    return narrowed


def push_metadata(traceer_id: str, conversatie_id: str) -> dict[str, Any]:
    return {
        "routeringgegevens": {
            "afzender": {"rol": "Instelling", "code": PROVIDER.code},
            "geadresseerden": [{"rol": "Gemeente", "code": DIEMEN.code}],
            "berichtstroom": {
                "berichttype": "WMO315",
                "berichtversie": 3,
                "berichtsubversie": 2,
                "actie": "Indienen",
            },
        },
        "referentiegegevens": {"conversatieId": conversatie_id, "traceerId": traceer_id},
    }


def operation(spec: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    found: dict[str, Any] = spec["paths"][path][method]
    return found


def set_parameter_example(spec: dict[str, Any], op: dict[str, Any], name: str, value: str) -> None:
    """Give the parameter ``name`` an example; a shared parameter is copied in first."""
    shared = spec["components"]["parameters"]
    parameters = [
        shared[p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p for p in op["parameters"]
    ]
    op["parameters"] = [{**p, "example": value} if p["name"] == name else p for p in parameters]


async def prepare_inbox(provider: Client, municipality: Client, reference: Path) -> dict[str, str]:
    """A 315 sent, its 316 and a 301 waiting in the provider's inbox: ids for the examples."""
    sent_id, conversatie_id = str(uuid.uuid4()), str(uuid.uuid4())
    pushed = await provider.push(
        example(reference, "WMO315"),
        "WMO315",
        recipient=DIEMEN,
        traceer_id=sent_id,
        conversatie_id=conversatie_id,
    )
    assert pushed.status == 204, await pushed.text()
    ids = {"sent": sent_id, "conversation": conversatie_id}
    for name in ("WMO316", "WMO301"):
        answer = await municipality.post_xml(example(reference, name))
        assert answer.status == 202, await answer.text()
        ids[name] = (await answer.json())["traceerId"]
    return ids


def with_examples(spec: dict[str, Any], reference: Path, ids: dict[str, str]) -> dict[str, Any]:
    """The participants' document with live examples: a valid 315, and ids that exist."""
    xml = example(reference, "WMO315").decode("utf-8")
    push = operation(spec, PUSH_URL, "post")["requestBody"]["content"]["multipart/form-data"]
    push["example"] = {
        "berichtMetadata": push_metadata(ids["sent"], ids["conversation"]),
        "payload": xml,
    }
    raw = operation(spec, "/v1/messages", "post")["requestBody"]["content"]
    raw["application/xml"]["example"] = xml
    download = operation(spec, f"{PULL_URL}/{{traceerId}}/payload", "get")
    set_parameter_example(spec, download, "traceerId", ids["WMO316"])
    confirm = operation(spec, f"{PULL_URL}/{{traceerId}}", "delete")
    set_parameter_example(spec, confirm, "traceerId", ids["WMO301"])
    set_parameter_example(spec, operation(spec, STATUS_URL, "get"), "traceerId", ids["sent"])
    search = operation(spec, f"{PULL_URL}/zoeken", "post")["requestBody"]["content"]
    search["application/json"]["example"] = {
        "zoekpadType": "ZoekpadOpConversatieId",
        "conversatieId": ids["conversation"],
    }
    return spec


def write_run(spec: dict[str, Any], where: Path) -> tuple[Path, Path]:
    """The document and the configuration of one run, in a directory of its own."""
    where.mkdir()
    location = where / "openapi.json"
    location.write_text(json.dumps(spec), encoding="utf-8")
    operation_ids = {
        item[method]["operationId"]
        for item in spec["paths"].values()
        for method in METHODS
        if method in item
    }
    config = where / "schemathesis.toml"
    # Only what applies to this port: schemathesis warns about filters that match nothing.
    config.write_text(
        SCHEMATHESIS_TOML if "PostBericht" in operation_ids else OPS_TOML, encoding="utf-8"
    )
    return location, config


def _seed() -> list[str]:
    """A fixed seed, so a CI run explores what the last run explored (and a failure can be
    replayed); ``SCHEMATHESIS_SEED=random`` explores anew, any other value is that seed."""
    seed = os.environ.get("SCHEMATHESIS_SEED", "20201230")
    return [] if seed == "random" else ["--seed", seed]


async def schemathesis_run(spec: dict[str, Any], base_url: str, where: Path, *options: str) -> str:
    """Run ``schemathesis run`` on ``spec`` against ``base_url``; the output if anything failed."""
    location, config = write_run(spec, where)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        str(location),
        "--url",
        base_url,
        "--max-examples",
        MAX_EXAMPLES,
        "--phases",
        "examples,coverage,fuzzing",
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--request-timeout",
        "10",
        "--no-color",
        *_seed(),
        *options,
        cwd=where,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    text = output.decode("utf-8", errors="replace")
    (where / "output.txt").write_text(text, encoding="utf-8")  # kept for reading after a run
    return "" if process.returncode == 0 else text


async def test_schemathesis_finds_no_failure_on_either_port(
    running_gateway: RunningGateway,
    simulated_gateway: RunningGateway,
    reference: Path,
    tmp_path: Path,
) -> None:
    """schemathesis, all checks, against live gateways: mTLS port and ops port, no failure."""
    provider = await running_gateway.client(PROVIDER)
    municipality = await running_gateway.client(DIEMEN)
    ids = await prepare_inbox(provider, municipality, reference)
    participants, _ = apps(running_gateway)
    certs = running_gateway.certs_dir
    # The ops port of a gateway in simulation mode, whose clock and answer policies are served
    # too; a chain of its own gives the SLA report and the dashboard something to show. Its
    # clock is moved at random, so the participants' run goes to a gateway on the real one.
    await prepare_inbox(
        await simulated_gateway.client(PROVIDER),
        await simulated_gateway.client(DIEMEN),
        reference,
    )
    _, ops = apps(simulated_gateway)

    tls_failures, ops_failures = await asyncio.gather(
        schemathesis_run(
            with_examples(for_port(document(), participants), reference, ids),
            running_gateway.base_url,
            tmp_path / "participants",
            "--request-cert",
            str(certs / f"{PROVIDER.key}.crt"),
            "--request-cert-key",
            str(certs / f"{PROVIDER.key}.key"),
            "--tls-verify",
            str(certs / "ca.crt"),
        ),
        schemathesis_run(for_port(document(), ops), simulated_gateway.ops_url, tmp_path / "ops"),
    )
    assert not tls_failures, tls_failures
    assert not ops_failures, ops_failures
    # The examples reached the accepting paths: the 301 was confirmed by its example DELETE.
    status = await provider.session.get(
        provider.url(STATUS_URL), params={"traceerId": ids["WMO301"]}
    )
    [entry] = await status.json()
    assert entry["berichtstatus"] == "Bezorgd"
