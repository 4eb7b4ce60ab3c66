"""Parse untrusted XML safely: no DTD, no entities, no network, bounded depth and size.

Every message enters the gateway through :func:`parse_xml`. A DOCTYPE is refused before lxml sees
the document (it is the door to XXE, billion laughs and external DTDs; the standard never uses
one), the bytes must be UTF-8 without a byte order mark (OP192), and the parser is configured so
that even a document that slipped through could not fetch or expand anything. Errors are our
own: :class:`UnsafeXmlError` for a hostile document, :class:`NotWellFormedError` (with the line)
for a broken one.
"""

from __future__ import annotations

import codecs
import functools
import re
import threading
from typing import Any

from lxml import etree

from gateway.errors import NotWellFormedError, UnsafeXmlError

MAX_BYTES = 25 * 1024 * 1024  # OP179: the VSP refuses messages over 25 MB (BRS06)
MAX_DEPTH = 64  # the deepest iWmo message nests about 8 levels

_BOMS = (
    (codecs.BOM_UTF8, "UTF-8"),
    (codecs.BOM_UTF32_LE, "UTF-32"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)
_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


# The parser settings every message is read with (here and in gateway.standard.streaming).
# Not ``collect_ids=False``: with it, libxml2 reads an external DTD named in a DOCTYPE from
# the local disk despite load_dtd=False (and with resolve_entities="internal", as the streaming
# parser has it, expands its entities). tests/standard/test_xmlsafe.py holds the parsers to it.
PARSER_OPTIONS: dict[str, Any] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
    "remove_comments": False,
    "encoding": "utf-8",
}
_UTF8_SLICE = 64 * 1024


_parsers = threading.local()


def _parser() -> etree.XMLParser:
    """This thread's parser (an lxml parser serves one thread), made once: a new one per
    message cost about a sixth of the parse of a 3 KB message."""
    parser: etree.XMLParser | None = getattr(_parsers, "parser", None)
    if parser is None:
        parser = _parsers.parser = etree.XMLParser(**PARSER_OPTIONS)
    return parser


@functools.cache
def too_deep(max_depth: int) -> etree.XPath:
    """True on a tree with an element deeper than ``max_depth``; evaluated in C, one pass."""
    return etree.XPath("boolean(/" + "/".join(["*"] * (max_depth + 1)) + ")")


def check_bytes(data: bytes, *, max_bytes: int = MAX_BYTES) -> None:
    """What is refused before a parser sees the bytes: size, BOM, not UTF-8, another encoding
    declared, a DTD or entity declaration."""
    if len(data) > max_bytes:
        raise UnsafeXmlError(f"document too large: {len(data)} bytes, at most {max_bytes}")
    for bom, name in _BOMS:
        if data.startswith(bom):
            raise NotWellFormedError(
                f"document starts with a {name} byte order mark; UTF-8 without BOM is required"
                " (OP192)",
                line=1,
            )
    _check_utf8(data)
    declared = _DECLARED_ENCODING.match(data)
    if declared and declared.group(1).decode("ascii").lower() not in ("utf-8", "utf8"):
        raise NotWellFormedError(
            f"the XML declaration names encoding {declared.group(1).decode('ascii')!r};"
            " UTF-8 is required (OP192)",
            line=1,
        )
    # The standard never uses a DTD; refusing it outright closes XXE, entity expansion (billion
    # laughs) and external DTD fetches before the parser sees them.
    doctype = data.find(b"<!DOCTYPE")
    if doctype >= 0:
        line = data.count(b"\n", 0, doctype) + 1
        raise UnsafeXmlError(f"DOCTYPE refused (line {line}): DTDs and entities are not allowed")
    if b"<!ENTITY" in data:
        raise UnsafeXmlError("ENTITY declaration refused: DTDs and entities are not allowed")


def _check_utf8(data: bytes) -> None:
    # Slice by slice: decoding the whole document at once would hold a str of up to four times
    # its size. A sequence cut at a slice's end is held back and decoded with the next slice.
    view = memoryview(data)
    start = 0
    while start < len(data):
        end = min(len(data), start + _UTF8_SLICE)
        try:
            _, used = codecs.utf_8_decode(view[start:end], "strict", end == len(data))
        except UnicodeDecodeError as exc:
            offset = start + exc.start
            line = data.count(b"\n", 0, offset) + 1
            raise NotWellFormedError(
                f"not UTF-8: byte 0x{data[offset]:02x} at offset {offset} (line {line});"
                " UTF-8 without BOM is required (OP192)",
                line=line,
            ) from None
        start += used


def syntax_error(text: str, line: int | None) -> UnsafeXmlError | NotWellFormedError:
    """What a parser's complaint means for us: too deep or too large is unsafe, the rest broken."""
    if "Excessive depth" in text or "huge" in text.lower():
        return UnsafeXmlError(f"document nests too deep or is too large: {text}")
    return NotWellFormedError(f"not well-formed XML: {text}", line=line)


def parse_xml(
    data: bytes, *, max_depth: int = MAX_DEPTH, max_bytes: int = MAX_BYTES
) -> etree._ElementTree:
    """Parse one message; raise UnsafeXmlError or NotWellFormedError naming what is wrong."""
    check_bytes(data, max_bytes=max_bytes)
    try:
        doc = etree.fromstring(data, _parser()).getroottree()
    except etree.XMLSyntaxError as exc:
        where = exc.lineno if isinstance(exc.lineno, int) else None
        raise syntax_error(exc.msg or str(exc), where) from None
    docinfo: Any = doc.docinfo  # lxml-stubs do not know DocInfo.doctype
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise UnsafeXmlError("DOCTYPE refused: DTDs and entities are not allowed")
    if too_deep(max_depth)(doc):
        raise UnsafeXmlError(f"document nests deeper than {max_depth} elements")
    return doc
