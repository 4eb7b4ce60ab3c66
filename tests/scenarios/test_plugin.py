"""The pytest plugin as a vendor's suite uses it: the suite plays a provider itself."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.client import Incoming
from gateway.clock import VirtualClock
from gateway.participants import Participant
from gateway.pytest_plugin import ChainOptions, ClientFactory, WaitFor
from gateway.scenarios.chain import Chain
from gateway.scenarios.steps import contracted, verzoek_om_toewijzing
from gateway.standard.codec import parse
from gateway.standard.message_types import MessageType
from gateway.standard.model import ToewijzingClient

ZOETERMEER = Participant.parse("gemeente-0637")
ME = Participant.parse("aanbieder-65656055")


@pytest.mark.iwmo(providers=[], start="2021-01-04T09:00:00+01:00")
async def test_a_suite_plays_a_provider_against_the_simulated_municipality(
    iwmo_chain: Chain, iwmo_client: ClientFactory, iwmo_clock: VirtualClock, iwmo_wait_for: WaitFor
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
    answers = await iwmo_wait_for("WMO316", ME)
    assert [m.berichttype for m in answers if isinstance(m, Incoming)] == ["WMO316"]
    # What the municipality received, it received through its queue.
    (verzoek,) = await iwmo_wait_for(MessageType.WMO315, "gemeente-0637")
    assert isinstance(verzoek, bytes)
    assert parse(verzoek).body is not None
    assert isinstance(toewijzing, Incoming)
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


OUTSIDE_SUITE = """
import datetime as dt

import pytest

from gateway.scenarios.steps import contracted, verzoek_om_toewijzing
from gateway.participants import Participant
from gateway.standard.message_types import MessageType

ME = Participant.parse("aanbieder-65656055")
ZOETERMEER = Participant.parse("gemeente-0637")


@pytest.mark.asyncio
@pytest.mark.iwmo(providers=[])
async def test_a_vendor_asks_for_an_assignment(iwmo_chain, iwmo_client, iwmo_clock, iwmo_wait_for):
    me = await iwmo_client(ME)
    today = iwmo_clock.today()
    payload = verzoek_om_toewijzing(
        afzender=ME, ontvanger=ZOETERMEER, identificatie="VENDOR000001", dagtekening=today,
        bsn="999900031", products=[contracted("07A03", 2, today, dt.date(2021, 2, 28))],
    )
    await me.push(payload, MessageType.WMO315, ZOETERMEER)
    assert [m.berichttype for m in await iwmo_wait_for("WMO301", ME)] == ["WMO301"]
    assert [m.berichttype for m in await iwmo_wait_for("WMO316", ME)] == ["WMO316"]
    iwmo_clock.advance_working_days(3)
    assert iwmo_clock.today() == dt.date(2020, 3, 5)


def test_the_plugin_came_by_its_entry_point(pytestconfig):
    assert pytestconfig.pluginmanager.has_plugin("iwmo")
"""


def test_a_suite_outside_the_project_gets_the_fixtures(amqp_url: str, tmp_path: Path) -> None:
    """A vendor's own suite, in a directory of its own with no conftest: the installed package's
    ``pytest11`` entry point brings the ``iwmo_*`` fixtures and the ``iwmo`` marker."""
    (tmp_path / "test_vendor.py").write_text(OUTSIDE_SUITE)
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--strict-markers"],
        cwd=tmp_path,
        env={**os.environ, "GATEWAY_AMQP_URL": amqp_url},
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout, done.stdout
