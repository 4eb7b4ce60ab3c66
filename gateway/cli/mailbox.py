"""``gateway mailbox --as PARTICIPANT [list|fetch ID|confirm ID|status [ID]]``: a participant's
side of the VSP REST pull and berichtstatus interfaces, over mutual TLS.

``list`` shows the oldest messages ready for the participant, ``fetch`` downloads one payload and
checks it against its SHA-256, ``confirm`` confirms receipt (the message becomes Bezorgd and
leaves the list), ``status`` shows berichtstatus v3 of a message and its answers - without an ID,
of what ``gateway send`` sent last as this participant (``GATEWAY_SENT_LOG``).

Exit status 0 when done; 1 when the gateway said no (no such message for this participant, a
refused request) or a payload did not match its checksum; 2 when nothing could be asked (a
setting, a certificate, a gateway that does not answer).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gateway.cli import participant as acting_as
from gateway.cli import sent_log
from gateway.cli.participant import Acting
from gateway.client import GatewayClient, Incoming, SubmitRefused
from gateway.deadlines.workdays import AMSTERDAM
from gateway.errors import ChecksumMismatch, GatewayError
from gateway.text import columns
from gateway.vsp import MAX_PULL, role_of_vsp

DEFAULT_LAST = 10


def register(subcommands: argparse._SubParsersAction[Any]) -> None:
    parser = subcommands.add_parser(
        "mailbox",
        help="a participant's inbox and statuses: list, fetch, confirm, status (VSP REST pull)",
        description="Act as PARTICIPANT (its own client certificate) on a running gateway: "
        "list the messages ready for it, download one (its SHA-256 checked), confirm receipt, "
        "and show the berichtstatus of what it sent. Without an ACTION: list. Exit status 0 "
        "when done, 1 when the gateway said no or a checksum did not match, 2 when nothing "
        "could be asked.",
    )
    acting_as.add_options(parser)
    parser.add_argument(
        "--limit", type=_limit, default=MAX_PULL, metavar="N", help=argparse.SUPPRESS
    )
    # The options also after the action (``gateway mailbox list --as ...``); left out there,
    # the value given before it (or the default) stands.
    after = argparse.ArgumentParser(add_help=False)
    acting_as.add_options(after, after=True)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    listing = actions.add_parser(
        "list", parents=[after], help="the oldest messages ready for the participant"
    )
    listing.add_argument(
        "--limit",
        type=_limit,
        default=argparse.SUPPRESS,
        metavar="N",
        help=f"at most N, 1 to {MAX_PULL} (default: {MAX_PULL})",
    )
    fetch = actions.add_parser(
        "fetch", parents=[after], help="download a payload, its SHA-256 checked"
    )
    fetch.add_argument("id", metavar="ID", help="the message's traceerId")
    fetch.add_argument(
        "--out", type=Path, metavar="FILE", help="write it to FILE (default: standard output)"
    )
    confirm = actions.add_parser(
        "confirm", parents=[after], help="confirm receipt: the message becomes Bezorgd"
    )
    confirm.add_argument("id", metavar="ID", help="the message's traceerId")
    status = actions.add_parser(
        "status",
        parents=[after],
        help="berichtstatus v3 of a message and its answers",
        description="The berichtstatus of message ID and of its answers; without ID, of the "
        "last messages `gateway send` sent as this participant to this gateway (noted in "
        "GATEWAY_SENT_LOG).",
    )
    status.add_argument("id", nargs="?", metavar="ID", help="a traceerId")
    status.add_argument(
        "--last",
        type=int,
        default=DEFAULT_LAST,
        metavar="N",
        help=f"without ID: the last N sent (default: {DEFAULT_LAST})",
    )
    parser.set_defaults(func=run, action="list")


def _limit(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_PULL:
        raise argparse.ArgumentTypeError(f"expected a number from 1 to {MAX_PULL}")
    return int(text)


def run(args: argparse.Namespace) -> int:
    acting = acting_as.acting(args)
    given = acting_as.traceer_id(args.id) if getattr(args, "id", None) else None
    client = acting.client()
    return asyncio.run(_run(args, acting, client, given))


async def _run(
    args: argparse.Namespace, acting: Acting, client: GatewayClient, given: str | None
) -> int:
    async with client:
        try:
            if args.action == "fetch":
                assert given is not None
                return await _fetch(client, given, args.out, args.json)
            if args.action == "confirm":
                assert given is not None
                return await _confirm(client, given, args.json)
            if args.action == "status":
                return await _status(client, acting, given, args.last, args.json)
            return await _list(client, acting, args.limit, args.json)
        except SubmitRefused as exc:
            return _said_no(acting, given, exc, args.action)
        except ChecksumMismatch as exc:
            print(f"gateway mailbox: {exc}; nothing written", file=sys.stderr)
            return 1


def _said_no(acting: Acting, traceer_id: str | None, refusal: SubmitRefused, action: str) -> int:
    if refusal.status == 404 and traceer_id is not None:
        why = (
            "neither sent nor received by it"
            if action == "status"
            else "not addressed to it, or confirmed already"
        )
        print(
            f"gateway mailbox: no such message for {acting.participant}: {traceer_id} ({why})",
            file=sys.stderr,
        )
    else:
        problem = refusal.problem
        code = f" {problem['code']}" if problem.get("code") else ""
        detail = f": {problem['detail']}" if problem.get("detail") else ""
        print(
            f"gateway mailbox: HTTP {refusal.status}{code}: {problem.get('title', '')}{detail}",
            file=sys.stderr,
        )
    return 1


async def _list(client: GatewayClient, acting: Acting, limit: int, as_json: bool) -> int:
    messages = await client.inbox(limit)
    if as_json:
        for message in messages:
            print(json.dumps(message.metadata, ensure_ascii=False))
        return 0
    rows = [("TRACEERID", "MESSAGE", "FROM", "RECEIVED", "BYTES", "ANSWERS")]
    for message in messages:
        basis = message.metadata.get("basisgegevens", {})
        rows.append(
            (
                message.traceer_id,
                message.berichttype,
                _sender(message),
                _local(basis.get("ontvangenOp")),
                str(basis.get("payload", {}).get("grootte", "")),
                message.als_antwoord_op or "",
            )
        )
    print(columns(rows))
    print(f"{len(messages)} message(s) ready for {acting.participant}")
    return 0


async def _fetch(client: GatewayClient, traceer_id: str, out: Path | None, as_json: bool) -> int:
    # The list's checksum is the one the VSP contract gives; a message beyond the oldest 250
    # is checked against the digest its download carries.
    listed = {m.traceer_id: m for m in await client.inbox(MAX_PULL)}
    entry: Incoming | None = listed.get(traceer_id)
    body = await client.fetch(traceer_id, sha256=entry.checksum if entry else None)
    if out is not None:
        try:
            await asyncio.to_thread(out.write_bytes, body)
        except OSError as exc:
            raise GatewayError(f"--out {out}: cannot write it ({exc.strerror})") from exc
    sha256 = hashlib.sha256(body).hexdigest()
    if as_json:
        answer: dict[str, Any] = {
            "traceerId": traceer_id,
            "bytes": len(body),
            "sha256": sha256,
            "checked": True,
            "out": str(out) if out is not None else None,
        }
        if out is None:
            answer["payload"] = body.decode("utf-8", errors="replace")
        print(json.dumps(answer, ensure_ascii=False))
    elif out is not None:
        print(f"wrote {out}: {len(body)} bytes, SHA-256 {sha256} checked")
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(body)
        sys.stdout.buffer.flush()
    return 0


async def _confirm(client: GatewayClient, traceer_id: str, as_json: bool) -> int:
    await client.confirm(traceer_id)
    if as_json:
        print(json.dumps({"traceerId": traceer_id, "confirmed": True, "status": 202}))
    else:
        print(f"confirmed {traceer_id}: Bezorgd")
    return 0


async def _status(
    client: GatewayClient, acting: Acting, traceer_id: str | None, last: int, as_json: bool
) -> int:
    if traceer_id is not None:
        asked = [traceer_id]
    else:
        path = acting.settings.sent_log
        asked = [
            n.traceer_id for n in sent_log.recent(path, acting.participant.key, acting.url, last)
        ]
        if not asked:
            print(
                f"gateway mailbox: {path} notes nothing sent by {acting.participant} to "
                f"{acting.url} with `gateway send`; give an ID",
                file=sys.stderr,
            )
            return 0
    seen: set[str] = set()
    entries: list[Mapping[str, Any]] = []
    unknown: list[str] = []
    for asked_id in asked:
        found = await client.statuses(traceer_id=asked_id)
        if not found:
            unknown.append(asked_id)
        for entry in found:
            key = entry.get("referentiegegevens", {}).get("traceerId", "")
            if key not in seen:
                seen.add(key)
                entries.append(entry)
    if traceer_id is not None and unknown:
        return _said_no(acting, traceer_id, SubmitRefused(404, {"title": "Not Found"}), "status")
    if as_json:
        for shown in entries:
            print(json.dumps(shown, ensure_ascii=False))
        return 0
    print(_status_table(entries))
    for missing in unknown:
        print(f"{missing}: not known to the gateway at {acting.url}")
    return 0


def _status_table(entries: Sequence[Mapping[str, Any]]) -> str:
    rows = [("TRACEERID", "MESSAGE", "STATUS", "SINCE", "ANSWERS")]
    notes: dict[int, list[str]] = {}
    for entry in entries:
        refs = entry.get("referentiegegevens", {})
        rows.append(
            (
                str(refs.get("traceerId", "")),
                str(entry.get("berichtstroom", {}).get("berichttype", "")),
                str(entry.get("berichtstatus", "")),
                _local(entry.get("berichtstatusGewijzigdOp")),
                str(refs.get("alsAntwoordOp", "")),
            )
        )
        notes[len(rows) - 1] = [
            f"  {m.get('code', '')} {m.get('omschrijving', '')}"
            + (f": {m['toelichting']}" if m.get("toelichting") else "")
            for m in entry.get("meldingen", [])
        ]
    lines = columns(rows).splitlines()
    out: list[str] = []
    for number, line in enumerate(lines):
        out.append(line)
        out.extend(notes.get(number, []))
    return "\n".join(out)


def _sender(message: Incoming) -> str:
    afzender = message.metadata.get("routeringgegevens", {}).get("afzender", {})
    role = role_of_vsp(str(afzender.get("rol", "")))
    return f"{role}-{message.sender}" if role is not None else message.sender


def _local(moment: object) -> str:
    """An ISO moment of the gateway's, as Amsterdam time (as given if it is not one)."""
    if not isinstance(moment, str):
        return ""
    try:
        parsed = dt.datetime.fromisoformat(moment)
    except ValueError:
        return moment
    if parsed.tzinfo is None:
        return moment
    return parsed.astimezone(AMSTERDAM).isoformat(timespec="seconds")
