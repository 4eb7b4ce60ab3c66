"""A participant's client of the gateway: what provider and municipal software do over mTLS.

The simulated handlers, ``gateway send``/``gateway mailbox``, the pytest plugin and the tests all
talk to the gateway through this one client, with a participant's own certificate, exactly as
external software does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

from gateway.errors import (
    ChecksumMismatch,
    ConfigError,
    GatewayError,
    GatewayUnreachable,
    MessageError,
)
from gateway.participants import Participant
from gateway.pki import CA_CERT
from gateway.standard.catalog import Catalog, default_catalog
from gateway.standard.message_types import SUBVERSIE, VERSIE, MessageType
from gateway.standard.xmlsafe import parse_xml
from gateway.tls import client_context
from gateway.vsp import ACTIE, MAX_PULL, VSP_ROLES

PUSH_PATH = "/berichtenservice/berichten/rest-push/v1/berichten"
PULL_PATH = "/berichtenservice/berichten/rest-pull/v1/berichten"
STATUS_PATH = "/berichtenservice/berichtstatus/rest-pull/v3/berichtstatussen"


class SubmitRefused(GatewayError):
    """The gateway refused a submission; ``problem`` is its problem+json body."""

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        detail = problem.get("detail") or problem.get("title") or "refused"
        code = f" {problem['code']}" if problem.get("code") else ""
        super().__init__(f"HTTP {status}{code}: {detail}")
        self.status = status
        self.problem = dict(problem)


@dataclass(frozen=True, slots=True)
class Sent:
    """A submission the gateway accepted: its ids, the HTTP status, and for ``POST
    /v1/messages`` the receipt (berichttype, ontvanger, berichtstatus, herhaald)."""

    traceer_id: str
    conversatie_id: str
    status: int = 204
    receipt: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Addressing:
    """What push metadata says of a message, as the message's own header says it."""

    message_type: MessageType
    recipient: Participant


def addressing(payload: bytes, catalog: Catalog | None = None) -> Addressing:
    """The message type (by its root namespace) and the recipient (by its Header) of a message.

    The message is parsed safely but not validated: judging it is the gateway's job. Raises a
    ``MessageError`` when there is no message type or recipient to read.
    """
    doc = parse_xml(payload)
    catalog = catalog or default_catalog()
    message_type = catalog.identify(doc)
    header = catalog.header(doc, message_type)
    element, code = header.recipient_field
    try:
        recipient = Participant(message_type.receiver_role, code)
    except ConfigError:
        raise MessageError(
            f"the {message_type} header's {element} {code!r} is not a "
            f"{message_type.receiver_role} code"
        ) from None
    return Addressing(message_type, recipient)


def verify_checksum(traceer_id: str, body: bytes, expected: str) -> None:
    """Raise ``ChecksumMismatch`` unless ``body`` has the SHA-256 ``expected`` (hexadecimal)."""
    actual = hashlib.sha256(body).hexdigest()
    if actual != expected.strip().lower():
        raise ChecksumMismatch(traceer_id, expected, actual)


def digest_of(headers: Mapping[str, str]) -> str | None:
    """The SHA-256 a payload download announces (``Repr-Digest``, else ``Digest``), in hex."""
    for name, prefix, suffix in (("Repr-Digest", "sha-256=:", ":"), ("Digest", "sha-256=", "")):
        for item in headers.get(name, "").split(","):
            item = item.strip()
            if item.lower().startswith(prefix) and item.endswith(suffix):
                encoded = item[len(prefix) : len(item) - len(suffix)]
                try:
                    return base64.b64decode(encoded, validate=True).hex()
                except (binascii.Error, ValueError):
                    return None
    return None


@dataclass(frozen=True, slots=True)
class Incoming:
    """One entry of the pull list, with the payload once downloaded."""

    traceer_id: str
    conversatie_id: str
    als_antwoord_op: str | None
    berichttype: str
    sender: str
    metadata: Mapping[str, Any]

    @property
    def checksum(self) -> str:
        """The payload's SHA-256 as the list gives it (hexadecimal)."""
        return str(self.metadata["basisgegevens"]["payload"]["checksum"]["waarde"])


class GatewayClient:
    """``async with GatewayClient(url, certs_dir, participant) as client: ...``"""

    def __init__(
        self,
        base_url: str,
        certs_dir: Path,
        participant: Participant,
        *,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.participant = participant
        self._context = client_context(certs_dir, participant)
        self._ca = certs_dir / CA_CERT
        self._certificate = certs_dir / f"{participant.key}.crt"
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> GatewayClient:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=self._context, limit=32),
            timeout=self._timeout,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("use the client in 'async with'")
        return self._session

    @asynccontextmanager
    async def _call(
        self, method: str, url: str, **options: Any
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """One request; aiohttp's errors of getting no answer become ``GatewayUnreachable``."""
        try:
            async with self.session.request(method, url, **options) as response:
                yield response
        except aiohttp.ClientConnectorCertificateError as exc:
            reason = f"its certificate is not one {self._ca} vouches for ({exc.certificate_error})"
            raise GatewayUnreachable(self.base_url, reason) from exc
        except aiohttp.ClientConnectorError as exc:
            refused = isinstance(exc.os_error, ConnectionRefusedError)
            reason = "connection refused" if refused else str(exc.os_error or exc)
            raise GatewayUnreachable(self.base_url, reason) from exc
        except aiohttp.ClientResponseError as exc:
            raise GatewayError(f"{method} {url}: unexpected answer ({exc.message})") from exc
        except aiohttp.ServerDisconnectedError as exc:
            # In TLS 1.3 a client certificate is judged after the handshake: the gateway just
            # closes the connection on one its CA did not issue.
            reason = (
                "it closed the connection without an answer, as it does when it does not take "
                f"the client certificate {self._certificate}"
            )
            raise GatewayUnreachable(self.base_url, reason) from exc
        except aiohttp.ClientError as exc:
            # A TLS alert (a revoked or expired client certificate), a connection reset, a body
            # cut short.
            raise GatewayUnreachable(self.base_url, str(exc) or type(exc).__name__) from exc
        except TimeoutError as exc:
            reason = f"no answer within {self._timeout.total:g} seconds"
            raise GatewayUnreachable(self.base_url, reason) from exc

    async def push(
        self,
        payload: bytes,
        message_type: MessageType,
        recipient: Participant,
        *,
        conversatie_id: str | None = None,
        als_antwoord_op: str | None = None,
        traceer_id: str | None = None,
    ) -> Sent:
        """Submit through VSP REST push; returns once the gateway routed it (204)."""
        refs: dict[str, str] = {
            "conversatieId": conversatie_id or str(uuid.uuid4()),
            "traceerId": traceer_id or str(uuid.uuid4()),
        }
        if als_antwoord_op:
            refs["alsAntwoordOp"] = als_antwoord_op
        metadata = {
            "routeringgegevens": {
                "afzender": {
                    "rol": VSP_ROLES[self.participant.role][0],
                    "code": self.participant.code,
                },
                "geadresseerden": [{"rol": VSP_ROLES[recipient.role][0], "code": recipient.code}],
                "berichtstroom": {
                    "berichttype": message_type.name,
                    "berichtversie": VERSIE,
                    "berichtsubversie": SUBVERSIE,
                    "actie": ACTIE,
                },
            },
            "referentiegegevens": refs,
        }
        form = aiohttp.FormData()
        form.add_field("berichtMetadata", json.dumps(metadata), content_type="application/json")
        form.add_field(
            "payload", payload, content_type="application/octet-stream", filename="bericht.xml"
        )
        async with self._call("POST", f"{self.base_url}{PUSH_PATH}", data=form) as response:
            if response.status != 204:
                raise SubmitRefused(response.status, await _problem(response))
        return Sent(refs["traceerId"], refs["conversatieId"], response.status)

    async def post(self, payload: bytes, *, traceer_id: str | None = None) -> Sent:
        """Submit the bare XML (``POST /v1/messages``); the receipt says what became of it."""
        async with self._call(
            "POST",
            f"{self.base_url}/v1/messages",
            data=payload,
            params={"traceerId": traceer_id} if traceer_id else None,
            headers={"Content-Type": "application/xml"},
        ) as response:
            if response.status != 202:
                raise SubmitRefused(response.status, await _problem(response))
            receipt = await response.json()
        return Sent(receipt["traceerId"], receipt["conversatieId"], response.status, receipt)

    async def inbox(self, limit: int = MAX_PULL) -> list[Incoming]:
        """The oldest messages waiting for this participant."""
        async with self._call(
            "GET", f"{self.base_url}{PULL_PATH}", params={"limit": str(limit)}
        ) as response:
            if response.status != 200:
                raise SubmitRefused(response.status, await _problem(response))
            entries = await response.json()
        return [_incoming(entry) for entry in entries]

    async def download(self, incoming: Incoming) -> bytes:
        """The payload, checked against the checksum of the list."""
        url = incoming.metadata["basisgegevens"]["payload"]["url"]
        async with self._call("GET", url) as response:
            if response.status != 200:
                raise SubmitRefused(response.status, await _problem(response))
            body = await response.read()
        verify_checksum(incoming.traceer_id, body, incoming.checksum)
        return body

    async def fetch(self, traceer_id: str, *, sha256: str | None = None) -> bytes:
        """Download a payload by traceerId from this client's gateway, checked against
        ``sha256`` (the list's checksum) or, without it, the digest sent with it."""
        async with self._call(
            "GET", f"{self.base_url}{PULL_PATH}/{traceer_id}/payload"
        ) as response:
            if response.status != 200:
                raise SubmitRefused(response.status, await _problem(response))
            body = await response.read()
            expected = sha256 or digest_of(response.headers)
        if expected is None:
            raise GatewayError(f"payload of {traceer_id}: the gateway sent no SHA-256 with it")
        verify_checksum(traceer_id, body, expected)
        return body

    async def confirm(self, traceer_id: str) -> None:
        """Confirm receipt (the message becomes Bezorgd and leaves the list)."""
        async with self._call("DELETE", f"{self.base_url}{PULL_PATH}/{traceer_id}") as response:
            if response.status != 202:
                raise SubmitRefused(response.status, await _problem(response))

    async def statuses(
        self, *, traceer_id: str | None = None, conversatie_id: str | None = None
    ) -> list[dict[str, Any]]:
        params = (
            {"traceerId": traceer_id} if traceer_id else {"conversatieId": conversatie_id or ""}
        )
        async with self._call("GET", f"{self.base_url}{STATUS_PATH}", params=params) as response:
            if response.status != 200:
                raise SubmitRefused(response.status, await _problem(response))
            result: list[dict[str, Any]] = await response.json()
        return result


async def _problem(response: aiohttp.ClientResponse) -> dict[str, Any]:
    try:
        body = await response.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError):
        return {"title": response.reason or "error", "detail": (await response.text())[:500]}
    return body if isinstance(body, dict) else {"detail": str(body)}


def _incoming(entry: Mapping[str, Any]) -> Incoming:
    refs = entry["referentiegegevens"]
    routing = entry["routeringgegevens"]
    return Incoming(
        traceer_id=refs["traceerId"],
        conversatie_id=refs["conversatieId"],
        als_antwoord_op=refs.get("alsAntwoordOp"),
        berichttype=routing["berichtstroom"]["berichttype"],
        sender=routing["afzender"].get("code", ""),
        metadata=entry,
    )
