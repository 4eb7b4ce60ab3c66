"""``gateway clock show|set|advance`` against a live ops server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.cli import main
from gateway.clock import Clock, SystemClock, VirtualClock
from gateway.clock_api import add_clock_routes
from gateway.deadlines import AMSTERDAM

FRIDAY = datetime(2020, 4, 24, 9, 0, tzinfo=AMSTERDAM)


@pytest.fixture
def clock() -> Clock:
    """The clock the server serves (a virtual one unless a test says otherwise)."""
    return VirtualClock(FRIDAY)


@pytest.fixture
async def ops_url(clock: Clock) -> AsyncIterator[str]:
    """A live ops server with the clock routes; its base URL."""
    app = web.Application()
    add_clock_routes(app, clock)
    async with TestServer(app, host="127.0.0.1") as server:
        yield str(server.make_url("")).rstrip("/")


async def gateway(*argv: str) -> int:
    """Run the command in a thread: it runs its own event loop."""
    return await asyncio.to_thread(main, list(argv))


async def test_show(ops_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``gateway clock show`` prints the Amsterdam moment and the kind of day."""
    assert await gateway("clock", "--ops-url", ops_url, "show") == 0
    out = capsys.readouterr().out
    assert out.strip() == "2020-04-24T09:00:00+02:00 (virtual; Friday, working day)"


async def test_set(ops_url: str, clock: Clock, capsys: pytest.CaptureFixture[str]) -> None:
    """``gateway clock set`` sets the server's clock; a moment without zone is Amsterdam's."""
    assert await gateway("clock", "--ops-url", ops_url, "set", "2020-04-27T10:00") == 0
    assert clock.now() == datetime(2020, 4, 27, 10, tzinfo=AMSTERDAM)
    assert "Monday, not a working day" in capsys.readouterr().out


async def test_advance_by_working_days(ops_url: str, clock: Clock) -> None:
    """``gateway clock advance --working-days 3`` skips Koningsdag."""
    assert await gateway("clock", "--ops-url", ops_url, "advance", "--working-days", "3") == 0
    assert clock.now() == datetime(2020, 4, 30, 9, tzinfo=AMSTERDAM)


async def test_advance_by_a_duration(ops_url: str, clock: Clock) -> None:
    """``gateway clock advance 2h30m`` moves the clock by that much."""
    assert await gateway("clock", "--ops-url", ops_url, "advance", "2h30m") == 0
    assert clock.now() == datetime(2020, 4, 24, 11, 30, tzinfo=AMSTERDAM)


async def test_advance_needs_one_amount(ops_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Neither or both of DURATION and --working-days is refused before asking the server."""
    assert await gateway("clock", "--ops-url", ops_url, "advance") == 2
    argv = ("clock", "--ops-url", ops_url, "advance", "1h", "--working-days", "1")
    assert await gateway(*argv) == 2
    assert "either DURATION or --working-days" in capsys.readouterr().err


@pytest.mark.parametrize("clock", [SystemClock()])
async def test_the_real_clock_refuses(ops_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Against the real clock, ``gateway clock advance`` fails with the server's reason."""
    assert await gateway("clock", "--ops-url", ops_url, "advance", "1h") == 1
    assert "The clock is the real one" in capsys.readouterr().err


async def test_no_server(capsys: pytest.CaptureFixture[str], unused_tcp_port: int) -> None:
    """Without a server at --ops-url the command fails, naming the address."""
    url = f"http://127.0.0.1:{unused_tcp_port}"
    assert await gateway("clock", "--ops-url", url, "show") == 2
    assert f"cannot reach the ops API at {url}/admin/clock" in capsys.readouterr().err


async def test_ops_url_after_the_action(ops_url: str, clock: Clock) -> None:
    """``gateway clock advance --working-days 3 --ops-url URL``: the option follows the action."""
    argv = ("clock", "advance", "--working-days", "3", "--ops-url", ops_url)
    assert await gateway(*argv) == 0
    assert clock.now() == datetime(2020, 4, 30, 9, tzinfo=AMSTERDAM)


async def test_ops_url_after_the_action_wins(
    ops_url: str, capsys: pytest.CaptureFixture[str], unused_tcp_port: int
) -> None:
    """Given before and after the action, the one after it is used."""
    nowhere = f"http://127.0.0.1:{unused_tcp_port}"
    assert await gateway("clock", "--ops-url", nowhere, "show", "--ops-url", ops_url) == 0
    assert "(virtual; Friday, working day)" in capsys.readouterr().out
