"""Jobs that run beside the gateway on its clock (the SLA monitor, retention).

A job runs until stopped; with a virtual clock it is woken at every move of the clock, so that
advancing the clock has its effect at once instead of at the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from gateway.clock import Clock, VirtualClock


class ClockJob:
    """Subclasses write ``_run``; ``_wake`` is set whenever a virtual clock moves."""

    name = "job"

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        if isinstance(self.clock, VirtualClock):
            self._unsubscribe = self.clock.subscribe(lambda _now: self._wake.set())
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        raise NotImplementedError
