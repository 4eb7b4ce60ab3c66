"""What a simulated participant receives and what it sends, and how its messages are numbered."""

from __future__ import annotations

import datetime as dt
import itertools
import secrets
from dataclasses import dataclass, field

from gateway.participants import Participant
from gateway.standard.message_types import MessageType


@dataclass(frozen=True, slots=True)
class Received:
    """A message delivered to a simulated participant."""

    message_type: MessageType
    payload: bytes = field(repr=False)
    traceer_id: str
    conversatie_id: str
    sender: Participant
    received: dt.datetime


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message a simulated participant will send, once its policy says so."""

    message_type: MessageType
    payload: bytes = field(repr=False)
    recipient: Participant
    conversatie_id: str
    als_antwoord_op: str | None
    trigger: MessageType | None = None
    """The message whose receipt obliges this one (for "late" policies), if any."""
    not_before: dt.date | None = None
    """For the provider's autopilot: the day the message is due to go (a start, a stop)."""
    key: str | None = None
    """Names a planned message, so that its sender can call it off before its day."""


class Identificaties:
    """Identificatie values for one sender: unique per message type (TR056), at most 12 long."""

    def __init__(self, prefix: str | None = None) -> None:
        self._prefix = prefix or secrets.token_hex(2).upper()
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):08d}"
