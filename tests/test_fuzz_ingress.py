"""Fuzzing the ingress over HTTPS with mutated official examples: never a 5xx.

Every official iWmo/iJw 3.2 example is mutated (text of an element replaced, bytes flipped,
slices dropped or doubled, awkward tokens inserted, elements removed) and posted by the
participant the example names as Afzender, so that mutations get as deep into the pipeline as
they can: parsing, identification, the XSD, authorisation, the ledger, the broker. Whatever
comes of it, the gateway answers below 500.

CI runs ``FUZZ_EXAMPLES`` cases (default 300); ``FUZZ_EXAMPLES=10000`` is the full run.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gateway.participants import Participant, Registry, Role
from tests.conftest import REFERENCE
from tests.fixtures.gateway import Client, RunningGateway

REGISTRY = Registry.load()  # the packaged one: ``certs_dir`` has a certificate for each
DEFAULT_SENDER = Participant.parse("aanbieder-65656055")
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))

EXAMPLES = {
    path.stem: path.read_bytes()
    for standard in ("iwmo-3.2", "ijw-3.2")
    for path in sorted((REFERENCE / standard / "examples").glob("*.xml"))
}
TEXT = re.compile(rb">([^<>]*)<")
SIMPLE_ELEMENT = re.compile(rb"<([\w.-]+:[\w.-]+)>[^<]*</\1>")
AFZENDER = re.compile(rb"<[\w]+:Afzender>(\d+)</")
IDENTIFICATIE = re.compile(rb"(BerichtIdentificatie>\s*<[\w]+:Identificatie>)([^<]*)(<)")
RUN = secrets.token_hex(2)
NUMBERS = itertools.count()
MUTATIONS = ["text"] * 4 + ["element"] * 2 + ["flip", "drop", "double", "insert"]
TOKENS = [
    b"<",
    b">",
    b"&",
    b"&amp;",
    b"&#0;",
    b"]]>",
    b"<![CDATA[",
    b"<!--",
    b"<!DOCTYPE x>",
    b'<!ENTITY e SYSTEM "file:///etc/passwd">',
    b"\x00",
    b"\xff",
    b"\xef\xbb\xbf",
    b"\xc3",
    b" ",
    b"\n",
    b'"',
    b"'",
    b"0",
    b"-1",
    b"99999999999999999999",
    b"2025-02-30",
    b"x" * 300,
]


def sender_of(document: bytes) -> Participant:
    """The registered participant the Afzender names (4 digits: gemeente, 8: aanbieder); a
    mutated Afzender that names nobody we have a certificate for posts as provider 65656055."""
    match = AFZENDER.search(document)
    code = match[1].decode() if match else ""
    role = Role.GEMEENTE if len(code) == 4 else Role.AANBIEDER
    return REGISTRY.get(role, code) or DEFAULT_SENDER


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(EXAMPLES)))
    document = bytearray(EXAMPLES[name])
    for _ in range(draw(st.integers(1, 3))):
        # Mostly mutations that keep the XML well-formed, so that they reach the XSD and beyond.
        kind = draw(st.sampled_from(MUTATIONS))
        size = len(document)
        if kind == "text" and (spans := list(TEXT.finditer(document))):
            span = draw(st.sampled_from(spans)).span(1)
            value = draw(st.one_of(st.text(max_size=40).map(str.encode), st.sampled_from(TOKENS)))
            document[span[0] : span[1]] = value
        elif kind == "element" and (elements := list(SIMPLE_ELEMENT.finditer(document))):
            start, end = draw(st.sampled_from(elements)).span()
            del document[start:end]
        elif kind == "flip" and size:
            document[draw(st.integers(0, size - 1))] = draw(st.integers(0, 255))
        elif kind == "drop" and size:
            start = draw(st.integers(0, size - 1))
            del document[start : start + draw(st.integers(1, 64))]
        elif kind == "double" and size:
            start = draw(st.integers(0, size - 1))
            document[start:start] = document[start : start + draw(st.integers(1, 256))]
        else:
            at = draw(st.integers(0, size))
            document[at:at] = draw(st.sampled_from(TOKENS))
    return name, bytes(document)


def with_fresh_identificatie(name: str, payload: bytes) -> bytes:
    """The payload with a BerichtIdentificatie of its own where the mutations left the example's:
    otherwise every well-formed, valid mutant after the first is a duplicate (BRS20) and never
    gets as far as the ledger and the broker."""
    original = IDENTIFICATIE.search(EXAMPLES[name])
    found = IDENTIFICATIE.search(payload)
    if original is None or found is None or found[2] != original[2]:
        return payload
    fresh = f"{RUN}{next(NUMBERS):08d}".encode()
    return payload[: found.start(2)] + fresh + payload[found.end(2) :]


async def post(clients: dict[Participant, Client], gateway: RunningGateway, payload: bytes) -> int:
    sender = sender_of(payload)
    if sender not in clients:
        clients[sender] = await gateway.client(sender)
    async with await clients[sender].post_xml(payload) as response:
        body = await response.read()
        # How deep the mutations get: ``--hypothesis-show-statistics`` counts these.
        code = re.search(rb'"code":\s*"(\w+)"', body) if response.status >= 400 else None
        event(f"{response.status} {code[1].decode() if code else ''}".strip())
        return response.status


@pytest.fixture
def fuzz_clients() -> dict[Participant, Client]:
    """One HTTPS client per sender, made on first use (the gateway fixture closes them)."""
    return {}


def test_there_are_examples_to_mutate() -> None:
    """The fuzzer starts from the official examples of both standards."""
    assert len(EXAMPLES) >= 28
    assert all(sender_of(document).code for document in EXAMPLES.values())


@pytest.mark.timeout(max(120, FUZZ_EXAMPLES // 10))
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=mutated())
async def test_mutated_examples_never_get_a_5xx(
    case: tuple[str, bytes],
    running_gateway: RunningGateway,
    fuzz_clients: dict[Participant, Client],
) -> None:
    """A mutated official example is accepted or refused, never answered 5xx."""
    name, payload = case
    status = await post(fuzz_clients, running_gateway, with_fresh_identificatie(name, payload))
    assert status < 500, f"{name} mutated: {status}"


def test_mutation_patterns_match_every_example() -> None:
    """The mutations have something to work on in every example: element text, whole elements."""
    for name, document in EXAMPLES.items():
        assert TEXT.search(document), name
        assert SIMPLE_ELEMENT.search(document), name
