"""``gateway send FILE... --as PARTICIPANT``: submit messages as a participant's software does.

Each file goes through the VSP REST push (multipart ``berichtMetadata`` + ``payload``, the
metadata read from the message's own namespace and Header), or with ``--raw`` as the bare XML
(``POST /v1/messages``), over mutual TLS with the participant's own certificate. For each file
it prints the traceerId and the gateway's answer; a refusal with its problem+json title, detail,
VSP code and every error. Exit status 0 only when every file was accepted; 1 when one was not;
2 when nothing could be sent (a setting, a certificate, a gateway that does not answer).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.cli import participant as acting_as
from gateway.cli import sent_log
from gateway.client import GatewayClient, SubmitRefused, addressing
from gateway.errors import GatewayError, GatewayUnreachable, MessageError


def register(subcommands: argparse._SubParsersAction[Any]) -> None:
    parser = subcommands.add_parser(
        "send",
        help="submit message files to the gateway as a participant (VSP REST push or raw)",
        description="Submit iWmo/iJw message files to a running gateway over mutual TLS, with "
        "the client certificate of PARTICIPANT: through the VSP REST push (metadata read from "
        "the message: berichttype from its namespace, geadresseerde from its Header), or with "
        "--raw as POST /v1/messages. Prints each file's traceerId and the gateway's answer. "
        "Exit status 0 only when every file was accepted, 1 when one was refused, 2 when "
        "nothing could be sent.",
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    acting_as.add_options(parser)
    parser.add_argument(
        "--raw",
        action="store_true",
        help="POST /v1/messages with the bare XML instead of the VSP REST push",
    )
    parser.set_defaults(func=run)


@dataclass
class Outcome:
    """What became of one file."""

    file: str
    traceer_id: str | None = None
    status: int | None = None  # the HTTP status of the gateway's answer
    accepted: bool = False
    berichttype: str | None = None
    ontvanger: str | None = None
    berichtstatus: str | None = None  # where an accepted message is now
    repeat: bool = False  # the same message as one accepted before, which the gateway keeps
    receipt: Mapping[str, Any] = field(default_factory=dict)  # --raw: the Ontvangstbewijs
    problem: Mapping[str, Any] | None = None  # the problem+json of a refusal
    error: str | None = None  # why the file was not sent at all

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "traceerId": self.traceer_id,
            "accepted": self.accepted,
            "status": self.status,
            "berichttype": self.berichttype,
            "ontvanger": self.ontvanger,
            "berichtstatus": self.berichtstatus,
            "repeat": self.repeat,
            "receipt": dict(self.receipt) or None,
            "problem": dict(self.problem) if self.problem is not None else None,
            "error": self.error,
        }


def run(args: argparse.Namespace) -> int:
    acting = acting_as.acting(args)
    client = acting.client()
    outcomes = asyncio.run(_send_all(client, args.files, raw=args.raw, as_json=args.json))
    notes = [
        sent_log.SentNote(
            participant=acting.participant.key,
            url=acting.url,
            traceer_id=o.traceer_id,
            file=o.file,
            at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            status=o.status,
            accepted=o.accepted,
        )
        for o in outcomes
        if o.traceer_id is not None and o.status is not None and not (o.repeat and not o.receipt)
    ]
    try:
        sent_log.append(acting.settings.sent_log, notes)
    except GatewayError as exc:
        # What was sent stays sent; only `gateway mailbox status` without an ID misses it.
        print(f"gateway send: warning: {exc}", file=sys.stderr)
    if len(outcomes) > 1 and not args.json:
        accepted = sum(o.accepted for o in outcomes)
        print(f"{accepted} of {len(outcomes)} files accepted")
    return 0 if all(o.accepted for o in outcomes) else 1


async def _send_all(
    client: GatewayClient, files: Sequence[Path], *, raw: bool, as_json: bool
) -> list[Outcome]:
    outcomes: list[Outcome] = []
    async with client:
        for path in files:
            outcome = await send_file(client, path, raw=raw)
            outcomes.append(outcome)
            # Each file's answer as it comes: a gateway that stops answering ends the run
            # (GatewayUnreachable), and what was sent before has been told.
            if as_json:
                print(json.dumps(outcome.to_json(), ensure_ascii=False), flush=True)
            else:
                print(describe(outcome), flush=True)
    return outcomes


async def send_file(client: GatewayClient, path: Path, *, raw: bool) -> Outcome:
    """Submit one file; a refusal is an outcome, a gateway out of reach an exception."""
    outcome = Outcome(file=str(path))
    try:
        payload = await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        outcome.error = f"cannot read it: {exc.strerror or exc}"
        return outcome
    traceer_id = str(uuid.uuid4())
    try:
        to = addressing(payload)
    except MessageError as exc:
        if not raw:
            outcome.error = (
                f"no push metadata to be read from it: {exc} "
                "(--raw sends the file as it is, for the gateway to judge)"
            )
            return outcome
        to = None  # the gateway will say what is wrong with it
    if to is not None:
        outcome.berichttype, outcome.ontvanger = to.message_type.name, to.recipient.key
    try:
        if to is None or raw:
            sent = await client.post(payload, traceer_id=traceer_id)
            outcome.receipt = sent.receipt
            outcome.berichttype = sent.receipt.get("berichttype", outcome.berichttype)
            outcome.ontvanger = sent.receipt.get("ontvanger", outcome.ontvanger)
            outcome.berichtstatus = sent.receipt.get("berichtstatus")
            outcome.repeat = bool(sent.receipt.get("herhaald"))
        else:
            sent = await client.push(payload, to.message_type, to.recipient, traceer_id=traceer_id)
    except SubmitRefused as exc:
        outcome.traceer_id, outcome.status, outcome.problem = traceer_id, exc.status, exc.problem
        return outcome
    outcome.traceer_id, outcome.status, outcome.accepted = sent.traceer_id, sent.status, True
    if not outcome.receipt:
        await _follow_push(client, outcome)
    return outcome


async def _follow_push(client: GatewayClient, outcome: Outcome) -> None:
    """A push answers 204 without a body: ask the berichtstatus of what was pushed. None under
    its traceerId means the gateway took it for a message it accepted before (same sender,
    type, Identificatie and content) and keeps that one, under the first traceerId."""
    assert outcome.traceer_id is not None
    try:
        found = await client.statuses(traceer_id=outcome.traceer_id)
    except (SubmitRefused, GatewayUnreachable):
        return  # accepted all the same; the status is only shown when it can be had
    own = [
        e for e in found if e.get("referentiegegevens", {}).get("traceerId") == outcome.traceer_id
    ]
    if own:
        outcome.berichtstatus = own[0].get("berichtstatus")
    else:
        outcome.repeat = True


def describe(outcome: Outcome) -> str:
    """The text form: one line, and a refusal's errors indented below it."""
    if outcome.error is not None:
        return f"{outcome.file}: not sent: {outcome.error}"
    what = f", {outcome.berichttype} to {outcome.ontvanger}" if outcome.berichttype else ""
    if outcome.accepted and outcome.repeat and not outcome.receipt:
        return (
            f"{outcome.file}: accepted (HTTP {outcome.status}) as a repeat of a message accepted "
            f"before{what}: the gateway keeps that one's traceerId, not {outcome.traceer_id} "
            "(--raw names it)"
        )
    if outcome.accepted:
        status = f", {outcome.berichtstatus}" if outcome.berichtstatus else ""
        repeat = ", a repeat of one accepted before" if outcome.repeat else ""
        return (
            f"{outcome.file}: accepted (HTTP {outcome.status}): traceerId {outcome.traceer_id}"
            f"{what}{status}{repeat}"
        )
    problem = outcome.problem or {}
    code = f" {problem['code']}" if problem.get("code") else ""
    title = problem.get("title") or "refused"
    detail = f": {problem['detail']}" if problem.get("detail") else ""
    lines = [
        f"{outcome.file}: refused (HTTP {outcome.status}{code}): traceerId "
        f"{outcome.traceer_id}{what}",
        f"  {title}{detail}",
    ]
    errors = problem.get("errors")
    if isinstance(errors, Mapping):
        for member, problems in errors.items():
            for text in problems if isinstance(problems, list) else [problems]:
                lines.append(f"  {member}: {text}")
    return "\n".join(lines)
