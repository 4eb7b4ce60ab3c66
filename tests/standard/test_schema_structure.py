"""Our generated XSDs state the same structure and facets as the official ones, type by type.

The differential test samples behaviour; this one compares the facts themselves: for every
message, the tree of elements (names, order, cardinality, types) with every facet, and every
code of every enumeration, after resolving named types. Type names and documentation may differ.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from gateway.standard.message_types import MessageType, Standard
from gateway.standard.xsdgen import SCHEMAS, release_dir

XS = "{http://www.w3.org/2001/XMLSchema}"


def _facets(restriction: etree._Element) -> dict[str, Any]:
    facets: dict[str, Any] = {"base": restriction.get("base", "").split(":")[-1]}
    for facet in restriction:
        if not isinstance(facet.tag, str) or facet.tag == f"{XS}annotation":
            continue
        name = facet.tag.removeprefix(XS)
        value = facet.get("value")
        if name in ("enumeration", "pattern"):
            facets.setdefault(name, set()).add(value)
        else:
            facets[name] = value
    return facets


class _Schema:
    """One message XSD with its basisschema, read into named simple and complex types."""

    def __init__(self, path: Path) -> None:
        self.simple: dict[str, dict[str, Any]] = {}
        self.complex: dict[str, etree._Element] = {}
        for file in (path.parent / "basisschema.xsd", path):
            root = etree.parse(str(file)).getroot()
            for simple in root.iterfind(f"{XS}simpleType"):
                restriction = simple.find(f"{XS}restriction")
                assert restriction is not None
                self.simple[simple.get("name", "")] = _facets(restriction)
            for complex_type in root.iterfind(f"{XS}complexType"):
                # A message's own types shadow nothing of the basisschema (CDT_ names differ).
                self.complex[complex_type.get("name", "")] = complex_type

    def describe(self, complex_type: etree._Element) -> list[Any]:
        sequence = complex_type.find(f"{XS}sequence")
        assert sequence is not None
        described = []
        for element in sequence.iterfind(f"{XS}element"):
            occurs = (element.get("minOccurs", "1"), element.get("maxOccurs", "1"))
            described.append((element.get("name"), occurs, self._type(element)))
        return described

    def _type(self, element: etree._Element) -> Any:
        anonymous = element.find(f"{XS}simpleType/{XS}restriction")
        if anonymous is not None:
            facets = _facets(anonymous)
            return ("restricted", self.simple[facets.pop("base")], facets)
        name = element.get("type", "").split(":")[-1]
        if name in self.simple:
            return ("simple", self.simple[name])
        return ("complex", self.describe(self.complex[name]))

    def root(self) -> list[Any]:
        return self.describe(self.complex["Root"])


@pytest.mark.parametrize("message_type", list(MessageType), ids=str)
def test_our_schema_states_the_official_structure(
    message_type: MessageType, reference: Path
) -> None:
    """Elements, order, cardinality, facets and every enumerated code equal the official XSD."""
    folder = release_dir(message_type.standard)
    ours = _Schema(SCHEMAS / folder / f"{message_type.name}.xsd")
    official = _Schema(reference / folder / "xsd" / f"{message_type.name}.xsd")
    assert ours.root() == official.root()


@pytest.mark.parametrize("standard", list(Standard), ids=str)
def test_our_basisschema_has_every_official_simple_type(
    standard: Standard, reference: Path
) -> None:
    """All 60 LDT_ types, with their facets and codes, also those no message uses."""
    folder = release_dir(standard)
    ours = _Schema(SCHEMAS / folder / "basisschema.xsd")
    official = _Schema(reference / folder / "xsd" / "basisschema.xsd")
    assert ours.simple == official.simple
    assert len(ours.simple) == 60
    assert set(ours.complex) == set(official.complex)  # the 19 CDT_ types
