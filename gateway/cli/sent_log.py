"""What ``gateway send`` sent, noted so that ``gateway mailbox status`` can follow it up.

Berichtstatus v3 answers for one traceerId or one conversation, never "everything I sent", so
the command line keeps its own note: one JSON object a line in ``GATEWAY_SENT_LOG`` (default
``var/sent.jsonl``), appended for every file the gateway answered, accepted or refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from gateway.errors import ConfigError


@dataclass(frozen=True, slots=True)
class SentNote:
    """One submission: who sent which file to which gateway, and what became of it."""

    participant: str
    url: str
    traceer_id: str
    file: str
    at: str
    status: int
    accepted: bool


def append(path: Path, notes: Iterable[SentNote]) -> None:
    """Add the notes at the end of the log; an OSError names the file."""
    lines = "".join(json.dumps(asdict(note), ensure_ascii=False) + "\n" for note in notes)
    if not lines:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as log:
            log.write(lines)
    except OSError as exc:
        raise ConfigError(f"GATEWAY_SENT_LOG {path}: cannot write it ({exc.strerror})") from exc


def recent(path: Path, participant: str, url: str, count: int) -> list[SentNote]:
    """The last ``count`` notes of ``participant`` sending to ``url``, oldest first."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"GATEWAY_SENT_LOG {path}: cannot read it ({exc})") from exc
    found: list[SentNote] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            note = SentNote(**json.loads(line))
        except (ValueError, TypeError):
            raise ConfigError(
                f"GATEWAY_SENT_LOG {path} line {number}: not a note of `gateway send`"
            ) from None
        if note.participant == participant and note.url == url:
            found.append(note)
    return found[-count:] if count > 0 else []
