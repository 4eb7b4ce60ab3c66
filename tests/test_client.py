"""The pure parts of the participant's client: push metadata from a message, checksums, digests."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from gateway.client import addressing, digest_of, verify_checksum
from gateway.errors import ChecksumMismatch, MessageError, NotWellFormedError, UnknownMessageError
from gateway.participants import Participant
from gateway.standard.message_types import MessageType


def example(reference: Path, name: str) -> bytes:
    standard = "iwmo-3.2" if name.startswith("WMO") else "ijw-3.2"
    return (reference / standard / "examples" / f"{name}.xml").read_bytes()


def test_addressing_reads_type_and_ontvanger(reference: Path) -> None:
    """A 305's push metadata: berichttype from its namespace, geadresseerde from Ontvanger."""
    found = addressing(example(reference, "WMO305"))
    assert found.message_type is MessageType.WMO305
    assert found.recipient == Participant.parse("gemeente-0363")


def test_addressing_of_a_retour_goes_to_the_afzender(reference: Path) -> None:
    """A 306 copies the 305's header (IV028): it goes to the Afzender, the 305's sender."""
    found = addressing(example(reference, "WMO306"))
    assert found.message_type is MessageType.WMO306
    assert found.recipient == Participant.parse("aanbieder-65656055")


def test_addressing_does_not_validate(reference: Path) -> None:
    """The schema-invalid official JW315 still has metadata: the gateway is the one to judge."""
    found = addressing(example(reference, "JW315"))
    assert (found.message_type, found.recipient.key) == (MessageType.JW315, "gemeente-0384")


def test_addressing_refuses_what_has_no_metadata(reference: Path) -> None:
    """Not XML, an unknown namespace, or a recipient code of the wrong shape: MessageError."""
    with pytest.raises(NotWellFormedError):
        addressing(b"not xml at all")
    with pytest.raises(UnknownMessageError, match="urn:other"):
        addressing(b'<Bericht xmlns="urn:other"/>')
    bad = example(reference, "WMO305").replace(b">0363<", b">363<")
    with pytest.raises(MessageError, match="Ontvanger '363' is not a gemeente code"):
        addressing(bad)


def test_verify_checksum_takes_the_right_digest() -> None:
    """The payload's own SHA-256, in either case of hexadecimal, passes."""
    body = b"<Bericht/>"
    verify_checksum("t", body, hashlib.sha256(body).hexdigest())
    verify_checksum("t", body, hashlib.sha256(body).hexdigest().upper())


def test_verify_checksum_catches_a_tampered_payload() -> None:
    """One byte changed: ChecksumMismatch names the message and both digests."""
    announced = hashlib.sha256(b"<Bericht/>").hexdigest()
    tampered = b"<Bericht />"
    with pytest.raises(ChecksumMismatch) as caught:
        verify_checksum("1b2c", tampered, announced)
    assert caught.value.expected == announced
    assert caught.value.actual == hashlib.sha256(tampered).hexdigest()
    assert "payload of 1b2c: checksum mismatch" in str(caught.value)


def test_digest_of_reads_repr_digest_and_digest() -> None:
    """The download's Repr-Digest (RFC 9530), else Digest (RFC 3230), as hexadecimal."""
    raw = hashlib.sha256(b"x").digest()
    encoded = base64.b64encode(raw).decode()
    assert digest_of({"Repr-Digest": f"md5=:AAAA:, sha-256=:{encoded}:"}) == raw.hex()
    assert digest_of({"Digest": f"sha-256={encoded}"}) == raw.hex()
    assert digest_of({"Repr-Digest": "sha-256=:not base64!:"}) is None
    assert digest_of({}) is None
