"""The handler runner applies answer policies: a forced rejection, and never answering."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.client import Incoming
from gateway.handlers.policy import Entry
from gateway.participants import Participant
from gateway.pytest_plugin import ClientFactory, WaitFor
from gateway.scenarios.chain import Chain
from gateway.scenarios.steps import contracted, verzoek_om_toewijzing
from gateway.standard.message_types import MessageType
from gateway.standard.xmlsafe import parse_xml

ZOETERMEER = Participant.parse("gemeente-0637")
ME = Participant.parse("aanbieder-12345678")


def _verzoek(chain: Chain, identificatie: str) -> bytes:
    today = chain.clock.today()
    return verzoek_om_toewijzing(
        afzender=ME,
        ontvanger=ZOETERMEER,
        identificatie=identificatie,
        dagtekening=today,
        bsn="999900018",
        products=[contracted("07A03", 4, today, dt.date(2021, 2, 28))],
    )


@pytest.mark.iwmo(providers=[])
async def test_reject_and_never_policies(
    iwmo_chain: Chain, iwmo_client: ClientFactory, iwmo_wait_for: WaitFor
) -> None:
    """reject:8848 sends the 316 with that code and assigns nothing; never sends no 316."""
    assert iwmo_chain.gateway.policies is not None
    iwmo_chain.gateway.policies.put(Entry.parse("gemeente-0637", "WMO316", "reject:8848"))
    me = await iwmo_client(ME)
    await me.push(_verzoek(iwmo_chain, "RUN000000001"), MessageType.WMO315, ZOETERMEER)
    (retour,) = await iwmo_wait_for("WMO316", ME)
    assert isinstance(retour, Incoming)
    codes = [e.text for e in parse_xml(await me.download(retour)).getroot().iter("{*}RetourCode")]
    assert codes == ["8848"]
    await me.confirm(retour.traceer_id)

    iwmo_chain.gateway.policies.put(Entry.parse("gemeente-0637", "WMO316", "never"))
    await me.push(_verzoek(iwmo_chain, "RUN000000002"), MessageType.WMO315, ZOETERMEER)
    (toewijzing,) = await iwmo_wait_for("WMO301", ME)
    assert isinstance(toewijzing, Incoming)
    assert [m.berichttype for m in await me.inbox()] == ["WMO301"]
    # the runner notes what it skipped after what it sent
    await iwmo_chain.wait_until(lambda: any(e.kind == "skipped" for e in iwmo_chain.events))
    skipped = [e for e in iwmo_chain.events if e.kind == "skipped"]
    assert [(e.message_type, e.detail) for e in skipped] == [(MessageType.WMO316, "policy: never")]
    assert toewijzing.berichttype == "WMO301"
