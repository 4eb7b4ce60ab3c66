"""A deliberately dumb HTTP/1.1 client over mutual TLS, for requests no polite client would send.

aiohttp's client fixes up what it sends (content types, boundaries, lengths); the hostile corpus
needs exact bytes, a body that trickles in, or a body that is larger than announced. Every request
is sent with ``Connection: close`` and the answer read to the end of the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Answer:
    """Status, headers (lower-cased names) and body of one response."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip()

    def json(self) -> object:
        return json.loads(self.body)


@dataclass(frozen=True)
class Request:
    """What to send: method, target, headers and body, optionally in timed pieces."""

    method: str
    target: str
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b""
    content_length: int | None = None  # None: the real length; a lie otherwise
    pieces: int = 1  # send the body in this many pieces ...
    pause: float = 0.0  # ... with this pause between them

    def head(self, host: str) -> bytes:
        lines = [f"{self.method} {self.target} HTTP/1.1", f"Host: {host}", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        length = len(self.body) if self.content_length is None else self.content_length
        if self.body or self.content_length is not None or self.method in ("POST", "PUT"):
            lines.append(f"Content-Length: {length}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def send(
    host: str, port: int, context: ssl.SSLContext, request: Request, *, within: float = 60.0
) -> Answer:
    """Send ``request`` on a new connection; the parsed answer."""
    async with asyncio.timeout(within):
        reader, writer = await asyncio.open_connection(
            host, port, ssl=context, server_hostname="localhost"
        )
        try:
            # The server may answer and close before it read the whole body (413): keep going
            # to the answer either way.
            with contextlib.suppress(ConnectionError):
                writer.write(request.head("localhost"))
                size = -(-len(request.body) // request.pieces) if request.body else 0
                for start in range(0, len(request.body), max(size, 1)):
                    writer.write(request.body[start : start + size])
                    await writer.drain()
                    if request.pause:
                        await asyncio.sleep(request.pause)
                await writer.drain()
            raw = await _read_all(reader)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()
    return parse(raw)


async def _read_all(reader: asyncio.StreamReader) -> bytes:
    """The answer: up to its Content-Length if it has one (the server may linger before it
    closes a connection whose request body it did not read), or else up to the end."""
    data = b""
    with contextlib.suppress(ConnectionError, ssl.SSLError):
        while chunk := await reader.read(65536):
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length" and len(body) >= int(value):
                        return data
    return data


def parse(raw: bytes) -> Answer:
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise AssertionError(f"no HTTP answer, got {raw[:200]!r}")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _unchunk(body)
    return Answer(status, headers, body)


def _unchunk(body: bytes) -> bytes:
    out = bytearray()
    while body:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += body[:size]
        body = body[size + 2 :]
    return bytes(out)
