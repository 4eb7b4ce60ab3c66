"""The load generator: participants uploading through the VSP REST push API, in its own process.

``python -m bench.load '<json>'`` runs one load (a ``LoadSpec``) and prints one JSON line with
what it saw (a ``LoadResult``). It runs apart from the server it measures because both need a
core: on two cores, a load generator in the server's process would measure their quarrel.

Two shapes of load:

- ``push``: ``concurrency`` clients upload as fast as answers come, over kept-alive connections
  or, with ``new_connections``, a new TLS connection (full handshake) per upload;
- ``roundtrip``: at most ``concurrency`` 305s in flight from upload to their 306 arriving in the
  provider's inbox (consumed over AMQP), so the rate is what the whole chain sustains.

Both stop at ``count`` uploads or after ``seconds``, whichever comes first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.messages import REFERENCE, Template, identificatie, wmo305, wmo323
from gateway.participants import Participant
from gateway.routing import Broker, Header
from gateway.tls import client_context

PUSH_PATH = "/berichtenservice/berichten/rest-push/v1/berichten"
VSP_ROLE = {"aanbieder": "Instelling", "gemeente": "Gemeente"}


@dataclass(frozen=True)
class LoadSpec:
    """What to send, where, how hard and for how long."""

    base_url: str
    certs_dir: str
    message: str = "305"  # "305", "323:lines=1000", "323:size=19456"
    concurrency: int = 50
    count: int = 2000
    seconds: float = 20.0
    warmup: int = 100
    new_connections: bool = False
    series: int = 1  # keeps BerichtIdentificaties of different loads apart
    shape: str = "push"  # or "roundtrip"
    amqp_url: str = ""  # roundtrip: where the provider's inbox is
    reference: str = str(REFERENCE)
    uvloop: bool = False
    same: bool = False  # every upload the same BerichtIdentificatie: all but one are refused
    first: int = 0  # the first upload's number (loads side by side with ``same`` keep apart)


@dataclass
class LoadResult:
    """What the load saw, timed after the warm-up."""

    message: str
    message_bytes: int
    concurrency: int
    new_connections: bool
    ok: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    seconds: float = 0.0
    rate: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    first_problem: str = ""


def template(spec: LoadSpec) -> Template:
    """The message a spec names: ``305`` or ``323:lines=N`` / ``323:size=BYTES``."""
    kind, _, argument = spec.message.partition(":")
    reference = Path(spec.reference)
    if kind == "305":
        return wmo305(reference)
    if kind == "323":
        name, _, value = argument.partition("=")
        if name == "lines":
            return wmo323(reference, lines=int(value))
        if name == "size":
            return wmo323(reference, size=int(value))
    raise ValueError(f"message {spec.message!r}: expected 305, 323:lines=N or 323:size=BYTES")


def metadata(template: Template, traceer_id: str) -> str:
    sender = Participant.parse(template.sender)
    recipient = Participant.parse(template.recipient)
    return json.dumps(
        {
            "routeringgegevens": {
                "afzender": {"rol": VSP_ROLE[sender.role], "code": sender.code},
                "geadresseerden": [{"rol": VSP_ROLE[recipient.role], "code": recipient.code}],
                "berichtstroom": {
                    "berichttype": template.message_type,
                    "berichtversie": 3,
                    "berichtsubversie": 2,
                    "actie": "Indienen",
                },
            },
            "referentiegegevens": {"conversatieId": str(uuid.uuid4()), "traceerId": traceer_id},
        }
    )


class Load:
    """One load run: the session, the counters, the latencies."""

    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        self.template = template(spec)
        self.sender = Participant.parse(self.template.sender)
        self.result = LoadResult(
            spec.message, self.template.size, spec.concurrency, spec.new_connections
        )
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.numbers = iter(range(spec.first, 10**9))
        self.measuring = False

    async def upload(
        self, session: aiohttp.ClientSession, traceer_id: str | None = None
    ) -> str | None:
        """One upload; its traceerId if the gateway accepted it (2xx)."""
        traceer_id = traceer_id or str(uuid.uuid4())
        form = aiohttp.FormData()
        form.add_field(
            "berichtMetadata", metadata(self.template, traceer_id), content_type="application/json"
        )
        number = next(self.numbers)
        if self.spec.same:
            # One Identificatie, other content each time: TR056 lets one through. (Identical
            # bytes would be a retry of the same message, answered as a replay.)
            payload = self.template.render(identificatie(self.spec.series, 0))
            payload += f"<!-- {number} -->".encode()
        else:
            payload = self.template.render(identificatie(self.spec.series, number))
        form.add_field(
            "payload", payload, content_type="application/octet-stream", filename="bericht.xml"
        )
        started = time.perf_counter()
        try:
            async with session.post(f"{self.spec.base_url}{PUSH_PATH}", data=form) as response:
                body = await response.read()
                status = response.status
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            self.result.errors += 1
            self.result.first_problem = self.result.first_problem or repr(exc)
            return None
        if self.measuring:
            self.statuses[status] += 1
            if self.spec.shape == "push":
                self.latencies.append(time.perf_counter() - started)
        if status >= 300:
            self.result.first_problem = self.result.first_problem or (
                f"{status}: {body[:300].decode(errors='replace')}"
            )
            return None
        return traceer_id

    def session(self) -> aiohttp.ClientSession:
        context = client_context(Path(self.spec.certs_dir), self.sender)
        connector = aiohttp.TCPConnector(
            ssl=context, limit=self.spec.concurrency, force_close=self.spec.new_connections
        )
        return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120))

    async def run(self) -> LoadResult:
        async with self.session() as session:
            if self.spec.shape == "roundtrip":
                await self._roundtrip(session)
            else:
                await self._push(session)
        result = self.result
        result.statuses = {str(k): v for k, v in sorted(self.statuses.items())}
        result.ok = sum(v for k, v in self.statuses.items() if k < 300)
        if self.spec.shape == "roundtrip":
            result.ok = len(self.latencies)
        result.rate = result.ok / result.seconds if result.seconds else 0.0
        if self.latencies:
            ordered = sorted(self.latencies)
            result.p50_ms = 1000 * ordered[len(ordered) // 2]
            result.p99_ms = 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
            result.max_ms = 1000 * ordered[-1]
        return result

    async def _push(self, session: aiohttp.ClientSession) -> None:
        spec = self.spec
        # Warm-up: connections open, caches and the JIT-less interpreter's paths hot.
        remaining = iter(range(spec.warmup))
        await asyncio.gather(*(self._worker(session, remaining) for _ in range(spec.concurrency)))
        self.measuring = True
        deadline = time.perf_counter() + spec.seconds
        remaining = iter(range(spec.count))
        started = time.perf_counter()
        await asyncio.gather(
            *(self._worker(session, remaining, deadline) for _ in range(spec.concurrency))
        )
        self.result.seconds = time.perf_counter() - started

    async def _worker(
        self, session: aiohttp.ClientSession, remaining: Any, deadline: float | None = None
    ) -> None:
        for _ in remaining:
            if deadline is not None and time.perf_counter() > deadline:
                return
            await self.upload(session)

    async def _roundtrip(self, session: aiohttp.ClientSession) -> None:
        """Closed loop: a slot is freed when the 306 for its 305 reaches the provider's inbox."""
        spec = self.spec
        slots = asyncio.Semaphore(spec.concurrency)
        pending: dict[str, float] = {}
        done = asyncio.Event()
        target = spec.warmup + spec.count

        async def consume() -> None:
            answered = 0
            async with Broker.consumer(spec.amqp_url, self.sender, prefetch=500) as deliveries:
                consuming.set()
                async for delivery in deliveries:
                    await delivery.ack()
                    answers = (delivery.headers or {}).get(Header.IN_REPLY_TO.value)
                    if isinstance(answers, bytes):
                        answers = answers.decode()
                    started = pending.pop(str(answers), None)
                    if started is None:
                        continue
                    answered += 1
                    if self.measuring:
                        self.latencies.append(time.perf_counter() - started)
                    slots.release()
                    if answered == spec.warmup:
                        self.measuring = True
                        self.result.seconds = time.perf_counter()
                    if answered >= target:
                        done.set()

        async def send() -> None:
            while not done.is_set():
                await slots.acquire()
                traceer_id = str(uuid.uuid4())
                pending[traceer_id] = time.perf_counter()
                # The 306 names this traceerId in its in-reply-to header.
                accepted = await self.upload(session, traceer_id)
                if accepted is None:
                    pending.pop(traceer_id, None)
                    slots.release()

        consuming = asyncio.Event()
        consumer = asyncio.ensure_future(consume())
        await consuming.wait()
        if spec.warmup == 0:  # measured from the first 305 on
            self.measuring = True
            self.result.seconds = time.perf_counter()
        senders = [asyncio.ensure_future(send()) for _ in range(spec.concurrency)]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(spec.seconds + 30):
                while not done.is_set():
                    await asyncio.sleep(0.05)
                    if self.measuring and time.perf_counter() - self.result.seconds > spec.seconds:
                        break
        started = self.result.seconds
        self.result.seconds = time.perf_counter() - started if started else 0.0
        done.set()
        for task in (*senders, consumer):
            task.cancel()
        await asyncio.gather(*senders, consumer, return_exceptions=True)


async def main(spec: LoadSpec) -> LoadResult:
    return await Load(spec).run()


def run(spec: LoadSpec) -> LoadResult:
    if spec.uvloop:
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(main(spec))
    return asyncio.run(main(spec))


if __name__ == "__main__":
    given = LoadSpec(**json.loads(sys.argv[1]))
    print(json.dumps(asdict(run(given))))
