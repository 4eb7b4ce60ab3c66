"""``gateway send`` against a live gateway: real mutual TLS, the real RabbitMQ, an SQLite ledger."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.participants import Participant
from tests.fixtures.cli import ParticipantCli
from tests.fixtures.gateway import RunningGateway
from tests.http.test_end_to_end import receive_one

AMSTERDAM = Participant.parse("gemeente-0363")
PROVIDER = "aanbieder-65656055"  # the Afzender of the official WMO305 example
PROVIDER_315 = "aanbieder-42420001"  # the Afzender of the official JW315 example


def example(reference: Path, name: str) -> Path:
    standard = "iwmo-3.2" if name.startswith("WMO") else "ijw-3.2"
    return reference / standard / "examples" / f"{name}.xml"


def traceer_id_in(line: str) -> str:
    found = re.search(r"traceerId ([0-9a-f-]{36})", line)
    assert found is not None, line
    return found[1]


async def test_push_reaches_the_municipality(
    participant_cli: ParticipantCli,
    running_gateway: RunningGateway,
    reference: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A 305 sent as the provider is accepted (204) and waits in Amsterdam's pull list and
    queue, under the traceerId the command printed."""
    wmo305 = example(reference, "WMO305")
    assert await participant_cli("send", str(wmo305), "--as", PROVIDER) == 0
    out = capsys.readouterr().out
    assert f"{wmo305}: accepted (HTTP 204): traceerId" in out
    assert out.rstrip().endswith("WMO305 to gemeente-0363, WordtAangeboden")
    traceer_id = traceer_id_in(out)

    assert await participant_cli("mailbox", "--as", "gemeente-0363", "list", "--json") == 0
    [entry] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert entry["referentiegegevens"]["traceerId"] == traceer_id
    assert entry["routeringgegevens"]["afzender"] == {"rol": "Instelling", "code": "65656055"}

    properties, body = await receive_one(running_gateway.amqp_url, AMSTERDAM)
    assert properties["message_id"] == traceer_id
    assert properties["type"] == "WMO305"
    assert body == wmo305.read_bytes()


async def test_a_repeated_push_is_told_as_one(
    participant_cli: ParticipantCli, reference: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same 305 pushed twice: the gateway answers 204 both times but keeps the first; the
    command says so instead of printing a traceerId nobody knows, and does not note it."""
    wmo305 = str(example(reference, "WMO305"))
    assert await participant_cli("send", wmo305, "--as", PROVIDER) == 0
    first = traceer_id_in(capsys.readouterr().out)
    assert await participant_cli("send", wmo305, "--as", PROVIDER, "--json") == 0
    [again] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (again["accepted"], again["status"], again["repeat"]) == (True, 204, True)
    assert again["berichtstatus"] is None
    assert await participant_cli("send", wmo305, "--as", PROVIDER) == 0
    told = (
        f"{wmo305}: accepted (HTTP 204) as a repeat of a message accepted before, WMO305 to "
        "gemeente-0363: the gateway keeps that one's traceerId, not "
    )
    assert told in capsys.readouterr().out
    notes = [json.loads(line) for line in participant_cli.sent_log.read_text().splitlines()]
    assert [n["traceer_id"] for n in notes] == [first]

    # --raw names the one the gateway keeps.
    assert await participant_cli("send", wmo305, "--as", PROVIDER, "--raw") == 0
    assert f"traceerId {first}, WMO305 to gemeente-0363, WordtAangeboden, a repeat" in (
        capsys.readouterr().out
    )


async def test_raw_answers_with_the_receipt(
    participant_cli: ParticipantCli, reference: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--raw`` posts the bare XML: 202 with the receipt, the traceerId the command chose."""
    wmo305 = str(example(reference, "WMO305"))
    assert await participant_cli("send", wmo305, "--raw", "--json", "--as", PROVIDER) == 0
    [result] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert result["accepted"] is True
    assert result["status"] == 202
    assert result["receipt"]["traceerId"] == result["traceerId"]
    assert result["receipt"]["berichtstatus"] == "WordtAangeboden"
    assert (result["berichttype"], result["ontvanger"]) == ("WMO305", "gemeente-0363")
    assert result["problem"] is None

    # The same file again is the same message again (TR056 holds it to its content): the
    # gateway accepts the repeat and says so.
    assert await participant_cli("send", wmo305, "--raw", "--as", PROVIDER) == 0
    assert "WordtAangeboden, a repeat of one accepted before" in capsys.readouterr().out


async def test_a_refused_file_prints_every_error(
    participant_cli: ParticipantCli, reference: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The official JW315 (two impossible dates) is refused 422 BRS13: the command prints the
    problem's title, detail and each XSD error, goes on with the next file, and exits 1."""
    jw315, wmo315 = example(reference, "JW315"), example(reference, "WMO315")
    assert await participant_cli("send", str(jw315), str(wmo315), "--as", PROVIDER_315) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{jw315}: refused (HTTP 422 BRS13): traceerId ")
    assert lines[0].endswith("JW315 to gemeente-0384")
    assert lines[1] == (
        "  Bericht voldoet niet aan het XSD: the JW315 is not valid against its schema: 2 error(s)"
    )
    assert lines[2].startswith("  payload: line 44: ToewijzingEinddatum: '2027-06-31' ")
    assert lines[3].startswith("  payload: line 66: ToewijzingEinddatum: '2027-06-31' ")
    assert lines[4].startswith(f"{wmo315}: accepted (HTTP 204)")
    assert lines[5] == "1 of 2 files accepted"


async def test_refusal_in_json(
    participant_cli: ParticipantCli, reference: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--json`` carries the refusal's problem+json as the gateway sent it."""
    jw315 = str(example(reference, "JW315"))
    assert await participant_cli("send", jw315, "--json", "--as", PROVIDER_315) == 1
    [result] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert result["accepted"] is False
    assert result["status"] == 422
    assert result["problem"]["code"] == "BRS13"
    assert len(result["problem"]["errors"]["payload"]) == 2


async def test_sender_not_the_certificate(
    participant_cli: ParticipantCli, reference: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Another provider's 305 sent with this certificate: 403 BRS03 from the gateway."""
    wmo305 = str(example(reference, "WMO305"))
    assert await participant_cli("send", wmo305, "--as", PROVIDER_315) == 1
    out = capsys.readouterr().out
    assert "refused (HTTP 403 BRS03)" in out
    assert "Afzender '65656055' in the WMO305 header is not the certificate's participant" in out


async def test_a_file_without_metadata(
    participant_cli: ParticipantCli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not XML: the push has no metadata to send and says so; ``--raw`` lets the gateway judge
    (400 BRS14); a missing file is named."""
    junk = tmp_path / "junk.xml"
    junk.write_bytes(b"this is not XML")
    assert await participant_cli("send", str(junk), "--as", PROVIDER) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"{junk}: not sent: no push metadata to be read from it: ")
    assert "(--raw sends the file as it is" in out

    assert await participant_cli("send", str(junk), "--raw", "--as", PROVIDER) == 1
    assert "refused (HTTP 400 BRS14)" in capsys.readouterr().out

    missing = tmp_path / "nothing.xml"
    assert await participant_cli("send", str(missing), "--as", PROVIDER) == 1
    assert f"{missing}: not sent: cannot read it: No such file or directory" in (
        capsys.readouterr().out
    )


async def test_what_was_sent_is_noted(
    participant_cli: ParticipantCli, reference: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every answered file is a line in GATEWAY_SENT_LOG: who, where, which traceerId, verdict."""
    jw315, wmo315 = example(reference, "JW315"), example(reference, "WMO315")
    assert await participant_cli("send", str(jw315), str(wmo315), "--as", PROVIDER_315) == 1
    out = capsys.readouterr().out
    notes = [json.loads(line) for line in participant_cli.sent_log.read_text().splitlines()]
    assert [(n["file"], n["status"], n["accepted"]) for n in notes] == [
        (str(jw315), 422, False),
        (str(wmo315), 204, True),
    ]
    assert {n["participant"] for n in notes} == {PROVIDER_315}
    assert {n["url"] for n in notes} == {participant_cli.url}
    assert [n["traceer_id"] for n in notes] == re.findall(r"traceerId ([0-9a-f-]{36})", out)


# Mistakes on the command line: exit 2 and one precise line, before anything is sent.


async def gateway(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


async def test_unknown_participant(
    cli_env: Path, certs_dir: Path, reference: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A participant the registry does not have is named, with the registry."""
    wmo305 = str(example(reference, "WMO305"))
    argv = ("send", wmo305, "--certs", str(certs_dir))
    assert await gateway(*argv, "--as", "aanbieder-99999999") == 2
    err = capsys.readouterr().err
    assert err.startswith("gateway send: unknown participant aanbieder-99999999: not in the ")
    assert "it has aanbieder-12345678," in err
    assert await gateway(*argv, "--as", "zorgaanbieder-1") == 2
    assert "role must be 'gemeente' or 'aanbieder'" in capsys.readouterr().err
    assert await gateway(*argv) == 2
    assert "--as PARTICIPANT is required" in capsys.readouterr().err


async def test_missing_certificate_is_named(
    cli_env: Path,
    certs_dir: Path,
    reference: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A certificates directory without the participant's certificate: its path is named."""
    partial = tmp_path / "certs"
    partial.mkdir()
    (partial / "ca.crt").write_bytes((certs_dir / "ca.crt").read_bytes())
    wmo305 = str(example(reference, "WMO305"))
    assert await gateway("send", wmo305, "--as", PROVIDER, "--certs", str(partial)) == 2
    assert capsys.readouterr().err == (
        f"gateway send: certificate {partial / (PROVIDER + '.crt')}: no such file "
        "(run `gateway certs init`)\n"
    )


async def test_connection_refused_names_the_url(
    cli_env: Path, certs_dir: Path, reference: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nobody listening: the URL is named, and nothing is noted as sent."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"https://localhost:{port}"
    wmo305 = str(example(reference, "WMO305"))
    argv = ("send", wmo305, "--as", PROVIDER, "--certs", str(certs_dir), "--url", url)
    assert await gateway(*argv) == 2
    captured = capsys.readouterr()
    assert captured.err == f"gateway send: cannot reach the gateway at {url}: connection refused\n"
    assert captured.out == ""
    assert not await asyncio.to_thread(cli_env.exists)


async def test_url_must_be_https(
    cli_env: Path, certs_dir: Path, reference: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The participants' port speaks mutual TLS only: an http URL is refused before sending."""
    wmo305 = str(example(reference, "WMO305"))
    argv = ("send", wmo305, "--as", PROVIDER, "--certs", str(certs_dir))
    assert await gateway(*argv, "--url", "http://localhost:8443") == 2
    assert "--url 'http://localhost:8443': expected https://host:port" in capsys.readouterr().err
