"""Hostile or broken documents get a clear error from parse_xml, fast, and nothing is fetched."""

from __future__ import annotations

import concurrent.futures
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from gateway.errors import NotWellFormedError, UnsafeXmlError
from gateway.standard import streaming, xmlsafe
from gateway.standard.xmlsafe import check_bytes, parse_xml

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<lolz>&lol9;</lolz>"""


def _refused(data: bytes, error: type[Exception], match: str) -> Exception:
    started = time.perf_counter()
    with pytest.raises(error, match=match) as caught:
        parse_xml(data)
    assert time.perf_counter() - started < 1.0
    return caught.value


def test_xxe_with_a_file_entity_is_refused(tmp_path: Path) -> None:
    """An external entity pointing at a local file is refused before anything is read."""
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret", encoding="utf-8")
    data = (
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]><r>&x;</r>'
    ).encode()
    error = _refused(data, UnsafeXmlError, "DOCTYPE refused")
    assert "s3cret" not in str(error)


def test_xxe_with_a_network_entity_is_refused() -> None:
    """An external entity on the network is refused (and would not be fetched)."""
    data = b'<!DOCTYPE r [<!ENTITY x SYSTEM "http://127.0.0.1:9/x">]><r>&x;</r>'
    _refused(data, UnsafeXmlError, "DOCTYPE refused")


def test_billion_laughs_is_refused_at_once() -> None:
    """Nested entity expansion is refused, not expanded."""
    _refused(BILLION_LAUGHS, UnsafeXmlError, "DOCTYPE refused")


def test_an_external_dtd_is_refused() -> None:
    """A DOCTYPE naming an external DTD is refused."""
    _refused(b'<!DOCTYPE r SYSTEM "http://127.0.0.1:9/r.dtd"><r/>', UnsafeXmlError, "DOCTYPE")


def _tree_parse(data: bytes) -> bytes:
    return etree.tostring(etree.fromstring(data, xmlsafe._parser()))


def _pull_parse(data: bytes) -> bytes:
    parser = etree.XMLPullParser(events=("end",), **streaming._OPTIONS)
    parser.feed(data)
    return etree.tostring(parser.close())


@pytest.mark.parametrize("parse", [_tree_parse, _pull_parse], ids=["tree", "pull"])
def test_the_parsers_alone_neither_read_nor_expand_anything(
    parse: Callable[[bytes], bytes], tmp_path: Path
) -> None:
    """Behind the DOCTYPE refusal, the parser settings (parse_xml's and the streaming pass's)
    still read no external DTD from disk and expand no entity from one."""
    broken = tmp_path / "broken.dtd"
    broken.write_text("this is no DTD", encoding="utf-8")
    leaky = tmp_path / "leaky.dtd"
    leaky.write_text('<!ENTITY m "LEAKED">', encoding="utf-8")
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret", encoding="utf-8")
    # Read, the broken DTD would be a parse error ("Content error in the external subset").
    assert parse(f'<!DOCTYPE r SYSTEM "{broken.as_uri()}"><r/>'.encode()) == b"<r/>"
    hostile = [
        f'<!DOCTYPE r SYSTEM "{leaky.as_uri()}"><r>&m;</r>',
        f'<!DOCTYPE r [<!ENTITY % p SYSTEM "{leaky.as_uri()}"> %p;]><r>&m;</r>',
        f'<!DOCTYPE r [<!ENTITY x SYSTEM "{secret.as_uri()}">]><r>&x;</r>',
    ]
    for data in hostile:
        try:
            out = parse(data.encode())
        except etree.XMLSyntaxError as exc:
            out = str(exc).encode()
            assert re.search(rb"Entity '\w+' not defined", out), out
        assert b"LEAKED" not in out
        assert b"s3cret" not in out


def test_an_entity_reference_without_a_dtd_is_not_well_formed() -> None:
    """An undeclared entity is a well-formedness error naming it."""
    _refused(b"<r>&x;</r>", NotWellFormedError, "Entity 'x' not defined")


def test_deep_nesting_is_refused() -> None:
    """More than max_depth levels, and far more than libxml2 allows, are both refused."""
    _refused(b"<a>" * 100 + b"</a>" * 100, UnsafeXmlError, "deeper than 64")
    _refused(b"<a>" * 100_000 + b"</a>" * 100_000, UnsafeXmlError, "too deep")
    assert parse_xml(b"<a>" * 10 + b"</a>" * 10, max_depth=10).getroot().tag == "a"


def test_an_oversize_document_is_refused_before_parsing() -> None:
    """A document over max_bytes is refused by its size alone."""
    data = b"<r>" + b"x" * 2000 + b"</r>"
    with pytest.raises(UnsafeXmlError, match="too large: 2007 bytes, at most 1000"):
        parse_xml(data, max_bytes=1000)
    assert parse_xml(data, max_bytes=2007).getroot().tag == "r"


def test_invalid_utf8_names_the_byte_and_line() -> None:
    """Latin-1 bytes are refused as not UTF-8, naming the byte, its offset and line (OP192)."""
    error = _refused(b"<r>\n<n>Jos\xe9</n></r>", NotWellFormedError, r"byte 0xe9 at offset 10")
    assert isinstance(error, NotWellFormedError)
    assert error.line == 2


def test_a_byte_order_mark_is_refused() -> None:
    """A UTF-8 or UTF-16 BOM is refused (OP192), naming which."""
    _refused(b"\xef\xbb\xbf<r/>", NotWellFormedError, "UTF-8 byte order mark")
    _refused("<r/>".encode("utf-16"), NotWellFormedError, "UTF-16 byte order mark")


def test_another_declared_encoding_is_refused() -> None:
    """An XML declaration naming ISO-8859-1 is refused even if the bytes are ASCII."""
    _refused(b'<?xml version="1.0" encoding="ISO-8859-1"?><r/>', NotWellFormedError, "ISO-8859-1")


def test_broken_xml_names_the_line() -> None:
    """A mismatched tag is NotWellFormedError with the line of the fault."""
    error = _refused(b"<r>\n<a>\n</b></r>", NotWellFormedError, "mismatch")
    assert isinstance(error, NotWellFormedError)
    assert error.line == 3


def test_a_plain_message_parses() -> None:
    """UTF-8 with a declaration and non-ASCII text parses."""
    doc = parse_xml('<?xml version="1.0" encoding="UTF-8"?><r><n>José</n></r>'.encode())
    assert doc.getroot()[0].text == "José"


def test_one_parser_per_thread_reads_each_document_afresh() -> None:
    """The thread's parser, reused, carries nothing from one document into the next: not a
    broken document's error, not an earlier tree, not an entity it refused; another thread
    has a parser of its own."""
    first = parse_xml(b"<r><a>1</a></r>")
    _refused(b"<r>\n<a>\n</b></r>", NotWellFormedError, "mismatch")
    _refused(b"<r>&x;</r>", NotWellFormedError, "Entity 'x' not defined")
    second = parse_xml(b"<s><b>2</b></s>")
    assert (first.getroot().tag, first.getroot()[0].text) == ("r", "1")
    assert (second.getroot().tag, second.getroot()[0].text) == ("s", "2")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert pool.submit(xmlsafe._parser).result() is not xmlsafe._parser()
    assert xmlsafe._parser() is xmlsafe._parser()


@given(st.binary(max_size=40), st.integers(min_value=4, max_value=9))
def test_utf8_is_checked_slice_by_slice_as_a_whole_decode_would(data: bytes, size: int) -> None:
    """The UTF-8 check in slices names the same first bad byte as decoding the whole document."""
    try:
        data.decode("utf-8")
        expected = None
    except UnicodeDecodeError as exc:
        expected = f"at offset {exc.start} "
    original = xmlsafe._UTF8_SLICE
    xmlsafe._UTF8_SLICE = size  # sequences cut at every possible place
    try:
        check_bytes(data)
        found = None
    except NotWellFormedError as exc:
        found = str(exc)
    except UnsafeXmlError:
        return  # a DOCTYPE or ENTITY among the random bytes
    finally:
        xmlsafe._UTF8_SLICE = original
    if expected is None:
        assert found is None or "byte order mark" in found or "encoding" in found
    else:
        assert found is not None
        assert expected in found or "byte order mark" in found, found
