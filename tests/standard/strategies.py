"""Hypothesis strategies for whole messages of any of the 28 types, read off the model's specs."""

from __future__ import annotations

import string
from typing import Any, Literal

from hypothesis import strategies as st

from gateway.participants import Role
from gateway.standard.codelists import codes
from gateway.standard.message_types import MessageType, Standard
from gateway.standard.model import Header, Message, body_spec
from gateway.standard.simple_types import SIMPLE_TYPES, Base
from gateway.standard.spec import Field, Kind, Party, fields_of

_UNASSIGNED: tuple[Literal["Cn"]] = ("Cn",)

XSD_SPACE = " \t\n\r"
# Characters an XML document can carry as they are (no controls, no surrogates, no U+FFFE).
_XML_CHARACTERS = st.characters(
    codec="utf-8", exclude_categories=("Cs", "Cc", "Co", "Cn"), exclude_characters="\u2028\u2029"
)


def _digits(low: int, high: int) -> st.SearchStrategy[str]:
    return st.text(string.digits, min_size=low, max_size=high)


def _text(low: int, high: int | None, *, non_blank: bool) -> st.SearchStrategy[str]:
    text = st.text(_XML_CHARACTERS, min_size=low, max_size=min(high or 20, 20))
    if non_blank:
        return text.filter(lambda s: any(c not in XSD_SPACE for c in s))
    return text


_PATTERNED: dict[str, st.SearchStrategy[Any]] = {
    "LDT_AgbCode": _digits(8, 8),
    "LDT_BurgerServicenummer": _digits(9, 9),
    "LDT_Gemeente": _digits(4, 4),
    "LDT_Telefoonnummer": _digits(1, 15),
    "LDT_Versie": st.builds("{}.{}.{}".format, *(st.integers(0, 999) for _ in range(3))),
    "LDT_Voorletters": st.text(
        st.sampled_from(string.ascii_letters)
        | st.characters(min_codepoint=0xC0, max_codepoint=0x1EF3, exclude_categories=_UNASSIGNED),
        min_size=1,
        max_size=6,
    ),
}


def simple_value(
    name: str, standard: Standard, pattern: str | None = None
) -> st.SearchStrategy[Any]:
    """Valid values of one LDT_ type (and of the extra pattern a place may add)."""
    simple = SIMPLE_TYPES[name]
    if pattern == "([a-zA-Z0-9])+":
        return st.text(string.ascii_letters + string.digits, min_size=1, max_size=12)
    assert pattern is None, f"no strategy for the pattern {pattern!r}"
    if simple.coded:
        return st.sampled_from(sorted(codes(standard, name)))
    if name in _PATTERNED:
        return _PATTERNED[name]
    if simple.base is Base.INTEGER:
        return st.integers(simple.min_inclusive, simple.max_inclusive)
    if simple.base is Base.DATE:
        return st.dates()
    if simple.base is Base.TIME:
        return st.times()
    return _text(simple.min_length or 0, simple.max_length, non_blank=simple.pattern is not None)


def _party(message_type: MessageType, party: Party) -> st.SearchStrategy[str]:
    role = message_type.header_afzender_role
    if party is Party.ONTVANGER:
        role = Role.AANBIEDER if role is Role.GEMEENTE else Role.GEMEENTE
    return _digits(4, 4) if role is Role.GEMEENTE else _digits(8, 8)


def _field(field: Field, message_type: MessageType, kind: Kind) -> st.SearchStrategy[Any]:
    spec = field.spec
    if spec.party is not None:
        one: st.SearchStrategy[Any] = _party(message_type, spec.party)
    elif field.cls is not None:
        one = instances(field.cls, message_type)
    else:
        assert spec.simple is not None
        one = simple_value(spec.simple, message_type.standard, spec.pattern)
    if field.repeated:
        items = st.lists(one, min_size=1, max_size=2).map(tuple)
        return items if field.required_in(kind) else st.just(()) | items
    return one if field.required_in(kind) else st.none() | one


def instances(cls: type, message_type: MessageType) -> st.SearchStrategy[Any]:
    """Instances of a model class as ``message_type`` carries it."""
    kind = Kind.of(message_type)
    kwargs = {
        f.name: _field(f, message_type, kind)
        for f in fields_of(cls)
        if f.present_in(kind, message_type.standard)
    }
    return st.builds(cls, **kwargs)


def messages(message_type: MessageType) -> st.SearchStrategy[Message]:
    """Schema-valid messages of one type."""
    body = instances(body_spec(message_type).cls, message_type)
    if Kind.of(message_type) is not Kind.HEEN:
        body = st.none() | body
    return st.builds(
        Message,
        message_type=st.just(message_type),
        header=instances(Header, message_type),
        body=body,
    )
