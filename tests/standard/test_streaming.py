"""A message read in one streaming pass gets what the whole tree gets: refusals, issues, header."""

from __future__ import annotations

import gc
import re
import types

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from bench.messages import wmo323
from gateway.errors import MessageError, NotWellFormedError, SchemaViolation
from gateway.standard import streaming
from gateway.standard.catalog import default_catalog
from gateway.standard.streaming import Keep, read_message
from gateway.standard.xmlsafe import parse_xml
from tests.conftest import REFERENCE
from tests.hostile.corpus import corpus

CATALOG = default_catalog()
HEADER = Keep(frozenset({"Header"}))
EXAMPLES = {
    path.name: path.read_bytes()
    for standard in ("iwmo-3.2", "ijw-3.2")
    for path in sorted((REFERENCE / standard / "examples").glob("*.xml"))
}
HOSTILE = {
    case.name: case.request.body
    for case in corpus()
    if case.request.method == "POST" and case.request.body and b"--hostile" not in case.request.body
}
# libxml2's push parser words one complaint differently ("... Start Tag X" without " line N").
_POSITION = re.compile(r"( line \d+)?(, line \d+(, column \d+)?)?$")


def tree_outcome(data: bytes) -> object:
    """What parse_xml, identify and validate make of ``data``."""
    try:
        doc = parse_xml(data)
        message_type = CATALOG.identify(doc)
        CATALOG.validate(doc, message_type)
    except MessageError as exc:
        return _outcome(exc)
    return message_type, CATALOG.header(doc, message_type)


def streamed_outcome(data: bytes, keep: Keep = HEADER) -> object:
    """What read_message makes of ``data``."""
    try:
        digest = read_message(data, CATALOG, lambda _: keep)
    except MessageError as exc:
        return _outcome(exc)
    return digest.message_type, CATALOG.header(digest.doc, digest.message_type)


def _outcome(exc: MessageError) -> object:
    if isinstance(exc, SchemaViolation):
        return "invalid", [str(issue) for issue in exc.issues], exc.count
    if isinstance(exc, NotWellFormedError):
        return "broken", exc.line, _POSITION.sub("", str(exc))
    return type(exc).__name__, str(exc)


@pytest.mark.parametrize("name", EXAMPLES)
def test_an_official_example_reads_as_the_tree_reads_it(name: str) -> None:
    """Each official example: the same message type and header, or the same XSD issues."""
    assert streamed_outcome(EXAMPLES[name]) == tree_outcome(EXAMPLES[name])


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_document_is_refused_as_the_tree_refuses_it(name: str) -> None:
    """Each XML body of the hostile corpus: the same exception, line and message."""
    assert streamed_outcome(HOSTILE[name]) == tree_outcome(HOSTILE[name])


ELEMENT = re.compile(rb"<([\w.-]+:[\w.-]+)(?: [^>]*)?>")


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """An official example with one element changed, removed, doubled or joined by a stranger,
    or cut short."""
    data = EXAMPLES[draw(st.sampled_from(sorted(EXAMPLES)))]
    starts = list(ELEMENT.finditer(data))
    found = starts[draw(st.integers(0, len(starts) - 1))]
    tag, at = found.group(1), found.start()
    end = data.find(b"</" + tag + b">", at)
    end = found.end() if end < 0 else end + len(tag) + 3
    how = draw(st.sampled_from(["text", "remove", "double", "stranger", "attribute", "cut"]))
    if how == "text":
        return data[: found.end()] + b"x" * 13 + data[data.find(b"<", found.end()) :]
    if how == "remove":
        return data[:at] + data[end:]
    if how == "double":
        return data[:end] + data[at:end] + data[end:]
    if how == "stranger":
        return data[:at] + b"<" + tag + b"x/>" + data[at:]
    if how == "attribute":
        return data[: found.end() - 1] + b' a="1"' + data[found.end() - 1 :]
    return data[: draw(st.integers(0, len(data) - 1))]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_a_mutated_example_reads_as_the_tree_reads_it(data: bytes) -> None:
    """Changed, removed, doubled or strange elements, cut documents: the same outcome, with the
    same issues in the same order on the same lines."""
    assert streamed_outcome(data) == tree_outcome(data)


@pytest.fixture(scope="module")
def large_323() -> bytes:
    """A 323 of about 4 MB, one element a line: lines beyond 65,535 (libxml2 stores them apart)."""
    root = etree.fromstring(wmo323(REFERENCE, size=3 * 1024 * 1024).render("000000000001"))
    return etree.tostring(root, pretty_print=True, xml_declaration=True, encoding="UTF-8")


def test_a_large_message_with_errors_far_apart_lists_them_on_their_lines(large_323: bytes) -> None:
    """Errors at the start and near the end of a large 323: the same issues and lines."""
    late = large_323.rfind(b"<iwmo:Begindatum>")
    data = large_323[:late] + large_323[late:].replace(b"-01<", b"-31<", 1)
    data = data.replace(b"<wmo323:GeleverdVolume>4<", b"<wmo323:GeleverdVolume>x<", 1)
    outcome = streamed_outcome(data)
    assert outcome == tree_outcome(data)
    assert isinstance(outcome, tuple)
    assert outcome[0] == "invalid"
    assert outcome[2] == 2
    assert int(outcome[1][1].split(":")[0].removeprefix("line ")) > 65_535


@pytest.mark.parametrize("how", ["broken", "invalid"])
def test_a_refused_large_message_leaves_no_frame_behind_in_a_cycle(
    large_323: bytes, how: str
) -> None:
    """The parser's complaint comes back without its traceback: through the pass's frame it
    held the message and the parser in reference cycles, which only the garbage collector
    frees, a message of up to 25 MB at a time."""
    data = large_323[:-20] if how == "broken" else large_323.replace(b">4<", b">x<", 1)
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        with pytest.raises(NotWellFormedError if how == "broken" else SchemaViolation):
            read_message(data, CATALOG, lambda _: HEADER)
        gc.collect()
        frames = [o.f_code.co_name for o in gc.garbage if isinstance(o, types.FrameType)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert frames == []


def test_a_large_message_leaves_only_the_open_elements_in_the_parser(large_323: bytes) -> None:
    """After a pass over 60,000 elements the parser's tree holds a handful: each was dropped
    once it ended."""
    root_tag = streaming._first_look(large_323)
    assert root_tag is not None
    schema = CATALOG.schema(CATALOG.identify(etree.ElementTree(etree.Element(root_tag))))
    read = streaming._Pass(root_tag, HEADER, schema, 64)
    assert read.feed(large_323) is None
    assert read.root is not None
    assert large_323.count(b"</") > 60_000
    assert len(list(read.root.iter())) < 10


def test_the_digest_keeps_every_named_element_once_and_the_first_with_text(
    large_323: bytes,
) -> None:
    """``every``: each one, once even when nested in another kept one; ``first``: just the one."""
    keep = Keep(frozenset({"Header", "Prestatie", "ReferentieNummer"}), frozenset({"Begindatum"}))
    digest = read_message(large_323, CATALOG, lambda _: keep)
    whole = parse_xml(large_323).getroot()
    kept = [etree.QName(element).localname for element in digest.doc.getroot()]
    prestaties = len(whole.findall(".//{*}Prestatie"))
    assert kept == ["Header", "Begindatum"] + ["Prestatie"] * prestaties
    assert len(digest.doc.getroot().findall(".//{*}ReferentieNummer")) == prestaties
    first = digest.doc.getroot()[1]
    assert first.text == whole.find(".//{*}DeclaratiePeriode/{*}Begindatum").text  # type: ignore[union-attr]
    assert digest.doc.getroot().tag == whole.tag
    assert digest.doc.getroot().nsmap == whole.nsmap


def test_a_digest_of_first_names_only_keeps_each_first_one(large_323: bytes) -> None:
    """Without any ``every`` name, the first element with text of each ``first`` name is kept."""
    keep = Keep(first=frozenset({"Begindatum", "Bsn"}))
    digest = read_message(large_323, CATALOG, lambda _: keep)
    kept = [(etree.QName(element).localname, element.text) for element in digest.doc.getroot()]
    assert kept == [("Begindatum", "2023-04-01"), ("Bsn", "999900006")]


def test_lxml_reports_as_before_after_a_streaming_read(large_323: bytes) -> None:
    """The relay of XSD errors leaves lxml's own logs as they were: tree validation and parse
    errors still name their element and line."""
    with pytest.raises(SchemaViolation):
        read_message(large_323.replace(b">4<", b">x<", 1), CATALOG, lambda _: HEADER)
    doc = parse_xml(EXAMPLES["WMO305.xml"].replace(b"2025-04-05", b"2025-02-30", 1))
    assert [(i.line, i.element) for i in CATALOG.issues(doc)] == [(11, "Dagtekening")]
    with pytest.raises(NotWellFormedError, match="mismatch") as caught:
        parse_xml(b"<r>\n<a>\n</b></r>")
    assert caught.value.line == 3


def test_a_root_in_an_unknown_namespace_is_parsed_whole_before_it_is_unknown() -> None:
    """Broken after an unknown root: "not well-formed", as the tree path says; intact: unknown."""
    siblings = b"<a>" + b"<b/>" * 100_000
    assert streamed_outcome(siblings + b"</a>") == tree_outcome(siblings + b"</a>")
    assert streamed_outcome(siblings + b"</c>") == tree_outcome(siblings + b"</c>")
    assert streamed_outcome(siblings + b"</a>")[0] == "UnknownMessageError"  # type: ignore[index]
