"""Handlers in a process of their own follow the gateway's virtual clock and answer policies.

In simulation mode the gateway's clock only moves when a harness moves it, and the answer
policies live in the gateway (``/admin/policies``): ``gateway handlers`` in another process must
see both. ``Follower`` polls the gateway's ops port (``GET /admin/clock`` and ``GET
/admin/policies``) every ``poll`` seconds; ``FollowingClock`` is the ``Clock`` the handlers read,
set from what was polled, waking the answers that wait for a moment once the gateway's clock has
passed it. So a harness that moves the gateway's clock by a working day sees the handlers answer
within one poll.

When the gateway runs on the real clock (no ``/admin/clock``: 404), the handlers use the real
clock too, and their policies come from ``GATEWAY_POLICIES`` of their own environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

import aiohttp

from gateway.clock import VirtualClock
from gateway.errors import ConfigError
from gateway.handlers.policy import Entry, Policies

log = logging.getLogger(__name__)


class FollowingClock(VirtualClock):
    """A virtual clock that only the follower moves: it shows the gateway's time."""


async def gateway_clock(session: aiohttp.ClientSession, ops_url: str) -> dt.datetime | None:
    """The gateway's virtual moment, or None when it runs on the real clock."""
    try:
        async with session.get(f"{ops_url}/admin/clock") as response:
            if response.status == 404:
                return None
            if response.status != 200:
                raise ConfigError(f"{ops_url}/admin/clock answered HTTP {response.status}")
            body = await response.json()
    except aiohttp.ClientError as exc:
        raise ConfigError(f"the gateway's ops port {ops_url} is not reachable: {exc}") from exc
    if not body.get("virtual"):
        return None
    return dt.datetime.fromisoformat(body["now"])


class Follower:
    """Keeps a ``FollowingClock`` and a ``Policies`` table in step with a simulating gateway."""

    def __init__(
        self,
        ops_url: str,
        clock: FollowingClock,
        policies: Policies,
        *,
        poll: float = 0.2,
    ) -> None:
        self.ops_url = ops_url.rstrip("/")
        self.clock = clock
        self.policies = policies
        self.poll = poll
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    async def start(cls, ops_url: str, policies: Policies, *, poll: float = 0.2) -> Follower | None:
        """Follow the gateway at ``ops_url``; None when it runs on the real clock."""
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        try:
            moment = await gateway_clock(session, ops_url.rstrip("/"))
        except BaseException:
            await session.close()
            raise
        if moment is None:
            await session.close()
            return None
        follower = cls(ops_url, FollowingClock(moment), policies, poll=poll)
        follower._session = session
        await follower.step()
        follower._task = asyncio.create_task(follower._run(), name="handlers-follow-gateway")
        return follower

    async def step(self) -> None:
        """Read the gateway's clock and policies once."""
        assert self._session is not None
        moment = await gateway_clock(self._session, self.ops_url)
        if moment is not None and moment != self.clock.now():
            self.clock.set(moment)
        async with self._session.get(f"{self.ops_url}/admin/policies") as response:
            if response.status == 200:
                rows = (await response.json()).get("policies", [])
                self.policies.replace(
                    Entry.parse(r["participant"], r["message"], r["policy"]) for r in rows
                )

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.poll)
            try:
                await self.step()
            except (ConfigError, aiohttp.ClientError, TimeoutError) as exc:
                log.warning("handlers: cannot follow the gateway: %s", exc)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._session is not None:
            await self._session.close()
