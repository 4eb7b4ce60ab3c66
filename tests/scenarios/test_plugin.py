"""The pytest plugin as a vendor's suite uses it: the suite plays a provider itself."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.clock import VirtualClock
from gateway.participants import Participant
from gateway.pytest_plugin import ChainOptions
from gateway.scenarios.chain import Chain
from gateway.scenarios.steps import contracted, verzoek_om_toewijzing
from gateway.standard.codec import parse
from gateway.standard.message_types import MessageType
from gateway.standard.model import ToewijzingClient

ZOETERMEER = Participant.parse("gemeente-0637")
ME = Participant.parse("aanbieder-65656055")


@pytest.mark.iwmo(providers=[], start="2021-01-04T09:00:00+01:00")
async def test_a_suite_plays_a_provider_against_the_simulated_municipality(
    iwmo_chain: Chain, iwmo_client, iwmo_clock: VirtualClock, iwmo_wait_for
) -> None:
    """The marker's options hold; the suite's 315 gets its 316 and 301 in its own pull inbox."""
    assert [r.participant.key for r in iwmo_chain.runner.responders] == ["gemeente-0637"]
    assert iwmo_clock.today() == dt.date(2021, 1, 4)
    me = await iwmo_client("aanbieder-65656055")
    payload = verzoek_om_toewijzing(
        afzender=ME,
        ontvanger=ZOETERMEER,
        identificatie="PLUGIN000001",
        dagtekening=iwmo_clock.today(),
        bsn="999900031",
        products=[contracted("07A04", 2, iwmo_clock.today(), dt.date(2021, 12, 31))],
    )
    await me.push(payload, MessageType.WMO315, ZOETERMEER)
    (toewijzing,) = await iwmo_wait_for("WMO301", "aanbieder-65656055")
    assert [m.berichttype for m in await iwmo_wait_for("WMO316", ME)] == ["WMO316"]
    # What the municipality received, it received through its queue.
    (verzoek,) = await iwmo_wait_for(MessageType.WMO315, "gemeente-0637")
    assert parse(verzoek).body is not None
    body = parse(await me.download(toewijzing)).body
    assert isinstance(body, ToewijzingClient)
    assert body.toegewezen_producten[0].product is not None
    assert body.toegewezen_producten[0].product.code == "07A04"


def test_options_default_to_zoetermeer_and_one_provider_on_autopilot() -> None:
    """Without a marker the chain simulates gemeente-0637 and aanbieder-12345678."""
    options = ChainOptions.from_marker(None)
    assert [p.key for p in options.municipalities] == ["gemeente-0637"]
    assert [p.key for p in options.providers] == ["aanbieder-12345678"]
    assert options.autopilot
    assert options.profile == "zoetermeer-2020"
