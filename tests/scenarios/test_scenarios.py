"""Every scenario end to end through RabbitMQ on the virtual clock, and the way they are played."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config import Settings
from gateway.scenarios.catalog import SCENARIOS, Scenario
from gateway.scenarios.chain import Chain
from gateway.scenarios.play import play


def _marks(scenario: Scenario) -> list[pytest.MarkDecorator]:
    marks = [
        pytest.mark.iwmo(
            municipalities=scenario.municipalities,
            providers=scenario.providers,
            start=scenario.start,
            prices=scenario.prices,
        )
    ]
    return marks


@pytest.mark.parametrize(
    "name", [pytest.param(name, marks=_marks(s)) for name, s in SCENARIOS.items()]
)
async def test_scenario_holds_every_check(name: str, iwmo_chain: Chain) -> None:
    """The scenario's chain, the counterparties' decisions and the SLA state are as it says."""
    checks = await SCENARIOS[name].play(iwmo_chain)
    failed = [f"{c.name}: {c.detail}" for c in checks if not c.ok]
    assert checks
    assert not failed, "\n".join(failed)


async def test_play_shows_the_chain_checks_and_sla(
    certs_dir: Path, amqp_url: str, tmp_path: Path
) -> None:
    """``gateway scenario run`` prints each message as it goes, the checks, the SLA, exit 0."""
    lines: list[str] = []
    settings = Settings(
        amqp_url=amqp_url,
        db_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        certs_dir=certs_dir,
        port=0,
        ops_port=0,
    )
    status = await play(SCENARIOS["old-product-code"], settings, lines.append)
    output = "\n".join(lines)
    assert status == 0, output
    for shown in ("-> WMO315", "-> WMO316", "-> WMO319", "-> WMO301", "-> WMO305"):
        assert shown in output, output
    assert "SLA at 2020-03-02 09:00" in output
    assert "gemeente-0637" in output
    assert "5 of 5 checks hold" in output


def test_scenario_list_names_the_nine(capsys: pytest.CaptureFixture[str]) -> None:
    """``gateway scenario list`` names every scenario of the issue."""
    assert main(["scenario", "list"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert names == [
        "viv-new",
        "viv-change-volume",
        "kib-over-50-hours",
        "vervoer-above-dagbesteding",
        "old-product-code",
        "temporary-stop",
        "change-of-provider",
        "late-302",
        "declaration-partly-rejected",
    ]


def test_unknown_scenario_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """``gateway scenario run`` with a name it does not know exits 2 and lists the known."""
    assert main(["scenario", "run", "no-such"]) == 2
    out = capsys.readouterr().out
    assert "unknown scenario 'no-such'" in out
    assert "viv-new" in out
