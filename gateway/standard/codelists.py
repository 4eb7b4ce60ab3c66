"""The code lists of iWmo 3.2 and iJw 3.2: every enumerated value, with what it means.

Kept as data (``data/<standard>-3.2-codes.tsv``: codelist, code, meaning) rather than code, because
they are long, change between releases, and differ between the two standards. The schema
generator writes them into the XSD enumerations; the level-2 rules and the command line use the
meanings of the retourcodes (LDT_RetourCode, code list WJ001).
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType

from gateway.standard.message_types import RELEASE, Standard

RETOURCODE = "LDT_RetourCode"


@functools.cache
def code_lists(standard: Standard) -> Mapping[str, Mapping[str, str]]:
    """Every code list of the standard: ``{"LDT_Geslacht": {"0": "Onbekend", ...}, ...}``."""
    name = f"{standard.value}-{RELEASE}-codes.tsv"
    text = resources.files("gateway.standard").joinpath("data", name).read_text(encoding="utf-8")
    lists: dict[str, dict[str, str]] = {}
    for row in csv.DictReader(text.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE):
        lists.setdefault(row["codelist"], {})[row["code"]] = row["meaning"]
    return MappingProxyType({k: MappingProxyType(v) for k, v in lists.items()})


def codes(standard: Standard, codelist: str) -> Mapping[str, str]:
    """One code list, code -> meaning; a KeyError names an unknown list."""
    try:
        return code_lists(standard)[codelist]
    except KeyError:
        raise KeyError(f"no code list {codelist!r} in {standard.value} {RELEASE}") from None


def retourcode_meaning(standard: Standard, code: str) -> str | None:
    """What a retourcode means (``"0200"`` -> ``"Geen opmerking over deze berichtklasse."``)."""
    return code_lists(standard)[RETOURCODE].get(code)
