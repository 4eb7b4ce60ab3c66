"""``gateway serve``: the running gateway, its two ports, and what it needs loaded once.

At start it reads the registry, loads the schemas, opens the ledger (migrating it), connects to
RabbitMQ (declaring the topology), publishes again anything admitted but never confirmed, and
then opens the mTLS port for participants and the ops port for operators. Beside them run the
SLA monitor, retention and the dead-letter watch (in the primary worker alone). At stop it closes
the doors first and lets requests in flight finish.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from aiohttp import web

from gateway import memory
from gateway.clock import Clock, clock_from_env
from gateway.clock_api import add_clock_routes
from gateway.config import Settings
from gateway.dead_letters import DeadLetterWatch
from gateway.deadlines import profile_from_env
from gateway.errors import ConfigError
from gateway.handlers.policy import POLICIES_ENV, Policies, parse_table
from gateway.handlers.policy_api import add_policy_routes
from gateway.http.api import participants_app
from gateway.http.ops import ops_app
from gateway.http.problems import Handler
from gateway.ingress import Ingress
from gateway.ledger import Ledger
from gateway.ledger.retention import RetentionJob, RetentionPolicy
from gateway.metrics import Metrics
from gateway.participants import Registry
from gateway.routing import Broker
from gateway.sla.chains import Chains
from gateway.sla.monitor import Monitor, SlaMetrics
from gateway.sla.store import ObligationStore
from gateway.sla.web import add_sla_routes
from gateway.standard.catalog import Catalog, default_catalog
from gateway.tls import server_context
from gateway.workers import Worker

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 30.0


class InFlight:
    """Counts the requests being handled, so that a stop can wait for them.

    aiohttp's own shutdown marks every connection closing first and from then on drops the bytes
    that arrive on it, so a request whose body was still coming in would never finish. The stop
    therefore closes the listening sockets, waits here until the requests in flight are done, and
    only then lets aiohttp close the connections.
    """

    def __init__(self) -> None:
        self.count = 0
        self.idle = asyncio.Event()
        self.idle.set()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.count += 1
        self.idle.clear()
        try:
            return await handler(request)
        finally:
            self.count -= 1
            if not self.count:
                self.idle.set()


@dataclass
class Gateway:
    """A started gateway; ``port``/``ops_port`` are the bound ports (useful with port 0)."""

    settings: Settings
    registry: Registry
    ingress: Ingress
    ledger: Ledger
    broker: Broker
    metrics: Metrics
    ops: web.Application
    clock: Clock
    runners: list[web.AppRunner] = field(default_factory=list)
    in_flight: InFlight = field(default_factory=InFlight)
    port: int = 0
    ops_port: int = 0
    monitor: Monitor | None = None
    retention: RetentionJob | None = None
    dead_letters: DeadLetterWatch | None = None
    policies: Policies | None = None
    """In simulation mode: the answer policies of the simulated participants."""

    @classmethod
    async def start(
        cls,
        settings: Settings,
        *,
        registry: Registry | None = None,
        catalog: Catalog | None = None,
        clock: Clock | None = None,
        worker: Worker | None = None,
    ) -> Gateway:
        """Start it all; ``clock`` defaults to GATEWAY_CLOCK (virtual when simulating).

        ``worker``: this process is one of several workers (gateway/workers.py); only the
        primary recovers, binds the ops port and runs the SLA monitor, retention and the
        dead-letter watch.
        """
        primary = worker is None or worker.primary
        registry = registry or Registry.load(settings.registry)
        catalog = catalog or default_catalog()
        clock = clock or clock_from_env(settings.extra, simulate=settings.simulate)
        tls = server_context(settings.certs_dir, crl=settings.crl)
        profile = profile_from_env(settings.extra)
        # The simulated participants' answer policies: one table, changed here at runtime.
        policies = Policies(parse_table(settings.extra.get(POLICIES_ENV, "")))
        ledger = await Ledger.open(
            settings.db_url,
            now=clock.now,
            writer=settings.ledger_writer,
            writer_nice=settings.ledger_writer_nice,
        )
        try:
            broker = await Broker.connect(
                settings.amqp_url,
                participants=registry,
                publish_timeout=settings.publish_timeout,
            )
        except BaseException:
            await ledger.close()
            raise
        metrics = Metrics(worker.metrics_dir if worker else None)
        ingress = Ingress(
            catalog=catalog,
            registry=registry,
            ledger=ledger,
            broker=broker,
            max_message_bytes=settings.max_message_bytes,
            bsn_range=settings.bsn_range,
            metrics=metrics,
            chains=Chains(profile),
        )

        async def readiness() -> dict[str, bool]:
            checks = {"broker": broker.ready, "ledger": await ledger.ping()}
            if worker is not None:
                checks["workers"] = worker.all_serving.is_set()
            return checks

        obligations = ObligationStore(ledger)
        monitor = Monitor(
            obligations, clock, broker, SlaMetrics(metrics.registry), poll=settings.sla_poll
        )
        ops = ops_app(metrics, readiness, before_scrape=[monitor.refresh_gauges])
        gateway = cls(settings, registry, ingress, ledger, broker, metrics, ops, clock)
        add_sla_routes(ops, obligations, clock, profile.workdays)
        if settings.simulate:
            add_clock_routes(ops, clock, profile.workdays)
            gateway.policies = policies
            add_policy_routes(ops, policies, registry)
        gateway.monitor = monitor
        gateway.retention = RetentionJob(
            ledger,
            RetentionPolicy(
                months=settings.retention_months,
                payload_after_confirm=timedelta(hours=settings.payload_retention_hours),
                interval=timedelta(seconds=settings.retention_interval),
            ),
            clock,
        )
        gateway.dead_letters = DeadLetterWatch(settings.amqp_url, ledger, broker, metrics)
        try:
            # The primary alone, which starts before the other workers serve: what it finds
            # unconfirmed is a stop's or crash's leftover, not another worker's message in flight
            # (after a crash of the primary it may be; consumers deduplicate by message id).
            recovered = await ingress.recover() if primary else 0
            if recovered:
                log.info("published again %d message(s) admitted before a stop", recovered)
            api = participants_app(
                ingress,
                registry,
                base_url=settings.public_url,
                # The multipart envelope around a 25 MB payload needs a little room.
                client_max_size=settings.max_request_bytes,
                body_timeout=settings.body_timeout,
                body_budget=settings.bytes_in_flight,
            )
            api.middlewares.insert(0, gateway.in_flight.middleware)
            gateway.port = await gateway._serve(
                api,
                settings.host,
                settings.port,
                tls,
                setting="GATEWAY_PORT",
                shared=worker is not None,
            )
            if primary:
                gateway.ops_port = await gateway._serve(
                    ops, settings.ops_host, settings.ops_port, setting="GATEWAY_OPS_PORT"
                )
                gateway.monitor.start()
                gateway.retention.start()
                gateway.dead_letters.start()
        except BaseException:
            await gateway.stop()
            raise
        if not primary:
            log.info("worker listening on https://%s:%d", settings.host, gateway.port)
            return gateway
        log.info(
            "gateway listening on https://%s:%d (ops on http://%s:%d)",
            settings.host,
            gateway.port,
            settings.ops_host,
            gateway.ops_port,
        )
        return gateway

    async def _serve(
        self,
        app: web.Application,
        host: str,
        port: int,
        tls: object | None = None,
        *,
        setting: str,
        shared: bool = False,
    ) -> int:
        """Listen on ``host``:``port`` (the ``setting``); ``shared``: beside the other workers.

        Only workers share a port (SO_REUSEPORT). A gateway of its own does not, so that a port
        another program (or another gateway) listens on stops it instead of having the kernel
        split the connections between the two.
        """
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_GRACE)
        await runner.setup()
        self.runners.append(runner)
        site = web.TCPSite(runner, host, port, ssl_context=tls, reuse_port=shared)  # type: ignore[arg-type]
        try:
            await site.start()
        except OSError as exc:
            raise ConfigError(
                f"{setting}={port}: cannot listen on {host}:{port}: {exc.strerror or exc}"
            ) from exc
        sockets: Sequence[socket.socket] = site._server.sockets  # type: ignore[union-attr]
        return int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Close the doors, finish what is in flight, then let go of broker and ledger."""
        for runner in self.runners:
            for site in list(runner.sites):
                await site.stop()  # no new connections; open ones keep being served
        try:
            async with asyncio.timeout(SHUTDOWN_GRACE):
                await self.in_flight.idle.wait()
        except TimeoutError:
            log.warning(
                "%d request(s) still in flight after %g s; closing anyway",
                self.in_flight.count,
                SHUTDOWN_GRACE,
            )
        for runner in reversed(self.runners):
            await runner.cleanup()
        self.runners.clear()
        for job in (self.monitor, self.retention, self.dead_letters):
            if job is not None:
                await job.stop()
        await self.broker.close()
        await self.ledger.close()


async def serve_forever(settings: Settings, worker: Worker | None = None) -> None:
    """Run until SIGINT or SIGTERM."""
    gateway = await Gateway.start(settings, worker=worker)
    memory.settle()  # what startup built, out of the collector's full passes
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        if worker is not None:
            await worker.serving(stop)
        await stop.wait()
    finally:
        log.info("stopping: no new requests, finishing those in flight")
        await gateway.stop()
        if worker is not None:
            worker.close()
