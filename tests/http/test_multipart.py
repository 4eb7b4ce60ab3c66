"""The push body reader: form-data as real clients write it, and a precise refusal otherwise."""

from __future__ import annotations

import aiohttp
import pytest
import urllib3
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import Refused
from gateway.http.multipart import MediaType, split_form

LIMITS = {"berichtMetadata": 1024, "payload": 4096}
META = b'{"traceerId": "x"}'


async def aiohttp_form(meta: bytes, payload: bytes) -> tuple[bytes, str]:
    form = aiohttp.FormData()
    form.add_field("berichtMetadata", meta.decode(), content_type="application/json")
    form.add_field("payload", payload, filename="bericht.xml", content_type="application/xml")
    writer = form()
    return await writer.as_bytes(), writer.content_type


def urllib3_form(meta: bytes, payload: bytes) -> tuple[bytes, str]:
    return urllib3.encode_multipart_formdata(
        {
            "berichtMetadata": ("", meta, "application/json"),
            "payload": ("bericht.xml", payload, "application/xml"),
        }
    )


def split(body: bytes, content_type: str) -> dict[str, bytes]:
    boundary = MediaType.parse(content_type).parameters["boundary"]
    return split_form(body, boundary.encode(), LIMITS)


def refusal(body: bytes, boundary: bytes = b"B") -> Refused:
    with pytest.raises(Refused) as caught:
        split_form(body, boundary, LIMITS)
    return caught.value


@pytest.mark.parametrize(
    ("header", "type_", "parameters"),
    [
        ("multipart/form-data; boundary=abc", "multipart/form-data", {"boundary": "abc"}),
        ('Multipart/Form-Data;BOUNDARY="a b;c"', "multipart/form-data", {"boundary": "a b;c"}),
        (
            'form-data; name="payload"; filename="b.xml"',
            "form-data",
            {"name": "payload", "filename": "b.xml"},
        ),
        ('form-data; name="a\\"b"', "form-data", {"name": 'a"b'}),
        ("application/xml ; charset=utf-8", "application/xml", {"charset": "utf-8"}),
        ("text/xml", "text/xml", {}),
        ("", "", {}),
    ],
)
def test_media_types_are_read_as_http_writes_them(
    header: str, type_: str, parameters: dict[str, str]
) -> None:
    """Type lowercased, parameter names case-insensitive, quoted values unquoted."""
    parsed = MediaType.parse(header)
    assert parsed.type == type_
    assert dict(parsed.parameters) == parameters


async def test_aiohttp_and_urllib3_forms_split_into_their_parts() -> None:
    """Bodies as two widely used client libraries write them come apart exactly."""
    payload = b"<bericht>\r\n--not-the-boundary\r\n</bericht>"
    for body, content_type in (await aiohttp_form(META, payload), urllib3_form(META, payload)):
        assert split(body, content_type) == {"berichtMetadata": META, "payload": payload}


@given(payload=st.binary(max_size=2048), meta=st.binary(max_size=512))
def test_any_content_comes_back_byte_for_byte(payload: bytes, meta: bytes) -> None:
    """Whatever bytes a part holds (CRLFs, dashes, boundary look-alikes) come back unchanged."""
    body, content_type = urllib3_form(meta, payload)
    assert split(body, content_type) == {"berichtMetadata": meta, "payload": payload}


def part(name: str, content: bytes) -> bytes:
    return b'Content-Disposition: form-data; name="' + name.encode() + b'"\r\n\r\n' + content


def form(*parts: bytes, preamble: bytes = b"", epilogue: bytes = b"") -> bytes:
    inner = b"".join(b"--B\r\n" + p + b"\r\n" for p in parts)
    return preamble + inner + b"--B--" + epilogue


def test_preamble_epilogue_and_padding_are_ignored() -> None:
    """RFC 2046: text before the first and after the last boundary, blanks after a boundary."""
    body = form(part("berichtMetadata", META), part("payload", b"<x/>"), preamble=b"hi\r\n")
    body = body.replace(b"--B\r\nContent", b"--B  \r\nContent", 1) + b"\r\nbye"
    assert split_form(body, b"B", LIMITS) == {"berichtMetadata": META, "payload": b"<x/>"}


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (form(part("payload", b"x")), 400, "missing part(s): berichtMetadata"),
        (
            form(part("berichtMetadata", META), part("payload", b"x"), part("payload", b"y")),
            400,
            "part 'payload' appears twice",
        ),
        (
            form(part("berichtMetadata", META), part("payload", b"x"), part("extra", b"y")),
            400,
            "unexpected part 'extra'",
        ),
        (
            form(part("berichtMetadata", META), b"Content-Type: text/plain\r\n\r\nx"),
            400,
            "no Content-Disposition",
        ),
        (form(part("berichtMetadata", META), b"\r\nx"), 400, "no Content-Disposition"),
        (
            form(
                part("berichtMetadata", META),
                b'Content-Disposition: attachment; name="payload"\r\n\r\nx',
            ),
            400,
            "no Content-Disposition: form-data",
        ),
        (
            form(
                part("berichtMetadata", META),
                b"Content-Type: multipart/mixed; boundary=C\r\n" + part("payload", b"x"),
            ),
            400,
            "nested multipart",
        ),
        (
            form(part("berichtMetadata", META), b"garbage line\r\n" + part("payload", b"x")),
            400,
            "not 'Name: value'",
        ),
        (
            form(part("berichtMetadata", META), part("payload", b"x"))[: -len(b"--B--")],
            400,
            "ends before its closing boundary",
        ),
        (b"--B\r\n" + part("payload", b"x"), 400, "ends before its closing boundary"),
        (b"no parts here at all", 400, "no part under the declared boundary"),
        (b"--Bextra\r\n" + part("payload", b"x") + b"\r\n--B--", 400, "followed by something else"),
        (b'--B\r\nContent-Disposition: form-data; name="payload"', 400, "closing boundary"),
        (
            form(part("berichtMetadata", META), part("payload", b"x" * 4097)),
            413,
            "part 'payload' exceeds 4096 bytes",
        ),
    ],
)
def test_malformed_forms_are_refused_saying_why(body: bytes, status: int, detail: str) -> None:
    """Every way a push body can be wrong is a 4xx whose detail names what is wrong."""
    refused = refusal(body)
    assert refused.status == status
    assert detail in (refused.detail or "")
