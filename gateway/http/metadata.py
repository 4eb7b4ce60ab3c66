"""Reading the VSP push metadata (``berichtMetadata``) and writing the pull metadata.

The shapes are those of the VSP-Koppeling OpenAPI documents; unknown members are refused, as
the VSP's ``additionalProperties: false`` says, with every problem listed.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from gateway.authorisation import DeclaredRoute
from gateway.errors import Refused
from gateway.ledger import StoredMessage
from gateway.participants import Participant
from gateway.vsp import Berichtstroom, vsp_role


@dataclass(frozen=True, slots=True)
class PushMetadata:
    traceer_id: str
    conversatie_id: str
    als_antwoord_op: str | None
    referentie_id: str | None
    declared: DeclaredRoute


# An optional member left out; an explicit null is a value, and not a string or a UUID.
ABSENT = object()


class _Problems:
    """Every problem found, by the member it concerns (the VSP's ValidationProblemDetails)."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, member: str, problem: str) -> None:
        self.errors.setdefault(member, []).append(f"{member}: {problem}")

    @property
    def count(self) -> int:
        return sum(len(problems) for problems in self.errors.values())

    def mapping(
        self, value: object, path: str, required: set[str], allowed: set[str]
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.add(path, "expected an object")
            return {}
        names = value.keys()
        if not required <= names:
            for name in sorted(required - names):
                self.add(f"{path}.{name}", "required")
        if not names <= allowed:
            for name in sorted(names - allowed):
                self.add(f"{path}.{name}", "not allowed")
        return value

    def text(
        self, value: object, path: str, *, max_length: int, optional: bool = False
    ) -> str | None:
        if value is ABSENT and optional:
            return None
        if not isinstance(value, str) or not 1 <= len(value) <= max_length:
            self.add(path, f"expected a string of 1 to {max_length} characters")
            return None
        return value

    def uuid_text(self, value: object, path: str, *, optional: bool = False) -> str | None:
        if value is ABSENT and optional:
            return None
        if not isinstance(value, str) or not is_uuid(value):
            self.add(path, "expected a UUID")
            return None
        return value.lower()

    def pairs(self, value: object, path: str) -> None:
        """A verwerkingscontext: 1 to 100 pairs of a ``sleutel`` and 1 to 100 ``waarde`` texts."""
        if not isinstance(value, list) or not 1 <= len(value) <= 100:
            self.add(path, "expected a list of 1 to 100 key-value pairs")
            return
        for n, item in enumerate(value):
            where = f"{path}[{n}]"
            pair = self.mapping(item, where, {"sleutel", "waarde"}, {"sleutel", "waarde"})
            if "sleutel" in pair:
                self.text(pair["sleutel"], f"{where}.sleutel", max_length=100)
            if "waarde" not in pair:
                continue
            waarde = pair["waarde"]
            if not isinstance(waarde, list) or not 1 <= len(waarde) <= 100:
                self.add(f"{where}.waarde", "expected a list of 1 to 100 texts")
                continue
            for m, text in enumerate(waarde):
                self.text(text, f"{where}.waarde[{m}]", max_length=250)

    def integer(self, value: object, path: str) -> int | None:
        number = whole_number(value, 0, 999)
        if number is None:
            self.add(path, "expected a whole number from 0 to 999")
        return number


def whole_number(value: object, low: int, high: int) -> int | None:
    """``value`` if it is a whole number from ``low`` to ``high``; to JSON, 3 and 3.0 are alike."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value) if low <= value <= high else None


# The form every client writes; ``uuid.UUID`` reads others too (braces, no hyphens), at length 36.
_CANONICAL_UUID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


def is_uuid(text: str) -> bool:
    if _CANONICAL_UUID.fullmatch(text):
        return True  # the common case, without building a UUID
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return len(text) == 36


def parse_push_metadata(raw: bytes) -> PushMetadata:
    """Read and check ``berichtMetadata``; ``Refused`` (400) lists every problem."""
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Refused(
            400, "Invalid berichtMetadata", f"berichtMetadata is not JSON: {exc}"
        ) from exc
    except RecursionError:
        # json.loads recurses per nesting level: "[[[[..." of 100 kB would otherwise be a 500.
        raise Refused(
            400, "Invalid berichtMetadata", "berichtMetadata is nested too deeply"
        ) from None
    p = _Problems()
    top = p.mapping(
        document,
        "berichtMetadata",
        {"routeringgegevens", "referentiegegevens"},
        {"routeringgegevens", "referentiegegevens", "verwerkingscontext"},
    )
    routing = p.mapping(
        top.get("routeringgegevens"),
        "routeringgegevens",
        {"afzender", "geadresseerden", "berichtstroom"},
        {"afzender", "geadresseerden", "berichtstroom"},
    )
    afzender = p.mapping(
        routing.get("afzender"), "routeringgegevens.afzender", {"rol"}, {"rol", "code"}
    )
    rol = p.text(afzender.get("rol"), "routeringgegevens.afzender.rol", max_length=100)
    code = p.text(
        afzender.get("code", ABSENT),
        "routeringgegevens.afzender.code",
        max_length=100,
        optional=True,
    )
    geadresseerden: list[tuple[str, str | None]] = []
    listed = routing.get("geadresseerden")
    if not isinstance(listed, list) or len(listed) > 100:
        if "geadresseerden" in routing:
            p.add("routeringgegevens.geadresseerden", "expected a list of at most 100")
    else:
        for n, item in enumerate(listed):
            path = f"routeringgegevens.geadresseerden[{n}]"
            entry = p.mapping(item, path, {"rol"}, {"rol", "code"})
            entry_rol = p.text(entry.get("rol"), f"{path}.rol", max_length=100)
            entry_code = p.text(
                entry.get("code", ABSENT), f"{path}.code", max_length=100, optional=True
            )
            if entry_rol is not None:
                geadresseerden.append((entry_rol, entry_code))
    stroom = p.mapping(
        routing.get("berichtstroom"),
        "routeringgegevens.berichtstroom",
        {"berichttype", "berichtversie", "berichtsubversie", "actie"},
        {"berichttype", "berichtsubtype", "berichtversie", "berichtsubversie", "actie"},
    )
    prefix = "routeringgegevens.berichtstroom"
    berichttype = p.text(stroom.get("berichttype"), f"{prefix}.berichttype", max_length=60)
    versie = p.integer(stroom.get("berichtversie"), f"{prefix}.berichtversie")
    subversie = p.integer(stroom.get("berichtsubversie"), f"{prefix}.berichtsubversie")
    p.text(stroom.get("actie"), f"{prefix}.actie", max_length=60)
    if "berichtsubtype" in stroom:
        p.text(stroom.get("berichtsubtype"), f"{prefix}.berichtsubtype", max_length=60)
    refs = p.mapping(
        top.get("referentiegegevens"),
        "referentiegegevens",
        {"conversatieId", "traceerId"},
        {"conversatieId", "traceerId", "alsAntwoordOp", "referentieId"},
    )
    traceer_id = p.uuid_text(refs.get("traceerId"), "referentiegegevens.traceerId")
    conversatie_id = p.uuid_text(refs.get("conversatieId"), "referentiegegevens.conversatieId")
    als_antwoord_op = p.uuid_text(
        refs.get("alsAntwoordOp", ABSENT), "referentiegegevens.alsAntwoordOp", optional=True
    )
    referentie_id = p.text(
        refs.get("referentieId", ABSENT),
        "referentiegegevens.referentieId",
        max_length=150,
        optional=True,
    )
    if "verwerkingscontext" in top:
        p.pairs(top["verwerkingscontext"], "verwerkingscontext")
    if p.errors:
        raise Refused(
            400,
            "Invalid berichtMetadata",
            f"berichtMetadata has {p.count} problem(s)",
            errors=p.errors,
        )
    # No problem recorded means every required value was read.
    assert traceer_id is not None
    assert conversatie_id is not None
    assert rol is not None
    assert berichttype is not None
    assert versie is not None
    assert subversie is not None
    return PushMetadata(
        traceer_id=traceer_id,
        conversatie_id=conversatie_id,
        als_antwoord_op=als_antwoord_op,
        referentie_id=referentie_id,
        declared=DeclaredRoute(
            afzender_rol=rol,
            afzender_code=code,
            geadresseerden=tuple(geadresseerden),
            berichttype=berichttype,
            berichtversie=versie,
            berichtsubversie=subversie,
        ),
    )


def referentiegegevens(message: StoredMessage) -> dict[str, str]:
    refs = {"conversatieId": message.conversatie_id, "traceerId": message.traceer_id}
    if message.als_antwoord_op:
        refs["alsAntwoordOp"] = message.als_antwoord_op
    if message.referentie_id:
        refs["referentieId"] = message.referentie_id
    return refs


def berichtstroom(message: StoredMessage) -> dict[str, Any]:
    return Berichtstroom(message.berichttype or message.message_type or "onbekend").as_json()


def pull_metadata(message: StoredMessage, base_url: str) -> dict[str, Any]:
    """One entry of the REST pull list: where to download the payload, who sent it, what it is."""
    sender = Participant.parse(message.sender)
    recipient = Participant.parse(message.recipient or "")
    return {
        "basisgegevens": {
            "ontvangenOp": message.received_at.isoformat(),
            "payload": {
                "url": f"{base_url}/berichtenservice/berichten/rest-pull/v1/berichten/"
                f"{message.traceer_id}/payload",
                "grootte": message.size or 0,
                "checksum": {"algoritme": "SHA256", "waarde": message.sha256 or ""},
            },
        },
        "routeringgegevens": {
            "afzender": {"rol": vsp_role(sender), "code": sender.code},
            "geadresseerden": [{"rol": vsp_role(recipient), "code": recipient.code}],
            "berichtstroom": berichtstroom(message),
        },
        "referentiegegevens": referentiegegevens(message),
    }


def status_entry(message: StoredMessage) -> dict[str, Any]:
    """One BerichtstatusGegevens of berichtstatus v3."""
    entry: dict[str, Any] = {
        "referentiegegevens": referentiegegevens(message),
        "berichtstroom": berichtstroom(message),
        "berichtstatus": message.status.value,
        "berichtstatusGewijzigdOp": message.status_changed_at.isoformat(),
        "berichtOntvangenOp": message.received_at.isoformat(),
    }
    if message.meldingen:
        entry["meldingen"] = message.meldingen
    return entry
