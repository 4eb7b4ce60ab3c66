"""The note ``gateway send`` keeps of what it sent, read back by ``gateway mailbox status``."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli.sent_log import SentNote, append, recent
from gateway.errors import ConfigError

URL = "https://localhost:8443"


def note(number: int, participant: str = "aanbieder-65656055", url: str = URL) -> SentNote:
    return SentNote(participant, url, f"id-{number}", f"{number}.xml", "2020-03-02", 204, True)


def test_recent_is_this_participants_last_at_this_gateway(tmp_path: Path) -> None:
    """Only the participant's notes for the same gateway, the last N, oldest first."""
    log = tmp_path / "var" / "sent.jsonl"  # the directory is made on the first note
    append(log, [note(1), note(2, participant="gemeente-0363"), note(3)])
    append(log, [note(4, url="https://gateway:8443"), note(5)])
    assert [n.traceer_id for n in recent(log, "aanbieder-65656055", URL, 10)] == [
        "id-1",
        "id-3",
        "id-5",
    ]
    assert [n.traceer_id for n in recent(log, "aanbieder-65656055", URL, 2)] == ["id-3", "id-5"]
    assert recent(log, "aanbieder-65656055", URL, 0) == []
    assert recent(tmp_path / "none.jsonl", "aanbieder-65656055", URL, 10) == []


def test_a_damaged_log_is_named_with_its_line(tmp_path: Path) -> None:
    """A line that is not a note stops the reading, naming the file and the line."""
    log = tmp_path / "sent.jsonl"
    append(log, [note(1)])
    with log.open("a") as damaged:
        damaged.write('{"participant": "half a note"\n')
    with pytest.raises(ConfigError, match=r"sent\.jsonl line 2: not a note of `gateway send`"):
        recent(log, "aanbieder-65656055", URL, 10)
