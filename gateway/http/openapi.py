"""The OpenAPI document of the gateway's HTTP API, served as ``GET /openapi.json`` on both ports.

The document (``openapi.json`` beside this module) is written by hand, in our own words, and
describes both ports: vendors read it to point their software at the simulator, and the tests
hold the live server to it with schemathesis. It is read once and served as it is.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from aiohttp import web

DOCUMENT = "openapi.json"


@functools.cache
def document_bytes() -> bytes:
    """The document as shipped in the package, byte for byte."""
    return resources.files(__package__).joinpath(DOCUMENT).read_bytes()


def document() -> dict[str, Any]:
    """A fresh, parsed copy of the document, for tools and tests to read or amend."""
    parsed: dict[str, Any] = json.loads(document_bytes())
    return parsed


async def openapi_document(_request: web.Request) -> web.Response:
    """The document of both ports, the same on each."""
    return web.Response(body=document_bytes(), content_type="application/json")
