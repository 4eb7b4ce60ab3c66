"""The gateway on uvloop's event loop (GATEWAY_UVLOOP): read from the settings, and it serves."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import uvloop

from gateway import config
from gateway.cli.serve import _loop_factory
from gateway.client import GatewayClient
from gateway.errors import ConfigError
from gateway.participants import Participant
from gateway.server import Gateway
from gateway.standard.message_types import MessageType
from tests.fixtures.gateway import local_settings

PROVIDER = Participant.parse("aanbieder-65656055")
AMSTERDAM = Participant.parse("gemeente-0363")


def test_setting_chooses_the_loop() -> None:
    """GATEWAY_UVLOOP=true gives uvloop's loop factory; unset gives asyncio's own (None)."""
    assert config.load({"GATEWAY_UVLOOP": "true"}).uvloop is True
    assert _loop_factory(config.load({"GATEWAY_UVLOOP": "true"})) is uvloop.new_event_loop
    assert _loop_factory(config.load({})) is None


def test_a_bad_value_names_the_setting() -> None:
    """GATEWAY_UVLOOP=maybe is refused with the variable's name, not taken as false."""
    with pytest.raises(ConfigError, match="GATEWAY_UVLOOP"):
        config.load({"GATEWAY_UVLOOP": "maybe"})


def test_push_is_accepted_on_uvloop(
    certs_dir: Path, amqp_url: str, tmp_path: Path, reference: Path
) -> None:
    """Under uvloop a 305 pushed over mTLS is accepted twice on one connection (identity cache)."""
    example = (reference / "iwmo-3.2" / "examples" / "WMO305.xml").read_bytes()
    settings = local_settings(certs_dir, amqp_url, tmp_path)

    async def scenario() -> list[str]:
        gateway = await Gateway.start(settings)
        try:
            url = f"https://localhost:{gateway.port}"
            async with GatewayClient(url, certs_dir, PROVIDER) as client:
                sent = []
                for identificatie in ("UV0000000001", "UV0000000002"):
                    payload = example.replace(
                        b"<iwmo:Identificatie>123456789013</iwmo:Identificatie>",
                        f"<iwmo:Identificatie>{identificatie}</iwmo:Identificatie>".encode(),
                    )
                    pushed = await client.push(payload, MessageType.parse("WMO305"), AMSTERDAM)
                    sent.append(pushed.traceer_id)
            return sent
        finally:
            await gateway.stop()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        sent = runner.run(scenario())
    assert len(set(sent)) == 2
