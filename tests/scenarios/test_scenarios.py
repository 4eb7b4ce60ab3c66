"""Every scenario end to end through RabbitMQ on the virtual clock, and the way they are played."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.scenarios.catalog import SCENARIOS, Scenario
from gateway.scenarios.chain import Chain
from gateway.scenarios.play import play
from gateway.scenarios.steps import Check, ask, contracted, toewijzingen, wait_all
from gateway.standard.message_types import MessageType
from tests.fixtures.gateway import local_settings


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
    settings = local_settings(certs_dir, amqp_url, tmp_path)
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
    err = capsys.readouterr().err
    assert "unknown scenario 'no-such'" in err
    assert "viv-new" in err


async def _four_dagdelen_said_to_be_five(chain: Chain) -> list[Check]:
    """A real chain whose second check is wrong: the 301 assigns 4 dagdelen, not 5."""
    await ask(chain, [contracted("07A03", 4, chain.clock.today(), dt.date(2021, 2, 28))])
    await wait_all(chain, {MessageType.WMO316: 1, MessageType.WMO301: 1})
    (product,) = toewijzingen(chain)[0].toegewezen_producten
    volume = product.omvang.volume if product.omvang else None
    return [
        Check("the 301 came", True),
        Check("the 301 assigns 5 dagdelen", volume == 5, f"volume {volume}"),
    ]


async def _waits_for_a_319_that_never_comes(chain: Chain) -> list[Check]:
    await ask(chain, [contracted("07A03", 4, chain.clock.today(), dt.date(2021, 2, 28))])
    await chain.wait_for(MessageType.WMO319, seconds=2)
    return [Check("a 319 came", True)]


BROKEN = {
    "broken-check": Scenario(
        "broken-check", "a check that does not hold", _four_dagdelen_said_to_be_five
    ),
    "stalled-chain": Scenario(
        "stalled-chain", "a message that does not come", _waits_for_a_319_that_never_comes
    ),
}


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("broken-check", "FAIL the 301 assigns 5 dagdelen (volume 4)"),
        ("stalled-chain", "FAILED: the chain stopped: an expected message did not come"),
    ],
)
def test_scenario_run_exits_1_when_a_check_fails(
    name: str,
    shown: str,
    certs_dir: Path,
    amqp_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``gateway scenario run`` exits 0 only when every check holds: one false check, or a
    message that never comes, makes it exit 1 and say which."""
    for scenario in BROKEN.values():
        monkeypatch.setitem(SCENARIOS, scenario.name, scenario)
    monkeypatch.setenv("GATEWAY_AMQP_URL", amqp_url)
    monkeypatch.setenv("GATEWAY_DB_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    monkeypatch.setenv("GATEWAY_CERTS", str(certs_dir))
    assert main(["scenario", "run", name]) == 1
    out = capsys.readouterr().out
    assert shown in out, out
    if name == "broken-check":
        assert "ok   the 301 came" in out
        assert "1 of 2 checks hold" in out
