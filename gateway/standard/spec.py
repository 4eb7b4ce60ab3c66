"""How the typed model states the standard's structure, so that one text gives model and schema.

Each field of a model dataclass carries a :class:`Spec` in its metadata: the simple type (LDT_...)
of a leaf, the XML name when it does not follow from the field name (``toewijzing_nummer`` ->
``ToewijzingNummer``), the item name of a repeated element under its wrapper (``Relaties`` /
``Relatie``), and in which messages the element exists (iJw only; retour messages only). The
schema generator (:mod:`gateway.standard.xsdgen`) and the codec (:mod:`gateway.standard.codec`)
both walk these specs; nothing else describes the structure.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from gateway.standard.message_types import MessageType, Standard


class Kind(enum.Enum):
    """The three shapes a message takes."""

    HEEN = "heen"  # 301, 305, 307, 315, 317, 319, 323
    RETOUR = "retour"  # 302, 306, 308, 316, 318, 320: the original plus RetourCodes (IV028)
    ANTWOORD = "antwoord"  # 325: a header of its own and a DeclaratieAntwoord

    @classmethod
    def of(cls, message_type: MessageType) -> Kind:
        if not message_type.is_retour:
            return cls.HEEN
        return cls.RETOUR if message_type.copies_header else cls.ANTWOORD


class Party(enum.Enum):
    """Afzender and Ontvanger: their type (LDT_Gemeente or LDT_AgbCode) depends on the message."""

    AFZENDER = "afzender"
    ONTVANGER = "ontvanger"


ALL_KINDS = frozenset(Kind)
RETOUR_KINDS = frozenset({Kind.RETOUR, Kind.ANTWOORD})
ALL_STANDARDS = frozenset(Standard)


@dataclass(frozen=True, slots=True)
class Spec:
    """What one dataclass field is in XML."""

    simple: str | None  # the LDT_ type of a leaf; None when the field holds a model class
    xml: str | None  # the element name, when it does not follow from the field name
    item: str | None  # for a tuple: the repeated element's name; the field names its wrapper
    kinds: frozenset[Kind]  # the message shapes that carry the element
    standards: frozenset[Standard]
    required: frozenset[Kind]  # the shapes in which it must be present
    pattern: str | None = None  # an extra restriction of the simple type, in this place only
    party: Party | None = None


@dataclass(frozen=True, slots=True)
class Field:
    """A field of a model class, resolved: its spec, XML name and Python type."""

    name: str
    xml: str
    spec: Spec
    repeated: bool
    cls: type | None  # the model class of a composite field

    def present_in(self, kind: Kind, standard: Standard) -> bool:
        return kind in self.spec.kinds and standard in self.spec.standards

    def required_in(self, kind: Kind) -> bool:
        return kind in self.spec.required


def _spec(
    simple: str | None,
    xml: str | None,
    item: str | None,
    only: frozenset[Kind] | None,
    standards: frozenset[Standard] | None,
    optional: bool | frozenset[Kind],
    pattern: str | None,
    party: Party | None,
) -> dict[str, Spec]:
    kinds = only if only is not None else ALL_KINDS
    if isinstance(optional, bool):
        optional = kinds if optional else frozenset()
    return {
        "spec": Spec(
            simple=simple,
            xml=xml,
            item=item,
            kinds=kinds,
            standards=standards if standards is not None else ALL_STANDARDS,
            required=kinds - optional,
            pattern=pattern,
            party=party,
        )
    }


def el(
    simple: str | None = None,
    *,
    xml: str | None = None,
    pattern: str | None = None,
    party: Party | None = None,
    default: Any = dataclasses.MISSING,
) -> Any:
    """A required element (minOccurs 1, maxOccurs 1)."""
    meta = _spec(simple, xml, None, None, None, False, pattern, party)
    return dataclasses.field(default=default, metadata=meta)


def opt(
    simple: str | None = None,
    *,
    xml: str | None = None,
    only: frozenset[Kind] | None = None,
    standards: frozenset[Standard] | None = None,
    required: bool = False,
) -> Any:
    """An optional element, or one that exists only in some messages (``required`` there)."""
    meta = _spec(simple, xml, None, only, standards, not required, None, None)
    return dataclasses.field(default=None, metadata=meta)


def many(
    simple: str | None = None,
    *,
    item: str,
    optional: bool | frozenset[Kind] = False,
    only: frozenset[Kind] | None = None,
) -> Any:
    """A wrapper element (the field's name) holding 1..n ``item`` elements.

    ``optional`` is True, or the message shapes in which the wrapper may be left out. An optional
    wrapper, or one that exists only in some messages, defaults to an empty tuple.
    """
    meta = _spec(simple, None, item, only, None, optional, None, None)
    if optional or only is not None:
        return dataclasses.field(default=(), metadata=meta)
    return dataclasses.field(metadata=meta)


def retour_codes() -> Any:
    """``RetourCodes`` (1..n ``RetourCode``) closing a berichtklasse in retour messages."""
    return many("LDT_RetourCode", item="RetourCode", only=RETOUR_KINDS)


_C = TypeVar("_C", bound=type)
BASIS_TYPES: dict[type, str] = {}


def basis(name: str) -> Callable[[_C], _C]:
    """Mark a model class as a complex type of the basisschema (CDT_...), in its namespace."""

    def mark(cls: _C) -> _C:
        BASIS_TYPES[cls] = name
        return cls

    return mark


def xml_name(field_name: str) -> str:
    """``toewijzing_nummer`` -> ``ToewijzingNummer``; ``telefoon01`` -> ``Telefoon01``."""
    return "".join(part[:1].upper() + part[1:] for part in field_name.split("_"))


@functools.cache
def fields_of(cls: type) -> tuple[Field, ...]:
    """The resolved fields of a model class, in document order."""
    hints = typing.get_type_hints(cls)
    resolved = []
    for f in dataclasses.fields(cls):
        spec = f.metadata.get("spec")
        if not isinstance(spec, Spec):
            raise TypeError(f"{cls.__name__}.{f.name} has no Spec in its metadata")
        hint = hints[f.name]
        repeated = typing.get_origin(hint) is tuple
        target = typing.get_args(hint)[0] if repeated else hint
        if typing.get_origin(target) in (typing.Union, types.UnionType):
            target = next(a for a in typing.get_args(target) if a is not type(None))
        composite = dataclasses.is_dataclass(target)
        if composite == (spec.simple is not None or spec.party is not None):
            raise TypeError(f"{cls.__name__}.{f.name}: give a simple type or a model class")
        resolved.append(
            Field(
                name=f.name,
                xml=spec.xml or xml_name(f.name),
                spec=spec,
                repeated=repeated,
                cls=target if composite else None,
            )
        )
    return tuple(resolved)
