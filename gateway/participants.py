"""Who takes part in the chain: municipalities (gemeenten) and providers (aanbieders).

A participant is identified by its role and its code: a 4-digit CBS code for a municipality, an
8-digit AGB code for a provider. The registry of participants is configuration; anybody not in it
is refused at the door.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from gateway.errors import ConfigError


class Role(enum.StrEnum):
    GEMEENTE = "gemeente"
    AANBIEDER = "aanbieder"

    @property
    def code_pattern(self) -> re.Pattern[str]:
        return _CODE_PATTERNS[self]


_CODE_PATTERNS = {
    Role.GEMEENTE: re.compile(r"[0-9]{4}"),
    Role.AANBIEDER: re.compile(r"[0-9]{8}"),
}


@dataclass(frozen=True, slots=True, order=True)
class Participant:
    """One party of the chain, as (role, code); ``name`` is for people only."""

    role: Role
    code: str
    name: str = ""

    def __post_init__(self) -> None:
        if not self.role.code_pattern.fullmatch(self.code):
            expected = "4 digits" if self.role is Role.GEMEENTE else "8 digits"
            raise ConfigError(
                f"participant code {self.code!r} for role {self.role}: expected {expected}"
            )

    @property
    def key(self) -> str:
        """``<role>-<code>``: the name of its certificate files."""
        return f"{self.role}-{self.code}"

    @property
    def queue(self) -> str:
        return f"inbox.{self.role}.{self.code}"

    @property
    def routing_prefix(self) -> str:
        return f"{self.role}.{self.code}"

    def __str__(self) -> str:
        return self.key

    @classmethod
    def parse(cls, text: str) -> Participant:
        """Read ``gemeente-0637`` or ``aanbieder:12345678``."""
        role, sep, code = text.replace(":", "-").partition("-")
        if not sep:
            raise ConfigError(f"participant {text!r}: expected <role>-<code>, like gemeente-0637")
        try:
            return cls(Role(role), code)
        except ValueError:
            raise ConfigError(
                f"participant {text!r}: role must be 'gemeente' or 'aanbieder'"
            ) from None
