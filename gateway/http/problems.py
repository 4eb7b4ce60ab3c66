"""Every error over HTTP is problem+json (RFC 9457), naming the problem and the VSP code.

The body has the RFC's members (``type``, ``title``, ``status``, ``detail``, ``instance``) and,
where they apply, ``code`` (the VSP refusal code, BRS13 ...), ``errors`` (every detail, by what
it concerns, in the shape of the VSP's ValidationProblemDetails: ``{"payload": ["line 44: ...",
...]}``) and ``traceerId``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

from aiohttp import web

from gateway.errors import AuthenticationError, Refused

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def problem(
    status: int,
    title: str,
    detail: str = "",
    *,
    code: str | None = None,
    errors: Mapping[str, Sequence[str]] | None = None,
    instance: str | None = None,
    **extra: object,
) -> web.Response:
    body: dict[str, object] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    if code:
        body["code"] = code
    if errors:
        body["errors"] = {member: list(problems) for member, problems in errors.items()}
    body.update({k: v for k, v in extra.items() if v is not None})
    return web.Response(
        status=status,
        body=json.dumps(body, ensure_ascii=False).encode(),
        content_type=PROBLEM_JSON,
    )


def refusal_response(refusal: Refused, request: web.Request, **extra: object) -> web.Response:
    return problem(
        refusal.status,
        refusal.title,
        refusal.detail,
        code=refusal.code,
        errors=refusal.errors,
        instance=request.path,
        **extra,
    )


@web.middleware
async def problems_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render refusals, aiohttp's own HTTP errors and surprises as problem+json."""
    try:
        return await handler(request)
    except Exception as exc:
        answer = problem_for(exc, request)
        if answer is None:
            raise
        return answer


def problem_for(exc: Exception, request: web.Request) -> web.Response | None:
    """The problem+json answer to what a handler raised; None for an aiohttp answer that is no
    error (a redirect), which is to be raised on. Call it where ``exc`` is being handled."""
    if isinstance(exc, Refused):
        return refusal_response(exc, request)
    if isinstance(exc, AuthenticationError):
        return problem(401, "Not authenticated", str(exc), code="BRS01", instance=request.path)
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            return None
        detail = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else ""
        if exc.status == 413:
            return problem(
                413, "Message too large", detail or exc.reason, code="BRS06", instance=request.path
            )
        response = problem(exc.status, exc.reason, detail, instance=request.path)
        if "Allow" in exc.headers:  # a 405 must say which methods are allowed (RFC 9110)
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    log.exception("unexpected error on %s %s", request.method, request.path)
    return problem(500, "Internal error", "the gateway failed unexpectedly", instance=request.path)
