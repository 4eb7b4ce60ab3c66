"""A pytest plugin, so that a vendor's own test suite can start the chain and talk to it.

Installed with the package (entry point ``pytest11``: ``iwmo``), it offers fixtures, all named
``iwmo_*`` so that they never clash with a suite's own:

- ``iwmo_chain``: a running switchpoint in simulation mode on free loopback ports, with an SQLite
  ledger in the test's temporary directory, simulated counterparties and a virtual clock
  (``gateway.scenarios.chain.Chain``); stopped after the test;
- ``iwmo_client``: ``await iwmo_client("aanbieder-12345678")`` gives that participant's client
  (its own certificate; ``push``, ``inbox``, ``download``, ``confirm``, ``statuses``);
- ``iwmo_clock``: the chain's ``VirtualClock`` (``set``, ``advance``, ``advance_working_days``);
- ``iwmo_wait_for``: ``await iwmo_wait_for("WMO301", "aanbieder-12345678")`` waits until that
  participant's inbox holds the message type - a simulated participant's queue, or the VSP pull
  inbox of a participant the suite plays itself - and returns what came.

What the chain simulates is set with the ``iwmo`` marker (or by overriding ``iwmo_options``)::

    @pytest.mark.iwmo(providers=[], start="2021-01-04T09:00:00+01:00", prices={"08A03": 1200})

By default Zoetermeer (gemeente-0637, contract ``zoetermeer-2020``) and aanbieder-12345678 (on
autopilot) are simulated. Override ``iwmo_amqp_url`` (default: ``GATEWAY_AMQP_URL``) and
``iwmo_certs_dir`` (default: certificates minted once per session) to fit the suite. The async
fixtures need pytest-asyncio (``pip install iwmo-gateway[pytest]``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.util
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from gateway.config import Settings
from gateway.participants import Participant
from gateway.standard.message_types import MessageType

# pytest loads this module in every run of a suite that has the package installed: the chain's
# heavy modules are imported only when a fixture is used.
if TYPE_CHECKING:
    from gateway.client import GatewayClient, Incoming
    from gateway.clock import VirtualClock
    from gateway.scenarios.chain import Chain

MARKER = "iwmo"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
ZOETERMEER = Participant.parse("gemeente-0637")
PROVIDER = Participant.parse("aanbieder-12345678")
START = dt.datetime.fromisoformat("2020-03-02T09:00:00+01:00")  # a Monday, period 3 of 2020
HAVE_PYTEST_ASYNCIO = importlib.util.find_spec("pytest_asyncio") is not None

ClientFactory = Callable[[Participant | str], Awaitable["GatewayClient"]]
WaitFor = Callable[..., Awaitable["list[Incoming] | list[bytes]"]]


@dataclass(frozen=True)
class ChainOptions:
    """What ``iwmo_chain`` simulates and where its clock starts."""

    municipalities: Sequence[Participant] = (ZOETERMEER,)
    providers: Sequence[Participant] = (PROVIDER,)
    start: dt.datetime = START
    profile: str = "zoetermeer-2020"
    autopilot: bool = True
    prices: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_marker(cls, marker: pytest.Mark | None) -> ChainOptions:
        if marker is None:
            return cls()
        given: dict[str, Any] = dict(marker.kwargs)
        for role in ("municipalities", "providers"):
            if role in given:
                given[role] = tuple(_participant(p) for p in given[role])
        if isinstance(given.get("start"), str):
            given["start"] = dt.datetime.fromisoformat(given["start"])
        return cls(**given)


def _participant(value: Participant | str) -> Participant:
    return value if isinstance(value, Participant) else Participant.parse(value)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(municipalities=, providers=, start=, profile=, autopilot=, prices=): "
        "what the iwmo_chain fixture simulates",
    )


@pytest.fixture(scope="session")
def iwmo_amqp_url() -> str:
    """The RabbitMQ the chain routes through (``GATEWAY_AMQP_URL``)."""
    return os.environ.get("GATEWAY_AMQP_URL") or DEFAULT_AMQP_URL


@pytest.fixture(scope="session")
def iwmo_certs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A development CA and a client certificate per registered participant, once a session."""
    from gateway import pki
    from gateway.participants import Registry

    directory = tmp_path_factory.mktemp("iwmo-certs")
    pki.init(directory, Registry.load())
    return directory


@pytest.fixture
def iwmo_options(request: pytest.FixtureRequest) -> ChainOptions:
    """What the chain simulates: the ``iwmo`` marker's, else Zoetermeer and one provider."""
    return ChainOptions.from_marker(request.node.get_closest_marker(MARKER))


@pytest.fixture
def iwmo_settings(iwmo_amqp_url: str, iwmo_certs_dir: Path, tmp_path: Path) -> Settings:
    """The gateway's settings: free loopback ports, an SQLite ledger of the test's own."""
    return Settings(
        amqp_url=iwmo_amqp_url,
        db_url=f"sqlite:///{tmp_path / 'iwmo-ledger.db'}",
        certs_dir=iwmo_certs_dir,
        port=0,
        ops_port=0,
        simulate=True,
    )


async def _chain(settings: Settings, options: ChainOptions) -> AsyncIterator[Chain]:
    from gateway.scenarios.chain import Chain

    chain = await Chain.start(
        settings,
        municipalities=list(options.municipalities),
        providers=list(options.providers),
        profile=options.profile,
        start=options.start,
        autopilot=options.autopilot,
        prices=options.prices,
    )
    try:
        yield chain
    finally:
        await chain.stop()


async def wait_in_inbox(
    chain: Chain,
    message_type: MessageType | str,
    inbox: Participant | str,
    *,
    count: int = 1,
    seconds: float = 30.0,
) -> list[Incoming] | list[bytes]:
    """Until ``inbox`` holds ``count`` messages of ``message_type``; returns them.

    For a simulated participant: the payloads its handler received. For any other: the entries
    of its VSP pull inbox (not confirmed, so the suite's own software still finds them).
    """
    kind = (
        message_type if isinstance(message_type, MessageType) else MessageType.parse(message_type)
    )
    who = _participant(inbox)
    simulated = {r.participant.key for r in chain.runner.responders}
    if who.key in simulated:
        await chain.wait_for(kind, count, seconds, by=who)
        return chain.received(kind, who)
    client = await chain.client(who)
    async with asyncio.timeout(seconds):
        while True:
            found = [m for m in await client.inbox() if m.berichttype == kind.name]
            if len(found) >= count:
                return found
            await asyncio.sleep(0.05)


if HAVE_PYTEST_ASYNCIO:
    import pytest_asyncio

    @pytest_asyncio.fixture
    async def iwmo_chain(
        iwmo_settings: Settings, iwmo_options: ChainOptions
    ) -> AsyncIterator[Chain]:
        """A running switchpoint with simulated counterparties on a virtual clock."""
        async for chain in _chain(iwmo_settings, iwmo_options):
            yield chain

else:  # pragma: no cover

    @pytest.fixture
    def iwmo_chain() -> None:
        pytest.fail("the iwmo fixtures need pytest-asyncio: pip install 'iwmo-gateway[pytest]'")


@pytest.fixture
def iwmo_clock(iwmo_chain: Chain) -> VirtualClock:
    """The chain's virtual clock."""
    return iwmo_chain.clock


@pytest.fixture
def iwmo_client(iwmo_chain: Chain) -> ClientFactory:
    """``await iwmo_client(participant)``: its client, with its own certificate."""

    async def client(participant: Participant | str) -> GatewayClient:
        return await iwmo_chain.client(_participant(participant))

    return client


@pytest.fixture
def iwmo_wait_for(iwmo_chain: Chain) -> WaitFor:
    """``await iwmo_wait_for("WMO301", "aanbieder-12345678", count=1, seconds=30)``."""

    async def wait_for(
        message_type: MessageType | str,
        inbox: Participant | str,
        *,
        count: int = 1,
        seconds: float = 30.0,
    ) -> list[Incoming] | list[bytes]:
        return await wait_in_inbox(iwmo_chain, message_type, inbox, count=count, seconds=seconds)

    return wait_for
