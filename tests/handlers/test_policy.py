"""Answer policies: the table's text form, its precedence, and the admin API on the ops port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from gateway.errors import ConfigError
from gateway.handlers.policy import Pace, Policies, Policy, parse_table
from gateway.participants import Participant
from gateway.server import Gateway
from gateway.standard.message_types import MessageType
from tests.fixtures.gateway import local_settings

PROVIDER = Participant.parse("aanbieder-12345678")


def test_table_reads_entries_with_wildcards() -> None:
    """``WHO/MESSAGE=POLICY`` entries, ``*`` for every participant or message, normalised."""
    entries = parse_table(
        "aanbieder-12345678/wmo302=late:1; */WMO325=after:2,\n gemeente-0637/*=never"
    )
    assert [e.as_json() for e in entries] == [
        {"participant": "aanbieder-12345678", "message": "WMO302", "policy": "late:1"},
        {"participant": "*", "message": "WMO325", "policy": "after:2"},
        {"participant": "gemeente-0637", "message": "*", "policy": "never"},
    ]


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("aanbieder-12345678=now", "WHO/MESSAGE=POLICY"),
        ("aanbieder-12345678/WMO999=now", "WMO999"),
        ("leverancier-1/WMO302=now", "leverancier-1"),
        ("*/WMO302=soon", "soon"),
        ("*/WMO302=after:x", "after:x"),
        ("*/WMO302=reject:12", "reject:12"),
    ],
)
def test_a_bad_entry_is_refused_naming_it(text: str, named: str) -> None:
    """A malformed entry stops the start with an error that names the bad part."""
    with pytest.raises(ConfigError, match=named.replace("*", r"\*")):
        parse_table(text)


def test_the_most_specific_entry_wins() -> None:
    """participant+message before participant before message before every; else at once."""
    policies = Policies(parse_table("*/*=after:1, */WMO302=after:2, aanbieder-12345678/*=after:3"))
    policies.set(PROVIDER, MessageType.WMO302, Policy(Pace.NEVER))
    other = Participant.parse("aanbieder-42420001")
    assert policies.get(PROVIDER, MessageType.WMO302) == Policy(Pace.NEVER)
    assert policies.get(PROVIDER, MessageType.WMO320) == Policy(Pace.AFTER, 3)
    assert policies.get(other, MessageType.WMO302) == Policy(Pace.AFTER, 2)
    assert policies.get(other, MessageType.WMO320) == Policy(Pace.AFTER, 1)
    assert Policies().get(other, MessageType.WMO320) == Policy()


@pytest.fixture
async def ops_url(certs_dir: Path, amqp_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """The ops port of a gateway in simulation mode, started with one policy from the env."""
    settings = local_settings(
        certs_dir,
        amqp_url,
        tmp_path,
        simulate=True,
        extra={"GATEWAY_POLICIES": "*/WMO325=after:2"},
    )
    gateway = await Gateway.start(settings)
    try:
        yield f"http://127.0.0.1:{gateway.ops_port}"
    finally:
        await gateway.stop()


async def test_admin_api_shows_sets_replaces_and_drops(ops_url: str) -> None:
    """GET shows GATEWAY_POLICIES; PUT one, PUT all, DELETE one change the gateway's table."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{ops_url}/admin/policies") as response:
            assert response.status == 200
            assert (await response.json())["policies"] == [
                {"participant": "*", "message": "WMO325", "policy": "after:2"}
            ]
        async with http.put(
            f"{ops_url}/admin/policies/aanbieder-12345678/wmo302", json={"policy": "reject:8848"}
        ) as response:
            assert response.status == 200
            assert {
                "participant": "aanbieder-12345678",
                "message": "WMO302",
                "policy": "reject:8848",
            } in (await response.json())["policies"]
        async with http.delete(f"{ops_url}/admin/policies/*/WMO325") as response:
            assert response.status == 200
            assert len((await response.json())["policies"]) == 1
        async with http.put(
            f"{ops_url}/admin/policies",
            json={
                "policies": [{"participant": "gemeente-0637", "message": "*", "policy": "never"}]
            },
        ) as response:
            assert (await response.json())["policies"] == [
                {"participant": "gemeente-0637", "message": "*", "policy": "never"}
            ]


REFUSALS = [
    ("PUT", "/admin/policies/aanbieder-99999999/WMO302", {"policy": "now"}, 422, "registry"),
    ("PUT", "/admin/policies/aanbieder-12345678/WMO302", {"policy": "later"}, 422, "later"),
    ("PUT", "/admin/policies/aanbieder-12345678/WMO302", {"policy": 3}, 422, "string"),
    ("PUT", "/admin/policies", {"policies": "never"}, 422, "policies"),
    ("DELETE", "/admin/policies/aanbieder-12345678/WMO320", None, 404, "WMO320"),
]


async def test_admin_api_refuses_naming_the_bad_value(ops_url: str) -> None:
    """A bad participant, policy or body, or a missing entry: problem+json naming it."""
    async with aiohttp.ClientSession() as http:
        for method, path, body, status, named in REFUSALS:
            async with http.request(method, f"{ops_url}{path}", json=body) as response:
                assert response.status == status, path
                assert response.content_type == "application/problem+json"
                assert named in (await response.json())["detail"], path
