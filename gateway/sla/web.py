"""The SLA on the operators' port: the obligations as JSON, and the dashboard that shows them.

``GET /sla/obligations`` answers the same selection as ``gateway sla`` (``late``, ``open``,
``participant``, ``message``, ``limit``), one JSON object per obligation; ``gateway sla --ops-url``
reads it. ``GET /sla/summary`` counts per participant. ``GET /dashboard`` is one static page that
polls ``GET /dashboard/data`` (recent messages with their chains and VSP statuses, open and late
obligations, lateness per participant, the clock) and redraws without reloading.
"""

from __future__ import annotations

from collections import defaultdict
from importlib import resources

from aiohttp import web

from gateway.clock import Clock
from gateway.clock_api import describe
from gateway.deadlines import WorkingDays
from gateway.errors import ConfigError
from gateway.sla.store import ObligationStore, Query, Tally, participant_keys

STORE = web.AppKey("sla_store", ObligationStore)
SLA_CLOCK = web.AppKey("sla_clock", Clock)
SLA_WORKDAYS = web.AppKey("sla_workdays", WorkingDays)

RECENT_MESSAGES = 60
MAX_LIMIT = 10_000

PROBLEM_JSON = "application/problem+json"


def add_sla_routes(
    app: web.Application, store: ObligationStore, clock: Clock, workdays: WorkingDays
) -> None:
    """Serve the SLA JSON and the dashboard on ``app`` (the ops application)."""
    app[STORE] = store
    app[SLA_CLOCK] = clock
    app[SLA_WORKDAYS] = workdays
    app.router.add_get("/sla/obligations", obligations)
    app.router.add_get("/sla/summary", summary)
    app.router.add_get("/dashboard", dashboard)
    app.router.add_get("/dashboard/data", dashboard_data)


def _problem(status: int, title: str, detail: str, request: web.Request) -> web.Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    body["instance"] = request.path
    return web.json_response(body, status=status, content_type=PROBLEM_JSON)


def _flag(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "").lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise ValueError(f"{name}={value!r}: expected true or false")


def query_of(request: web.Request) -> Query:
    """The selection in the query string; ValueError naming a bad parameter."""
    limit_text = request.query.get("limit")
    limit = None
    if limit_text is not None:
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
            raise ValueError(f"limit={limit_text!r}: expected a number from 1 to {MAX_LIMIT}")
        limit = int(limit_text)
    participant = request.query.get("participant") or None
    if participant is not None:
        try:
            participant_keys(participant)
        except ConfigError as exc:
            raise ValueError(f"participant={participant!r}: {exc}") from None
    return Query(
        late=_flag(request, "late"),
        open=_flag(request, "open"),
        participant=participant,
        message=request.query.get("message") or None,
        limit=limit,
    )


async def obligations(request: web.Request) -> web.Response:
    """``[{"owed": "WMO302", "by": "42420001", "to": "0384", "due": ..., "late": ...}, ...]``."""
    try:
        query = query_of(request)
    except ValueError as exc:
        return _problem(400, "Invalid query", str(exc), request)
    now = request.app[SLA_CLOCK].now()
    found = await request.app[STORE].find(query, now)
    return web.json_response([o.as_json(now) for o in found])


def _per_participant(tallies: list[Tally]) -> list[dict[str, object]]:
    totals: dict[str, dict[str, int]] = defaultdict(
        lambda: {"owed": 0, "met_on_time": 0, "met_late": 0, "open": 0, "late": 0}
    )
    for t in tallies:
        row = totals[t.debtor]
        row["owed"] += t.total
        row["met_on_time"] += t.met_on_time
        row["met_late"] += t.met_late
        row["open"] += t.open
        row["late"] += t.late
    return [
        {
            "participant": key,
            **row,
            # the share of obligations late (open and overdue, or met late)
            "late_ratio": round((row["late"] + row["met_late"]) / row["owed"], 3),
        }
        for key, row in sorted(totals.items())
    ]


async def summary(request: web.Request) -> web.Response:
    """Lateness per participant owing: owed, met on time, met late, open, late."""
    now = request.app[SLA_CLOCK].now()
    return web.json_response(_per_participant(await request.app[STORE].tally(now)))


async def dashboard(_request: web.Request) -> web.Response:
    page = resources.files("gateway.http").joinpath("dashboard.html").read_text("utf-8")
    return web.Response(text=page, content_type="text/html", charset="utf-8")


async def dashboard_data(request: web.Request) -> web.Response:
    """Everything the dashboard shows, in one answer."""
    store, clock = request.app[STORE], request.app[SLA_CLOCK]
    now = clock.now()
    recent = await store.recent_messages(RECENT_MESSAGES)
    chains = await store.of_messages([str(m["traceerId"]) for m in recent])
    outstanding = await store.find(Query(open=True, limit=500), now)
    return web.json_response(
        {
            "clock": describe(clock, request.app[SLA_WORKDAYS]),
            "messages": recent,
            "chains": [o.as_json(now) for o in chains],
            "open": [o.as_json(now) for o in outstanding],
            "participants": _per_participant(await store.tally(now)),
        }
    )
