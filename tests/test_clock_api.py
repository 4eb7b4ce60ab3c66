"""The clock admin API on the operators' port, served by a real aiohttp test server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.clock import Clock, SystemClock, VirtualClock
from gateway.clock_api import add_clock_routes
from gateway.deadlines import AMSTERDAM, WorkingDays

FRIDAY = datetime(2020, 4, 24, 9, 0, tzinfo=AMSTERDAM)


@asynccontextmanager
async def serving(clock: Clock) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application()
    add_clock_routes(app, clock)
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_show_the_virtual_clock() -> None:
    """GET /admin/clock shows the moment in UTC and Amsterdam, the day and whether it is virtual."""
    async with serving(VirtualClock(FRIDAY)) as client:
        response = await client.get("/admin/clock")
        assert response.status == 200
        assert await response.json() == {
            "now": "2020-04-24T07:00:00+00:00",
            "local": "2020-04-24T09:00:00+02:00",
            "today": "2020-04-24",
            "weekday": "Friday",
            "working_day": True,
            "virtual": True,
        }


async def test_show_the_real_clock() -> None:
    """GET /admin/clock works on the real clock too, and says it is not virtual."""
    async with serving(SystemClock()) as client:
        body = await (await client.get("/admin/clock")).json()
        assert body["virtual"] is False
        assert abs(datetime.fromisoformat(body["now"]) - SystemClock().now()) < timedelta(minutes=1)


async def test_set_the_clock() -> None:
    """PUT /admin/clock sets the virtual clock and answers with its new state."""
    clock = VirtualClock(FRIDAY)
    async with serving(clock) as client:
        response = await client.put("/admin/clock", json={"now": "2020-04-27T10:00:00+02:00"})
        assert response.status == 200
        body = await response.json()
        assert body["today"] == "2020-04-27"
        assert body["working_day"] is False  # Koningsdag
        assert clock.now() == datetime(2020, 4, 27, 10, tzinfo=AMSTERDAM)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"duration": "PT2H"}, FRIDAY + timedelta(hours=2)),
        ({"duration": "3d"}, FRIDAY + timedelta(days=3)),
        ({"seconds": 90}, FRIDAY + timedelta(seconds=90)),
        ({"working_days": 1}, datetime(2020, 4, 28, 9, tzinfo=AMSTERDAM)),
        ({"working_days": 5}, datetime(2020, 5, 4, 9, tzinfo=AMSTERDAM)),
    ],
)
async def test_advance_the_clock(body: dict[str, object], expected: datetime) -> None:
    """POST /admin/clock/advance moves by a duration, seconds or working days."""
    clock = VirtualClock(FRIDAY)
    async with serving(clock) as client:
        response = await client.post("/admin/clock/advance", json=body)
        assert response.status == 200, await response.text()
        assert clock.now() == expected
        assert (await response.json())["now"] == expected.astimezone(clock.now().tzinfo).isoformat()


async def test_the_real_clock_reports_working_days_as_configured() -> None:
    """The real clock's working_day follows the WorkingDays given to the routes."""
    app = web.Application()
    add_clock_routes(app, SystemClock(), WorkingDays(()))
    async with TestClient(TestServer(app)) as client:
        body = await (await client.get("/admin/clock")).json()
        weekday = date.fromisoformat(body["today"]).weekday()
        assert body["working_day"] is (weekday < 5)


async def test_moving_the_real_clock_is_refused() -> None:
    """Setting or advancing the real clock is refused with a 409 problem+json."""
    async with serving(SystemClock()) as client:
        for method, path, body in [
            ("PUT", "/admin/clock", {"now": "2020-04-24T09:00:00+02:00"}),
            ("POST", "/admin/clock/advance", {"working_days": 1}),
        ]:
            response = await client.request(method, path, json=body)
            assert response.status == 409
            assert response.content_type == "application/problem+json"
            problem = await response.json()
            assert problem["status"] == 409
            assert problem["title"] == "The clock is the real one"
            assert "simulation mode" in problem["detail"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "detail"),
    [
        ("PUT", "/admin/clock", {"now": "2020-04-24T09:00"}, 422, "no time zone"),
        ("PUT", "/admin/clock", {"now": "soon"}, 422, "'soon' is not ISO 8601"),
        ("PUT", "/admin/clock", {"when": "2020-04-24T09:00+02:00"}, 422, "expected"),
        ("PUT", "/admin/clock", ["2020"], 400, "JSON object"),
        ("POST", "/admin/clock/advance", {"duration": "-PT1H"}, 422, "duration"),
        ("POST", "/admin/clock/advance", {"seconds": -5}, 422, "negative"),
        ("POST", "/admin/clock/advance", {"working_days": -1}, 422, "working days"),
        ("POST", "/admin/clock/advance", {"working_days": "3"}, 422, "working_days"),
        ("POST", "/admin/clock/advance", {"working_days": True}, 422, "working_days"),
        ("POST", "/admin/clock/advance", {"seconds": 1, "working_days": 1}, 422, "exactly one"),
        ("POST", "/admin/clock/advance", {}, 422, "exactly one"),
    ],
)
async def test_bad_requests_are_refused(
    method: str, path: str, body: object, status: int, detail: str
) -> None:
    """A bad body is refused with problem+json naming what is wrong; the clock stays put."""
    clock = VirtualClock(FRIDAY)
    async with serving(clock) as client:
        response = await client.request(method, path, json=body)
        assert response.status == status
        assert response.content_type == "application/problem+json"
        assert detail in (await response.json())["detail"]
    assert clock.now() == FRIDAY


async def test_a_body_that_is_not_json_is_refused() -> None:
    """A body that is not JSON is a 400 problem+json."""
    async with serving(VirtualClock(FRIDAY)) as client:
        response = await client.put("/admin/clock", data=b"tomorrow")
        assert response.status == 400
        assert (await response.json())["title"] == "Not JSON"
