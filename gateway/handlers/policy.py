"""Answer policies: when (and whether) a simulated participant answers a kind of message.

A policy is given per participant and message type (the message *sent*, e.g. ``WMO302``):

- ``now``: at once (the default);
- ``after:N``: N working days after the message that asks for it was received;
- ``late:N``: N working days after the answer's due day, so that it is late;
- ``never``: not at all;
- ``reject:CODE``: a retour message that rejects the message with retourcode CODE
  (``0001``: rejected as a whole for a level-2 fault).

Policies can be changed while running (the ops admin API does so for test harnesses).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from gateway.errors import ConfigError
from gateway.participants import Participant
from gateway.standard.message_types import MessageType


class Pace(enum.StrEnum):
    NOW = "now"
    AFTER = "after"
    LATE = "late"
    NEVER = "never"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class Policy:
    pace: Pace = Pace.NOW
    working_days: int = 0
    retourcode: str | None = None

    @classmethod
    def parse(cls, text: str) -> Policy:
        """Read ``now``, ``after:2``, ``late:1``, ``never`` or ``reject:8848``."""
        name, _, argument = text.strip().lower().partition(":")
        try:
            pace = Pace(name)
        except ValueError:
            raise ConfigError(
                f"answer policy {text!r}: expected now, after:N, late:N, never or reject:CODE"
            ) from None
        if pace in (Pace.AFTER, Pace.LATE):
            if not argument.isdigit():
                raise ConfigError(
                    f"answer policy {text!r}: {pace}:N needs a number of working days"
                )
            return cls(pace, int(argument))
        if pace is Pace.REJECT:
            if not re.fullmatch(r"[0-9A-Z]{4}", argument.upper()):
                raise ConfigError(
                    f"answer policy {text!r}: reject:CODE needs a 4-character retourcode"
                )
            return cls(pace, retourcode=argument.upper())
        if argument:
            raise ConfigError(f"answer policy {text!r}: {pace} takes no argument")
        return cls(pace)

    def __str__(self) -> str:
        if self.pace in (Pace.AFTER, Pace.LATE):
            return f"{self.pace}:{self.working_days}"
        if self.pace is Pace.REJECT:
            return f"{self.pace}:{self.retourcode}"
        return str(self.pace)


class Policies:
    """The policies of all simulated participants; unlisted combinations answer at once."""

    def __init__(self) -> None:
        self._table: dict[tuple[str, str], Policy] = {}

    def set(
        self, participant: Participant | None, message_type: MessageType | None, policy: Policy
    ) -> None:
        """``None`` for either means "every": the most specific entry wins."""
        key = (participant.key if participant else "*", message_type.name if message_type else "*")
        self._table[key] = policy

    def get(self, participant: Participant, message_type: MessageType) -> Policy:
        for key in (
            (participant.key, message_type.name),
            (participant.key, "*"),
            ("*", message_type.name),
            ("*", "*"),
        ):
            if key in self._table:
                return self._table[key]
        return Policy()

    def as_json(self) -> list[dict[str, str]]:
        return [
            {"participant": who, "message": what, "policy": str(policy)}
            for (who, what), policy in sorted(self._table.items())
        ]

    def clear(self) -> None:
        self._table.clear()
