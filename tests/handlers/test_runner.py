"""The handler runner applies answer policies (a forced rejection, never answering) and confirms
what it receives."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from gateway.client import GatewayClient, Incoming, Sent
from gateway.handlers.policy import Entry
from gateway.participants import Participant
from gateway.pytest_plugin import ClientFactory, WaitFor
from gateway.scenarios.chain import Chain
from gateway.scenarios.steps import contracted, verzoek_om_toewijzing
from gateway.standard.message_types import MessageType
from gateway.standard.xmlsafe import parse_xml
from gateway.vsp import Berichtstatus

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


async def _status(chain: Chain, sent: Sent) -> Berichtstatus:
    (stored,) = [
        m for m in await chain.messages(sent.conversatie_id) if m.traceer_id == sent.traceer_id
    ]
    return stored.status


@pytest.mark.iwmo(providers=[])
async def test_a_retour_sent_at_once_confirms_what_it_answers_and_no_delete_is_sent(
    iwmo_chain: Chain,
    iwmo_client: ClientFactory,
    iwmo_wait_for: WaitFor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The 316 that goes at once makes the 315 Bezorgd; one that waits leaves that to a DELETE
    the municipality sends at once."""
    confirmed: list[str] = []
    done = asyncio.Event()
    confirm = GatewayClient.confirm

    async def counted(client: GatewayClient, traceer_id: str) -> None:
        confirmed.append(traceer_id)
        await confirm(client, traceer_id)
        done.set()

    monkeypatch.setattr(GatewayClient, "confirm", counted)
    me = await iwmo_client(ME)
    at_once = await me.push(_verzoek(iwmo_chain, "RUN000000003"), MessageType.WMO315, ZOETERMEER)
    await iwmo_wait_for("WMO316", ME)
    assert await _status(iwmo_chain, at_once) is Berichtstatus.BEZORGD
    assert confirmed == []

    assert iwmo_chain.gateway.policies is not None
    iwmo_chain.gateway.policies.put(Entry.parse("gemeente-0637", "WMO316", "after:1"))
    later = await me.push(_verzoek(iwmo_chain, "RUN000000004"), MessageType.WMO315, ZOETERMEER)
    async with asyncio.timeout(30):
        await done.wait()
    assert confirmed == [later.traceer_id]
    assert await _status(iwmo_chain, later) is Berichtstatus.BEZORGD
    sent = [e.message_type for e in iwmo_chain.events if e.kind == "sent"]
    assert sent.count(MessageType.WMO316) == 1  # the second waits a working day
