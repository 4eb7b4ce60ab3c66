"""Playing a chain: a gateway, simulated counterparties and a virtual clock in one process.

``Chain`` starts what a scenario needs (the gateway in simulation mode, the handlers of the
participants it simulates), lets a scenario send as any participant, move the clock, and wait
until messages arrive; ``Chain.messages`` shows what went where, from the ledger.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gateway import pki
from gateway.client import GatewayClient, Sent
from gateway.clock import VirtualClock
from gateway.config import Settings
from gateway.deadlines.workdays import AMSTERDAM
from gateway.handlers.messages import Outgoing
from gateway.handlers.municipality import Municipality
from gateway.handlers.policy import Policies
from gateway.handlers.profiles import get_profile
from gateway.handlers.provider import Provider
from gateway.handlers.runner import Event, HandlerRunner, describe
from gateway.ledger import StoredMessage
from gateway.participants import Participant, Registry
from gateway.server import Gateway
from gateway.sla.store import Obligation, ObligationStore, Query
from gateway.standard.message_types import MessageType

Printer = Callable[[str], None]


@dataclass
class Chain:
    """A running chain; make one with ``await Chain.start(...)`` and ``await chain.stop()``."""

    gateway: Gateway
    runner: HandlerRunner
    clock: VirtualClock
    certs_dir: Path
    events: list[Event] = field(default_factory=list)
    printer: Printer | None = None
    _clients: dict[Participant, GatewayClient] = field(default_factory=dict)
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    @classmethod
    async def start(
        cls,
        settings: Settings,
        *,
        municipalities: list[Participant],
        providers: list[Participant],
        profile: str = "zoetermeer-2020",
        start: dt.datetime,
        autopilot: bool = True,
        prices: Mapping[str, int] | None = None,
        printer: Printer | None = None,
    ) -> Chain:
        """``prices``: the simulated providers' own tariffs where they differ from the contract."""
        certs = settings.certs_dir
        if not (certs / pki.CA_CERT).exists():
            pki.init(certs, Registry.load(settings.registry))
        clock = VirtualClock(start)
        gateway = await Gateway.start(settings.with_overrides(simulate=True), clock=clock)
        registry = gateway.registry
        contract = get_profile(profile)
        responders: list[Municipality | Provider] = [
            Municipality(registry.get(m.role, m.code) or m, contract) for m in municipalities
        ]
        responders += [
            Provider(
                registry.get(p.role, p.code) or p,
                autopilot=autopilot,
                profile=contract,
                prices=prices,
                workdays=clock.workdays,
            )
            for p in providers
        ]
        # The simulated participants start afresh: what their inboxes still held from an
        # earlier run (it is in the ledger) would otherwise be answered now.
        for responder in responders:
            await gateway.broker.purge(responder.participant)
        runner = HandlerRunner(
            base_url=f"https://localhost:{gateway.port}",
            certs_dir=certs,
            amqp_url=settings.amqp_url,
            clock=clock,
            responders=list(responders),
            registry=gateway.registry,
            policies=gateway.policies or Policies(),
            workdays=clock.workdays,
        )
        chain = cls(gateway, runner, clock, certs)
        runner.listeners.append(chain._record)
        chain.printer = printer
        if printer is not None:
            show = printer

            def progress(event: Event) -> None:
                if event.kind != "received":
                    show(describe(event))

            runner.listeners.append(progress)
        try:
            await runner.start()
        except BaseException:
            await gateway.stop()
            raise
        return chain

    def _record(self, event: Event) -> None:
        self.events.append(event)

        async def notify() -> None:
            async with self._arrived:
                self._arrived.notify_all()

        asyncio.get_running_loop().create_task(notify())

    async def stop(self) -> None:
        for client in self._clients.values():
            await client.close()
        await self.runner.stop()
        await self.gateway.stop()

    async def client(self, participant: Participant) -> GatewayClient:
        if participant not in self._clients:
            client = GatewayClient(
                f"https://localhost:{self.gateway.port}", self.certs_dir, participant
            )
            await client.__aenter__()
            self._clients[participant] = client
        return self._clients[participant]

    async def send(
        self, sender: Participant, recipient: Participant, message_type: MessageType, payload: bytes
    ) -> Sent:
        """Send as ``sender`` (its own certificate), as its software would."""
        client = await self.client(sender)
        at = self.clock.now()
        sent = await client.push(payload, message_type, recipient)
        event = Event("sent", sender, message_type, recipient.key, at)
        self._record(event)
        if self.printer is not None:
            self.printer(describe(event))
        return sent

    def sent(self, message_type: MessageType) -> list[Event]:
        return [e for e in self.events if e.kind == "sent" and e.message_type is message_type]

    def received(self, message_type: MessageType, by: Participant | None = None) -> list[bytes]:
        """The payloads of this type the simulated participants (or ``by``) received."""
        return [
            e.payload
            for e in self.events
            if e.kind == "received"
            and e.message_type is message_type
            and e.payload is not None
            and (by is None or e.participant.key == by.key)
        ]

    def responder(self, participant: Participant) -> Municipality | Provider:
        """The simulated participant itself, to look into what it knows or to steer it."""
        for responder in self.runner.responders:
            if responder.participant.key == participant.key:
                assert isinstance(responder, Municipality | Provider)
                return responder
        raise ValueError(f"{participant} is not simulated in this chain")

    def provider(self, participant: Participant) -> Provider:
        responder = self.responder(participant)
        if not isinstance(responder, Provider):
            raise ValueError(f"{participant} is not a simulated provider")
        return responder

    def municipality(self, participant: Participant) -> Municipality:
        responder = self.responder(participant)
        if not isinstance(responder, Municipality):
            raise ValueError(f"{participant} is not a simulated municipality")
        return responder

    def initiate(self, participant: Participant, outgoing: list[Outgoing]) -> None:
        """Have a simulated participant send these of its own accord (as its policies say)."""
        self.runner.initiate(participant, outgoing)

    async def obligations(self, query: Query | None = None) -> list[Obligation]:
        """The SLA state: the obligations in the ledger, judged on the chain's clock."""
        store = ObligationStore(self.gateway.ledger)
        return await store.find(query or Query(), self.clock.now())

    async def wait_for(
        self,
        message_type: MessageType,
        count: int = 1,
        seconds: float = 30.0,
        *,
        by: Participant | None = None,
    ) -> None:
        """Until the simulated participants (or ``by``) received ``count`` of this type."""
        try:
            await self.wait_until(lambda: len(self.received(message_type, by)) >= count, seconds)
        except TimeoutError:
            seen = len(self.received(message_type, by))
            raise TimeoutError(
                f"waited {seconds:g} s for {count} {message_type.name}"
                f"{f' to {by.key}' if by else ''}; {seen} came"
            ) from None

    async def wait_until(self, condition: Callable[[], bool], seconds: float = 30.0) -> None:
        """Until ``condition()`` holds, looked at after each event of the handlers."""
        async with asyncio.timeout(seconds), self._arrived:
            await self._arrived.wait_for(condition)

    async def advance_to(self, day: dt.date) -> None:
        """Move the virtual clock to noon of ``day`` and let what was due happen."""
        self.clock.set(dt.datetime.combine(day, dt.time(12), tzinfo=AMSTERDAM))
        await asyncio.sleep(0)

    async def messages(self, conversatie_id: str) -> list[StoredMessage]:
        """The messages of one conversation, oldest first, as the ledger has them."""
        found: dict[str, StoredMessage] = {}
        for participant in self.gateway.registry:
            rows = await self.gateway.ledger.statuses(
                participant.key, conversatie_id=conversatie_id
            )
            found.update((row.traceer_id, row) for row in rows)
        return sorted(found.values(), key=lambda r: (r.received_at, r.arrived_ns or 0))
