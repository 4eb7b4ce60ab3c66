"""The operators' port (loopback by default): health, readiness and metrics.

Further pages (the dashboard, the SLA report, the clock and policy admin in simulation mode)
attach their routes to the application this module makes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from gateway.errors import LedgerUnavailable
from gateway.http.openapi import openapi_document
from gateway.http.problems import problems_middleware
from gateway.metrics import Metrics

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]

METRICS = web.AppKey("metrics", Metrics)
BEFORE_SCRAPE = web.AppKey("before_scrape", tuple[Callable[[], Awaitable[None]], ...])
READINESS: web.AppKey[ReadinessCheck] = web.AppKey("readiness")


async def healthz(_request: web.Request) -> web.Response:
    """The process is up and serving."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Broker and ledger reachable (and, with several workers, all serving): 200; else 503."""
    checks = await request.app[READINESS]()
    ready = all(checks.values())
    return web.json_response(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status=200 if ready else 503,
    )


async def metrics(request: web.Request) -> web.Response:
    for refresh in request.app[BEFORE_SCRAPE]:
        try:
            await refresh()
        except LedgerUnavailable as exc:
            # The rest is worth having all the same; these gauges keep their last counts.
            log.warning("metrics: gauges not refreshed: %s", exc)
    body = request.app[METRICS].latest()
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def ops_app(
    metrics_: Metrics,
    readiness: ReadinessCheck,
    before_scrape: Sequence[Callable[[], Awaitable[None]]] = (),
) -> web.Application:
    """``before_scrape``: what brings gauges up to date that are counted only when asked for."""
    app = web.Application(middlewares=[problems_middleware])
    app[METRICS] = metrics_
    app[BEFORE_SCRAPE] = tuple(before_scrape)
    app[READINESS] = readiness
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/openapi.json", openapi_document)
    return app
