"""The other processes of a benchmark: the bare baseline server, the publishing baseline, and the
simulated municipality that answers 305s at once.

``python -m bench.servers bare CERTS PORT [TICKETS] [--uvloop]`` serves the push path over the
gateway's own mTLS context with no work at all (read the body, answer 204): the ceiling of aiohttp
with TLS; TICKETS sets how many TLS 1.3 session tickets it sends after a handshake.
``python -m bench.servers minimal CERTS PORT AMQP_URL [--uvloop]`` is the issue's minimal pipeline
on the same TLS context: the push form split, the payload parsed and validated against its XSD,
one persistent publish to a quorum queue through aio-pika, its confirm awaited, 202; no ledger, no
authorisation, no deduplication: the floor for any server that validates and routes.
``python -m bench.servers publish AMQP_URL COUNT`` prints one JSON line: persistent, confirmed
publishes to a quorum queue, many in flight and one at a time.
``python -m bench.servers municipality BASE_URL CERTS AMQP_URL CODE`` runs a ``HandlerRunner``
with a ``Municipality``, as ``gateway demo`` does. Servers print ``ready`` and run until SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import aio_pika
from aiohttp import web

from gateway.clock import SystemClock
from gateway.handlers.municipality import Municipality
from gateway.handlers.profiles import get_profile
from gateway.handlers.runner import HandlerRunner
from gateway.http.multipart import MediaType, split_form
from gateway.participants import Participant, Registry, Role
from gateway.standard.catalog import default_catalog
from gateway.standard.xmlsafe import parse_xml
from gateway.tls import server_context

PUSH_PATH = "/berichtenservice/berichten/rest-push/v1/berichten"
MINIMAL_QUEUE = "bench.minimal"
PUBLISH_BYTES = 3 * 1024
IN_FLIGHT = 500


async def _until_terminated() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    await stop.wait()


async def bare(certs: Path, port: int, tickets: int | None = None) -> None:
    """aiohttp over the gateway's TLS context, answering the push path with 204 and no work.

    ``tickets``: TLS 1.3 session tickets sent after each handshake (OpenSSL's default is 2).
    """

    async def push(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=204)

    app = web.Application(client_max_size=26 * 1024 * 1024)
    app.router.add_post(PUSH_PATH, push)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    context = server_context(certs)
    if tickets is not None:
        context.num_tickets = tickets
    site = web.TCPSite(runner, "127.0.0.1", port, ssl_context=context)
    await site.start()
    try:
        await _until_terminated()
    finally:
        await runner.cleanup()


async def minimal(certs: Path, port: int, amqp_url: str) -> None:
    """The minimal pipeline: validate, publish with confirm, 202; see the module's docstring."""
    catalog = default_catalog()
    limits = {"berichtMetadata": 1024 * 1024, "payload": 25 * 1024 * 1024}
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel(publisher_confirms=True)
    queue = await channel.declare_queue(
        MINIMAL_QUEUE, durable=True, arguments={"x-queue-type": "quorum"}
    )

    async def push(request: web.Request) -> web.Response:
        boundary = MediaType.parse(request.headers.get("Content-Type")).parameters["boundary"]
        parts = split_form(await request.read(), boundary.encode("latin-1"), limits)
        doc = parse_xml(parts["payload"])
        if not catalog.schema(catalog.identify(doc)).validate(doc):
            return web.Response(status=400, text="invalid")
        message = aio_pika.Message(parts["payload"], delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
        await channel.default_exchange.publish(message, routing_key=queue.name)
        return web.Response(status=202)

    app = web.Application(client_max_size=26 * 1024 * 1024)
    app.router.add_post(PUSH_PATH, push)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, ssl_context=server_context(certs))
    await site.start()
    try:
        await _until_terminated()
    finally:
        await runner.cleanup()
        await connection.close()


async def publish(amqp_url: str, count: int) -> dict[str, float]:
    """Persistent, confirmed 3 KB publishes to a quorum queue: many in flight, then one by one."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        queue = await channel.declare_queue(
            "bench.publish", durable=True, arguments={"x-queue-type": "quorum"}
        )
        body = os.urandom(PUBLISH_BYTES // 2).hex().encode()

        async def one() -> None:
            message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
            await channel.default_exchange.publish(message, routing_key=queue.name)

        window = asyncio.Semaphore(IN_FLIGHT)

        async def windowed() -> None:
            async with window:
                await one()

        started = time.perf_counter()
        await asyncio.gather(*(windowed() for _ in range(count)))
        many = count / (time.perf_counter() - started)
        one_by_one = max(100, count // 10)
        started = time.perf_counter()
        for _ in range(one_by_one):
            await one()
        single = one_by_one / (time.perf_counter() - started)
        await queue.purge()
        await queue.delete(if_unused=False, if_empty=False)
        return {"in_flight": IN_FLIGHT, "rate_many": many, "rate_one_by_one": single}
    finally:
        await connection.close()


async def municipality(base_url: str, certs: Path, amqp_url: str, code: str) -> None:
    """One simulated municipality, answering every message at once (the default policy)."""
    registry = Registry.load()
    participant = registry.get(Role.GEMEENTE, code) or Participant.parse(f"gemeente-{code}")
    runner = HandlerRunner(
        base_url=base_url,
        certs_dir=certs,
        amqp_url=amqp_url,
        clock=SystemClock(),
        responders=[Municipality(participant, get_profile("zoetermeer-2020"))],
        registry=registry,
    )
    await runner.start()
    try:
        await _until_terminated()
    finally:
        await runner.stop()


def _run(main: Coroutine[Any, Any, Any], use_uvloop: bool) -> Any:
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if use_uvloop:
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--uvloop"]
    with_uvloop = "--uvloop" in sys.argv
    what = args[0]
    if what == "bare":
        tickets = int(args[3]) if len(args) > 3 else None
        _run(bare(Path(args[1]), int(args[2]), tickets), with_uvloop)
    elif what == "minimal":
        _run(minimal(Path(args[1]), int(args[2]), args[3]), with_uvloop)
    elif what == "publish":
        print(json.dumps(_run(publish(args[1], int(args[2])), with_uvloop)))
    elif what == "municipality":
        _run(municipality(args[1], Path(args[2]), args[3], args[4]), with_uvloop)
    else:
        raise SystemExit(f"bench.servers: unknown server {what!r}")
