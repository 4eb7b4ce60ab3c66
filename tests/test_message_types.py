"""The message-type table agrees with the official namespaces and BerichtCodes."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from gateway.participants import Role
from gateway.standard.message_types import NAMESPACES, MessageType


def test_codes_and_namespaces_match_the_official_list(reference: Path) -> None:
    """Every 3.2 message's BerichtCode, namespace and sender agree with the official XSDs."""
    with (reference / "codelists/berichtcodes_from_xsd.csv").open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["release"] in ("iwmo-3.2", "ijw-3.2")]
    assert len(rows) == 28
    for row in rows:
        message = MessageType.parse(row["bericht"])
        assert message.code == int(row["berichtcode"])
        assert message.namespace == row["targetNamespace"]
        afzender = (
            Role.GEMEENTE if row["root_afzender_type"].endswith("Gemeente") else Role.AANBIEDER
        )
        assert message.header_afzender_role is afzender


def test_retour_pairs() -> None:
    """Each heen message knows its retour message and back."""
    assert MessageType.WMO301.retour is MessageType.WMO302
    assert MessageType.JW323.retour is MessageType.JW325
    assert MessageType.WMO306.answers is MessageType.WMO305
    assert MessageType.WMO302.sender_role is Role.AANBIEDER
    assert MessageType.WMO325.retour is None
    assert len(NAMESPACES) == 28


def test_parse_names_the_unknown_type() -> None:
    """An unknown message name is a clear error listing the known ones."""
    with pytest.raises(ValueError, match="unknown message type 'WMO999'"):
        MessageType.parse("WMO999")
