"""A budget for the request bodies held at once, so that many large uploads cannot all be in memory.

Each upload may be 25 MB, and a message costs a few times its size while it is checked, stored
and published. Without a bound, fifty participants uploading at the same moment would hold
fifty of them. A request reserves what its body may take before it reads a byte (its
Content-Length, or the most it may be when it does not say; a small message, parsed as a whole
tree, forty times that: gateway.http.api) and gives it back when it has been answered. A
reservation that does not fit waits, first come first served, with its body unread: TCP then
holds the sender back.

When the last body of 256 KB or more has been let go, the allocator is asked to hand the
memory it held back to the system (:func:`gateway.memory.trim`). That happens in the outermost
middleware, once the request's answer is made: until then a refusal's traceback still holds
what the request parsed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from gateway import memory
from gateway.http.problems import Handler

LARGE = 256 * 1024  # bytes; letting go of a body this large is worth a trim


class BodyBudget:
    """At most ``limit`` bytes of bodies reserved at once; larger reservations are cut to it."""

    def __init__(self, limit: int, *, trim: Callable[[], object] = memory.trim) -> None:
        if limit <= 0:
            raise ValueError(f"a body budget of {limit} bytes holds nothing")
        self.limit = limit
        self.reserved = 0
        self._trim = trim
        self._large_since_trim = False
        self._trim_due = False
        self._waiting: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()

    @contextlib.asynccontextmanager
    async def reserve(self, size: int) -> AsyncIterator[None]:
        """Hold ``size`` bytes of the budget while the block runs; wait until they are free."""
        size = min(size, self.limit)
        await self._take(size)
        try:
            yield
        finally:
            self._give_back(size)

    async def _take(self, size: int) -> None:
        if not self._waiting and self.reserved + size <= self.limit:
            self.reserved += size
            return
        granted = asyncio.get_running_loop().create_future()
        self._waiting.append((size, granted))
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self._give_back(size)  # granted just as the request went away
            else:
                self._waiting.remove((size, granted))
                self._grant()  # those behind it may fit now
            raise

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Trim once the last large body has been let go and its request answered."""
        try:
            return await handler(request)
        finally:
            if self._trim_due and not self.reserved:
                self._trim_due = False
                self._trim()

    def _give_back(self, size: int) -> None:
        self.reserved -= size
        self._large_since_trim |= size >= LARGE
        self._grant()
        if not self.reserved and self._large_since_trim:
            self._large_since_trim = False
            self._trim_due = True

    def _grant(self) -> None:
        while self._waiting and self.reserved + self._waiting[0][0] <= self.limit:
            size, granted = self._waiting.popleft()
            self.reserved += size
            granted.set_result(None)
