"""Jobs that run beside the gateway on its clock (the SLA monitor, retention).

A job runs until stopped; with a virtual clock it is woken at every move of the clock, so that
advancing the clock has its effect at once instead of at the next poll. Stopping lets a round
that has begun finish (a monitor round claims obligations late and then announces them: cut in
between, the announcement would be lost) and cuts only the wait between rounds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from gateway.clock import Clock, VirtualClock


class ClockJob:
    """Subclasses write ``_run``; ``_wake`` is set whenever a virtual clock moves."""

    name = "job"
    # How long ``stop`` waits for a round in progress before cutting it.
    grace = 30.0

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopping = False

    def start(self) -> None:
        if isinstance(self.clock, VirtualClock):
            self._unsubscribe = self.clock.subscribe(lambda _now: self._wake.set())
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._task is not None:
            self._stopping = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), self.grace)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @contextlib.asynccontextmanager
    async def _round(self) -> AsyncIterator[None]:
        """Mark one round of work, which ``stop`` lets finish; none begins once stopping."""
        if self._stopping:
            raise asyncio.CancelledError
        self._idle.clear()
        try:
            yield
        finally:
            self._idle.set()

    async def _run(self) -> None:
        raise NotImplementedError
