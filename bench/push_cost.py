"""What one VSP push upload costs the event loop, step by step, outside the ledger and the broker.

Each step of the gateway's work on the bench's 3 KB 305 (``bench.messages``) and its push body
(``bench.load``) is timed in this process, in CPU time (``time.process_time``) over many
iterations, so that other work on the machine slows the wall clock but not the numbers. Every
round times every step once; the median of the rounds is printed, in microseconds per upload.

The HTTP side runs through aiohttp's own dispatch (``Application._handle``) on prepared requests
whose transport says which TLS connection they came over, as a kept-alive connection does; the
ingress runs with a ledger and a broker that answer at once. The middleware chain is the
difference between the same trivial handler with the participants' middlewares and without.

    .venv/bin/python -m bench.push_cost [--iterations 1000] [--rounds 7] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import aiohttp
from aiohttp import web
from aiohttp.base_protocol import BaseProtocol
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request

from bench.load import PUSH_PATH, metadata
from bench.messages import REFERENCE, Template, identificatie, wmo305
from gateway.authorisation import authorise, check_declared
from gateway.deadlines import get_profile
from gateway.http.api import participants_app
from gateway.http.metadata import parse_push_metadata
from gateway.http.multipart import MediaType, read_form
from gateway.ingress import Ingress, Submission
from gateway.ledger import Ledger
from gateway.ledger.obligations import ChainStep
from gateway.ledger.store import Admission, Answers, NewMessage, StoredMessage
from gateway.metrics import Metrics
from gateway.participants import Participant, Registry
from gateway.routing import Broker, RoutedMessage
from gateway.server import InFlight
from gateway.sla.chains import Chains
from gateway.standard.catalog import default_catalog
from gateway.standard.xmlsafe import MAX_BYTES, parse_xml
from gateway.vsp import Berichtstatus

RECEIVED = dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)
LIMITS = {"berichtMetadata": 1024 * 1024, "payload": MAX_BYTES}


@dataclasses.dataclass
class Upload:
    """One push upload as it reaches the gateway: its body, Content-Type and parts."""

    template: Template
    sender: Participant
    body: bytes
    content_type: str
    metadata: bytes
    payload: bytes


async def upload(reference: Path) -> Upload:
    """The push body bench.load sends, written by aiohttp's own FormData as the client does."""
    template = wmo305(reference)
    meta = metadata(template, str(uuid.uuid4()))
    payload = template.render(identificatie(1, 1))
    form = aiohttp.FormData()
    form.add_field("berichtMetadata", meta, content_type="application/json")
    form.add_field(
        "payload", payload, content_type="application/octet-stream", filename="bericht.xml"
    )
    writer = form()
    return Upload(
        template,
        Participant.parse(template.sender),
        await writer.as_bytes(),
        writer.content_type,
        meta.encode(),
        payload,
    )


class _Ledger:
    """Just enough of a ledger for a 305: admits at once (the first message's row, whatever
    comes), routes at once."""

    def __init__(self) -> None:
        self.admission: Admission | None = None

    def now(self) -> dt.datetime:
        return RECEIVED

    async def admit(
        self, new: NewMessage, chain: ChainStep | None = None, *, answers: Answers | None = None
    ) -> Admission:
        if self.admission is None:
            self.admission = Admission(_stored(new), replay=False)
        return self.admission

    def routed(
        self, traceer_id: str, *, delivers: tuple[str, str] | None = None
    ) -> asyncio.Future[None]:
        # As the ledger's: queued, not awaited by the ingress; here written at once.
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


class _Broker:
    async def publish(self, message: RoutedMessage) -> None:
        pass


class _Ingress:
    """What the push handler sees of the ingress, taking every submission at once."""

    max_message_bytes = MAX_BYTES

    async def submit(self, submission: Submission) -> None:
        pass


def _stored(new: NewMessage) -> StoredMessage:
    shared = {f.name for f in dataclasses.fields(StoredMessage)} & {
        f.name for f in dataclasses.fields(NewMessage)
    }
    return StoredMessage(
        **{name: getattr(new, name) for name in shared},
        size=len(new.payload),
        status=Berichtstatus.WORDT_VERWERKT,
        status_changed_at=RECEIVED,
        received_at=RECEIVED,
        confirmed_at=None,
        meldingen=None,
    )


class _Transport:
    """A kept-alive TLS connection as aiohttp's request sees it: its SSL object and peer."""

    def __init__(self, participant: Participant) -> None:
        self.ssl_object = _Connection()
        self.peercert = {"subject": ((("commonName", participant.key),),)}

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"ssl_object": self.ssl_object, "peercert": self.peercert}.get(name, default)

    def is_closing(self) -> bool:
        return False


class _Connection:
    """Stands for the connection's ``ssl.SSLObject``: weakly referable, one per connection."""


def _app(registry: Registry, *, middlewares: bool) -> web.Application:
    """The participants' app as ``gateway serve`` runs it, plus a trivial route."""
    app = participants_app(
        cast(Ingress, _Ingress()), registry, base_url="", client_max_size=MAX_BYTES + 2**20
    )
    app.middlewares.insert(0, InFlight().middleware)
    if not middlewares:
        app.middlewares.clear()

    async def trivial(request: web.Request) -> web.Response:
        return web.Response(status=204)

    app.router.add_post("/bench", trivial)
    app.freeze()
    return app


def _body(data: bytes) -> StreamReader:
    stream = StreamReader(BaseProtocol(asyncio.get_running_loop()), 2**16)
    stream.feed_data(data)
    stream.feed_eof()
    return stream


def _requests(app: web.Application, path: str, push: Upload, transport: _Transport, n: int) -> Any:
    headers = {
        "Content-Type": push.content_type,
        "Content-Length": str(len(push.body)),
        "Host": "localhost",
    }
    return [
        make_mocked_request(
            "POST", path, headers, app=app, transport=transport, payload=_body(push.body)
        )
        for _ in range(n)
    ]


Step = Callable[[int], Awaitable[float]]


def timed(work: Callable[[], object]) -> Step:
    """A step that calls ``work`` n times; its CPU seconds."""

    async def step(n: int) -> float:
        started = time.process_time()
        for _ in range(n):
            work()
        return time.process_time() - started

    return step


def timed_async(
    work: Callable[[Any], Awaitable[object]], prepare: Callable[[int], list[Any]]
) -> Step:
    """A step that awaits ``work`` on each of n prepared arguments (prepared untimed)."""

    async def step(n: int) -> float:
        arguments = prepare(n)
        started = time.process_time()
        for argument in arguments:
            await work(argument)
        return time.process_time() - started

    return step


async def steps(reference: Path) -> dict[str, Step]:
    push = await upload(reference)
    registry = Registry.load()
    catalog = default_catalog()
    doc = parse_xml(push.payload)
    message_type = catalog.identify(doc)
    catalog.validate(doc, message_type)  # compile the schema now
    header = catalog.header(doc, message_type)
    declared = parse_push_metadata(push.metadata).declared
    route = authorise(push.sender, header, registry)
    chains = Chains(get_profile())
    metrics = Metrics()
    media_type = MediaType.parse(push.content_type)
    ledger = _Ledger()
    ingress = Ingress(
        catalog=catalog,
        registry=registry,
        ledger=cast(Ledger, ledger),
        broker=cast(Broker, _Broker()),
        max_message_bytes=MAX_BYTES,
        metrics=metrics,
        chains=chains,
    )
    submission = Submission(
        sender=push.sender,
        payload=push.payload,
        traceer_id=str(uuid.uuid4()),
        conversatie_id=str(uuid.uuid4()),
        declared=declared,
    )
    bare, full = _app(registry, middlewares=False), _app(registry, middlewares=True)
    transport = _Transport(push.sender)
    # What is timed must be the way through, not a refusal.
    for app, path in ((bare, "/bench"), (full, "/bench"), (full, PUSH_PATH)):
        response = await app._handle(_requests(app, path, push, transport, 1)[0])
        if response.status != 204:
            body = response.body if isinstance(response, web.Response) else b""
            raise RuntimeError(f"{path} answered {response.status}: {body!r}")

    class Form:
        """What read_form reads from: the request's body stream."""

        def __init__(self) -> None:
            self.content = _body(push.body)

    def parse_read() -> None:
        parsed = parse_xml(push.payload)
        catalog.validate(parsed, catalog.identify(parsed))

    def authorise_both() -> None:
        check_declared(declared, authorise(push.sender, header, registry), message_type)

    def step() -> None:
        chains.step(
            message_type,
            doc,
            sender=route.sender,
            recipient=route.recipient,
            received=RECEIVED,
            answers=None,
        )

    def count() -> None:
        with metrics.ingress_seconds.time():
            pass
        metrics.accepted.labels(message_type.name).inc()

    def handled(app: web.Application, path: str) -> Step:
        # Application._handle is what aiohttp's connection handler calls for each request:
        # route resolution, the middleware chain and the handler, without the socket.
        return timed_async(app._handle, lambda n: _requests(app, path, push, transport, n))

    return {
        "media type parse": timed(lambda: MediaType.parse(push.content_type)),
        "form read": timed_async(
            lambda form: read_form(form, media_type, LIMITS), lambda n: [Form() for _ in range(n)]
        ),
        "metadata parse": timed(lambda: parse_push_metadata(push.metadata)),
        "xml parse": timed(lambda: parse_xml(push.payload)),
        "identify": timed(lambda: catalog.identify(doc)),
        "validate": timed(lambda: catalog.validate(doc, message_type)),
        "parse+identify+validate": timed(parse_read),
        "header": timed(lambda: catalog.header(doc, message_type)),
        "authorise + check_declared": timed(authorise_both),
        "chains step": timed(step),
        "metrics (histogram, counter)": timed(count),
        "dispatch, no middleware": handled(bare, "/bench"),
        "dispatch, middlewares": handled(full, "/bench"),
        "push handler, ingress stubbed": handled(full, PUSH_PATH),
        "ingress.submit, ledger+broker stubbed": timed_async(
            ingress.submit, lambda n: [submission] * n
        ),
    }


async def measure(iterations: int, rounds: int, reference: Path) -> dict[str, list[float]]:
    table = await steps(reference)
    for step in table.values():  # warm up: schemas, caches, the identity of the connection
        await step(20)
    results: dict[str, list[float]] = {name: [] for name in table}
    for _ in range(rounds):
        for name, step in table.items():
            results[name].append(await step(iterations) / iterations * 1e6)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--iterations", type=int, default=1000, help="default: %(default)s")
    parser.add_argument("--rounds", type=int, default=7, help="default: %(default)s")
    parser.add_argument("--reference", type=Path, default=REFERENCE)
    parser.add_argument("--json", action="store_true", help="the medians as one JSON object")
    args = parser.parse_args(argv)
    results = asyncio.run(measure(args.iterations, args.rounds, args.reference))
    medians = {name: statistics.median(times) for name, times in results.items()}
    medians["middleware chain (difference)"] = (
        medians["dispatch, middlewares"] - medians["dispatch, no middleware"]
    )
    medians["per upload (push handler + ingress)"] = (
        medians["push handler, ingress stubbed"] + medians["ingress.submit, ledger+broker stubbed"]
    )
    if args.json:
        print(json.dumps(medians))
        return 0
    print("µs per upload: median of the rounds (fastest-slowest)")
    for name, median in medians.items():
        spread = f"({min(results[name]):.1f}-{max(results[name]):.1f})" if name in results else ""
        print(f"{name:<40} {median:>8.1f}  {spread}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
