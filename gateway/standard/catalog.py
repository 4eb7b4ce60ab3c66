"""Identify a message by its root namespace and validate it against its release's XSDs.

A :class:`Catalog` is one set of schemas: ours for iWmo and iJw 3.2 (:func:`default_catalog`,
generated from the model and shipped in the package), or an official release set plugged in at
run time (:func:`load_release`, for instance the iWmo 2.1 XSDs). Each message schema is compiled
with lxml once, when first needed, and kept: validation is the hot path of the ingress, and
compiling costs a hundred times more than validating.
"""

from __future__ import annotations

import datetime
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from gateway.errors import ConfigError, SchemaIssue, SchemaViolation, UnknownMessageError
from gateway.standard.message_types import MessageId, MessageType, Standard
from gateway.standard.xsdgen import SCHEMAS, release_dir

XS = "http://www.w3.org/2001/XMLSchema"
_NAMESPACE = re.compile(
    r"^https?://www\.istandaarden\.nl/(?P<standard>[a-z]+)/(?P<release>\d+_\d+)/"
    r"(?P<message>[a-z]+\d+)/schema"
)
_ELEMENT = re.compile(r"^Element '(?:\{[^}]*\})?(?P<element>[^']+)'(?:, attribute '[^']+')?: ")
# The namespace of a qualified name ("{http://...}Bsn"), not a quantifier in a quoted pattern
# ("[0-9]{9}", "{1,2}"): a namespace is never digits and commas alone.
_QNAME = re.compile(r"\{(?![\d,]*\})[^}]*\}")
_LONG_VALUE = re.compile(r"'([^']{80,})'")
MAX_REASON = 400
_BY_ID: dict[MessageId, MessageType] = {m.id: m for m in MessageType}


@dataclass(frozen=True, slots=True)
class MessageHeader:
    """What routing, authorisation and the ledger need, read straight from the Header."""

    message_type: MessageType
    afzender: str
    ontvanger: str
    identificatie: str
    dagtekening: datetime.date | str  # the text, if it is not a valid date (not yet validated)
    # A retour message's own identification (IdentificatieRetour, DagtekeningRetour); for a 325
    # the declaration it answers (DeclaratieIdentificatie).
    identificatie_retour: str | None = None
    dagtekening_retour: datetime.date | str | None = None

    @property
    def sender_field(self) -> tuple[str, str]:
        """The Header element that names who sends the message, and its code: Afzender, or
        Ontvanger in a retour message, which copies the header of its original (IV028)."""
        if self.message_type.copies_header:
            return "Ontvanger", self.ontvanger
        return "Afzender", self.afzender

    @property
    def recipient_field(self) -> tuple[str, str]:
        """The Header element that names who receives the message, and its code."""
        if self.message_type.copies_header:
            return "Afzender", self.afzender
        return "Ontvanger", self.ontvanger


@dataclass(frozen=True, slots=True)
class SchemaEntry:
    """One message schema of a catalog: which message it is and where its XSD lives."""

    message_id: MessageId
    namespace: str
    path: Path


class Catalog:
    """A set of message schemas, found by root namespace, compiled on first use."""

    def __init__(self, entries: Iterable[SchemaEntry], description: str) -> None:
        self.description = description
        self._entries: dict[str, SchemaEntry] = {}
        for entry in entries:
            other = self._entries.setdefault(entry.namespace, entry)
            if other is not entry:
                raise ConfigError(
                    f"two schemas for namespace {entry.namespace!r}: {other.path} and {entry.path}"
                )
        self._by_id = {e.message_id: e for e in self._entries.values()}
        self._compiled: dict[str, etree.XMLSchema] = {}

    @property
    def entries(self) -> Mapping[str, SchemaEntry]:
        return self._entries

    def message_ids(self) -> list[MessageId]:
        return [e.message_id for e in self._entries.values()]

    def identify_id(self, doc: etree._ElementTree) -> MessageId:
        """Standard, release and message of a document; UnknownMessageError names the namespace."""
        return self._entry_of(doc).message_id

    def identify(self, doc: etree._ElementTree) -> MessageType:
        """Which of the 28 messages this is; UnknownMessageError for any other namespace."""
        entry = self._entry_of(doc)
        message_type = _BY_ID.get(entry.message_id)
        if message_type is None:
            root = doc.getroot()
            raise UnknownMessageError(etree.QName(root).namespace, etree.QName(root).localname)
        return message_type

    def _entry_of(self, doc: etree._ElementTree) -> SchemaEntry:
        root = doc.getroot()
        qname = etree.QName(root)
        entry = self._entries.get(qname.namespace or "")
        if entry is None:
            raise UnknownMessageError(qname.namespace, qname.localname)
        return entry

    def schema(self, message: MessageType | MessageId) -> etree.XMLSchema:
        """The compiled XSD of one message, compiled on first use and kept."""
        message_id = message.id if isinstance(message, MessageType) else message
        entry = self._by_id.get(message_id)
        if entry is None:
            raise UnknownMessageError(None, f"{message_id} (not in {self.description})")
        compiled = self._compiled.get(entry.namespace)
        if compiled is None:
            compiled = self._compiled[entry.namespace] = _compile(entry.path)
        return compiled

    def issues(
        self, doc: etree._ElementTree, message_type: MessageType | MessageId | None = None
    ) -> list[SchemaIssue]:
        """Every XSD error in the document, in document order; empty when it is valid."""
        message = message_type if message_type is not None else self.identify_id(doc)
        schema = self.schema(message)
        if schema.validate(doc):
            return []
        return [_issue(error) for error in schema.error_log]  # type: ignore[attr-defined]

    def validate(
        self, doc: etree._ElementTree, message_type: MessageType | MessageId | None = None
    ) -> None:
        """Raise SchemaViolation listing every error, unless the document is valid."""
        message = message_type if message_type is not None else self.identify_id(doc)
        issues = self.issues(doc, message)
        if issues:
            # The 28 are named as the ingress names them (JW315); others in full (iwmo 2.1 WMO305).
            known = _BY_ID.get(message) if isinstance(message, MessageId) else message
            raise SchemaViolation(known.name if known else str(message), issues)

    def header(self, doc: etree._ElementTree, message_type: MessageType) -> MessageHeader:
        """The routing facts of the Header; cheap, and safe on a document not yet validated."""
        header = _children(_child(doc.getroot(), "Header"))
        own = _children(header.get("BerichtIdentificatie"))
        if message_type.number == 325:
            declared = _children(header.get("DeclaratieIdentificatie"))
            identificatie_retour: str | None = _text(declared.get("Identificatie"))
            dagtekening_retour = _optional_date(_text(declared.get("Dagtekening")))
        else:
            identificatie_retour = _optional(header.get("IdentificatieRetour"))
            dagtekening_retour = _optional_date(_optional(header.get("DagtekeningRetour")))
        return MessageHeader(
            message_type=message_type,
            afzender=_text(header.get("Afzender")),
            ontvanger=_text(header.get("Ontvanger")),
            identificatie=_text(own.get("Identificatie")),
            dagtekening=_date(_text(own.get("Dagtekening"))),
            identificatie_retour=identificatie_retour,
            dagtekening_retour=dagtekening_retour,
        )


# Elements are found by the tag's text ("{namespace}Name"): a QName object per child costs ten
# times more.


def _child(element: etree._Element, name: str) -> etree._Element | None:
    """The first child of ``element`` named ``name``, in any namespace."""
    qualified, bare = "}" + name, name
    for child in element:
        tag = child.tag
        if isinstance(tag, str) and (tag.endswith(qualified) or tag == bare):
            return child
    return None


def _children(element: etree._Element | None) -> dict[str, etree._Element]:
    """The children of ``element`` by name, in any namespace, the first of each name: one pass
    over the Header's few children instead of one per field."""
    found: dict[str, etree._Element] = {}
    if element is not None:
        for child in element:
            tag = child.tag
            if isinstance(tag, str):
                found.setdefault(tag.rpartition("}")[2], child)
    return found


def _text(element: etree._Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _optional(element: etree._Element | None) -> str | None:
    return None if element is None else (element.text or "").strip()


def _date(text: str) -> datetime.date | str:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        return text


def _optional_date(text: str | None) -> datetime.date | str | None:
    return None if text is None else _date(text)


def _issue(error: etree._LogEntry) -> SchemaIssue:
    return schema_issue(error.message, error.line, error.path)


def schema_issue(message: str, line: int, path: str | None = None) -> SchemaIssue:
    """An XSD error as we report it: the element it names, and a reason of bounded length."""
    match = _ELEMENT.match(message)
    element = match.group("element") if match else (path or "?").rsplit("/", 1)[-1]
    reason = _QNAME.sub("", message[match.end() :] if match else message)
    # lxml quotes the offending value whole; a hostile 20 MB value must not become the error.
    reason = _LONG_VALUE.sub(_elide, reason)
    if len(reason) > MAX_REASON:
        reason = reason[: MAX_REASON - 3] + "..."
    return SchemaIssue(line=line, element=element, reason=reason)


def _elide(match: re.Match[str]) -> str:
    value = match.group(1)
    return f"'{value[:40]}...' ({len(value)} characters)"


def _schema_parser() -> etree.XMLParser:
    # Schemas are files we were pointed at, but they still may not reach the network.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def _compile(path: Path) -> etree.XMLSchema:
    try:
        return etree.XMLSchema(etree.parse(str(path), _schema_parser()))
    except (etree.XMLSchemaParseError, etree.XMLSyntaxError, OSError) as exc:
        raise ConfigError(f"cannot compile schema {path}: {exc}") from exc


def _read_entry(path: Path) -> SchemaEntry | None:
    """The message a schema file declares, or None for a schema without a root ``Bericht``."""
    try:
        root = etree.parse(str(path), _schema_parser()).getroot()
    except (etree.XMLSyntaxError, OSError) as exc:
        raise ConfigError(f"cannot read schema {path}: {exc}") from exc
    if root.tag != f"{{{XS}}}schema":
        raise ConfigError(f"{path} is not an XML Schema (root element {root.tag!r})")
    if root.find(f"{{{XS}}}element[@name='Bericht']") is None:
        return None  # the basisschema, or another imported schema
    namespace = root.get("targetNamespace") or ""
    appinfo = {
        etree.QName(e).localname: (e.text or "").strip()
        for e in root.iterfind(f"{{{XS}}}annotation/{{{XS}}}appinfo/*")
    }
    match = _NAMESPACE.match(namespace)
    standard = appinfo.get("standaard") or (match.group("standard") if match else None)
    release = appinfo.get("release") or (
        match.group("release").replace("_", ".") if match else None
    )
    message = appinfo.get("bericht") or (match.group("message") if match else path.stem)
    if not standard or not release:
        raise ConfigError(f"{path}: cannot tell standard and release from namespace {namespace!r}")
    return SchemaEntry(MessageId(standard, release, message.upper()), namespace, path.resolve())


def load_release(directory: Path, *more: Path) -> Catalog:
    """A catalog of the message XSDs in one or more directories (an official release set)."""
    entries = []
    for folder in (directory, *more):
        if not folder.is_dir():
            raise ConfigError(f"schema directory not found: {folder}")
        found = [e for p in sorted(folder.glob("*.xsd")) if (e := _read_entry(p)) is not None]
        if not found:
            raise ConfigError(f"no message schemas (*.xsd with a root Bericht) in {folder}")
        entries.extend(found)
    return Catalog(entries, ", ".join(str(f) for f in (directory, *more)))


@functools.cache
def default_catalog() -> Catalog:
    """Our schemas for the 28 messages of iWmo 3.2 and iJw 3.2, shipped with the package."""
    return load_release(*(SCHEMAS / release_dir(standard) for standard in Standard))
