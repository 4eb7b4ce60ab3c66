"""The operators' port (loopback by default): health, readiness and metrics.

Further pages (the dashboard, the SLA report, the clock and policy admin in simulation mode)
attach their routes to the application this module makes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.http.openapi import openapi_document
from gateway.http.problems import problems_middleware
from gateway.metrics import Metrics

ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]

METRICS = web.AppKey("metrics", Metrics)
READINESS: web.AppKey[ReadinessCheck] = web.AppKey("readiness")


async def healthz(_request: web.Request) -> web.Response:
    """The process is up and serving."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Broker and ledger both reachable: 200; otherwise 503 naming which is not."""
    checks = await request.app[READINESS]()
    ready = all(checks.values())
    return web.json_response(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status=200 if ready else 503,
    )


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def ops_app(metrics_: Metrics, readiness: ReadinessCheck) -> web.Application:
    app = web.Application(middlewares=[problems_middleware])
    app[METRICS] = metrics_
    app[READINESS] = readiness
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/openapi.json", openapi_document)
    return app
