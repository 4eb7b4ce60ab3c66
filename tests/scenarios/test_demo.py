"""``gateway demo``, the README's first command, as a user runs it: a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_demo_plays_viv_new_and_prints_the_sla_summary(
    certs_dir: Path, amqp_url: str, tmp_path: Path
) -> None:
    """Exit 0 after the chain of seed scenario 1, its checks and the SLA per participant."""
    env = {
        **os.environ,
        "GATEWAY_AMQP_URL": amqp_url,
        "GATEWAY_DB_URL": f"sqlite:///{tmp_path / 'ledger.db'}",
        "GATEWAY_CERTS": str(certs_dir),
    }
    done = _demo(env)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "scenario viv-new" in out
    for step in ("-> WMO315", "-> WMO301", "-> WMO305", "-> WMO323", "-> WMO325", "-> WMO307"):
        assert step in out, out
    assert "SLA at 2025-03-01 12:00" in out
    assert "FAIL" not in out
    assert "checks hold" in out


def test_each_demo_has_a_ledger_of_its_own(certs_dir: Path, amqp_url: str, tmp_path: Path) -> None:
    """Without GATEWAY_DB_URL the demo plays on a new ledger each time: a second run's SLA
    summary is the first's, not the first's plus its own."""
    env = {k: v for k, v in os.environ.items() if k not in ("GATEWAY_DB_URL", "GATEWAY_SIMULATE")}
    env.update({"GATEWAY_AMQP_URL": amqp_url, "GATEWAY_CERTS": str(certs_dir)})
    summaries = []
    for _ in range(2):
        done = _demo(env, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        table = done.stdout[done.stdout.index("SLA at ") :]
        summaries.append(table[: table.index("\n\n")])  # the table, up to its blank line
    assert summaries[0] == summaries[1]
    assert not (tmp_path / "var").exists()  # nothing left behind in the working directory


def _demo(env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``gateway demo`` on ports of its own, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "gateway", "demo", "--port", "0", "--ops-port", "0"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
