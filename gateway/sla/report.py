"""The SLA report of ``gateway sla``: obligations as a table, JSON lines or CSV.

The rows come from the ops port of a running gateway (``GET /sla/obligations``, its clock
decides what is late) or straight from the ledger (the clock of ``GATEWAY_CLOCK``); both give
the same objects (``Obligation.as_json``).
"""

from __future__ import annotations

import csv
import enum
import io
import json
from collections.abc import Iterable, Mapping, Sequence

from gateway.text import columns

Row = Mapping[str, object]

# The CSV columns, in order: the report's promised fields first.
CSV_FIELDS = (
    "owed",
    "by",
    "to",
    "due",
    "met",
    "late",
    "state",
    "by_role",
    "to_role",
    "rule",
    "product",
    "reference",
    "opened",
    "trigger_berichttype",
    "trigger_identificatie",
    "trigger_traceerId",
    "met_by_traceerId",
)


class Format(enum.StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


def render(rows: Sequence[Row], form: Format) -> str:
    if form is Format.JSON:
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    if form is Format.CSV:
        return _csv(rows)
    return _table(rows)


def _flat(row: Row) -> dict[str, object]:
    trigger = row.get("trigger")
    met_by = row.get("met_by")
    flat = {name: row.get(name) for name in CSV_FIELDS}
    if isinstance(trigger, Mapping):
        flat["trigger_berichttype"] = trigger.get("berichttype")
        flat["trigger_identificatie"] = trigger.get("identificatie")
        flat["trigger_traceerId"] = trigger.get("traceerId")
    if isinstance(met_by, Mapping):
        flat["met_by_traceerId"] = met_by.get("traceerId")
    flat["late"] = "true" if row.get("late") else "false"
    return flat


def _csv(rows: Iterable[Row]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in _flat(row).items()})
    return out.getvalue()


def _left(row: Row) -> str:
    seconds = row.get("seconds_left")
    if not isinstance(seconds, int):
        return ""
    days, rest = divmod(abs(seconds), 86400)
    text = f"{days}d {rest // 3600}h" if days else f"{rest // 3600}h {rest % 3600 // 60}m"
    return f"overdue {text}" if seconds < 0 else f"{text} left"


def _table(rows: Sequence[Row]) -> str:
    header = ("STATE", "OWED", "BY", "TO", "DUE", "MET", "LEFT", "RULE", "TRIGGER")
    lines = [header]
    for row in rows:
        flat = _flat(row)
        trigger = f"{flat['trigger_berichttype'] or ''} {flat['trigger_identificatie'] or ''}"
        lines.append(
            (
                str(row.get("state", "")),
                str(row.get("owed", "")),
                f"{row.get('by_role', '')} {row.get('by', '')}".strip(),
                f"{row.get('to_role', '')} {row.get('to', '')}".strip(),
                str(row.get("due") or ""),
                str(row.get("met") or ""),
                _left(row),
                str(row.get("rule", "")),
                trigger.strip(),
            )
        )
    return columns(lines) + f"\n{len(rows)} obligation(s)\n"
