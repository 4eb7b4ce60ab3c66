"""The body budget: what does not fit waits its turn; memory goes back when all is let go."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from gateway.http.api import TREE_COST, _expected
from gateway.http.budget import LARGE, BodyBudget
from gateway.standard.streaming import STREAM_ABOVE


async def _held(budget: BodyBudget, size: int, release: asyncio.Event, log: list[int]) -> None:
    async with budget.reserve(size):
        log.append(size)
        await release.wait()


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_what_does_not_fit_waits_first_come_first_served() -> None:
    """Reservations within the limit go at once; the rest wait in order until bytes come back."""
    budget = BodyBudget(100)
    first, second, third = asyncio.Event(), asyncio.Event(), asyncio.Event()
    log: list[int] = []
    tasks = [
        asyncio.create_task(_held(budget, 60, first, log)),
        asyncio.create_task(_held(budget, 50, second, log)),
        asyncio.create_task(_held(budget, 10, third, log)),  # fits, but may not pass the 50
    ]
    await _settle()
    assert log == [60]
    first.set()
    await _settle()
    assert log == [60, 50, 10]
    assert budget.reserved == 60
    second.set()
    third.set()
    await asyncio.gather(*tasks)
    assert budget.reserved == 0


async def test_a_request_that_goes_away_while_waiting_gives_up_its_place() -> None:
    """A waiting reservation cancelled (the client left) lets those behind it through."""
    budget = BodyBudget(100)
    release = asyncio.Event()
    log: list[int] = []
    holder = asyncio.create_task(_held(budget, 70, release, log))
    await _settle()
    leaving = asyncio.create_task(_held(budget, 50, release, log))
    staying = asyncio.create_task(_held(budget, 30, release, log))
    await _settle()
    assert log == [70]
    leaving.cancel()
    await _settle()
    assert log == [70, 30]
    release.set()
    await asyncio.gather(holder, staying)
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert budget.reserved == 0


async def test_a_request_larger_than_the_budget_runs_alone() -> None:
    """A reservation over the limit is cut to it: it waits for an empty budget, then runs."""
    budget = BodyBudget(100)
    release = asyncio.Event()
    log: list[int] = []
    small = asyncio.create_task(_held(budget, 10, release, log))
    await _settle()
    huge = asyncio.create_task(_held(budget, 1000, release, log))
    await _settle()
    assert log == [10]
    release.set()
    await asyncio.gather(small, huge)
    assert log == [10, 1000]
    assert budget.reserved == 0


async def test_memory_is_trimmed_when_the_last_large_body_is_let_go_and_answered() -> None:
    """The trim runs as a request leaves the middleware with nothing reserved after a large
    body; not for small ones alone, not while another large body is still held."""
    trims: list[int] = []
    budget = BodyBudget(10 * LARGE, trim=lambda: trims.append(budget.reserved))
    inner = asyncio.Event()

    async def upload(request: object, size: int, refuse: bool = False) -> web.StreamResponse:
        async with budget.reserve(size):
            await inner.wait()
        assert trims == []  # not yet: what the handler holds is not free yet
        if refuse:
            raise web.HTTPBadRequest()
        return web.Response()

    def request(size: int, refuse: bool = False) -> Awaitable[web.StreamResponse]:
        return budget.middleware(None, lambda r: upload(r, size, refuse))  # type: ignore[arg-type]

    inner.set()
    await request(100)
    assert trims == []
    inner.clear()
    first = asyncio.ensure_future(request(LARGE))
    second = asyncio.ensure_future(request(2 * LARGE, refuse=True))
    await _settle()
    inner.set()
    await first
    with pytest.raises(web.HTTPBadRequest):
        await second
    assert trims == [0]


def test_a_small_message_takes_forty_times_its_size_of_the_budget() -> None:
    """Parsed as a whole tree a small message may take forty times its bytes; a large one is
    read in a pass that keeps little more than them; one without a length the most it may be."""

    def expected(length: str | None) -> int:
        headers = {} if length is None else {"Content-Length": length}
        return _expected(make_mocked_request("POST", "/", headers=headers), 10 * LARGE)

    assert expected("3000") == 3000 * TREE_COST
    assert expected(str(STREAM_ABOVE + 1)) == STREAM_ABOVE + 1
    assert expected(None) == 10 * LARGE
