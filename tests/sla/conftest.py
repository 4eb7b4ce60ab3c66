"""SLA fixtures: a virtual clock, a ledger on it, and official examples admitted with their chains.

``Admitter.admit`` does what the ingress does for a message that passed its checks (identify,
read the header, work out the chain step, admit), without TLS and RabbitMQ; the end-to-end tests
go through the real gateway instead.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from pathlib import Path

import pytest

from gateway.clock import VirtualClock
from gateway.config import Settings
from gateway.deadlines import AMSTERDAM, get_profile
from gateway.ledger import Ledger, StoredMessage
from gateway.ledger.store import NewMessage
from gateway.participants import Participant, Role
from gateway.server import Gateway
from gateway.sla.chains import Chains
from gateway.sla.store import ObligationStore
from gateway.standard.catalog import default_catalog
from gateway.standard.message_types import RELEASE
from gateway.standard.xmlsafe import parse_xml
from tests.fixtures.gateway import RunningGateway

# Monday 14 August 2023, 10:00 in Amsterdam: a working week ahead.
MONDAY = datetime(2023, 8, 14, 10, 0, tzinfo=AMSTERDAM)


def example(reference: Path, name: str) -> bytes:
    standard = "iwmo-3.2" if name.startswith("WMO") else "ijw-3.2"
    return (reference / standard / "examples" / f"{name}.xml").read_bytes()


def party(code: str) -> Participant:
    return Participant(Role.GEMEENTE if len(code) == 4 else Role.AANBIEDER, code)


class Admitter:
    """Admits official examples into a ledger with the chain step the ingress would compute."""

    def __init__(self, ledger: Ledger, chains: Chains, reference: Path) -> None:
        self.ledger = ledger
        self.chains = chains
        self.reference = reference
        self.catalog = default_catalog()

    async def admit(
        self, name: str, *, replace: dict[str, str] | None = None, conversatie_id: str = ""
    ) -> StoredMessage:
        """Admit the example ``name`` with text replaced (``{"old": "new"}``); return its row."""
        payload = example(self.reference, name)
        for before, after in (replace or {}).items():
            assert before.encode() in payload, f"{before!r} not in {name}"
            payload = payload.replace(before.encode(), after.encode())
        doc = parse_xml(payload)
        message_type = self.catalog.identify(doc)
        header = self.catalog.header(doc, message_type)
        afzender, ontvanger = party(header.afzender), party(header.ontvanger)
        sender, recipient = (
            (ontvanger, afzender) if message_type.copies_header else (afzender, ontvanger)
        )
        own = header.identificatie
        answers = None
        if message_type.copies_header:
            own, answers = header.identificatie_retour or own, header.identificatie
        elif message_type.answers is not None:
            answers = header.identificatie_retour
        new = NewMessage(
            traceer_id=str(uuid.uuid4()),
            conversatie_id=conversatie_id or str(uuid.uuid4()),
            als_antwoord_op=None,
            referentie_id=None,
            sender=sender.key,
            recipient=recipient.key,
            message_type=message_type.name,
            release=RELEASE,
            berichttype=message_type.name,
            identificatie=own,
            dagtekening=str(header.dagtekening),
            answers_identificatie=answers,
            sha256=hashlib.sha256(payload).hexdigest(),
            payload=payload,
            trace_id=uuid.uuid4().hex,
        )
        step = self.chains.step(
            message_type,
            doc,
            sender=sender,
            recipient=recipient,
            received=self.ledger.now(),
            answers=answers,
        )
        admission = await self.ledger.admit(new, step)
        await self.ledger.routed(new.traceer_id)
        return admission.message


@pytest.fixture
def clock() -> VirtualClock:
    """A virtual clock on Monday 14 August 2023, 10:00 Amsterdam."""
    return VirtualClock(MONDAY)


@pytest.fixture
async def sla_ledger(db_url: str, clock: VirtualClock) -> AsyncIterator[Ledger]:
    """A migrated ledger on each database kind, stamping the virtual clock's time."""
    opened = await Ledger.open(db_url, now=clock.now)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def admitter(sla_ledger: Ledger, reference: Path) -> Admitter:
    """Admits official examples under the istandaarden-3.2 profile."""
    return Admitter(sla_ledger, Chains(get_profile("istandaarden-3.2")), reference)


@pytest.fixture
def store(sla_ledger: Ledger) -> ObligationStore:
    return ObligationStore(sla_ledger)


@pytest.fixture
async def simulated_gateway(
    certs_dir: Path, amqp_url: str, db_url: str
) -> AsyncIterator[RunningGateway]:
    """``gateway serve --simulate``: the virtual clock (Monday 14 August 2023) and admin routes,
    on each database kind."""
    settings = Settings(
        amqp_url=amqp_url,
        db_url=db_url,
        certs_dir=certs_dir,
        port=0,
        ops_port=0,
        simulate=True,
    )
    gateway = await Gateway.start(settings, clock=VirtualClock(MONDAY))
    running = RunningGateway(gateway, certs_dir, amqp_url)
    try:
        yield running
    finally:
        await running.close()


async def gateway_sla(*args: str, env: Mapping[str, str] | None = None) -> tuple[int, str, str]:
    """Run ``gateway sla ARGS`` as a process of its own: exit status, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "sla",
        *args,
        env=None if env is None else dict(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()
