"""The VSP's own OpenAPI documents (``../shared/reference/vecozo/``) against the gateway.

The project's document must offer every VSP operation at the VSP's path (the server's base path
and the operation's path), with the VSP's parameters and at least the VSP's status codes; and what
the live gateway answers must be valid against the VSP's schemas: the pull list, a search, the
statuses, and the ValidationProblemDetails of a 400 or 422. Software written against the VSP's
documents then reads the gateway's answers as it reads the VSP's.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema_rs
import pytest

from gateway.http.openapi import document
from gateway.participants import Participant
from gateway.vsp import Berichtstatus
from tests.conftest import REFERENCE
from tests.fixtures.gateway import PULL_URL, STATUS_URL, RunningGateway
from tests.http.test_end_to_end import example

VECOZO = REFERENCE / "vecozo"
PROVIDER = Participant.parse("aanbieder-42420001")
DIEMEN = Participant.parse("gemeente-0384")
METHODS = ("get", "put", "post", "delete", "patch")


def vsp_document(name: str) -> dict[str, Any]:
    [path] = VECOZO.glob(f"*{name}*.json")
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


PUSH = vsp_document("Push")
PULL = vsp_document("berichtuitwisseling-rest-pull")
STATUS = vsp_document("berichtstatus")


def base_path(spec: dict[str, Any]) -> str:
    """The path of the production server: ``/berichtenservice/berichten/rest-pull/v1``."""
    url: str = spec["servers"][0]["url"]
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def vsp_operations() -> Iterator[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(method, full path, operation, its document) of every operation of the three documents."""
    for spec in (PUSH, PULL, STATUS):
        for path, item in spec["paths"].items():
            for method in METHODS:
                if method in item:
                    yield method, base_path(spec) + path, item[method], spec


def parameters(spec: dict[str, Any], operation: dict[str, Any]) -> set[tuple[str, str]]:
    found = set()
    for parameter in operation.get("parameters", []):
        if "$ref" in parameter:
            parameter = spec["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[1]]
        found.add((parameter["name"], parameter["in"]))
    return found


def validator(spec: dict[str, Any], schema: dict[str, Any]) -> jsonschema_rs.Validator:
    """A validator of ``schema``, whose ``$ref``s point into ``spec``'s components."""
    return jsonschema_rs.Draft7Validator(
        {**schema, "components": spec["components"]}, validate_formats=True
    )


def response_schema(spec: dict[str, Any], path: str, method: str, status: str) -> dict[str, Any]:
    content = spec["paths"][path][method]["responses"][status]["content"]
    schema: dict[str, Any] = content["application/json"]["schema"]
    return schema


def assert_valid(spec: dict[str, Any], schema: dict[str, Any], instance: object) -> None:
    errors = [error.message for error in validator(spec, schema).iter_errors(instance)]
    assert not errors, (errors, instance)


OPERATIONS = list(vsp_operations())


def test_the_three_documents_are_read() -> None:
    """Push, pull and berichtstatus: six operations between them."""
    assert sorted((method, path) for method, path, _, _ in OPERATIONS) == [
        ("delete", "/berichtenservice/berichten/rest-pull/v1/berichten/{traceerId}"),
        ("get", "/berichtenservice/berichten/rest-pull/v1/berichten"),
        ("get", "/berichtenservice/berichten/rest-pull/v1/berichten/{traceerId}/payload"),
        ("get", "/berichtenservice/berichtstatus/rest-pull/v3/berichtstatussen"),
        ("post", "/berichtenservice/berichten/rest-pull/v1/berichten/zoeken"),
        ("post", "/berichtenservice/berichten/rest-push/v1/berichten"),
    ]


@pytest.mark.parametrize(
    ("method", "path", "operation", "spec"),
    OPERATIONS,
    ids=[f"{method.upper()} {path}" for method, path, _, _ in OPERATIONS],
)
def test_every_vsp_operation_is_offered_as_the_vsp_documents_it(
    method: str, path: str, operation: dict[str, Any], spec: dict[str, Any]
) -> None:
    """Same path, method, operationId and parameters; every VSP status code among ours."""
    ours = document()
    assert path in ours["paths"], path
    mine = ours["paths"][path][method]
    assert mine["operationId"] == operation["operationId"]
    assert parameters(ours, mine) == parameters(spec, operation)
    assert set(operation["responses"]) <= set(mine["responses"])
    shared = ours["components"]["responses"]
    for status, response in operation["responses"].items():
        answer = mine["responses"][status]
        if "$ref" in answer:
            answer = shared[answer["$ref"].rsplit("/", 1)[1]]
        offered = set(answer.get("content", {}))
        if status.startswith("2"):
            assert set(response.get("content", {})) == offered, status
        else:
            # The VSP's error bodies are application/json; ours problem+json, the RFC 9457 form
            # of the same ValidationProblemDetails (checked live below).
            assert offered == {"application/problem+json"}, status
    if "requestBody" in operation:
        assert set(operation["requestBody"]["content"]) == set(mine["requestBody"]["content"])


def test_the_status_values_are_the_vsps() -> None:
    """Every status the gateway gives is a v3 Berichtstatus; only the two of partial uploads
    (which the gateway does not take) are left out."""
    vsp = set(STATUS["components"]["schemas"]["Berichtstatus"]["enum"])
    ours = {status.value for status in Berichtstatus}
    assert ours <= vsp
    assert vsp - ours == {"DeelsOntvangen", "DeelberichtAanleveringAfgekeurd"}


async def test_live_answers_are_valid_against_the_vsps_schemas(
    running_gateway: RunningGateway, reference: Path
) -> None:
    """List, search, statuses and the error bodies of push, list and search, as the VSP's
    documents describe them."""
    provider = await running_gateway.client(PROVIDER)
    municipality = await running_gateway.client(DIEMEN)
    sent, conversation = str(uuid.uuid4()), str(uuid.uuid4())
    pushed = await provider.push(
        example(reference, "WMO315"),
        "WMO315",
        recipient=DIEMEN,
        traceer_id=sent,
        conversatie_id=conversation,
    )
    assert pushed.status == 204, await pushed.text()
    answered = await municipality.post_xml(example(reference, "WMO316"))
    assert answered.status == 202, await answered.text()
    refused_id = str(uuid.uuid4())
    refused = await provider.push(b"not xml", "WMO315", recipient=DIEMEN, traceer_id=refused_id)
    assert refused.status == 400

    async def json_of(response: aiohttp.ClientResponse, status: int) -> Any:
        assert response.status == status, await response.text()
        return await response.json(content_type=None)

    session = provider.session
    listing = await json_of(await session.get(provider.url(PULL_URL)), 200)
    assert len(listing) == 1
    assert_valid(PULL, response_schema(PULL, "/berichten", "get", "200"), listing)
    search = {"zoekpadType": "ZoekpadOpConversatieId", "conversatieId": conversation}
    found = await json_of(await session.post(provider.url(f"{PULL_URL}/zoeken"), json=search), 200)
    assert found == listing
    assert_valid(PULL, response_schema(PULL, "/berichten/zoeken", "post", "200"), found)
    statuses = await json_of(
        await session.get(provider.url(STATUS_URL), params={"conversatieId": conversation}), 200
    )
    assert {s["berichtstroom"]["berichttype"] for s in statuses} == {"WMO315", "WMO316"}
    assert_valid(STATUS, response_schema(STATUS, "/berichtstatussen", "get", "200"), statuses)
    # A refused message's status carries its melding.
    refusals = await json_of(
        await session.get(provider.url(STATUS_URL), params={"traceerId": refused_id}), 200
    )
    assert [r["berichtstatus"] for r in refusals] == ["AfgekeurdDoorDienst"]
    assert refusals[0]["meldingen"][0]["code"] == "BRS14"
    assert_valid(STATUS, response_schema(STATUS, "/berichtstatussen", "get", "200"), refusals)

    problems = {
        "list limit 0": (
            PULL,
            response_schema(PULL, "/berichten", "get", "400"),
            await json_of(await session.get(provider.url(PULL_URL), params={"limit": "0"}), 400),
        ),
        "bad zoekpad": (
            PULL,
            response_schema(PULL, "/berichten/zoeken", "post", "400"),
            await json_of(
                await session.post(
                    provider.url(f"{PULL_URL}/zoeken"),
                    json={"zoekpadType": "ZoekpadOpConversatieId", "conversatieId": "x"},
                ),
                400,
            ),
        ),
        "bad metadata": (
            PUSH,
            response_schema(PUSH, "/berichten", "post", "400"),
            await json_of(
                await provider.push(
                    example(reference, "WMO315"),
                    "WMO315",
                    recipient=DIEMEN,
                    metadata={"routeringgegevens": {}, "referentiegegevens": {"traceerId": "x"}},
                ),
                400,
            ),
        ),
        "XSD-invalid payload": (
            PUSH,
            response_schema(PUSH, "/berichten", "post", "422"),
            await json_of(
                await provider.push(example(reference, "JW315"), "JW315", recipient=DIEMEN), 422
            ),
        ),
    }
    for name, (spec, schema, body) in problems.items():
        assert body.get("errors"), name
        assert_valid(spec, schema, body)
