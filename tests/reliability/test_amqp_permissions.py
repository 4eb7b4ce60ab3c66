"""Broker users per municipality: RabbitMQ itself lets each read its own inbox and no other."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika
import aiohttp
import pytest
from aiormq.exceptions import ChannelAccessRefused

from gateway.amqp_admin import DEFAULT_ADMIN_URL, Grant, ManagementApi, PasswordStore, vhost_of
from gateway.amqp_admin import provision as provision_users
from gateway.errors import BrokerAdminError, ConfigError
from gateway.participants import Participant
from gateway.routing import Broker, RoutedMessage
from tests.fixtures.broker import LEIDEN, PROVIDER_A, ZOETERMEER, amqp_url_for
from tests.reliability.process import free_port

REGISTRY = """
[[gemeente]]
code = "0637"
name = "Gemeente Zoetermeer"

[[gemeente]]
code = "0546"
name = "Gemeente Leiden"

[[aanbieder]]
code = "12345678"
name = "Zorg A"
"""


@pytest.fixture
async def user_prefix() -> AsyncIterator[str]:
    """A prefix of this test's own for broker users (users are global); they are deleted after."""
    prefix = f"t{secrets.token_hex(3)}-"
    try:
        yield prefix
    finally:
        async with aiohttp.ClientSession() as session:
            api = ManagementApi(DEFAULT_ADMIN_URL, session)
            for municipality in (ZOETERMEER, LEIDEN):
                await api.delete_user(f"{prefix}{municipality.key}")


async def provision(tmp_path: Path, vhost: str, prefix: str) -> list[dict[str, object]]:
    """Run ``gateway amqp provision --json`` as the compose stack does, in a process of its own."""
    registry = tmp_path / "participants.toml"
    registry.write_text(REGISTRY)
    done = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "gateway",
            "amqp",
            "provision",
            "--amqp-admin-url",
            DEFAULT_ADMIN_URL,
            "--vhost",
            vhost,
            "--registry",
            str(registry),
            "--credentials-dir",
            str(tmp_path / "amqp"),
            "--user-prefix",
            prefix,
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    provisioned: list[dict[str, object]] = json.loads(done.stdout)
    return provisioned


def read_passwords(provisioned: list[dict[str, object]]) -> dict[str, str]:
    return {str(e["user"]): Path(str(e["passwordFile"])).read_text() for e in provisioned}


def user_url(tmp_path: Path, vhost: str, user: str) -> str:
    password = (tmp_path / "amqp" / f"{user}.password").read_text().strip()
    return amqp_url_for(vhost).replace("guest:guest@", f"{user}:{password}@")


async def test_provision_creates_one_user_per_municipality_limited_to_its_queue(
    broker: Broker, amqp_vhost: str, tmp_path: Path, user_prefix: str
) -> None:
    """`gateway amqp provision` makes a user per municipality with its own queue as every regex."""
    provisioned = await provision(tmp_path, amqp_vhost, user_prefix)
    assert [(p["user"], p["queue"]) for p in provisioned] == [
        (f"{user_prefix}gemeente-0546", "inbox.gemeente.0546"),
        (f"{user_prefix}gemeente-0637", "inbox.gemeente.0637"),
    ]
    for entry in provisioned:
        expected = "^inbox\\.gemeente\\." + str(entry["queue"]).rsplit(".", 1)[1] + "$"
        assert entry["configure"] == entry["write"] == entry["read"] == expected
        mode = os.stat(str(entry["passwordFile"])).st_mode
        assert stat.S_IMODE(mode) == 0o600


def routed_to(recipient: Participant, traceer_id: str) -> RoutedMessage:
    return RoutedMessage(
        traceer_id=traceer_id,
        conversatie_id="00000000-0000-4000-8000-000000000099",
        als_antwoord_op=None,
        sender=PROVIDER_A,
        recipient=recipient,
        message_type="WMO305",
        release="3.2",
        trace_id="t",
        body=b"<x/>",
    )


async def test_rabbitmq_refuses_one_municipality_on_anothers_queue(
    broker: Broker, amqp_vhost: str, tmp_path: Path, user_prefix: str
) -> None:
    """Zoetermeer's user reads inbox.gemeente.0637; RabbitMQ refuses it Leiden's inbox.

    The queue exists and a passive check of it (which needs no permission) finds it: what the
    broker refuses is reading it, by basic.get and by basic.consume, and Leiden's message stays.
    """
    await provision(tmp_path, amqp_vhost, user_prefix)
    for_zoetermeer = "00000000-0000-4000-8000-000000000001"
    for_leiden = "00000000-0000-4000-8000-000000000002"
    await broker.publish(routed_to(ZOETERMEER, for_zoetermeer))
    await broker.publish(routed_to(LEIDEN, for_leiden))
    zoetermeer = user_url(tmp_path, amqp_vhost, f"{user_prefix}gemeente-0637")

    async with Broker.consumer(zoetermeer, ZOETERMEER.queue) as deliveries:
        async with asyncio.timeout(10):
            delivery = await anext(aiter(deliveries))
            async with delivery.process():
                assert delivery.message_id == for_zoetermeer

    refused = rf"ACCESS_REFUSED - access to queue '{re.escape(LEIDEN.queue)}'"

    async def ignore(_message: aio_pika.abc.AbstractIncomingMessage) -> None:
        raise AssertionError("a delivery from another municipality's inbox")

    connection = await aio_pika.connect(zoetermeer)
    try:
        # Each refusal closes its channel: a fresh one for each way of reading.
        queue = await (await connection.channel()).get_queue(LEIDEN.queue, ensure=True)
        with pytest.raises(ChannelAccessRefused, match=refused):
            await queue.get(fail=False)
        queue = await (await connection.channel()).get_queue(LEIDEN.queue, ensure=True)
        with pytest.raises(ChannelAccessRefused, match=refused):
            await queue.consume(ignore)
    finally:
        await connection.close()

    leiden = user_url(tmp_path, amqp_vhost, f"{user_prefix}gemeente-0546")
    async with Broker.consumer(leiden, LEIDEN.queue) as deliveries:
        async with asyncio.timeout(10):
            delivery = await anext(aiter(deliveries))
            async with delivery.process():
                assert delivery.message_id == for_leiden


async def test_provision_is_idempotent_and_keeps_passwords(
    broker: Broker, amqp_vhost: str, tmp_path: Path, user_prefix: str
) -> None:
    """Running provision again keeps every password file and the users can still log in."""
    first = await provision(tmp_path, amqp_vhost, user_prefix)
    passwords = read_passwords(first)
    second = await provision(tmp_path, amqp_vhost, user_prefix)
    assert all(e["newPassword"] for e in first)
    assert not any(e["newPassword"] for e in second)
    assert read_passwords(second) == passwords
    leiden = user_url(tmp_path, amqp_vhost, f"{user_prefix}gemeente-0546")
    async with Broker.consumer(leiden, LEIDEN.queue):
        pass


async def test_unknown_vhost_is_named(tmp_path: Path, user_prefix: str) -> None:
    """Provisioning into a vhost the broker does not have fails, naming the vhost."""
    with pytest.raises(BrokerAdminError, match="no-such-vhost"):
        await provision_users(
            DEFAULT_ADMIN_URL, "no-such-vhost", [ZOETERMEER], PasswordStore(tmp_path)
        )


def test_grant_is_for_municipalities_only() -> None:
    """A provider gets no broker user: providers pull over the REST API."""
    with pytest.raises(ConfigError, match="aanbieder-12345678"):
        Grant.own_inbox(PROVIDER_A, "/")


def test_vhost_is_read_from_the_amqp_url() -> None:
    """The vhost defaults to the path of GATEWAY_AMQP_URL, unquoted; no path is ``/``."""
    assert vhost_of("amqp://guest:guest@127.0.0.1:5672/") == "/"
    assert vhost_of("amqp://guest:guest@127.0.0.1:5672") == "/"
    assert vhost_of("amqp://u:p@h:5672/pytest-1-2") == "pytest-1-2"
    assert vhost_of("amqp://u:p@h:5672/%2F") == "/"


async def test_admin_url_must_be_the_management_api() -> None:
    """An amqp:// URL where the management API's http:// URL belongs is refused, naming it."""
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ConfigError, match="GATEWAY_AMQP_ADMIN_URL"):
            ManagementApi("amqp://guest:guest@127.0.0.1:5672/", session)


async def test_unreachable_management_api_names_the_plugin(tmp_path: Path) -> None:
    """No management API at the address: BrokerAdminError suggesting the plugin is off."""
    closed = free_port()
    with pytest.raises(BrokerAdminError, match="rabbitmq_management"):
        await provision_users(
            f"http://guest:guest@127.0.0.1:{closed}/", "/", [ZOETERMEER], PasswordStore(tmp_path)
        )
