"""The clock's admin routes on the operators' port.

``GET /admin/clock`` shows the clock; in simulation mode ``PUT /admin/clock`` sets it and
``POST /admin/clock/advance`` moves it by a duration or by working days. On the real clock the
two writes are refused with 409: production time is not ours to move. Every answer is JSON;
every refusal is problem+json (RFC 9457).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from gateway.clock import Clock, VirtualClock, parse_duration
from gateway.deadlines.workdays import AMSTERDAM, WorkingDays
from gateway.errors import CalendarError, ClockError

CLOCK = web.AppKey("clock", Clock)
WORKDAYS = web.AppKey("clock_workdays", WorkingDays)
PROBLEM_JSON = "application/problem+json"

Handler = Callable[[web.Request], Awaitable[web.Response]]


class _Refusal(Exception):
    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail

    def response(self, request: web.Request) -> web.Response:
        body = {
            "type": "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": request.path,
        }
        return web.json_response(body, status=self.status, content_type=PROBLEM_JSON)


def _refusals(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except _Refusal as refusal:
            return refusal.response(request)

    return wrapper


def add_clock_routes(
    app: web.Application, clock: Clock, workdays: WorkingDays | None = None
) -> None:
    """Serve the clock admin API for ``clock`` on ``app``.

    ``workdays`` says which days the real clock reports as working days; a virtual clock
    uses its own.
    """
    app[CLOCK] = clock
    app[WORKDAYS] = clock.workdays if isinstance(clock, VirtualClock) else workdays or WorkingDays()
    app.router.add_get("/admin/clock", show_clock)
    app.router.add_put("/admin/clock", set_clock)
    app.router.add_post("/admin/clock/advance", advance_clock)


def describe(clock: Clock, workdays: WorkingDays) -> dict[str, object]:
    """The JSON view of a clock: the moment in UTC and in Europe/Amsterdam, and the day."""
    now = clock.now()
    today = clock.today()
    return {
        "now": now.isoformat(),
        "local": now.astimezone(AMSTERDAM).isoformat(),
        "today": today.isoformat(),
        "weekday": today.strftime("%A"),
        "working_day": workdays.is_working_day(today),
        "virtual": isinstance(clock, VirtualClock),
    }


async def show_clock(request: web.Request) -> web.Response:
    return web.json_response(describe(request.app[CLOCK], request.app[WORKDAYS]))


@_refusals
async def set_clock(request: web.Request) -> web.Response:
    """Body ``{"now": "2020-04-24T09:00:00+02:00"}``."""
    clock = _virtual(request)
    text = (await _body(request)).get("now")
    if not isinstance(text, str):
        raise _Refusal(422, "Invalid clock setting", 'expected {"now": "<ISO 8601 moment>"}')
    try:
        clock.set(datetime.fromisoformat(text))
    except ValueError:
        raise _Refusal(422, "Invalid clock setting", f"now: {text!r} is not ISO 8601") from None
    except (ClockError, OverflowError) as exc:
        raise _Refusal(422, "Invalid clock setting", f"now: {exc}") from None
    return web.json_response(describe(clock, request.app[WORKDAYS]))


@_refusals
async def advance_clock(request: web.Request) -> web.Response:
    """Body ``{"duration": "PT2H"}``, ``{"seconds": 7200}`` or ``{"working_days": 3}``."""
    clock = _virtual(request)
    body = await _body(request)
    given = [key for key in ("duration", "seconds", "working_days") if key in body]
    if len(given) != 1:
        raise _Refusal(
            422,
            "Invalid clock move",
            "expected exactly one of duration (ISO 8601), seconds or working_days",
        )
    key = given[0]
    value = body[key]
    try:
        if isinstance(value, bool):
            raise ClockError(f"{value!r} is not a {key}")
        if key == "working_days" and isinstance(value, int):
            clock.advance_working_days(value)
        elif key == "seconds" and isinstance(value, int | float):
            clock.advance(timedelta(seconds=value))
        elif key == "duration" and isinstance(value, str):
            clock.advance(parse_duration(value))
        else:
            raise ClockError(f"{value!r} is not a valid {key}")
    except (ClockError, CalendarError, OverflowError, ValueError) as exc:
        raise _Refusal(422, "Invalid clock move", f"{key}: {exc}") from None
    return web.json_response(describe(clock, request.app[WORKDAYS]))


def _virtual(request: web.Request) -> VirtualClock:
    clock = request.app[CLOCK]
    if not isinstance(clock, VirtualClock):
        raise _Refusal(
            409,
            "The clock is the real one",
            "the clock can only be set or advanced in simulation mode (GATEWAY_CLOCK=virtual)",
        )
    return clock


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:  # not JSON, or not even UTF-8
        raise _Refusal(400, "Not JSON", f"the request body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise _Refusal(400, "Not a JSON object", "the request body must be a JSON object")
    return body
