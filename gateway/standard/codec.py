"""Read a message into the typed model and write it back: ``parse`` and ``build``.

Both walk the field specs of :mod:`gateway.standard.model`, the same ones the XSDs are generated
from, so the codec cannot drift from the schemas. ``parse`` validates first (unless told the
document already was), so the walk may trust the structure; ``build`` validates what it wrote, so
a message that leaves the model is schema-valid or an error.
"""

from __future__ import annotations

import datetime
from typing import Any

from lxml import etree

from gateway.errors import SchemaIssue, SchemaViolation
from gateway.standard.catalog import Catalog, default_catalog
from gateway.standard.message_types import SUBVERSIE, VERSIE, MessageType, basis_namespace
from gateway.standard.model import Header, Message, body_spec
from gateway.standard.simple_types import SIMPLE_TYPES, Base
from gateway.standard.spec import BASIS_TYPES, Field, Kind, fields_of
from gateway.standard.xmlsafe import parse_xml

_READ: dict[Base, Any] = {
    Base.STRING: str,
    Base.INTEGER: int,
    Base.DATE: datetime.date.fromisoformat,
    Base.TIME: datetime.time.fromisoformat,
}


def _base(field: Field) -> Base:
    return SIMPLE_TYPES[field.spec.simple].base if field.spec.simple else Base.STRING


def _write(value: object) -> str:
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return str(value)


# -- parse ---------------------------------------------------------------------------------------


def parse(
    data: bytes | etree._ElementTree, *, catalog: Catalog | None = None, validated: bool = False
) -> Message:
    """The typed message in ``data`` (bytes or a parsed tree); SchemaViolation if invalid."""
    doc = parse_xml(data) if isinstance(data, bytes) else data
    catalog = catalog or default_catalog()
    message_type = catalog.identify(doc)
    if not validated:
        catalog.validate(doc, message_type)
    root = doc.getroot()
    kind = Kind.of(message_type)
    children = [c for c in root if isinstance(c.tag, str)]
    header = _read(children[0], Header, message_type, kind)
    body = None
    if len(children) > 1:
        body = _read(children[1], body_spec(message_type).cls, message_type, kind)
    return Message(message_type=message_type, header=header, body=body)


def _read(element: etree._Element, cls: type, message_type: MessageType, kind: Kind) -> Any:
    children = [c for c in element if isinstance(c.tag, str)]
    by_name: dict[str, list[etree._Element]] = {}
    for child in children:
        by_name.setdefault(etree.QName(child).localname, []).append(child)
    values: dict[str, Any] = {}
    for field in fields_of(cls):
        if not field.present_in(kind, message_type.standard):
            continue
        found = by_name.get(field.xml)
        if not found:
            continue
        if field.repeated:
            items = [c for c in found[0] if isinstance(c.tag, str)]
            values[field.name] = tuple(_value(i, field, message_type, kind) for i in items)
        else:
            values[field.name] = _value(found[0], field, message_type, kind)
    return cls(**values)


def _value(element: etree._Element, field: Field, message_type: MessageType, kind: Kind) -> Any:
    if field.cls is not None:
        return _read(element, field.cls, message_type, kind)
    text = element.text or ""
    try:
        return _READ[_base(field)](text)
    except ValueError as exc:
        # Valid for XSD but outside Python's range (a year beyond 9999, 24:00:00): say where.
        line: object = element.sourceline
        line = line if isinstance(line, int) else 0
        issue = SchemaIssue(line, field.xml, f"cannot read {text!r}: {exc}")
        raise SchemaViolation(message_type.name, [issue]) from None


# -- build ---------------------------------------------------------------------------------------


def build(message: Message, *, catalog: Catalog | None = None, validate: bool = True) -> bytes:
    """The message as UTF-8 XML with a declaration, no BOM; SchemaViolation if it is not valid."""
    message_type = message.message_type
    kind = Kind.of(message_type)
    namespace = message_type.namespace
    basis = basis_namespace(message_type.standard)
    root = etree.Element(
        f"{{{namespace}}}Bericht",
        nsmap={message_type.name.lower(): namespace, message_type.standard.value: basis},
    )
    header = etree.SubElement(root, f"{{{namespace}}}Header")
    for name, value in (
        ("BerichtCode", message_type.code),
        ("BerichtVersie", VERSIE),
        ("BerichtSubversie", SUBVERSIE),
    ):
        etree.SubElement(header, f"{{{namespace}}}{name}").text = str(value)
    _fill(header, message.header, namespace, basis, message_type, kind)
    if message.body is not None:
        body = etree.SubElement(root, f"{{{namespace}}}{body_spec(message_type).xml}")
        _fill(body, message.body, namespace, basis, message_type, kind)
    etree.indent(root, space="  ")
    data = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    if validate:
        (catalog or default_catalog()).validate(etree.fromstring(data).getroottree(), message_type)
    return data


def _fill(
    element: etree._Element,
    instance: object,
    namespace: str,
    basis: str,
    message_type: MessageType,
    kind: Kind,
) -> None:
    cls: type = type(instance)
    # Children of a basisschema type (CDT_) are in the basisschema's namespace.
    own = basis if cls in BASIS_TYPES else namespace
    for field in fields_of(cls):
        value = getattr(instance, field.name)
        if value is None or value == ():
            continue
        if not field.present_in(kind, message_type.standard):
            raise ValueError(
                f"{cls.__name__}.{field.name} ({field.xml}) does not exist in a {message_type}"
            )
        child = etree.SubElement(element, f"{{{own}}}{field.xml}")
        if field.repeated:
            for item in value:
                _put(
                    etree.SubElement(child, f"{{{own}}}{field.spec.item}"),
                    item,
                    field,
                    namespace,
                    basis,
                    message_type,
                    kind,
                )
        else:
            _put(child, value, field, namespace, basis, message_type, kind)


def _put(
    element: etree._Element,
    value: object,
    field: Field,
    namespace: str,
    basis: str,
    message_type: MessageType,
    kind: Kind,
) -> None:
    if field.cls is not None:
        _fill(element, value, namespace, basis, message_type, kind)
    else:
        element.text = _write(value)
