"""The answer-policy admin routes on the operators' port (simulation mode only).

A test harness changes how the simulated participants answer while the chain runs:

- ``GET /admin/policies``: the table, ``{"policies": [{"participant", "message", "policy"}]}``;
- ``PUT /admin/policies``: replace the whole table with ``{"policies": [...]}`` (``[]`` clears);
- ``PUT /admin/policies/{participant}/{message}``: one entry, body ``{"policy": "late:1"}``;
- ``DELETE /admin/policies/{participant}/{message}``: drop one entry (404 if there was none).

``participant`` is a key (``aanbieder-12345678``) or ``*``, ``message`` a type (``WMO302``) or
``*``; the most specific entry wins. Every refusal is problem+json naming the bad value.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.errors import ConfigError
from gateway.handlers.policy import Entry, Policies
from gateway.participants import Registry

POLICIES = web.AppKey("answer_policies", Policies)
POLICY_REGISTRY = web.AppKey("answer_policy_registry", Registry)
PROBLEM_JSON = "application/problem+json"


def add_policy_routes(app: web.Application, policies: Policies, registry: Registry) -> None:
    """Serve ``policies`` on ``app``; participants must be in ``registry``."""
    app[POLICIES] = policies
    app[POLICY_REGISTRY] = registry
    app.router.add_get("/admin/policies", show_policies)
    app.router.add_put("/admin/policies", replace_policies)
    app.router.add_put("/admin/policies/{participant}/{message}", put_policy)
    app.router.add_delete("/admin/policies/{participant}/{message}", delete_policy)


def _problem(request: web.Request, status: int, title: str, detail: str) -> web.Response:
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.path,
    }
    return web.json_response(body, status=status, content_type=PROBLEM_JSON)


def _table(request: web.Request) -> web.Response:
    return web.json_response({"policies": request.app[POLICIES].as_json()})


def _entry(request: web.Request, who: object, message: object, policy: object) -> Entry:
    if not (isinstance(who, str) and isinstance(message, str) and isinstance(policy, str)):
        raise ConfigError("participant, message and policy must each be a string")
    entry = Entry.parse(who, message, policy)
    if entry.who != "*" and entry.who not in {p.key for p in request.app[POLICY_REGISTRY]}:
        raise ConfigError(f"participant {entry.who!r} is not in the registry")
    return entry


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:  # not JSON, or not even UTF-8
        raise ConfigError(f"the request body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ConfigError("the request body must be a JSON object")
    return body


async def show_policies(request: web.Request) -> web.Response:
    return _table(request)


async def replace_policies(request: web.Request) -> web.Response:
    """Body ``{"policies": [{"participant": "*", "message": "WMO302", "policy": "never"}]}``."""
    try:
        rows = (await _json(request)).get("policies")
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ConfigError('expected {"policies": [{"participant", "message", "policy"}]}')
        entries = [
            _entry(request, r.get("participant"), r.get("message"), r.get("policy")) for r in rows
        ]
    except ConfigError as exc:
        return _problem(request, 422, "Invalid answer policies", str(exc))
    request.app[POLICIES].replace(entries)
    return _table(request)


async def put_policy(request: web.Request) -> web.Response:
    """Body ``{"policy": "late:1"}`` for the participant and message of the path."""
    try:
        body = await _json(request)
        entry = _entry(
            request,
            request.match_info["participant"],
            request.match_info["message"],
            body.get("policy"),
        )
    except ConfigError as exc:
        return _problem(request, 422, "Invalid answer policy", str(exc))
    request.app[POLICIES].put(entry)
    return _table(request)


async def delete_policy(request: web.Request) -> web.Response:
    try:
        entry = _entry(
            request, request.match_info["participant"], request.match_info["message"], "now"
        )
    except ConfigError as exc:
        return _problem(request, 422, "Invalid answer policy", str(exc))
    if not request.app[POLICIES].remove(entry.who, entry.message):
        return _problem(
            request,
            404,
            "No such answer policy",
            f"no policy for {entry.who}/{entry.message}",
        )
    return _table(request)
