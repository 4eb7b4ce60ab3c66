"""The body of a VSP push: ``multipart/form-data`` with exactly ``berichtMetadata`` and ``payload``.

Why our own reader: aiohttp's parses every media type and Content-Disposition through the
standard library's ``email`` package, which under load took a third of the gateway's event-loop
time (docs/performance.md). A push body is small and regular - two form-data parts, read whole
within a known limit - so it is read into one buffer and split on its boundary (RFC 2046 5.1,
RFC 7578), refusing anything else with a message that says what is wrong.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web

from gateway.errors import Refused

INVALID = "Invalid multipart body"

# token "=" ( token / quoted-string ), RFC 9110 5.6.6
_PARAMETER = re.compile(
    rb'\s*;\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]*)\s*'
)
_QUOTED_PAIR = re.compile(rb"\\(.)")


@dataclass(frozen=True, slots=True)
class MediaType:
    """A Content-Type (or Content-Disposition) value: its type, lowercased, and parameters."""

    type: str
    parameters: Mapping[str, str]

    @classmethod
    def parse(cls, value: str | bytes | bytearray | None) -> MediaType:
        """Parse leniently as the HTTP layer does: what cannot be read leaves a parameter out."""
        if value is None:
            return cls("", {})
        raw = value.encode("latin-1", "replace") if isinstance(value, str) else value
        head, _, rest = raw.partition(b";")
        parameters: dict[str, str] = {}
        for match in _PARAMETER.finditer(b";" + rest):
            name, text = match.group(1), match.group(2)
            if text.startswith(b'"'):
                text = text[1:-1]
                if b"\\" in text:
                    text = _QUOTED_PAIR.sub(rb"\1", text)
            parameters.setdefault(name.decode("ascii").lower(), text.decode("utf-8", "replace"))
        return cls(_type(head), parameters)


@functools.lru_cache(maxsize=64)
def _disposition(value: bytes) -> MediaType:
    """A part's Content-Disposition, parsed once per value: a participant's software sends the
    same few (``form-data; name="payload"``) with every push. Its parameters are only read."""
    return MediaType.parse(value)


def _type(head: bytes | bytearray) -> str:
    """The type of a media type value (what comes before its parameters), lowercased."""
    return head.strip().decode("latin-1").lower()


async def read_form(
    request: web.Request, media_type: MediaType, limits: Mapping[str, int]
) -> dict[str, bytes]:
    """The parts named in ``limits``, each present once and at most its limit in bytes."""
    boundary = media_type.parameters.get("boundary", "")
    if not 1 <= len(boundary) <= 70:
        raise Refused(
            400,
            INVALID,
            "the multipart boundary must be 1 to 70 characters"
            if boundary
            else "no multipart boundary in the Content-Type",
        )
    room = sum(limits.values()) + 64 * 1024  # the parts, their headers and the delimiters
    body = bytearray()
    while chunk := await request.content.readany():
        body += chunk
        if len(body) > room:
            raise Refused(
                413,
                "Bericht is te groot",
                f"the request exceeds {room} bytes",
                code="BRS06",
            )
    return split_form(body, boundary.encode("latin-1"), limits)


def split_form(
    body: bytes | bytearray, boundary: bytes, limits: Mapping[str, int]
) -> dict[str, bytes]:
    """Split a whole form-data body; see ``read_form``. Each part is copied out once."""
    delimiter = b"--" + boundary
    if body.startswith(delimiter):
        at = len(delimiter)
    else:
        start = body.find(b"\r\n" + delimiter)
        if start < 0:
            raise Refused(400, INVALID, "the body holds no part under the declared boundary")
        at = start + 2 + len(delimiter)
    parts: dict[str, bytes] = {}
    separator = b"\r\n" + delimiter
    while True:
        if body.startswith(b"--", at):
            break  # the close delimiter; what follows is epilogue
        line_end = body.find(b"\r\n", at)
        if line_end < 0 or body[at:line_end].strip(b" \t"):
            raise Refused(400, INVALID, "a boundary line is followed by something else")
        end = body.find(separator, line_end + 2)
        if end < 0:
            raise Refused(400, INVALID, "the body ends before its closing boundary")
        name, content_start = _part(body, line_end + 2, end, limits)
        if name in parts:
            raise Refused(400, INVALID, f"part {name!r} appears twice")
        with memoryview(body) as view:
            parts[name] = bytes(view[content_start:end])
        at = end + len(separator)
    missing = [name for name in limits if name not in parts]
    if missing:
        raise Refused(400, INVALID, f"missing part(s): {', '.join(missing)}")
    return parts


def _part(
    body: bytes | bytearray, start: int, end: int, limits: Mapping[str, int]
) -> tuple[str, int]:
    """The name of the part between ``start`` and ``end``, and where its content starts."""
    headers_end = body.find(b"\r\n\r\n", start - 2, end)
    if headers_end < 0:
        raise Refused(400, INVALID, "a part has no blank line after its headers")
    disposition: MediaType | None = None
    content_type: str | None = None
    for line in body[start:headers_end].split(b"\r\n"):
        field, colon, value = line.partition(b":")
        if not colon:
            if line:
                raise Refused(400, INVALID, f"a part header is not 'Name: value': {line[:80]!r}")
            continue
        field = field.strip().lower()
        if field == b"content-disposition":
            disposition = _disposition(bytes(value))
        elif field == b"content-type":
            # Only its type matters, so its parameters are not read.
            content_type = _type(value.partition(b";")[0])
    if content_type is not None and content_type.startswith("multipart/"):
        raise Refused(400, INVALID, "nested multipart is not accepted")
    if disposition is None or disposition.type != "form-data":
        raise Refused(400, INVALID, "a part has no Content-Disposition: form-data")
    name = disposition.parameters.get("name")
    if name is None or name not in limits:
        expected = " and ".join(limits)
        raise Refused(400, INVALID, f"unexpected part {name!r}; expected {expected}")
    size = end - (headers_end + 4)
    if size > limits[name]:
        raise Refused(
            413, "Bericht is te groot", f"part {name!r} exceeds {limits[name]} bytes", code="BRS06"
        )
    return name, headers_end + 4
