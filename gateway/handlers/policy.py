"""Answer policies: when (and whether) a simulated participant answers a kind of message.

A policy is given per participant and message type (the message *sent*, e.g. ``WMO302``):

- ``now``: at once (the default);
- ``after:N``: N working days after the message that asks for it was received;
- ``late:N``: N working days after the answer's due day, so that it is late;
- ``never``: not at all;
- ``reject:CODE``: a retour message that rejects the message with retourcode CODE
  (``0001``: rejected as a whole for a level-2 fault).

Policies can be changed while running: the gateway in simulation mode keeps the table and
serves it on its ops port (``gateway.handlers.policy_api``); handlers in the gateway's process
read it there, ``gateway handlers`` in another process follows it. ``GATEWAY_POLICIES`` fills it
at start: entries ``WHO/MESSAGE=POLICY`` separated by commas, ``*`` for every participant or
message, e.g. ``aanbieder-12345678/WMO302=late:1, */WMO325=after:2``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.errors import ConfigError
from gateway.participants import Participant
from gateway.standard.message_types import MessageType

POLICIES_ENV = "GATEWAY_POLICIES"
EVERY = "*"


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
            if not (argument.isascii() and argument.isdigit()):  # "²" is a digit to isdigit()
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


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of the table: ``who`` (a participant key or ``*``), ``message`` (or ``*``)."""

    who: str
    message: str
    policy: Policy

    @classmethod
    def parse(cls, who: str, message: str, policy: str) -> Entry:
        """Check and normalise the three parts; ConfigError names the bad one."""
        who = who.strip()
        if who != EVERY:
            who = Participant.parse(who).key
        message = message.strip().upper()
        if message != EVERY:
            try:
                message = MessageType.parse(message).name
            except (KeyError, ValueError):
                raise ConfigError(
                    f"answer policy for message {message!r}: expected a message type like "
                    "WMO302, or *"
                ) from None
        return cls(who, message, Policy.parse(policy))

    def as_json(self) -> dict[str, str]:
        return {"participant": self.who, "message": self.message, "policy": str(self.policy)}


def parse_table(text: str, name: str = POLICIES_ENV) -> list[Entry]:
    """Read ``WHO/MESSAGE=POLICY, ...`` (commas, semicolons or new lines between entries)."""
    entries = []
    for item in re.split(r"[,;\n]", text):
        if not item.strip():
            continue
        target, sep, policy = item.partition("=")
        who, slash, message = target.partition("/")
        if not sep or not slash:
            raise ConfigError(
                f"{name}: entry {item.strip()!r}: expected WHO/MESSAGE=POLICY, "
                "like aanbieder-12345678/WMO302=late:1"
            )
        try:
            entries.append(Entry.parse(who, message, policy))
        except ConfigError as exc:
            raise ConfigError(f"{name}: {exc}") from None
    return entries


class Policies:
    """The policies of all simulated participants; unlisted combinations answer at once."""

    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        self._table: dict[tuple[str, str], Policy] = {}
        self.replace(entries)

    def set(
        self, participant: Participant | None, message_type: MessageType | None, policy: Policy
    ) -> None:
        """``None`` for either means "every": the most specific entry wins."""
        key = (
            participant.key if participant else EVERY,
            message_type.name if message_type else EVERY,
        )
        self._table[key] = policy

    def put(self, entry: Entry) -> None:
        self._table[(entry.who, entry.message)] = entry.policy

    def remove(self, who: str, message: str) -> bool:
        """Drop one entry; False when there was none."""
        return self._table.pop((who, message), None) is not None

    def replace(self, entries: Iterable[Entry]) -> None:
        """The whole table at once (a harness resetting, a follower catching up)."""
        self._table = {(e.who, e.message): e.policy for e in entries}

    def entries(self) -> list[Entry]:
        return [Entry(who, what, policy) for (who, what), policy in sorted(self._table.items())]

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
        return [entry.as_json() for entry in self.entries()]

    def clear(self) -> None:
        self._table.clear()
