"""Read a large message in one pass: parsed, identified and validated as it streams, kept small.

As an lxml tree a message takes about five times its size, so a 25 MB message held as a tree
and validated afterwards costs 125 MB. Above :data:`STREAM_ABOVE` bytes the ingress reads it
here instead, and what it gets back is a *digest*: a small document with the message's root,
and of everything below it only the elements the pipeline reads later (:class:`Keep`, for
instance the Header and, for a 323, the first Begindatum), copied in document order. How:

1. the checks on the bytes of :func:`gateway.standard.xmlsafe.check_bytes`, as for any message;
2. a first look at the root element says which message it is;
3. one parser, with the message's compiled XSD plugged in, is fed the document in slices. After
   each slice the kept elements that ended in it are copied into the digest, the depth is
   checked, and every element that has ended is dropped from the parser's tree: it never holds
   more than the open elements and one slice. Once the message is invalid nothing is kept;
4. libxml2 reports XSD errors while it parses, without a line. lxml hands them over only through
   its thread's global error log, as they happen, so a :class:`_Relay` installed there passes
   them to the pass, which takes the line of the element the error names from the open
   elements of the tree at that moment - the line the tree validation reports;
5. with an XSD plugged in, libxml2 tells no one about well-formedness errors, so a message
   that was refused (and one we do not know) gets a second pass without it, pruned the same
   way, to find out whether it is broken or too deep first, as the tree path would say.

The outcome is that of ``parse_xml``, ``Catalog.identify`` and ``Catalog.validate`` on the same
bytes, in that order: the same exceptions, messages and issues (line, element, reason), but for
one complaint libxml2's push parser words without its line ("Couldn't find end of Start Tag
X"); tests/standard/test_streaming.py holds the two side by side.
"""

from __future__ import annotations

import contextlib
import copy
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from lxml import etree

from gateway.errors import (
    NotWellFormedError,
    SchemaIssue,
    SchemaViolation,
    UnknownMessageError,
    UnsafeXmlError,
)
from gateway.standard.catalog import Catalog, schema_issue
from gateway.standard.message_types import MessageType
from gateway.standard.xmlsafe import (
    MAX_BYTES,
    MAX_DEPTH,
    PARSER_OPTIONS,
    check_bytes,
    parse_xml,
    syntax_error,
    too_deep,
)

STREAM_ABOVE = 64 * 1024  # bytes; a smaller message's tree (under ~1 MB) is read whole
MAX_ISSUES = 1000  # XSD errors listed; all are counted
_SLICE = 64 * 1024
_LOOK = 4 * 1024
_NAMED = re.compile(r"^Element '(?P<tag>[^']+)'")
# parse_xml's settings, but entities resolved "internal"ly: with resolve_entities=False an lxml
# push parser ignores errors it takes for undefined entities, and with an XSD plugged in that
# is every well-formedness error, so a truncated message would pass. No DTD gets this far
# (check_bytes), so the only entities are XML's own five; an external one is never loaded.
_OPTIONS: dict[str, Any] = {**PARSER_OPTIONS, "resolve_entities": "internal"}


@dataclass(frozen=True, slots=True)
class Keep:
    """Which elements a digest keeps, by local name, anywhere in the message, with subtrees.

    ``every``: each one. ``first``: only the first one with text, which is all a reader that
    takes ``next()`` of the elements of that name with text ever sees; these are leaves (a
    Begindatum, a ReferentieAanbieder), never the ancestor of another kept element.
    """

    every: frozenset[str] = frozenset()
    first: frozenset[str] = frozenset()

    def __or__(self, other: Keep) -> Keep:
        every = self.every | other.every
        return Keep(every, (self.first | other.first) - every)


@dataclass(frozen=True, slots=True)
class Digest:
    """A message read here: which one it is, and its root with the kept elements in order."""

    doc: etree._ElementTree
    message_type: MessageType


def read_message(
    data: bytes,
    catalog: Catalog,
    keep: Callable[[MessageType], Keep],
    *,
    max_depth: int = MAX_DEPTH,
    max_bytes: int = MAX_BYTES,
) -> Digest:
    """Parse, identify and validate ``data`` in one pass; raise as the tree path would.

    UnsafeXmlError or NotWellFormedError for a hostile or broken document, UnknownMessageError
    for a root we do not know, SchemaViolation listing the XSD errors (at most MAX_ISSUES, all
    counted).
    """
    check_bytes(data, max_bytes=max_bytes)
    root_tag = _first_look(data)
    if root_tag is None:
        # Broken before its root element started: there is no tree to fear, and parse_xml says
        # what is wrong in its own words. (Were it somehow fine, the tree path takes over.)
        doc = parse_xml(data, max_depth=max_depth, max_bytes=max_bytes)
        message_type = catalog.identify(doc)
        catalog.validate(doc, message_type)
        return Digest(doc, message_type)
    try:
        message_type = catalog.identify(etree.ElementTree(etree.Element(root_tag)))
    except (UnknownMessageError, ValueError) as exc:  # ValueError: a prefix nobody declared
        # The tree path says "not well-formed" or "too deep" before "unknown": parse it all.
        known_tag = isinstance(exc, UnknownMessageError)
        _check_well_formed(data, root_tag if known_tag else None, max_depth)
        if known_tag:
            raise
        raise UnknownMessageError(None, root_tag) from None
    valid = _Pass(root_tag, keep(message_type), catalog.schema(message_type), max_depth)
    failed = valid.feed(data)
    if failed is None and not valid.count and not valid.deep:
        return Digest(valid.digest(), message_type)
    # With an XSD plugged in, libxml2 reports its well-formedness errors to no one: a second
    # pass without it finds them, in the words parse_xml would use. Only a refused message
    # pays for it.
    _check_well_formed(data, root_tag, max_depth)
    if valid.deep:
        raise UnsafeXmlError(f"document nests deeper than {max_depth} elements")
    if valid.count:
        raise SchemaViolation(message_type.name, valid.issues, count=valid.count)
    raise NotWellFormedError(f"not well-formed XML: {failed}")


def _check_well_formed(data: bytes, root_tag: str | None, max_depth: int) -> None:
    """Raise what parse_xml would for a broken or too deep document, without keeping a tree."""
    check = _Pass(root_tag, Keep(), None, max_depth)
    broken = check.feed(data)
    if broken is not None:
        where = broken.lineno if isinstance(broken.lineno, int) else None
        raise syntax_error(broken.msg or str(broken), where)
    if check.deep:
        raise UnsafeXmlError(f"document nests deeper than {max_depth} elements")


def _first_look(data: bytes) -> str | None:
    """The root element's tag, or None if it never starts."""
    parser = etree.XMLPullParser(events=("start",), **_OPTIONS)
    root = None
    try:
        for start in range(0, len(data), _LOOK):
            parser.feed(data[start : start + _LOOK])
            root = next(iter(parser.read_events()), (None, None))[1]
            if root is not None:
                return str(root.tag)  # type: ignore[union-attr]  # a start event's element
    except etree.XMLSyntaxError:
        pass
    finally:
        _wind_up(parser, root)  # type: ignore[arg-type]
    return None


def _wind_up(parser: etree.XMLPullParser, root: etree._Element | None) -> None:
    """Let go of what a parser holds now, not when the garbage collector comes by.

    The parser keeps its root, and the root's document keeps the parser: a cycle. Emptied, the
    cycle holds only an empty element; a root with 100,000 attributes would hold them all.
    """
    for _ in parser.read_events():
        pass
    with contextlib.suppress(etree.XMLSyntaxError):
        parser.close()
    if root is not None:
        root.clear()


class _Pass:
    """One pass over a message through a parser whose tree is pruned as it goes.

    With a schema, the parser validates, the kept elements are copied out as they end, and the
    XSD errors are collected with their lines; without one it only parses.
    """

    def __init__(
        self, root_tag: str | None, keep: Keep, schema: etree.XMLSchema | None, max_depth: int
    ) -> None:
        self.keep = keep
        self.held = keep.every | keep.first
        self.every_tags = [f"{{*}}{name}" for name in sorted(keep.every)]
        kept_tags = [f"{{*}}{name}" for name in sorted(keep.every | keep.first)]
        # Events only for the root (to prune from) and the kept elements. A root whose tag no
        # filter can name (an undeclared prefix) costs an event per element instead.
        self.parser = etree.XMLPullParser(
            events=("start", "end"),
            tag=None if root_tag is None else [root_tag, *kept_tags],
            schema=schema,
            **_OPTIONS,
        )
        self.validating = schema is not None
        self.max_depth = max_depth
        self.root: etree._Element | None = None
        self.shell: etree._Element | None = None  # the digest's root
        self.kept: list[etree._Element] = []
        self.found: set[str] = set()  # the names of ``first`` met with text
        self.pending: list[tuple[str, etree._Element]] = []
        self.issues: list[SchemaIssue] = []
        self.count = 0
        self.deep = False

    def feed(self, data: bytes) -> etree.XMLSyntaxError | None:
        """Feed all of ``data``; the parser's complaint, if it had one."""
        with _RELAY.to(self._on_error if self.validating else None):
            try:
                for start in range(0, len(data), _SLICE):
                    self.parser.feed(data[start : start + _SLICE])
                    self._take_events()
                    self._check_depth()
                    self._prune()
                self.parser.close()
                self._take_events()
            except etree.XMLSyntaxError as exc:
                # Without its traceback: through this frame it holds the message and the
                # parser, in cycles only the garbage collector would break.
                return exc.with_traceback(None)
            finally:
                _wind_up(self.parser, self.root)
        return None

    def digest(self) -> etree._ElementTree:
        """The root as it started, with the kept elements in document order."""
        assert self.shell is not None, "the pass found no root element"
        self.shell.extend(self.kept)
        return self.shell.getroottree()

    def _events(self) -> Iterator[tuple[str, etree._Element]]:
        if self.pending:
            yield from self.pending
            self.pending.clear()
        events: Any = self.parser.read_events()  # only start and end events, of elements
        yield from events

    def _take_events(self) -> None:
        for event, element in self._events():
            if self.root is None:
                self.root = element  # the first event is the root's start
                if self.validating:
                    # The stubs allow neither the default namespace's None nor the attributes.
                    nsmap: Any = element.nsmap
                    attrib: Any = element.attrib
                    self.shell = etree.Element(element.tag, attrib, nsmap=nsmap)
            if event == "start" or element is self.root or not self.validating or self.count:
                continue  # an invalid message is refused: nothing of it is kept
            name = _name(element)
            if name in self.keep.first and (name in self.found or not (element.text or "").strip()):
                continue
            if name in self.keep.first:
                self.found.add(name)
            if self.every_tags and next(element.iterancestors(*self.every_tags), None) is not None:
                continue  # inside a kept element: copied with it, in its place
            kept = copy.deepcopy(element)
            kept.tail = None
            self.kept.append(kept)

    def _check_depth(self) -> None:
        # Every element of the last slice is still in the tree (with its ancestors): checking the
        # tree after each slice sees every element once.
        if self.root is not None and not self.deep:
            self.deep = bool(too_deep(self.max_depth)(self.root.getroottree()))

    def _prune(self) -> None:
        # Of each open element, keep only the last child (open, or ended last); the rest ended.
        # An open kept element is left whole until it ends and is copied; by its XSD it is small
        # (a Header, a product line), and once the message is invalid nothing is kept.
        keeping = self.validating and not self.count
        element = self.root
        while element is not None:
            if keeping and element is not self.root and _name(element) in self.held:
                break
            children = len(element)
            if children > 1:
                del element[: children - 1]
            element = element[-1] if children else None

    def _on_error(self, entry: Any) -> None:
        if entry.domain != etree.ErrorDomains.SCHEMASV or entry.level < etree.ErrorLevels.ERROR:
            return
        self.count += 1
        self.kept.clear()
        if len(self.issues) < MAX_ISSUES:
            self.issues.append(schema_issue(entry.message, self._line_of(entry.message)))

    def _line_of(self, message: str) -> int:
        """The line of the element an XSD error names: the innermost open one of that name.

        libxml2 checks an element's start (its attributes, whether it may come there) when the
        element has just started, and its content when it has just ended; either way it is on
        the path of last children from the root at this moment.
        """
        named = _NAMED.match(message)
        if named is None:
            return 0
        if self.root is None:
            self.pending.extend(self._events())  # the root's start is among them
            if self.pending:
                self.root = self.pending[0][1]
        line = 0
        element = self.root
        while element is not None:
            if element.tag == named.group("tag"):
                source: Any = element.sourceline  # None for a node made in code, never here
                line = source or 0
            element = next(element.iterchildren(reversed=True, tag=etree.Element), None)
        return line


def _name(element: etree._Element) -> str:
    return etree.QName(element).localname


class _Relay(etree.PyErrorLog):  # type: ignore[misc]  # the stubs know it only as Any
    """The thread's global lxml error log, passing each error to the pass reading now.

    lxml delivers the errors of a validating parser's XSD only here, and as they happen, which
    is what gives them a line. Outside a pass nothing is kept: our other parsing and validation
    report through their own logs.
    """

    def __init__(self) -> None:
        super().__init__()
        self._local = threading.local()

    def receive(self, log_entry: Any) -> None:
        handler = getattr(self._local, "handler", None)
        if handler is not None:
            handler(log_entry)

    @contextlib.contextmanager
    def to(self, handler: Callable[[Any], None] | None) -> Iterator[None]:
        """Relay the errors of this thread to ``handler`` while the block runs."""
        local = self._local
        if not getattr(local, "installed", False):
            etree.use_global_python_log(self)  # for this thread only
            local.installed = True
        local.handler = handler
        try:
            yield
        finally:
            local.handler = None


_RELAY = _Relay()
