"""At start, the ingress publishes again what was admitted but never confirmed by the broker."""

from __future__ import annotations

from typing import cast

from gateway.ingress import Ingress
from gateway.ledger import Ledger
from gateway.participants import Registry
from gateway.routing import Broker, RoutedMessage
from gateway.standard.catalog import default_catalog
from gateway.vsp import Berichtstatus
from tests.ledger.test_store import MUNICIPALITY, new_message, retour_of


class _Broker:
    """Confirms every publish at once, and keeps what it was given."""

    def __init__(self) -> None:
        self.published: list[RoutedMessage] = []

    async def publish(self, message: RoutedMessage) -> None:
        self.published.append(message)


async def test_a_recovered_retour_is_routed_and_delivers_what_it_answers(ledger: Ledger) -> None:
    """A 306 admitted before a crash, its confirm never recorded: published again at start,
    on offer to its recipient, and the 305 it answers Bezorgd, as its first publish would
    have left them."""
    answered = new_message(identificatie="ID11")
    await ledger.admit(answered)
    await ledger.routed(answered.traceer_id)
    retour = retour_of(answered)
    await ledger.admit(retour)  # the crash: never published and confirmed
    broker = _Broker()
    ingress = Ingress(
        catalog=default_catalog(),
        registry=Registry.load(),
        ledger=ledger,
        broker=cast(Broker, broker),
        max_message_bytes=1024,
    )

    assert await ingress.recover() == 1

    assert [(m.traceer_id, m.recipient.key) for m in broker.published] == [
        (retour.traceer_id, answered.sender)
    ]
    assert await ledger.unconfirmed_by_broker() == []
    stored = await ledger.get(answered.traceer_id)
    assert stored is not None
    assert stored.status is Berichtstatus.BEZORGD
    assert await ledger.inbox(MUNICIPALITY, limit=10) == []
    assert [m.traceer_id for m in await ledger.inbox(answered.sender, limit=10)] == [
        retour.traceer_id
    ]
