"""The participants' API on the mTLS port: VSP REST push, pull and status, and a raw POST.

Every request is tied to the participant of its client certificate first; everything a
participant can list, download, confirm or ask the status of is limited to its own messages,
and anything else is "not found" (404), never "forbidden", so ids of others leak nothing.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import hdrs, web

from gateway.errors import LedgerUnavailable, Refused
from gateway.http.budget import BodyBudget
from gateway.http.metadata import (
    is_uuid,
    parse_push_metadata,
    pull_metadata,
    status_entry,
    whole_number,
)
from gateway.http.multipart import MediaType, read_form
from gateway.http.openapi import openapi_document
from gateway.http.problems import Handler, problem, problem_for
from gateway.identity import participant_from_peercert
from gateway.ingress import Ingress, Receipt, Submission
from gateway.participants import Participant, Registry
from gateway.standard.streaming import STREAM_ABOVE
from gateway.vsp import MAX_PULL, Berichtstroom, role_of_vsp

PUSH = "/berichtenservice/berichten/rest-push/v1"
PULL = "/berichtenservice/berichten/rest-pull/v1"
STATUS = "/berichtenservice/berichtstatus/rest-pull/v3"

INGRESS = web.AppKey("ingress", Ingress)
REGISTRY = web.AppKey("registry", Registry)
BASE_URL = web.AppKey("base_url", str)
BODY_TIMEOUT = web.AppKey("body_timeout", float)
BODY_BUDGET = web.AppKey("body_budget", BodyBudget)
PARTICIPANT = web.RequestKey("participant", Participant)

T = TypeVar("T")

XML_TYPES = ("application/xml", "text/xml")
# A message up to STREAM_ABOVE bytes is parsed as a whole tree: up to about forty times its
# size (<b/> after <b/>, measured 38x). A larger one is read in a pass that keeps little more.
TREE_COST = 40

# Identity is per connection: read the certificate once, not on every kept-alive request.
_identities: weakref.WeakKeyDictionary[object, Participant] = weakref.WeakKeyDictionary()


@web.middleware
async def participants_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every request tied to its participant first; refusals, aiohttp's errors and surprises
    answered as problem+json, an unavailable ledger as 503. One layer, not three: each costs a
    call and an await on every request."""
    try:
        request[PARTICIPANT] = _identify(request)
        return await handler(request)
    except LedgerUnavailable as exc:
        return problem(503, "Service unavailable", f"the ledger is unavailable: {exc}")
    except Exception as exc:
        answer = problem_for(exc, request)
        if answer is None:
            raise
        return answer


def _identify(request: web.Request) -> Participant:
    transport = request.transport
    # Keyed by the connection's SSLObject: uvloop's transports cannot be weakly referenced.
    connection = transport.get_extra_info("ssl_object") if transport is not None else None
    participant = _identities.get(connection) if connection is not None else None
    if participant is None:
        cert = transport.get_extra_info("peercert") if transport is not None else None
        participant = participant_from_peercert(cert, request.app[REGISTRY])
        if connection is not None:
            _identities[connection] = participant
    return participant


def participant(request: web.Request) -> Participant:
    return request[PARTICIPANT]


async def push(request: web.Request) -> web.Response:
    """VSP REST push: multipart ``berichtMetadata`` (JSON) + ``payload``; 204 once routed."""
    ingress = request.app[INGRESS]
    media_type = MediaType.parse(request.headers.get(hdrs.CONTENT_TYPE))
    if media_type.type != "multipart/form-data":
        raise Refused(
            415,
            "Unsupported media type",
            f"expected multipart/form-data with berichtMetadata and payload, "
            f"not {media_type.type or 'no content type'}",
        )
    limit = ingress.max_message_bytes + 1024 * 1024
    _check_length(request, limit)
    limits = {"berichtMetadata": 1024 * 1024, "payload": ingress.max_message_bytes}
    async with request.app[BODY_BUDGET].reserve(_expected(request, limit)):
        parts = await _in_time(request, lambda: read_form(request, media_type, limits))
        metadata = parse_push_metadata(parts["berichtMetadata"])
        await ingress.submit(
            Submission(
                sender=participant(request),
                payload=parts["payload"],
                traceer_id=metadata.traceer_id,
                conversatie_id=metadata.conversatie_id,
                als_antwoord_op=metadata.als_antwoord_op,
                referentie_id=metadata.referentie_id,
                declared=metadata.declared,
            )
        )
    return web.Response(status=204)


async def post_message(request: web.Request) -> web.Response:
    """Plain submission: the body is the XML; 202 with the ids once routed."""
    ingress = request.app[INGRESS]
    media_type = MediaType.parse(request.headers.get(hdrs.CONTENT_TYPE))
    if media_type.type not in XML_TYPES:
        raise Refused(
            415,
            "Unsupported media type",
            f"expected application/xml, not {media_type.type or 'no content type'}",
        )
    limit = ingress.max_message_bytes
    _check_length(request, limit)
    references = {}
    for name in ("traceerId", "conversatieId", "alsAntwoordOp"):
        value = request.query.get(name)
        if value is not None and not is_uuid(value):
            raise _bad_parameter(name, f"{name}={value!r}: expected a UUID")
        references[name] = value.lower() if value else None
    async with request.app[BODY_BUDGET].reserve(_expected(request, limit)):
        payload = await _in_time(request, lambda: _read_body(request, limit))
        receipt = await ingress.submit(
            Submission(
                sender=participant(request),
                payload=payload,
                traceer_id=references["traceerId"],
                conversatie_id=references["conversatieId"],
                als_antwoord_op=references["alsAntwoordOp"],
            )
        )
    return web.json_response(_receipt_json(receipt), status=202)


def _receipt_json(receipt: Receipt) -> dict[str, Any]:
    return {
        "traceerId": receipt.traceer_id,
        "conversatieId": receipt.conversatie_id,
        "berichttype": receipt.message_type,
        "ontvanger": receipt.recipient,
        "berichtstatus": receipt.status.value,
        "herhaald": receipt.replay,
    }


async def _in_time(request: web.Request, read: Callable[[], Awaitable[T]]) -> T:
    """Read the body within GATEWAY_BODY_TIMEOUT: a body that trickles or never comes would
    otherwise hold a connection (and its buffers) for ever."""
    if request.content.is_eof():
        # All of it has arrived, as a small body usually has by now: reading cannot wait, so
        # there is no timer to set.
        return await read()
    limit = request.app[BODY_TIMEOUT]
    try:
        async with asyncio.timeout(limit):
            # The read starts inside the timeout, so no coroutine is left unawaited.
            return await read()
    except TimeoutError:
        raise Refused(
            408,
            "Request timeout",
            f"the request body did not arrive within {limit:g} s (GATEWAY_BODY_TIMEOUT)",
        ) from None


def _expected(request: web.Request, limit: int) -> int:
    """The budget a request takes: its body (its Content-Length, or the most it may be), forty
    times over if the message is small enough to be parsed as a whole tree."""
    size = limit if request.content_length is None else request.content_length
    return size * TREE_COST if size <= STREAM_ABOVE else size


def _check_length(request: web.Request, limit: int) -> None:
    if request.content_length is not None and request.content_length > limit:
        raise Refused(
            413,
            "Bericht is te groot",
            f"the request is {request.content_length} bytes; at most {limit} are accepted",
            code="BRS06",
        )


async def _read_body(request: web.Request, limit: int) -> bytes:
    """The raw body, refused (413, BRS06) once it passes ``limit``."""
    body = io.BytesIO()
    async for chunk in request.content.iter_any():
        if body.tell() + len(chunk) > limit:
            raise Refused(
                413, "Bericht is te groot", f"the body exceeds {limit} bytes", code="BRS06"
            )
        body.write(chunk)
    return body.getvalue()


def _base_url(request: web.Request) -> str:
    """Where payloads are downloaded: GATEWAY_PUBLIC_URL, or the address the caller used."""
    return request.app[BASE_URL] or str(request.url.origin())


def _bad_parameter(name: str, problem: str, *, also: str | None = None) -> Refused:
    """400 for a query parameter, the problem listed under its name (and ``also``'s)."""
    names = [name] if also is None else [name, also]
    return Refused(400, "Invalid parameter", problem, errors={n: [problem] for n in names})


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit")
    if raw is None:
        return MAX_PULL
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PULL:
        raise _bad_parameter("limit", f"limit={raw!r}: expected 1 to {MAX_PULL}")
    return int(raw)


def _traceer_id(request: web.Request) -> str:
    value = request.match_info["traceerId"]
    if not is_uuid(value):
        raise Refused(404, "Not Found", f"no message {value!r} for you")
    return value.lower()


async def pull_list(request: web.Request) -> web.Response:
    """The oldest messages ready for the caller, at most ``limit`` (250)."""
    messages = await request.app[INGRESS].ledger.inbox(
        participant(request).key, limit=_limit(request)
    )
    return web.json_response([pull_metadata(m, _base_url(request)) for m in messages])


async def pull_search(request: web.Request) -> web.Response:
    """``zoeken``: narrow the list by berichtstroom, conversatieId or alsAntwoordOp."""
    limit = _limit(request)
    try:
        body = await request.json()
    except ValueError as exc:
        raise Refused(400, "Invalid Zoekpad", f"the body is not JSON: {exc}") from exc
    except RecursionError:
        # json.loads recurses per nesting level: deep "[[[[..." would otherwise be a 500.
        raise Refused(400, "Invalid Zoekpad", "the body is nested too deeply") from None
    filters = _zoekpad(body, participant(request))
    if filters is None:
        return web.json_response([])
    messages = await request.app[INGRESS].ledger.inbox(
        participant(request).key, limit=limit, **filters
    )
    return web.json_response([pull_metadata(m, _base_url(request)) for m in messages])


# The longest text the VSP allows for each text member of a zoekpad.
TEXT_LENGTHS = {
    "berichttype": 60,
    "berichtsubtype": 60,
    "actie": 60,
    "geadresseerdeRol": 100,
    "geadresseerdeCode": 100,
}


def _zoekpad(body: object, caller: Participant) -> dict[str, str] | None:
    """The ledger filters a zoekpad asks for; None when it can match none of the caller's."""
    if not isinstance(body, dict) or not isinstance(body.get("zoekpadType"), str):
        raise Refused(400, "Invalid Zoekpad", "expected an object with zoekpadType")
    kind = body["zoekpadType"]
    fields = {
        "ZoekpadOpBerichtstroom": (
            {"berichttype"},
            {
                "berichttype",
                "berichtsubtype",
                "berichtversie",
                "berichtsubversie",
                "actie",
                "geadresseerdeRol",
                "geadresseerdeCode",
            },
        ),
        "ZoekpadOpConversatieId": ({"conversatieId"}, {"conversatieId"}),
        "ZoekpadOpAlsAntwoordOp": ({"alsAntwoordOp"}, {"alsAntwoordOp"}),
    }
    if kind not in fields:
        raise Refused(
            400, "Invalid Zoekpad", f"zoekpadType {kind!r}; expected one of {', '.join(fields)}"
        )
    required, allowed = fields[kind]
    given = set(body) - {"zoekpadType"}
    problems = dict.fromkeys(required - given, "required")
    problems |= dict.fromkeys(given - allowed, "not allowed")
    given &= allowed  # of those, what they hold
    for name in given & TEXT_LENGTHS.keys():
        longest = TEXT_LENGTHS[name]
        if not isinstance(body[name], str) or not 1 <= len(body[name]) <= longest:
            problems[name] = f"expected a string of 1 to {longest} characters"
    for name in given & {"berichtversie", "berichtsubversie"}:
        if whole_number(body[name], 0, 999) is None:
            problems[name] = "expected a whole number from 0 to 999"
    for name in given & {"conversatieId", "alsAntwoordOp"}:
        if not isinstance(body[name], str) or not is_uuid(body[name]):
            problems[name] = "expected a UUID"
    if problems:
        raise Refused(
            400,
            "Invalid Zoekpad",
            f"{kind} has {len(problems)} problem(s)",
            errors={name: [f"{name}: {problems[name]}"] for name in sorted(problems)},
        )
    if kind == "ZoekpadOpBerichtstroom":
        return _berichtstroom_filter(body, caller)
    if kind == "ZoekpadOpConversatieId":
        return {"conversatie_id": str(body["conversatieId"]).lower()}
    return {"als_antwoord_op": str(body["alsAntwoordOp"]).lower()}


def _berichtstroom_filter(body: dict[str, Any], caller: Participant) -> dict[str, str] | None:
    """ZoekpadOpBerichtstroom: the berichttype, and whatever else of the berichtstroom and the
    geadresseerde it names. Every message the gateway offers has the berichtstroom of
    ``Berichtstroom`` (version 3, subversion 2, actie Indienen, no subtype) and the caller as its
    geadresseerde, so those criteria hold for all of the caller's messages or for none."""
    stroom = Berichtstroom(str(body["berichttype"]).upper())
    expected: dict[str, object] = {
        "berichtversie": stroom.berichtversie,
        "berichtsubversie": stroom.berichtsubversie,
        "actie": stroom.actie,
        "geadresseerdeCode": caller.code,
    }
    for name, value in expected.items():
        if name in body and body[name] != value:
            return None
    if "berichtsubtype" in body:
        return None
    if "geadresseerdeRol" in body and role_of_vsp(body["geadresseerdeRol"]) is not caller.role:
        return None
    return {"berichttype": stroom.berichttype}


async def payload(request: web.Request) -> web.Response:
    """Download one payload; the checksum in the list is its SHA-256."""
    found = await request.app[INGRESS].ledger.payload(
        participant(request).key, _traceer_id(request)
    )
    if found is None:
        raise Refused(404, "Not Found", "no such message for you, or it was confirmed already")
    message, body = found
    return web.Response(
        body=body,
        content_type="application/octet-stream",
        headers=_digest_headers(message.sha256 or hashlib.sha256(body).hexdigest()),
    )


def _digest_headers(sha256_hex: str) -> dict[str, str]:
    """The payload's SHA-256 as HTTP says it: RFC 9530 and the older RFC 3230 form (base64)."""
    encoded = base64.b64encode(bytes.fromhex(sha256_hex)).decode()
    return {"Repr-Digest": f"sha-256=:{encoded}:", "Digest": f"sha-256={encoded}"}


async def confirm(request: web.Request) -> web.Response:
    """Confirm receipt: the message is Bezorgd and leaves the list; 202."""
    delivered = await request.app[INGRESS].ledger.delivered(
        _traceer_id(request), recipient=participant(request).key
    )
    if not delivered:
        raise Refused(404, "Not Found", "no such message for you, or it was confirmed already")
    return web.Response(status=202)


async def statuses(request: web.Request) -> web.Response:
    """berichtstatus v3: by traceerId (also as alsAntwoordOp) or by conversatieId, one of them."""
    traceer_id = request.query.get("traceerId")
    conversatie_id = request.query.get("conversatieId")
    if (traceer_id is None) == (conversatie_id is None):
        raise _bad_parameter(
            "traceerId", "give exactly one of traceerId and conversatieId", also="conversatieId"
        )
    value = traceer_id or conversatie_id or ""
    if not is_uuid(value):
        name = "traceerId" if traceer_id else "conversatieId"
        raise _bad_parameter(name, f"{name}={value!r}: expected a UUID")
    found = await request.app[INGRESS].ledger.statuses(
        participant(request).key,
        traceer_id=traceer_id.lower() if traceer_id else None,
        conversatie_id=conversatie_id.lower() if conversatie_id else None,
    )
    return web.json_response([status_entry(m) for m in found])


def participants_app(
    ingress: Ingress,
    registry: Registry,
    *,
    base_url: str,
    client_max_size: int,
    body_timeout: float = 30.0,
    body_budget: int | None = None,
) -> web.Application:
    """The participants' app; ``body_budget`` bytes of bodies at once (default: four requests
    at ``client_max_size``)."""
    budget = BodyBudget(body_budget or 4 * client_max_size)
    app = web.Application(
        middlewares=[budget.middleware, participants_middleware],
        client_max_size=client_max_size,
    )
    app[INGRESS] = ingress
    app[REGISTRY] = registry
    app[BASE_URL] = base_url
    app[BODY_TIMEOUT] = body_timeout
    app[BODY_BUDGET] = budget
    app.router.add_post(f"{PUSH}/berichten", push)
    app.router.add_post("/v1/messages", post_message)
    app.router.add_get(f"{PULL}/berichten", pull_list)
    app.router.add_post(f"{PULL}/berichten/zoeken", pull_search)
    app.router.add_get(f"{PULL}/berichten/{{traceerId}}/payload", payload)
    app.router.add_delete(f"{PULL}/berichten/{{traceerId:[0-9A-Fa-f-]{{36}}}}", confirm)
    app.router.add_get(f"{STATUS}/berichtstatussen", statuses)
    app.router.add_get("/openapi.json", openapi_document)
    return app
