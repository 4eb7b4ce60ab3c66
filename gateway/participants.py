"""Who takes part in the chain: municipalities (gemeenten) and providers (aanbieders).

A participant is identified by its role and its code: a 4-digit CBS code for a municipality, an
8-digit AGB code for a provider. The registry of participants is configuration (a TOML file, see
``gateway/data/participants.toml`` for the packaged default); anybody not in it is refused at the
door.
"""

from __future__ import annotations

import enum
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType

from gateway.errors import ConfigError


class Role(enum.StrEnum):
    GEMEENTE = "gemeente"
    AANBIEDER = "aanbieder"

    @property
    def code_pattern(self) -> re.Pattern[str]:
        return _CODE_PATTERNS[self]

    @property
    def other(self) -> Role:
        """The role on the other side of the chain."""
        return Role.AANBIEDER if self is Role.GEMEENTE else Role.GEMEENTE


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


DEFAULT_REGISTRY_NAME = "<packaged gateway/data/participants.toml>"

# A registry file has one array of tables per role, ``[[gemeente]]`` and ``[[aanbieder]]``,
# each entry holding these keys.
_ENTRY_KEYS = frozenset({"code", "name"})


@dataclass(frozen=True, slots=True)
class Registry:
    """The participants the gateway knows, looked up by (role, code).

    ``source`` says where it was read from, so that errors and logs can name the file.
    """

    entries: Mapping[tuple[Role, str], Participant]
    source: str = "<memory>"

    @classmethod
    def of(cls, participants: Iterable[Participant], source: str = "<memory>") -> Registry:
        entries: dict[tuple[Role, str], Participant] = {}
        for participant in participants:
            if (participant.role, participant.code) in entries:
                raise ConfigError(f"{source}: participant {participant.key} is listed twice")
            entries[participant.role, participant.code] = participant
        return cls(MappingProxyType(entries), source)

    @classmethod
    def load(cls, path: Path | None = None) -> Registry:
        """Read a registry file (TOML); ``None`` reads the packaged default."""
        if path is None:
            resource = resources.files("gateway") / "data" / "participants.toml"
            return cls.parse(resource.read_text(encoding="utf-8"), source=DEFAULT_REGISTRY_NAME)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"participant registry {path}: cannot read it ({exc})") from exc
        return cls.parse(text, source=str(path))

    @classmethod
    def parse(cls, text: str, source: str = "<memory>") -> Registry:
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: not valid TOML ({exc})") from exc
        participants: list[Participant] = []
        for section, entries in document.items():
            try:
                role = Role(section)
            except ValueError:
                raise ConfigError(
                    f"{source}: unknown section [{section}]; expected [[gemeente]] or [[aanbieder]]"
                ) from None
            if not isinstance(entries, list):
                raise ConfigError(f"{source}: [{section}] must be a list of [[{section}]] entries")
            for number, entry in enumerate(entries, start=1):
                participants.append(_read_entry(role, entry, f"{source}: {section} entry {number}"))
        return cls.of(participants, source)

    def get(self, role: Role, code: str) -> Participant | None:
        return self.entries.get((role, code))

    def __contains__(self, participant: object) -> bool:
        return (
            isinstance(participant, Participant)
            and (participant.role, participant.code) in self.entries
        )

    def __iter__(self) -> Iterator[Participant]:
        return iter(sorted(self.entries.values()))

    def __len__(self) -> int:
        return len(self.entries)

    def municipalities(self) -> tuple[Participant, ...]:
        return tuple(p for p in self if p.role is Role.GEMEENTE)

    def providers(self) -> tuple[Participant, ...]:
        return tuple(p for p in self if p.role is Role.AANBIEDER)


def _read_entry(role: Role, entry: object, where: str) -> Participant:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a table with 'code' and 'name'")
    unknown = sorted(set(entry) - _ENTRY_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; expected 'code' and 'name'")
    code, name = entry.get("code"), entry.get("name", "")
    if not isinstance(code, str):
        raise ConfigError(f"{where}: 'code' must be a quoted string, like code = \"0637\"")
    if not isinstance(name, str):
        raise ConfigError(f"{where} ({code}): 'name' must be a string")
    try:
        return Participant(role, code, name)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
