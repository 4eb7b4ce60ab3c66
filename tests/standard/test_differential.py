"""Differential test: on thousands of mutated official examples, our verdict is the official one.

The mutations are seeded, so every run judges the same documents: elements removed, duplicated,
swapped with their neighbour, or added; values out of pattern, length, range, enumeration or
calendar (2027-06-31, 2023-02-29). The official verdict comes from the official XSDs, compiled
with lxml here. A second pass leaves chance out: every kind of leaf the examples hold gets every
length of the list below and, if it holds a code of one or two digits or two capitals, every
such code.
"""

from __future__ import annotations

import copy
import random
import re
import string
from collections import Counter
from collections.abc import Callable, Iterator

from lxml import etree

from gateway.standard.catalog import Catalog, default_catalog
from gateway.standard.message_types import MessageType
from gateway.standard.xmlsafe import parse_xml
from tests.standard.conftest import Example

PER_EXAMPLE = 40
SEED = 20260323

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{2}:\d{2}:\d{2}")
_BAD_DATES = [
    "2027-06-31",
    "2023-02-29",
    "2024-02-29",  # a leap day: valid
    "2023-13-01",
    "2023-1-01",
    "2023-01-01Z",
    "2023-01-01+01:00",
    "20230101",
    "0000-01-01",
    "-2023-01-01",
    "12023-01-01",
]
_BAD_TIMES = ["24:00:00", "12:60:00", "10:00", "10:00:00Z", "10:00:00+01:00", "10:00:00.5"]
_BAD_NUMBERS = ["-1", "+5", "007", "1e3", "1.0", "999999999999999", "0", " 5", "", "x"]
# Around every length facet of the basisschema (1, 2, 4, 5, 6, 8, 9, 10, 12, 15, 20, 24, ...).
_LENGTHS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 16, 20, 21, 24, 25, 35, 36, 37]
_LENGTHS += [64, 65, 80, 81, 200, 201]
_BAD_TEXTS = ["", " ", "\t", "ZZ", "A", "é", "99", "0000", "123456789", "1.0.0", "01.0.0"]


def _leaf_value(rng: random.Random, text: str) -> str:
    if _DATE.match(text):
        return rng.choice([*_BAD_DATES, text[:-1], text + " "])
    if _TIME.match(text):
        return rng.choice(_BAD_TIMES)
    if rng.random() < 0.3:
        return ("1" if text.isdigit() else "A") * rng.choice(_LENGTHS)
    if text.isdigit():
        return rng.choice(
            [*_BAD_NUMBERS, text + "0", text[:-1], "9" * len(text), text + "a", "1" + text]
        )
    return rng.choice([*_BAD_TEXTS, text * 50, text + "X", text[:-1], " " + text + " "])


def _elements(root: etree._Element) -> list[etree._Element]:
    return [e for e in root.iter() if isinstance(e.tag, str) and e is not root]


def _remove(rng: random.Random, root: etree._Element) -> str:
    victim = rng.choice(_elements(root))
    victim.getparent().remove(victim)  # type: ignore[union-attr]
    return f"remove {etree.QName(victim).localname}"


def _duplicate(rng: random.Random, root: etree._Element) -> str:
    victim = rng.choice(_elements(root))
    victim.addnext(copy.deepcopy(victim))
    return f"duplicate {etree.QName(victim).localname}"


def _reorder(rng: random.Random, root: etree._Element) -> str:
    candidates = [e for e in _elements(root) if e.getnext() is not None]
    victim = rng.choice(candidates)
    following = victim.getnext()
    assert following is not None
    following.addnext(victim)
    return f"swap {etree.QName(victim).localname} and {etree.QName(following).localname}"


def _add(rng: random.Random, root: etree._Element) -> str:
    parent = rng.choice([e for e in root.iter() if len(e)])
    donor = rng.choice(_elements(root))
    # Either a name the message knows (in the wrong place, or once too often) or a foreign one.
    namespace = etree.QName(parent[0]).namespace
    name = rng.choice([etree.QName(donor).localname, "Onbekend"])
    added = etree.Element(f"{{{namespace}}}{name}")
    added.text = donor.text if len(donor) == 0 else None
    parent.insert(rng.randrange(len(parent) + 1), added)
    return f"add {name} under {etree.QName(parent).localname}"


def _value(rng: random.Random, root: etree._Element) -> str:
    leaf = rng.choice([e for e in _elements(root) if len(e) == 0])
    old = leaf.text or ""
    leaf.text = _leaf_value(rng, old)
    return f"{etree.QName(leaf).localname}: {old!r} -> {leaf.text!r}"


_MUTATIONS: list[Callable[[random.Random, etree._Element], str]] = [
    _remove,
    _duplicate,
    _reorder,
    _add,
    _value,
    _value,  # values carry most of the facets: mutate them twice as often
]


def mutations(example: Example, rng: random.Random) -> Iterator[tuple[str, etree._ElementTree]]:
    """PER_EXAMPLE mutants of one example, each with what was done to it."""
    original = parse_xml(example.path.read_bytes()).getroot()
    for _ in range(PER_EXAMPLE):
        root = copy.deepcopy(original)
        done = [rng.choice(_MUTATIONS)(rng, root) for _ in range(rng.choice((1, 1, 1, 2)))]
        yield "; ".join(done), etree.ElementTree(root)


def test_our_verdict_is_the_official_verdict_on_every_mutant(
    examples: list[Example], official: Catalog
) -> None:
    """>= 1,000 seeded mutants over all 28 message types: ours and the official XSD agree."""
    ours = default_catalog()
    rng = random.Random(SEED)
    verdicts: Counter[bool] = Counter()
    types: set[MessageType] = set()
    disagreements = []
    for example in examples:
        for done, doc in mutations(example, rng):
            expected = official.issues(doc, example.message_type.id)
            actual = ours.issues(doc, example.message_type)
            verdicts[not expected] += 1
            types.add(example.message_type)
            if (not expected) != (not actual) or [i.element for i in expected] != [
                i.element for i in actual
            ]:
                disagreements.append((example.name, done, expected[:1], actual[:1]))
    assert disagreements == []
    assert sum(verdicts.values()) >= 1000
    assert types == set(MessageType)
    # Not vacuous: plenty of mutants on both sides of the line.
    assert verdicts[True] > 100
    assert verdicts[False] > 500


def boundary_values(text: str) -> list[str]:
    """Values around every length facet (and, for a short code, every code) for one leaf."""
    if _DATE.match(text) or _TIME.match(text):
        return []  # the calendar values of the first pass are the ones that matter here
    if not text.isdigit():
        values = ["A" * n for n in _LENGTHS] + ["é" * n for n in (1, 2, 3)]
        if len(text) == 2 and text.isalpha() and text.isupper():
            values += [a + b for a in string.ascii_uppercase for b in string.ascii_uppercase]
        return values
    values = ["9" * n for n in _LENGTHS] + ["1" + "0" * n for n in _LENGTHS] + ["0", "-1", "+1"]
    if len(text) <= 2:
        values += [str(n).zfill(len(text)) for n in range(10 ** len(text))]
    return values


def test_our_verdict_is_the_official_verdict_at_every_boundary(
    examples: list[Example], official: Catalog
) -> None:
    """Each kind of leaf (standard, parent, name) at each boundary value: the same verdict."""
    ours = default_catalog()
    seen: set[tuple[str, str, str]] = set()
    verdicts: Counter[bool] = Counter()
    disagreements = []
    for example in examples:
        doc = parse_xml(example.path.read_bytes())
        for leaf in [e for e in _elements(doc.getroot()) if len(e) == 0]:
            parent = leaf.getparent()
            assert parent is not None
            key = (
                example.message_type.standard.value,
                etree.QName(parent).localname,
                etree.QName(leaf).localname,
            )
            if key in seen:
                continue
            seen.add(key)
            original = leaf.text
            for value in boundary_values(original or ""):
                leaf.text = value
                expected = official.issues(doc, example.message_type.id)
                actual = ours.issues(doc, example.message_type)
                verdicts[not expected] += 1
                if [i.element for i in expected] != [i.element for i in actual]:
                    disagreements.append((example.name, key, value, expected[:1], actual[:1]))
            leaf.text = original
    assert disagreements == []
    assert len(seen) > 200
    assert verdicts[True] > 1000
    assert verdicts[False] > 1000
