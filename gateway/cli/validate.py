"""``gateway validate FILE...``: check messages offline, as the gateway and a receiver would.

For each file: which standard, release and message it is, the schema verdict (level 1) with
every error, and - for a schema-valid iWmo/iJw 3.2 message - the level-2 remarks with the
retourcodes the receiver would put in its retour message. ``--release DIR`` validates against an
official release set instead of our schemas (level 2 then only runs for 3.2 messages).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.clock import clock_from_env
from gateway.errors import MessageError, NotWellFormedError, SchemaIssue
from gateway.standard import rules
from gateway.standard.catalog import Catalog, default_catalog, load_release
from gateway.standard.codelists import retourcode_meaning
from gateway.standard.message_types import MessageType
from gateway.standard.retour import returned_codes
from gateway.standard.xmlsafe import parse_xml

_BY_ID = {m.id: m for m in MessageType}


def register(subcommands: Any) -> None:
    parser: argparse.ArgumentParser = subcommands.add_parser(
        "validate",
        help="validate message files (XSD and level-2 rules), offline",
        description="Validate iWmo/iJw message files: the schema (level 1) and, for 3.2 "
        "messages, the level-2 rules with the retourcodes a receiver would return. Exit status "
        "0 only when every file is schema-valid (with --strict: and has no level-2 remark).",
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.add_argument("--json", action="store_true", help="one JSON object per file per line")
    parser.add_argument("--strict", action="store_true", help="fail on level-2 remarks too")
    parser.add_argument(
        "--release",
        type=Path,
        action="append",
        metavar="DIR",
        help="validate against the official XSDs in DIR (repeatable) instead of our schemas",
    )
    parser.add_argument(
        "--today",
        type=datetime.date.fromisoformat,
        default=None,
        help=(
            "the date the level-2 rules take as today (default: the gateway clock's "
            "Europe/Amsterdam date; GATEWAY_CLOCK=virtual@MOMENT sets it)"
        ),
    )
    parser.set_defaults(func=run)


@dataclass
class Verdict:
    """What ``validate`` found in one file."""

    file: str
    standard: str | None = None
    release: str | None = None
    message: str | None = None
    valid: bool = False
    errors: list[SchemaIssue] = field(default_factory=list)
    problem: str | None = None  # could not be read or identified at all
    message_type: MessageType | None = None  # when it is one of the 28
    remarks: list[rules.Remark] = field(default_factory=list)

    @property
    def retourcodes(self) -> list[str]:
        """What the receiver's retour message (or 325) would carry for the remarks."""
        return returned_codes(self.remarks)

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "standard": self.standard,
            "release": self.release,
            "message": self.message,
            "valid": self.valid,
            "errors": [
                {"line": e.line, "element": e.element, "reason": e.reason} for e in self.errors
            ],
            "problem": self.problem,
            "remarks": [
                {
                    "rule": r.rule,
                    "level": int(r.controleniveau),
                    "retourcode": r.retourcode,
                    "element": r.element,
                    "berichtklasse": str(r.berichtklasse),
                    "message": r.message,
                }
                for r in self.remarks
            ],
            "retourcodes": self.retourcodes,
        }


def check_file(path: Path, shown: str, catalog: Catalog, today: datetime.date) -> Verdict:
    """Validate one file: level 1 always, level 2 when it is a schema-valid 3.2 message."""
    verdict = Verdict(file=shown)
    try:
        data = path.read_bytes()
    except OSError as exc:
        verdict.problem = f"cannot read: {exc.strerror or exc}"
        return verdict
    try:
        doc = parse_xml(data)
        message_id = catalog.identify_id(doc)
    except NotWellFormedError as exc:
        verdict.problem = str(exc)
        verdict.errors = [SchemaIssue(exc.line or 0, "(document)", str(exc))]
        return verdict
    except MessageError as exc:
        verdict.problem = str(exc)
        return verdict
    verdict.standard, verdict.release, verdict.message = (
        message_id.standard,
        message_id.release,
        message_id.name,
    )
    verdict.errors = catalog.issues(doc, message_id)
    verdict.valid = not verdict.errors
    message_type = verdict.message_type = _BY_ID.get(message_id)
    if verdict.valid and message_type is not None:
        verdict.remarks = rules.check(doc, message_type, rules.CheckContext(today=today))
    return verdict


def _print_text(verdict: Verdict, out: Any) -> None:
    if verdict.problem is not None and verdict.message is None:
        print(f"{verdict.file}: {verdict.problem}", file=out)
        return
    what = f"{verdict.standard} {verdict.release} {verdict.message}"
    if verdict.valid:
        print(f"{verdict.file}: {what}: schema valid", file=out)
    else:
        count = len(verdict.errors)
        errors = "1 error" if count == 1 else f"{count} errors"
        print(f"{verdict.file}: {what}: NOT schema valid ({errors})", file=out)
        for issue in verdict.errors:
            print(f"  line {issue.line}: {issue.element}: {issue.reason}", file=out)
    for remark in verdict.remarks:
        print(
            f"  level {int(remark.controleniveau)}: {remark.rule} retourcode {remark.retourcode}"
            f" at {remark.element}:"
            f" {remark.message}",
            file=out,
        )
    if verdict.remarks and verdict.message_type is not None:
        standard = verdict.message_type.standard
        meanings = ", ".join(
            f"{code} ({retourcode_meaning(standard, code) or 'unknown code'})"
            for code in verdict.retourcodes
        )
        print(f"  retourcodes: {meanings}", file=out)


def run(args: argparse.Namespace) -> int:
    catalog = load_release(*args.release) if args.release else default_catalog()
    # The one clock (GATEWAY_CLOCK; the real one when unset), read as an Amsterdam date.
    today = args.today or clock_from_env(os.environ).today()
    verdicts = [check_file(path, str(path), catalog, today) for path in args.files]
    for verdict in verdicts:
        if args.json:
            print(json.dumps(verdict.to_json(), ensure_ascii=False), file=sys.stdout)
        else:
            _print_text(verdict, sys.stdout)
    return exit_status(verdicts, strict=args.strict)


def exit_status(verdicts: Sequence[Verdict], *, strict: bool) -> int:
    """0 when every file is schema-valid (and, if strict, has no level-2 remark); else 1."""
    failed = any(not v.valid or (strict and v.remarks) for v in verdicts)
    return 1 if failed else 0
