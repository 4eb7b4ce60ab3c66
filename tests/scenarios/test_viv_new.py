"""Seed scenario 1 (viv-new) end to end: gateway, simulated municipality and provider."""

from __future__ import annotations

from pathlib import Path

from gateway.config import Settings
from gateway.scenarios.catalog import SCENARIOS
from gateway.scenarios.play import play


async def test_viv_new_holds_every_check(certs_dir: Path, amqp_url: str, tmp_path: Path) -> None:
    """315 -> 316, 301 -> 302, 305 -> 306 and at the end 307 -> 308, all through RabbitMQ."""
    lines: list[str] = []
    settings = Settings(
        amqp_url=amqp_url,
        db_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        certs_dir=certs_dir,
        port=0,
        ops_port=0,
        simulate=True,
    )
    status = await play(SCENARIOS["viv-new"], settings, lines.append)
    output = "\n".join(lines)
    assert status == 0, output
    assert "FAIL" not in output
    for message in ("WMO315", "WMO316", "WMO301", "WMO302", "WMO305", "WMO306", "WMO307", "WMO308"):
        assert f"-> {message}" in output, output
