"""``gateway validate``: per file the message, the schema verdict, level-2 remarks, exit status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.cli import main
from tests.standard.test_catalog import WMO305_2_1

TODAY = ["--today", "2030-01-01"]  # after every example's Dagtekening (TR135)


def _examples(reference: Path, *names: str) -> list[str]:
    return [str(reference / name) for name in names]


def test_valid_files_exit_zero_and_name_their_message(
    reference: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two schema-valid files: exit 0, each line names the file, standard, release, message."""
    files = _examples(reference, "iwmo-3.2/examples/WMO301.xml", "ijw-3.2/examples/JW325.xml")
    assert main(["validate", *TODAY, *files]) == 0
    out = capsys.readouterr().out
    assert f"{files[0]}: iwmo 3.2 WMO301: schema valid" in out
    assert f"{files[1]}: ijw 3.2 JW325: schema valid" in out


def test_an_invalid_file_lists_every_error_and_exits_one(
    reference: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """JW315: both errors with line and element; one invalid file makes the exit status 1."""
    files = _examples(reference, "iwmo-3.2/examples/WMO301.xml", "ijw-3.2/examples/JW315.xml")
    assert main(["validate", *TODAY, *files]) == 1
    out = capsys.readouterr().out
    assert "JW315: NOT schema valid (2 errors)" in out
    assert "line 44: ToewijzingEinddatum: '2027-06-31' is not a valid value" in out
    assert "line 66: ToewijzingEinddatum:" in out


def test_json_gives_one_object_per_file(
    reference: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json: one object per line with file (as given), valid, errors and retourcodes."""
    files = _examples(reference, "ijw-3.2/examples/JW318.xml", "ijw-3.2/examples/JW317.xml")
    assert main(["validate", "--json", *TODAY, *files]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    jw318, jw317 = (json.loads(line) for line in lines)
    assert jw318["file"] == files[0]
    assert jw318["valid"] is False
    assert jw318["errors"][0]["element"] == "RetourCode"
    assert jw318["errors"][0]["line"] == 33
    assert jw318["retourcodes"] == []
    assert (jw317["standard"], jw317["release"], jw317["message"]) == ("ijw", "3.2", "JW317")
    assert jw317["valid"] is True
    assert jw317["errors"] == []
    # The example's NieuwProduct ends before it starts: a level-2 remark (CS003), code 0001.
    assert "0001" in jw317["retourcodes"]
    assert any(r["rule"] == "CS003" for r in jw317["remarks"])


def test_retourcodes_are_what_the_receiver_would_return(
    reference: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """JW323 earns two level-2 remarks and a level-3 one (8021): the 325 would carry 0001 alone."""
    files = _examples(reference, "ijw-3.2/examples/JW323.xml")
    assert main(["validate", "--json", *TODAY, *files]) == 0
    jw323 = json.loads(capsys.readouterr().out)
    assert [(r["rule"], r["level"], r["retourcode"]) for r in jw323["remarks"]] == [
        ("TR101", 2, "0001"),
        ("TR416", 2, "0001"),
        ("TR314", 3, "8021"),
    ]
    assert jw323["retourcodes"] == ["0001"]
    assert main(["validate", *TODAY, *files]) == 0
    out = capsys.readouterr().out
    assert "  level 3: TR314 retourcode 8021 at " in out
    assert out.endswith("  retourcodes: 0001 (Bericht is afgekeurd om technische redenen.)\n")


def test_strict_fails_on_level_two_remarks(
    reference: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A schema-valid file with a level-2 remark passes, and fails with --strict."""
    files = _examples(reference, "ijw-3.2/examples/JW317.xml")
    assert main(["validate", *TODAY, *files]) == 0
    assert "level 2: CS003 retourcode 0001" in capsys.readouterr().out
    assert main(["validate", "--strict", *TODAY, *files]) == 1
    out = capsys.readouterr().out
    assert "retourcodes: 0001 (Bericht is afgekeurd om technische redenen.)" in out


def test_unreadable_and_unknown_files_are_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing file, broken XML and an unknown namespace: each named, exit status 1."""
    broken = tmp_path / "broken.xml"
    broken.write_bytes(b"<Bericht>\n<a></Bericht>")
    unknown = tmp_path / "unknown.xml"
    unknown.write_bytes(b'<Bericht xmlns="urn:other"/>')
    missing = tmp_path / "missing.xml"
    assert main(["validate", "--json", str(broken), str(unknown), str(missing)]) == 1
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["valid"] for r in results] == [False, False, False]
    assert results[0]["errors"][0]["line"] == 2
    assert "urn:other" in results[1]["problem"]
    assert "cannot read" in results[2]["problem"]


def test_an_official_release_set_plugs_in(
    reference: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--release DIR validates and identifies iWmo 2.1 messages with the official 2.1 XSDs."""
    message = tmp_path / "wmo305-2.1.xml"
    message.write_bytes(WMO305_2_1)
    release = str(reference / "iwmo-2.1" / "xsd")
    assert main(["validate", "--release", release, str(message)]) == 0
    assert f"{message}: iwmo 2.1 WMO305: schema valid" in capsys.readouterr().out
    # Our 3.2 schemas do not know it.
    assert main(["validate", str(message)]) == 1
    assert "unknown message" in capsys.readouterr().out


def test_the_official_32_set_gives_our_verdicts(
    reference: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--release with the official 3.2 XSDs prints the same verdicts as our schemas."""
    files = sorted(str(p) for p in (reference / "ijw-3.2" / "examples").glob("*.xml"))
    assert main(["validate", "--json", *TODAY, *files]) == 1
    ours = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    releases = ["--release", str(reference / "iwmo-3.2/xsd"), "--release"]
    releases.append(str(reference / "ijw-3.2/xsd"))
    assert main(["validate", "--json", *TODAY, *releases, *files]) == 1
    theirs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(o["file"], o["valid"]) for o in ours] == [(t["file"], t["valid"]) for t in theirs]
    assert [o["valid"] for o in ours].count(False) == 2


@pytest.mark.parametrize(
    ("clock", "remark"),
    [
        ("virtual@2023-08-12T23:30:00+02:00", True),  # the day before the Dagtekening
        ("virtual@2023-08-12T22:30:00+00:00", False),  # already 13 August in Amsterdam
    ],
)
def test_without_today_the_gateway_clock_says_what_day_it_is(
    reference: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    clock: str,
    remark: bool,
) -> None:
    """Without --today, TR135 takes today from GATEWAY_CLOCK as a Europe/Amsterdam date.

    The WMO301 example has Dagtekening 2023-08-13.
    """
    monkeypatch.setenv("GATEWAY_CLOCK", clock)
    files = _examples(reference, "iwmo-3.2/examples/WMO301.xml")
    assert main(["validate", "--json", *files]) == 0
    (verdict,) = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert verdict["valid"] is True
    assert any(r["rule"] == "TR135" for r in verdict["remarks"]) is remark
