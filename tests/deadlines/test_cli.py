"""``gateway calendar`` and ``gateway deadline`` on the command line."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.deadlines.periods import periods_by_rule
from tests.deadlines.test_periods import SEED_2020

RULE, RULE_2023 = periods_by_rule(2022), periods_by_rule(2023)


def test_calendar_prints_the_seed_table(capsys: pytest.CaptureFixture[str]) -> None:
    """``gateway calendar 2020`` prints the seed's 13 periods with ISO dates."""
    assert main(["calendar", "2020"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["period", "first", "last", "invoicing"]
    rows = [line.split() for line in lines[1:]]
    expected = [[str(n), f.isoformat(), la.isoformat(), i.isoformat()] for n, f, la, i in SEED_2020]
    assert rows == expected


def test_calendar_json(capsys: pytest.CaptureFixture[str]) -> None:
    """``gateway calendar 2021 --json`` gives the year and its periods as JSON."""
    assert main(["calendar", "2021", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["year"] == 2021
    assert len(body["periods"]) == 13
    assert body["periods"][0] == {
        "period": 1,
        "first": "2021-01-01",
        "last": "2021-01-31",
        "invoicing": "2021-02-21",
    }


def test_deadline_of_a_301(capsys: pytest.CaptureFixture[str]) -> None:
    """``gateway deadline WMO301`` lists the 302, 305 and 307 with their due days."""
    argv = ["deadline", "WMO301", "--received", "2020-04-24", "--start", "2020-05-01"]
    assert main([*argv, "--end", "2020-05-20"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    assert rows == [
        ["WMO302", "aanbieder", "gemeente", "2020-04-30", "OP090"],
        ["WMO305", "aanbieder", "gemeente", "2020-05-11", "OP271"],
        ["WMO307", "aanbieder", "gemeente", "2020-05-28", "OP272"],
    ]


def test_deadline_with_a_profile_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    """``--profile zoetermeer-2020 --json`` gives the contract's 20 working days for a 325."""
    argv = ["deadline", "JW323", "--received", "2020-12-18T15:00:00+01:00"]
    assert main([*argv, "--profile", "zoetermeer-2020", "--json"]) == 0
    (due,) = json.loads(capsys.readouterr().out)
    assert due["owed"] == "JW325"
    assert due["due_day"] == "2021-01-19"
    assert due["due"] == "2021-01-20T00:00:00+01:00"
    assert due["rule"] == "zoetermeer-6.1.1"


def test_deadline_of_an_event(capsys: pytest.CaptureFixture[str]) -> None:
    """``gateway deadline care-started --on DATE --product 02203`` gives the KIB 315."""
    argv = ["deadline", "care-started", "--on", "2020-04-24", "--product", "02203"]
    assert main([*argv, "--profile", "zoetermeer-2020"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    assert rows == [
        ["WMO315", "aanbieder", "gemeente", "2020-04-29", "zoetermeer-4.2", "(product", "02203)"]
    ]


def test_deadline_of_a_message_that_opens_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    """A retour message opens no obligation, and the command says so."""
    assert main(["deadline", "WMO302", "--received", "2020-04-24"]) == 0
    assert "opens no obligation" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["deadline", "WMO999", "--received", "2020-04-24"], "unknown message type 'WMO999'"),
        (["deadline", "WMO301", "--received", "24-04-2020"], "--received '24-04-2020'"),
        (["deadline", "WMO301", "--received", "2020-04-24", "--end", "soon"], "--end 'soon'"),
    ],
)
def test_deadline_refuses_bad_input(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    """Bad input exits with status 2 and a message naming the offending value."""
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_calendar_reads_the_period_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """GATEWAY_PERIOD_TABLE overrides the years it lists, in the table and in ``--json``."""
    rows = ["year,period,first,last,invoicing"]
    rows += [f"2022,{p.number},{p.first},{p.last},{p.last + timedelta(days=20)}" for p in RULE]
    table = tmp_path / "periods.csv"
    table.write_text("\n".join(rows) + "\n", encoding="utf-8")
    monkeypatch.setenv("GATEWAY_PERIOD_TABLE", str(table))
    assert main(["calendar", "2022"]) == 0
    first = capsys.readouterr().out.splitlines()[1].split()
    assert first == ["1", "2022-01-01", "2022-01-30", "2022-02-19"]  # the rule says 02-20
    assert main(["calendar", "2023", "--json"]) == 0  # a year the table leaves alone
    body = json.loads(capsys.readouterr().out)
    assert body["periods"][0]["invoicing"] == RULE_2023[0].invoicing.isoformat()


@pytest.mark.parametrize("profile", ["istandaarden-3.2", "zoetermeer-2020"])
def test_deadline_of_a_305(profile: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``gateway deadline JW305``: the municipality owes its 306 by Thursday after Koningsdag."""
    argv = ["deadline", "JW305", "--received", "2020-04-24", "--profile", profile]
    assert main(argv) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    assert rows == [["JW306", "gemeente", "aanbieder", "2020-04-30", "OP090"]]


def test_deadline_of_a_period(capsys: pytest.CaptureFixture[str]) -> None:
    """``gateway deadline period-ended --on 2020-12-31``: period 13 is declared by 21 Jan 2021."""
    argv = ["deadline", "period-ended", "--on", "2020-12-31", "--profile", "zoetermeer-2020"]
    assert main(argv) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    assert rows == [["WMO323", "aanbieder", "gemeente", "2021-01-21", "zoetermeer-bijlage-4"]]
