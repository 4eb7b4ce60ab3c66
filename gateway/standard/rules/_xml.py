"""Reading a parsed message by the standard's element names, forgiving of what is absent.

The checks run on schema-valid messages of 28 types whose elements live in two namespaces (the
message's own and the basisschema). They address elements by local name, read dates and numbers
without ever raising: a value that cannot be read is treated as absent, so a rule simply does not
apply to it.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator

from lxml import etree

Element = etree._Element


def local(element: Element) -> str:
    """The element's name without its namespace."""
    return etree.QName(element).localname


def children(element: Element | None, name: str) -> list[Element]:
    """The child elements called ``name``, in document order."""
    if element is None:
        return []
    return [c for c in element if isinstance(c.tag, str) and local(c) == name]


def child(element: Element | None, name: str) -> Element | None:
    found = children(element, name)
    return found[0] if found else None


def find(element: Element | None, path: str) -> Element | None:
    """The first element at ``path`` (``Geboortedatum/Datum``) below ``element``, or None."""
    current = element
    for name in path.split("/"):
        current = child(current, name)
        if current is None:
            return None
    return current


def iterate(element: Element | None, path: str) -> Iterator[Element]:
    """Every element at ``path`` below ``element``: ``Clienten/Client/Prestaties/Prestatie``."""
    first, _, rest = path.partition("/")
    for found in children(element, first):
        if rest:
            yield from iterate(found, rest)
        else:
            yield found


def text(element: Element | None, path: str | None = None) -> str | None:
    """The stripped text at ``path`` (or of ``element`` itself); None if absent or empty."""
    target = element if path is None else find(element, path)
    if target is None or target.text is None:
        return None
    value = target.text.strip()
    return value or None


def date(element: Element | None, path: str | None = None) -> datetime.date | None:
    """An xs:date at ``path`` as a date; None if absent or not a date Python can hold."""
    value = text(element, path)
    if value is None or len(value) < 10:
        return None
    try:
        return datetime.date.fromisoformat(value[:10])
    except ValueError:
        return None


def integer(element: Element | None, path: str | None = None) -> int | None:
    value = text(element, path)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def position(element: Element) -> str:
    """``Name`` or ``Name[n]``: the step that finds ``element`` among its same-named siblings."""
    name = local(element)
    parent = element.getparent()
    if parent is None:
        return name
    same = children(parent, name)
    if len(same) == 1:
        return name
    return f"{name}[{same.index(element) + 1}]"


def path_of(element: Element) -> str:
    """The element's path below the root (``Client/StartProducten/StartProduct[2]``)."""
    steps: list[str] = []
    current: Element | None = element
    while current is not None and current.getparent() is not None:
        steps.append(position(current))
        current = current.getparent()
    return "/".join(reversed(steps))


def resolve(root: Element, path: str) -> Element | None:
    """The element a ``path_of`` path names, or None."""
    current: Element | None = root
    for step in path.split("/"):
        name, _, index = step.partition("[")
        number = int(index.rstrip("]")) if index else 1
        found = children(current, name)
        if not 1 <= number <= len(found):
            return None
        current = found[number - 1]
    return current
