"""Fixtures of the standard's tests: the official examples and the official XSDs, compiled once."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.standard.catalog import Catalog, load_release
from gateway.standard.message_types import MessageType


@dataclass(frozen=True)
class Example:
    """One official example message and its verdict under the official XSD."""

    path: Path
    name: str  # as in examples-expected.csv: iwmo-3.2/examples/WMO301.xml
    message_type: MessageType
    valid: bool


def read_examples(reference: Path) -> list[Example]:
    with (reference / "examples-expected.csv").open(encoding="utf-8") as f:
        return [
            Example(
                path=reference / row["example"],
                name=row["example"],
                message_type=MessageType.parse(row["message"]),
                valid=row["verdict_under_official_xsd"] == "valid",
            )
            for row in csv.DictReader(f)
        ]


@pytest.fixture(scope="session")
def examples(reference: Path) -> list[Example]:
    """Every official 3.2 example with its official verdict."""
    return read_examples(reference)


@pytest.fixture(scope="session")
def official(reference: Path) -> Catalog:
    """The official iWmo 3.2 and iJw 3.2 XSDs, plugged in as a release set."""
    return load_release(reference / "iwmo-3.2" / "xsd", reference / "ijw-3.2" / "xsd")
