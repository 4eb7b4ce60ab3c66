"""A participant's client of the gateway: what provider and municipal software do over mTLS.

The simulated handlers, ``gateway send``/``gateway mailbox``, the pytest plugin and the tests all
talk to the gateway through this one client, with a participant's own certificate, exactly as
external software does.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

from gateway.errors import GatewayError
from gateway.participants import Participant
from gateway.standard.message_types import SUBVERSIE, VERSIE, MessageType
from gateway.tls import client_context
from gateway.vsp import ACTIE, VSP_ROLES

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
    """A submission the gateway accepted."""

    traceer_id: str
    conversatie_id: str


@dataclass(frozen=True, slots=True)
class Incoming:
    """One entry of the pull list, with the payload once downloaded."""

    traceer_id: str
    conversatie_id: str
    als_antwoord_op: str | None
    berichttype: str
    sender: str
    metadata: Mapping[str, Any]


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
        async with self.session.post(f"{self.base_url}{PUSH_PATH}", data=form) as response:
            if response.status != 204:
                raise SubmitRefused(response.status, await _problem(response))
        return Sent(refs["traceerId"], refs["conversatieId"])

    async def post(self, payload: bytes) -> Sent:
        """Submit the bare XML (``POST /v1/messages``)."""
        async with self.session.post(
            f"{self.base_url}/v1/messages",
            data=payload,
            headers={"Content-Type": "application/xml"},
        ) as response:
            if response.status != 202:
                raise SubmitRefused(response.status, await _problem(response))
            receipt = await response.json()
        return Sent(receipt["traceerId"], receipt["conversatieId"])

    async def inbox(self, limit: int = 250) -> list[Incoming]:
        """The oldest messages waiting for this participant."""
        async with self.session.get(
            f"{self.base_url}{PULL_PATH}", params={"limit": str(limit)}
        ) as response:
            if response.status != 200:
                raise SubmitRefused(response.status, await _problem(response))
            entries = await response.json()
        return [_incoming(entry) for entry in entries]

    async def download(self, incoming: Incoming) -> bytes:
        """The payload, checked against the checksum of the list."""
        url = incoming.metadata["basisgegevens"]["payload"]["url"]
        async with self.session.get(url) as response:
            if response.status != 200:
                raise SubmitRefused(response.status, await _problem(response))
            body = await response.read()
        expected = incoming.metadata["basisgegevens"]["payload"]["checksum"]["waarde"]
        if hashlib.sha256(body).hexdigest() != expected:
            raise GatewayError(f"payload of {incoming.traceer_id}: checksum mismatch")
        return body

    async def confirm(self, traceer_id: str) -> None:
        async with self.session.delete(f"{self.base_url}{PULL_PATH}/{traceer_id}") as response:
            if response.status != 202:
                raise SubmitRefused(response.status, await _problem(response))

    async def statuses(
        self, *, traceer_id: str | None = None, conversatie_id: str | None = None
    ) -> list[dict[str, Any]]:
        params = (
            {"traceerId": traceer_id} if traceer_id else {"conversatieId": conversatie_id or ""}
        )
        async with self.session.get(f"{self.base_url}{STATUS_PATH}", params=params) as response:
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
