"""REST pull as the VSP document describes it: the oldest 250 (or ``limit``), and ``zoeken``.

The list and each search path are held against what is in the inbox: which messages come back,
in which order, and that a search narrows to exactly the messages its criteria name.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gateway.participants import Participant
from tests.fixtures.gateway import PULL_URL, Client, RunningGateway
from tests.http.test_end_to_end import example
from tests.ledger.test_store import new_message

PROVIDER = Participant.parse("aanbieder-42420001")
DIEMEN = Participant.parse("gemeente-0384")
SEARCH_URL = f"{PULL_URL}/zoeken"


def ids(entries: list[dict[str, Any]]) -> list[str]:
    return [entry["referentiegegevens"]["traceerId"] for entry in entries]


async def listed(client: Client, **params: str) -> list[dict[str, Any]]:
    response = await client.session.get(client.url(PULL_URL), params=params)
    assert response.status == 200, await response.text()
    entries: list[dict[str, Any]] = await response.json()
    return entries


async def searched(client: Client, zoekpad: Mapping[str, object], **params: str) -> list[str]:
    response = await client.session.post(client.url(SEARCH_URL), json=zoekpad, params=params)
    assert response.status == 200, await response.text()
    return ids(await response.json())


async def test_list_is_the_oldest_250_and_limit_takes_fewer(
    running_gateway: RunningGateway,
) -> None:
    """Of 252 ready messages the list gives the oldest 250; ``limit=N`` the oldest N; once one is
    confirmed the next in line moves up."""
    ledger = running_gateway.gateway.ledger
    waiting = []
    for n in range(252):
        payload = f"<m{n}/>".encode()
        message = new_message(
            payload,
            f"ID{n:06d}",
            sender=DIEMEN.key,
            recipient=PROVIDER.key,
            message_type="WMO301",
            berichttype="WMO301",
            dagtekening="2025-04-07",
        )
        await ledger.admit(message)
        await ledger.routed(message.traceer_id)
        waiting.append(message.traceer_id)
    provider = await running_gateway.client(PROVIDER)

    assert ids(await listed(provider)) == waiting[:250]
    assert ids(await listed(provider, limit="250")) == waiting[:250]
    assert ids(await listed(provider, limit="3")) == waiting[:3]
    assert ids(await listed(provider, limit="1")) == waiting[:1]
    found = await searched(
        provider, {"zoekpadType": "ZoekpadOpBerichtstroom", "berichttype": "WMO301"}
    )
    assert found == waiting[:250]
    assert (
        await searched(
            provider, {"zoekpadType": "ZoekpadOpBerichtstroom", "berichttype": "WMO301"}, limit="2"
        )
        == waiting[:2]
    )

    confirmed = await provider.session.delete(provider.url(f"{PULL_URL}/{waiting[0]}"))
    assert confirmed.status == 202
    assert ids(await listed(provider)) == waiting[1:251]


async def test_each_search_path_finds_exactly_what_it_names(
    running_gateway: RunningGateway, reference: Path
) -> None:
    """zoeken by berichtstroom (with or without version, action, geadresseerde), by conversatieId
    and by alsAntwoordOp: the matching messages of the caller's inbox, and nothing else."""
    provider = await running_gateway.client(PROVIDER)
    municipality = await running_gateway.client(DIEMEN)
    request_id, conversation = str(uuid.uuid4()), str(uuid.uuid4())
    pushed = await provider.push(
        example(reference, "WMO315"),
        "WMO315",
        recipient=DIEMEN,
        traceer_id=request_id,
        conversatie_id=conversation,
    )
    assert pushed.status == 204, await pushed.text()
    by_conversation = {"zoekpadType": "ZoekpadOpConversatieId", "conversatieId": conversation}
    # Until it is answered, the municipality finds the 315 in its own inbox.
    assert await searched(municipality, by_conversation) == [request_id]
    assert await searched(provider, by_conversation) == []
    answers = {}
    for name in ("WMO316", "WMO301"):
        answer = await municipality.post_xml(example(reference, name))
        assert answer.status == 202, await answer.text()
        answers[name] = await answer.json()
    retour, assignment = answers["WMO316"]["traceerId"], answers["WMO301"]["traceerId"]
    assert ids(await listed(provider)) == [retour, assignment]

    def stroom(berichttype: str, **more: object) -> dict[str, object]:
        return {"zoekpadType": "ZoekpadOpBerichtstroom", "berichttype": berichttype, **more}

    assert await searched(provider, stroom("WMO316")) == [retour]
    assert await searched(provider, stroom("WMO301")) == [assignment]
    assert await searched(provider, stroom("WMO315")) == []  # sent, not received
    full = stroom(
        "WMO316",
        berichtversie=3,
        berichtsubversie=2,
        actie="Indienen",
        geadresseerdeRol="Instelling",
        geadresseerdeCode=PROVIDER.code,
    )
    assert await searched(provider, full) == [retour]
    for other in (
        {"berichtversie": 2},
        {"berichtsubversie": 1},
        {"actie": "Intrekken"},
        {"berichtsubtype": "Correctie"},
        {"geadresseerdeRol": "Gemeente"},
        {"geadresseerdeCode": "65656055"},
    ):
        assert await searched(provider, {**full, **other}) == [], other

    assert await searched(provider, by_conversation) == [retour]
    other_conversation = answers["WMO301"]["conversatieId"]
    assert await searched(provider, {**by_conversation, "conversatieId": other_conversation}) == [
        assignment
    ]
    assert await searched(provider, {**by_conversation, "conversatieId": str(uuid.uuid4())}) == []

    by_original = {"zoekpadType": "ZoekpadOpAlsAntwoordOp", "alsAntwoordOp": request_id}
    assert await searched(provider, by_original) == [retour]
    assert await searched(provider, {**by_original, "alsAntwoordOp": str(uuid.uuid4())}) == []

    # Confirmed, a message leaves the searches as it leaves the list.
    confirmed = await provider.session.delete(provider.url(f"{PULL_URL}/{retour}"))
    assert confirmed.status == 202
    assert await searched(provider, by_original) == []
    assert await searched(provider, stroom("WMO316")) == []
