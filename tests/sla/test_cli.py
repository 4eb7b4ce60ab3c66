"""``gateway sla`` reading the ledger directly (GATEWAY_DB_URL, on the clock of GATEWAY_CLOCK)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.sla.conftest import Admitter, gateway_sla

# Friday 25 August 2023, noon: the 302 and 305 of a 301 received on the 14th are late, the 325
# of a 323 received that day (due after Monday 28 August) is not.
FRIDAY = "virtual@2023-08-25T12:00:00+02:00"


async def sla_on(db_url: str, *args: str) -> tuple[int, str, str]:
    """``gateway sla`` reading the ledger at ``db_url`` directly, on a virtual Friday."""
    env = {**os.environ, "GATEWAY_DB_URL": db_url, "GATEWAY_CLOCK": FRIDAY}
    env.pop("GATEWAY_SIMULATE", None)
    return await gateway_sla(*args, env=env)


async def test_report_reads_the_ledger_on_the_configured_clock(
    admitter: Admitter, db_url: str
) -> None:
    """``--json --late`` lists what is late at GATEWAY_CLOCK; the table says how overdue."""
    await admitter.admit("WMO301")
    await admitter.admit("WMO323")

    code, out, err = await sla_on(db_url, "--json", "--late")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["owed"], r["by"], r["to"], r["met"], r["late"]) for r in rows] == [
        ("WMO302", "42420001", "0384", None, True),
        ("WMO305", "42420001", "0384", None, True),
    ]
    assert rows[0]["due"] == "2023-08-17T22:00:00+00:00"

    code, out, err = await sla_on(db_url, "--participant", "65656055")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["STATE", "OWED", "BY", "TO"]
    assert "WMO325" in lines[1]
    assert "open" in lines[1]
    assert lines[-1] == "1 obligation(s)"


async def test_report_names_an_unreachable_ledger() -> None:
    """A GATEWAY_DB_URL that does not answer gives exit status 2 and names the setting."""
    code, _, err = await sla_on("postgresql://postgres@127.0.0.1:1/none")
    assert code == 2
    assert "GATEWAY_DB_URL" in err


async def test_report_does_not_make_a_ledger_where_none_is(tmp_path: Path) -> None:
    """An SQLite GATEWAY_DB_URL naming no file is an error, and no file appears."""
    missing = tmp_path / "nowhere" / "ledger.db"
    code, _, err = await sla_on(f"sqlite:///{missing}")
    assert code == 2
    assert "no ledger" in err
    assert not missing.parent.exists()
