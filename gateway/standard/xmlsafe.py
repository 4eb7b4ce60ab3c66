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


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
        collect_ids=False,
        encoding="utf-8",
    )


@functools.cache
def _too_deep(max_depth: int) -> etree.XPath:
    # An element at depth max_depth + 1 exists; evaluated in C, one pass over the levels.
    return etree.XPath("boolean(/" + "/".join(["*"] * (max_depth + 1)) + ")")


def parse_xml(
    data: bytes, *, max_depth: int = MAX_DEPTH, max_bytes: int = MAX_BYTES
) -> etree._ElementTree:
    """Parse one message; raise UnsafeXmlError or NotWellFormedError naming what is wrong."""
    if len(data) > max_bytes:
        raise UnsafeXmlError(f"document too large: {len(data)} bytes, at most {max_bytes}")
    for bom, name in _BOMS:
        if data.startswith(bom):
            raise NotWellFormedError(
                f"document starts with a {name} byte order mark; UTF-8 without BOM is required"
                " (OP192)",
                line=1,
            )
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise NotWellFormedError(
            f"not UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start} (line {line});"
            " UTF-8 without BOM is required (OP192)",
            line=line,
        ) from None
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
    try:
        doc = etree.fromstring(data, _parser()).getroottree()
    except etree.XMLSyntaxError as exc:
        where = exc.lineno if isinstance(exc.lineno, int) else None
        text = exc.msg or str(exc)
        if "Excessive depth" in text or "huge" in text.lower():
            raise UnsafeXmlError(f"document nests too deep or is too large: {text}") from None
        raise NotWellFormedError(f"not well-formed XML: {text}", line=where) from None
    docinfo: Any = doc.docinfo  # lxml-stubs do not know DocInfo.doctype
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise UnsafeXmlError("DOCTYPE refused: DTDs and entities are not allowed")
    if _too_deep(max_depth)(doc):
        raise UnsafeXmlError(f"document nests deeper than {max_depth} elements")
    return doc
