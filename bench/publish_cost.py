"""What a confirmed publish costs the gateway's process: CPU seconds per message, not the rate.

``Broker.publish`` (persistent, mandatory, confirmed, into a quorum inbox) against aio-pika's own
``Exchange.publish`` of the same message on a channel of the same kind, the way the gateway
published before: both in one process and one throwaway vhost, in alternating rounds of N
messages with ``--in-flight`` of them awaiting their confirm at once, the inbox purged between
rounds. CPU is ``time.process_time`` of the whole process, so aiormq's reader and writer tasks
count too; RabbitMQ's own work does not.

    .venv/bin/python -m bench.publish_cost [--count 2000] [--rounds 7] [--in-flight 50] [--uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from urllib.parse import quote

import aio_pika
import aio_pika.abc

from bench.run import rabbitmqctl
from gateway.participants import Participant, Role
from gateway.routing import APP_ID, ROUTE_EXCHANGE, Broker, Header, RoutedMessage

SENDER = Participant(Role.AANBIEDER, "65656055", "Zorgaanbieder")
RECIPIENT = Participant(Role.GEMEENTE, "0363", "Amsterdam")

Publish = Callable[[RoutedMessage], Awaitable[object]]


def messages(count: int, size: int) -> list[RoutedMessage]:
    body = (b"<WMO305>" + b"x" * size)[:size]
    return [
        RoutedMessage(
            traceer_id=str(uuid.uuid4()),
            conversatie_id=str(uuid.uuid4()),
            als_antwoord_op=None,
            sender=SENDER,
            recipient=RECIPIENT,
            message_type="WMO305",
            release="3.2",
            trace_id=uuid.uuid4().hex,
            body=body,
        )
        for _ in range(count)
    ]


def aio_pika_publish(exchange: aio_pika.abc.AbstractExchange, timeout: float) -> Publish:
    """aio-pika's way: a Message per publish, Exchange.publish under a timeout of our own."""

    async def publish(message: RoutedMessage) -> object:
        amqp_message = aio_pika.Message(
            body=message.body,
            message_id=message.traceer_id,
            correlation_id=message.conversatie_id,
            type=message.message_type,
            content_type="application/xml",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            app_id=APP_ID,
            headers={
                Header.SENDER: message.sender.key,
                Header.RECIPIENT: message.recipient.key,
                Header.RELEASE: message.release,
                Header.TRACE_ID: message.trace_id,
            },
        )
        async with asyncio.timeout(timeout):
            return await exchange.publish(amqp_message, message.routing_key, mandatory=True)

    return publish


async def one_round(
    publish: Publish, batch: list[RoutedMessage], in_flight: int
) -> tuple[float, float]:
    """CPU seconds per message and messages per second (wall clock) for one batch."""
    pending: Iterator[RoutedMessage] = iter(batch)

    async def worker() -> None:
        for message in pending:
            await publish(message)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu / len(batch), len(batch) / wall


async def measure(url: str, args: argparse.Namespace) -> dict[str, list[tuple[float, float]]]:
    timeout = 5.0
    broker = await Broker.connect(url, participants=[RECIPIENT], publish_timeout=timeout)
    connection = await aio_pika.connect_robust(url)
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await channel.get_exchange(ROUTE_EXCHANGE, ensure=False)
        ways: dict[str, Publish] = {
            "Broker.publish": broker.publish,
            "aio-pika Exchange.publish": aio_pika_publish(exchange, timeout),
        }
        batch = messages(args.count, args.body)
        for publish in ways.values():  # warm up: imports, caches, the queue's first segment
            await one_round(publish, batch[: args.count // 5 or 1], args.in_flight)
        await broker.purge(RECIPIENT)
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
        for round_ in range(args.rounds):
            # Alternate who goes first, so that neither always follows the other's purge.
            order = list(ways) if round_ % 2 == 0 else list(reversed(ways))
            for name in order:
                results[name].append(await one_round(ways[name], batch, args.in_flight))
                await broker.purge(RECIPIENT)
        return results
    finally:
        await connection.close()
        await broker.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="messages a round")
    parser.add_argument("--rounds", type=int, default=7, help="rounds of each way")
    parser.add_argument("--in-flight", type=int, default=50, help="publishes awaiting a confirm")
    parser.add_argument("--body", type=int, default=3000, help="body size in bytes")
    parser.add_argument("--uvloop", action="store_true", help="on uvloop's event loop")
    args = parser.parse_args(argv)

    vhost = f"bench-publish-{os.getpid()}-{secrets.token_hex(3)}"
    rabbitmqctl("add_vhost", vhost)
    try:
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        url = f"amqp://guest:guest@127.0.0.1:5672/{quote(vhost, safe='')}"
        if args.uvloop:
            import uvloop

            results = uvloop.run(measure(url, args))
        else:
            results = asyncio.run(measure(url, args))
    finally:
        rabbitmqctl("delete_vhost", vhost)

    print(
        f"{args.rounds} rounds of {args.count} x {args.body} B, {args.in_flight} in flight, "
        f"vhost {vhost} (deleted)"
    )
    print(f"{'':<26} {'CPU µs/msg':>10} {'msg/s':>7}  CPU µs/msg of each round")
    medians: dict[str, float] = {}
    for name, rounds in results.items():
        medians[name] = statistics.median(cpu for cpu, _ in rounds) * 1e6
        rate = statistics.median(rate for _, rate in rounds)
        each = " ".join(f"{cpu * 1e6:.0f}" for cpu, _ in rounds)
        print(f"{name:<26} {medians[name]:>10.1f} {rate:>7.0f}  {each}")
    ours, theirs = medians.values()
    print(f"ratio {ours / theirs:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
