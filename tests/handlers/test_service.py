"""``gateway handlers`` in a process of its own: configuration, and following the gateway."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from pathlib import Path

import aiohttp
import pytest

from gateway.client import GatewayClient
from gateway.clock import VirtualClock
from gateway.deadlines.workdays import AMSTERDAM
from gateway.errors import ConfigError
from gateway.handlers.follow import Follower
from gateway.handlers.municipality import Municipality
from gateway.handlers.policy import Policies
from gateway.handlers.provider import Provider
from gateway.handlers.service import SIMULATED_ENV, Simulated, parse_simulated, run_handlers
from gateway.participants import Participant, Registry
from gateway.routing import Broker, consumer_counts
from gateway.scenarios.steps import contracted, verzoek_om_toewijzing
from gateway.server import Gateway
from gateway.standard.message_types import MessageType
from gateway.standard.xmlsafe import parse_xml
from tests.fixtures.gateway import RunningGateway, local_settings

ZOETERMEER = Participant.parse("gemeente-0637")
PROVIDER = Participant.parse("aanbieder-12345678")
START = dt.datetime(2020, 3, 2, 9, 0, tzinfo=AMSTERDAM)


def test_simulated_participants_are_read_from_the_setting() -> None:
    """Participants with their contract profile and autopilot, as registered."""
    found = parse_simulated(
        "gemeente-0637:zoetermeer-2020, aanbieder-12345678:autopilot+zoetermeer-2020,"
        " aanbieder-42420001",
        Registry.load(),
    )
    assert [(s.participant.key, s.profile, s.autopilot) for s in found] == [
        ("gemeente-0637", "zoetermeer-2020", False),
        ("aanbieder-12345678", "zoetermeer-2020", True),
        ("aanbieder-42420001", None, False),
    ]
    municipality, provider, plain = (s.responder() for s in found)
    assert isinstance(municipality, Municipality)
    assert municipality.profile.name == "zoetermeer-2020"
    assert isinstance(provider, Provider)
    assert provider.autopilot
    assert provider.profile is not None
    assert isinstance(plain, Provider)
    assert not plain.autopilot
    assert plain.profile is None
    default = Simulated(ZOETERMEER).responder()
    assert isinstance(default, Municipality)
    assert default.profile.name == "istandaarden"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("", "names nobody"),
        ("gemeente-9999", "not in the registry"),
        ("gemeente-0637:amsterdam-2030", "amsterdam-2030"),
        ("gemeente-0637:autopilot", "autopilot"),
        ("gemeente-0637, gemeente-0637", "twice"),
        ("zorg-1", "zorg-1"),
    ],
)
def test_a_bad_setting_is_refused_naming_it(text: str, named: str) -> None:
    """Unknown participants, profiles or options stop the start with the offending value."""
    with pytest.raises(ConfigError, match=named):
        parse_simulated(text, Registry.load())


async def test_handlers_follow_the_gateways_clock_and_policies(
    certs_dir: Path, amqp_url: str, tmp_path: Path
) -> None:
    """Handlers beside a simulating gateway answer on its virtual clock, by its policy table."""
    settings = local_settings(
        certs_dir,
        amqp_url,
        tmp_path,
        simulate=True,
        extra={"GATEWAY_POLICIES": "gemeente-0637/WMO316=after:1"},
    )
    gateway = await Gateway.start(settings, clock=VirtualClock(START))
    live = settings.with_overrides(port=gateway.port, ops_port=gateway.ops_port)
    stop = asyncio.Event()
    ops = f"http://127.0.0.1:{gateway.ops_port}"
    handlers = asyncio.create_task(
        run_handlers(
            live,
            parse_simulated("gemeente-0637:zoetermeer-2020", gateway.registry),
            stop,
            poll=0.05,
        )
    )
    try:
        async with GatewayClient(f"https://localhost:{gateway.port}", certs_dir, PROVIDER) as me:
            await asyncio.sleep(0.5)  # the handlers connect
            payload = verzoek_om_toewijzing(
                afzender=PROVIDER,
                ontvanger=ZOETERMEER,
                identificatie="SVC000000001",
                dagtekening=START.date(),
                bsn="999900018",
                products=[contracted("07A03", 4, START.date(), dt.date(2021, 2, 28))],
            )
            await me.push(payload, MessageType.WMO315, ZOETERMEER)
            assert await _arrives(me, "WMO301") == ["WMO301"]
            # The 316 waits for a working day on the gateway's clock, as its policy says.
            async with (
                aiohttp.ClientSession() as http,
                http.post(f"{ops}/admin/clock/advance", json={"working_days": 1}) as response,
            ):
                assert response.status == 200
            assert sorted(await _arrives(me, "WMO316")) == ["WMO301", "WMO316"]
            for message in await me.inbox():
                await me.confirm(message.traceer_id)
            # A harness changes the policy through the admin API while the handlers run: the
            # next 316 comes at once, rejecting the 315 with the code it names.
            async with (
                aiohttp.ClientSession() as http,
                http.put(
                    f"{ops}/admin/policies/gemeente-0637/WMO316", json={"policy": "reject:8848"}
                ) as response,
            ):
                assert response.status == 200
            await asyncio.sleep(0.3)  # a few polls of the follower
            await me.push(
                verzoek_om_toewijzing(
                    afzender=PROVIDER,
                    ontvanger=ZOETERMEER,
                    identificatie="SVC000000002",
                    dagtekening=START.date(),
                    bsn="999900018",
                    products=[contracted("07A03", 4, START.date(), dt.date(2021, 2, 28))],
                ),
                MessageType.WMO315,
                ZOETERMEER,
            )
            assert await _arrives(me, "WMO316") == ["WMO316"]
            (retour,) = await me.inbox()
            codes = parse_xml(await me.download(retour)).getroot().iter("{*}RetourCode")
            assert [c.text for c in codes] == ["8848"]
            assert not handlers.done()
    finally:
        stop.set()
        await handlers
        await gateway.stop()


async def _arrives(client: GatewayClient, berichttype: str, seconds: float = 10.0) -> list[str]:
    """The inbox's berichttypes once ``berichttype`` is among them."""
    async with asyncio.timeout(seconds):
        while True:
            types = [m.berichttype for m in await client.inbox()]
            if berichttype in types:
                return types
            await asyncio.sleep(0.05)


async def test_beside_a_real_clock_gateway_handlers_use_the_real_clock(
    running_gateway: RunningGateway, unused_tcp_port: int
) -> None:
    """No virtual clock to follow (``/admin/clock`` 404): no follower; no ops port: an error."""
    assert await Follower.start(running_gateway.ops_url, Policies()) is None
    with pytest.raises(ConfigError, match=f"127.0.0.1:{unused_tcp_port}"):
        await Follower.start(f"http://127.0.0.1:{unused_tcp_port}", Policies())


async def check_handlers(amqp_url: str, simulated: str) -> tuple[int, str, str]:
    """``gateway handlers --check`` in a process of its own, as a container healthcheck runs it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "handlers",
        "--check",
        env={"PATH": "/usr/bin:/bin", "GATEWAY_AMQP_URL": amqp_url, SIMULATED_ENV: simulated},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_check_says_whether_every_simulated_inbox_is_consumed(amqp_url: str) -> None:
    """``--check`` exits 1 naming each inbox without a consumer, and 0 once all are consumed."""
    simulated = "gemeente-0637:zoetermeer-2020,aanbieder-12345678:autopilot"
    status, _, err = await check_handlers(amqp_url, simulated)
    assert status == 1  # not even declared yet
    assert "nobody consumes inbox.gemeente.0637, inbox.aanbieder.12345678" in err
    async with Broker.consumer(amqp_url, ZOETERMEER):
        status, _, err = await check_handlers(amqp_url, simulated)
        assert status == 1  # declared, one consumed
        assert "nobody consumes inbox.aanbieder.12345678" in err
        assert "0637" not in err
        async with Broker.consumer(amqp_url, PROVIDER):
            status, out, _ = await check_handlers(amqp_url, simulated)
            assert status == 0
            assert "inbox.gemeente.0637: 1 consumer(s)" in out
            assert "inbox.aanbieder.12345678: 1 consumer(s)" in out
    status, _, err = await check_handlers(amqp_url, simulated)
    assert status == 1  # the consumers left
    assert await consumer_counts(amqp_url, [ZOETERMEER, PROVIDER]) == {ZOETERMEER: 0, PROVIDER: 0}


async def test_check_names_an_unreachable_broker() -> None:
    """With no RabbitMQ to ask, ``--check`` is not healthy either: exit 2, naming the broker."""
    status, _, err = await check_handlers("amqp://guest:guest@127.0.0.1:1/", "gemeente-0637")
    assert status == 2
    assert "127.0.0.1:1" in err
