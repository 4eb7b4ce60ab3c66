"""``gateway mailbox`` against a live gateway: list, fetch, confirm and status, as a participant."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from gateway.cli import main
from gateway.tls import server_context
from tests.fixtures.cli import ParticipantCli
from tests.fixtures.pki import serve_https

PROVIDER = "aanbieder-65656055"  # the Afzender of the official WMO305 example
AMSTERDAM = "gemeente-0363"  # its Ontvanger
PULL = "/berichtenservice/berichten/rest-pull/v1/berichten"


def example(reference: Path, name: str) -> Path:
    return reference / "iwmo-3.2" / "examples" / f"{name}.xml"


async def sent(
    cli: ParticipantCli, path: Path, who: str, capsys: pytest.CaptureFixture[str]
) -> str:
    """Send one file with ``gateway send``; its traceerId."""
    assert await cli("send", str(path), "--as", who) == 0
    found = re.search(r"traceerId ([0-9a-f-]{36})", capsys.readouterr().out)
    assert found is not None
    return found[1]


def status_rows(out: str) -> dict[str, tuple[str, str]]:
    """The status table as {traceerId: (message, status)}."""
    rows = {}
    for line in out.splitlines()[1:]:
        if line and not line.startswith(" "):
            traceer_id, message, status, *_ = line.split()
            rows[traceer_id] = (message, status)
    return rows


async def test_the_way_of_a_305_to_bezorgd_and_its_306_back(
    participant_cli: ParticipantCli,
    reference: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The municipality lists, fetches (checksum checked) and confirms the provider's 305; the
    provider's status goes WordtAangeboden -> Bezorgd; the 306 comes back the same way."""
    wmo305, wmo306 = example(reference, "WMO305"), example(reference, "WMO306")
    cli = participant_cli
    traceer_id = await sent(cli, wmo305, PROVIDER, capsys)

    assert await cli("mailbox", "--as", PROVIDER, "status") == 0
    assert status_rows(capsys.readouterr().out) == {traceer_id: ("WMO305", "WordtAangeboden")}

    # The municipality's mailbox; with no action it lists.
    assert await cli("mailbox", "--as", AMSTERDAM) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["TRACEERID", "MESSAGE", "FROM", "RECEIVED", "BYTES", "ANSWERS"]
    assert lines[1].split()[:3] == [traceer_id, "WMO305", PROVIDER]
    assert lines[1].split()[4] == str(len(wmo305.read_bytes()))
    assert lines[2] == f"1 message(s) ready for {AMSTERDAM}"

    out = tmp_path / "got.xml"
    assert await cli("mailbox", "fetch", traceer_id, "--out", str(out), "--as", AMSTERDAM) == 0
    sha256 = hashlib.sha256(wmo305.read_bytes()).hexdigest()
    assert capsys.readouterr().out == (
        f"wrote {out}: {len(wmo305.read_bytes())} bytes, SHA-256 {sha256} checked\n"
    )
    assert out.read_bytes() == wmo305.read_bytes()

    assert await cli("mailbox", "confirm", traceer_id, "--as", AMSTERDAM) == 0
    assert capsys.readouterr().out == f"confirmed {traceer_id}: Bezorgd\n"
    assert await cli("mailbox", "--as", AMSTERDAM, "list") == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"0 message(s) ready for {AMSTERDAM}"

    assert await cli("mailbox", "--as", PROVIDER, "status", traceer_id) == 0
    assert status_rows(capsys.readouterr().out) == {traceer_id: ("WMO305", "Bezorgd")}

    # The 306 copies the 305's header: sent by the municipality, it goes to the provider.
    retour_id = await sent(cli, wmo306, AMSTERDAM, capsys)
    assert await cli("mailbox", "--as", PROVIDER, "list", "--json") == 0
    [entry] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert entry["referentiegegevens"]["traceerId"] == retour_id
    assert entry["referentiegegevens"]["alsAntwoordOp"] == traceer_id

    assert await cli("mailbox", "--as", PROVIDER, "fetch", retour_id) == 0
    assert capsys.readouterr().out == wmo306.read_bytes().decode()
    assert await cli("mailbox", "--as", PROVIDER, "fetch", retour_id, "--json") == 0
    fetched = json.loads(capsys.readouterr().out)
    assert fetched["payload"] == wmo306.read_bytes().decode()
    assert fetched["sha256"] == hashlib.sha256(wmo306.read_bytes()).hexdigest()
    assert await cli("mailbox", "--as", PROVIDER, "confirm", retour_id, "--json") == 0
    assert json.loads(capsys.readouterr().out) == {
        "traceerId": retour_id,
        "confirmed": True,
        "status": 202,
    }

    # The provider's status of its 305 shows the answer too, both delivered.
    assert await cli("mailbox", "--as", PROVIDER, "status", traceer_id) == 0
    assert status_rows(capsys.readouterr().out) == {
        traceer_id: ("WMO305", "Bezorgd"),
        retour_id: ("WMO306", "Bezorgd"),
    }


async def test_status_of_a_refused_message(
    participant_cli: ParticipantCli, reference: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Status without an ID follows what ``gateway send`` sent: a refused JW315 is
    AfgekeurdDoorDienst with the refusal's code beneath it."""
    jw315 = reference / "ijw-3.2" / "examples" / "JW315.xml"
    assert await participant_cli("send", str(jw315), "--as", "aanbieder-42420001") == 1
    capsys.readouterr()
    assert await participant_cli("mailbox", "--as", "aanbieder-42420001", "status") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[1:3] == ["JW315", "AfgekeurdDoorDienst"]
    assert lines[2] == (
        "  BRS13 Bericht voldoet niet aan het XSD: the JW315 is not valid against its schema: "
        "2 error(s)"
    )
    # Nothing noted for another participant.
    assert await participant_cli("mailbox", "--as", PROVIDER, "status") == 0
    assert "notes nothing sent by aanbieder-65656055" in capsys.readouterr().err


async def test_no_such_message(
    participant_cli: ParticipantCli, reference: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Another participant's message, an unknown one, one confirmed already: exit 1, naming the
    participant; an ID that is not a traceerId: exit 2."""
    traceer_id = await sent(participant_cli, example(reference, "WMO305"), PROVIDER, capsys)
    # The 305 is Amsterdam's to fetch, not the provider's.
    assert await participant_cli("mailbox", "--as", PROVIDER, "fetch", traceer_id) == 1
    assert capsys.readouterr().err == (
        f"gateway mailbox: no such message for {PROVIDER}: {traceer_id} "
        "(not addressed to it, or confirmed already)\n"
    )
    other = str(uuid.uuid4())
    assert await participant_cli("mailbox", "--as", AMSTERDAM, "confirm", other) == 1
    assert f"no such message for {AMSTERDAM}: {other}" in capsys.readouterr().err
    assert await participant_cli("mailbox", "--as", AMSTERDAM, "status", other) == 1
    assert "(neither sent nor received by it)" in capsys.readouterr().err
    assert await participant_cli("mailbox", "--as", AMSTERDAM, "confirm", traceer_id) == 0
    assert await participant_cli("mailbox", "--as", AMSTERDAM, "confirm", traceer_id) == 1
    assert f"no such message for {AMSTERDAM}: {traceer_id}" in capsys.readouterr().err
    assert await participant_cli("mailbox", "--as", AMSTERDAM, "fetch", "latest") == 2
    assert "ID 'latest': expected a traceerId, a UUID" in capsys.readouterr().err


# A gateway that hands out a payload other than the one it announced: checked, refused.

BODY = b"<Bericht>what was sent</Bericht>"
TAMPERED = b"<Bericht>what arrived</Bericht>"


@pytest.fixture
async def tampering_gateway(certs_dir: Path) -> AsyncIterator[tuple[str, str, str]]:
    """A stand-in on the participants' port: message LISTED is in the list with the SHA-256
    of BODY, message UNLISTED is not; both download as TAMPERED, announcing BODY's digest."""
    listed, unlisted = str(uuid.uuid4()), str(uuid.uuid4())
    announced = hashlib.sha256(BODY).digest()

    async def pull_list(request: web.Request) -> web.Response:
        entry = {
            "basisgegevens": {
                "ontvangenOp": "2020-03-02T09:00:00+01:00",
                "payload": {
                    "url": f"{request.url.origin()}{PULL}/{listed}/payload",
                    "grootte": len(BODY),
                    "checksum": {"algoritme": "SHA256", "waarde": announced.hex()},
                },
            },
            "routeringgegevens": {
                "afzender": {"rol": "Gemeente", "code": "0363"},
                "geadresseerden": [{"rol": "Instelling", "code": "65656055"}],
                "berichtstroom": {"berichttype": "WMO301"},
            },
            "referentiegegevens": {"traceerId": listed, "conversatieId": str(uuid.uuid4())},
        }
        return web.json_response([entry])

    async def payload(request: web.Request) -> web.Response:
        digest = base64.b64encode(announced).decode()
        return web.Response(body=TAMPERED, headers={"Repr-Digest": f"sha-256=:{digest}:"})

    app = web.Application()
    app.router.add_get(PULL, pull_list)
    app.router.add_get(PULL + "/{traceerId}/payload", payload)
    async with serve_https(app, server_context(certs_dir)) as url:
        yield url, listed, unlisted


async def test_a_tampered_payload_is_not_written(
    tampering_gateway: tuple[str, str, str],
    certs_dir: Path,
    cli_env: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Against the list's checksum, and against the download's Repr-Digest for a message not
    in the list: a mismatch exits 1, names both digests and writes nothing."""
    url, listed, unlisted = tampering_gateway
    out = tmp_path / "payload.xml"
    for traceer_id in (listed, unlisted):
        argv = ["mailbox", "--as", PROVIDER, "--url", url, "--certs", str(certs_dir), "fetch"]
        assert await asyncio.to_thread(main, [*argv, traceer_id, "--out", str(out)]) == 1
        err = capsys.readouterr().err
        assert err == (
            f"gateway mailbox: payload of {traceer_id}: checksum mismatch "
            f"(SHA-256 {hashlib.sha256(TAMPERED).hexdigest()}, "
            f"expected {hashlib.sha256(BODY).hexdigest()}); nothing written\n"
        )
        assert not out.exists()
