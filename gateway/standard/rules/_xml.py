"""Reading a parsed message by the standard's element names, forgiving of what is absent.

The checks run on schema-valid messages of 28 types whose elements live in two namespaces (the
message's own and the basisschema). They address elements by local name, read dates and numbers
without ever raising: a value that cannot be read is treated as absent, so a rule simply does not
apply to it.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Iterator
from contextvars import ContextVar

from lxml import etree

Element = etree._Element


def local(element: Element) -> str:
    """The element's name without its namespace."""
    return str(element.tag).rpartition("}")[2]


def children(element: Element | None, name: str) -> list[Element]:
    """The child elements called ``name`` in any namespace, in document order."""
    if element is None:
        return []
    # lxml's own "{*}" matching: messages can be large, this is the checks' inner loop.
    return list(element.iterchildren(f"{{*}}{name}"))


def child(element: Element | None, name: str) -> Element | None:
    if element is None:
        return None
    return next(element.iterchildren(f"{{*}}{name}"), None)


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


# Steps already computed during one check or build, so that thousands of remarks on a message
# of thousands of lines do not count their siblings again and again.
_steps: ContextVar[dict[Element, str] | None] = ContextVar("steps", default=None)


@contextlib.contextmanager
def remembering_paths() -> Iterator[None]:
    """Within the block, ``path_of`` remembers each parent's steps (the tree must not change)."""
    token = _steps.set({})
    try:
        yield
    finally:
        _steps.reset(token)


def position(element: Element) -> str:
    """``Name`` or ``Name[n]``: the step that finds ``element`` among its same-named siblings."""
    parent = element.getparent()
    if parent is None:
        return local(element)
    cache = _steps.get()
    if cache is None:
        return _steps_of(parent)[element]
    step = cache.get(element)
    if step is None:
        cache.update(_steps_of(parent))
        step = cache[element]
    return step


def _steps_of(parent: Element) -> dict[Element, str]:
    """The step to each child element of ``parent``."""
    elements = [c for c in parent if isinstance(c.tag, str)]
    totals: dict[str, int] = {}
    for c in elements:
        totals[str(c.tag)] = totals.get(str(c.tag), 0) + 1
    seen: dict[str, int] = {}
    steps: dict[Element, str] = {}
    for c in elements:
        tag = str(c.tag)
        seen[tag] = seen.get(tag, 0) + 1
        name = local(c)
        steps[c] = name if totals[tag] == 1 else f"{name}[{seen[tag]}]"
    return steps


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
