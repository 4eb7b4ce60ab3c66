"""The messages the benchmarks send: a 305 and 323s of chosen sizes, each upload unique.

They are grown from the official examples, read (never copied) from ``../shared/reference``: the
305 gets more StartProducts, the 323 more Prestaties, until the wanted size or line count. Every
upload needs its own BerichtIdentificatie (TR056, or the gateway refuses it with BRS20), so a
message is a template with a twelve-character placeholder that ``Template.render`` fills in,
cheaply, by a byte replacement.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
EXAMPLES = Path("iwmo-3.2") / "examples"
PLACEHOLDER = b"@@@@@@@@@@@@"  # as long as an Identificatie may be (LDT_IdentificatieBericht)
BASIS = "http://www.istandaarden.nl/iwmo/3_2/basisschema/schema"


@dataclass(frozen=True, slots=True)
class Template:
    """A message with its BerichtIdentificatie left open; ``name`` says what it is."""

    name: str
    message_type: str  # "WMO305"
    sender: str  # "aanbieder-65656055"
    recipient: str  # "gemeente-0363"
    xml: bytes

    def render(self, identificatie: str) -> bytes:
        """The message with ``identificatie`` (at most 12 characters) filled in."""
        return self.xml.replace(PLACEHOLDER, identificatie.encode("ascii").ljust(12, b"0"), 1)

    @property
    def size(self) -> int:
        return len(self.xml)


def identificatie(series: int, number: int) -> str:
    """Twelve characters, unique per (series, number): series 0-999, number below 10^9."""
    return f"{series:03d}{number:09d}"


def wmo305(reference: Path = REFERENCE, *, size: int = 3 * 1024) -> Template:
    """The official 305 (65656055 to Amsterdam) with StartProducts added up to ``size`` bytes."""
    root = _example(reference, "WMO305.xml")
    ns = etree.QName(root).namespace
    products = root.find(f".//{{{ns}}}StartProducten")
    assert products is not None, "the official WMO305 example has no StartProducten"
    first = products[0]
    number = 400000
    while len(_serialise(root)) < size:
        product = copy.deepcopy(first)
        number += 1
        _set(product, f"{{{ns}}}ToewijzingNummer", str(number))
        products.append(product)
    return _template("WMO305", root, f"305 of {len(products)} products")


def wmo323(reference: Path = REFERENCE, *, lines: int = 0, size: int = 0) -> Template:
    """The official 323 (65656055 to Diemen) with ``lines`` Prestaties, or as many as ``size``."""
    root = _example(reference, "WMO323.xml")
    ns = etree.QName(root).namespace
    clients = root.find(f".//{{{ns}}}Clienten")
    assert clients is not None, "the official WMO323 example has no Clienten"
    for other in list(clients)[1:]:
        clients.remove(other)  # one client, whose lines we multiply
    prestaties = root.find(f".//{{{ns}}}Prestaties")
    assert prestaties is not None, "the official WMO323 example has no Prestaties"
    first = copy.deepcopy(prestaties[0])
    for extra in list(prestaties)[1:]:
        prestaties.remove(extra)

    def add(number: int) -> None:
        line = copy.deepcopy(first)
        _set(line, f"{{{BASIS}}}ReferentieNummer", f"BENCH{number:09d}")
        prestaties.append(line)

    if size:
        one = len(_serialise(root))
        add(2)
        line_bytes = len(_serialise(root)) - one
        lines = max(2, -(-(size - one) // line_bytes) + 1)  # rounded up: at least ``size``
    for number in range(len(prestaties) + 1, lines + 1):
        add(number)
    label = f"323 of {lines} lines"
    return _template("WMO323", root, label)


def _example(reference: Path, name: str) -> etree._Element:
    path = reference / EXAMPLES / name
    parser = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)
    with path.open("rb") as file:
        root = etree.parse(file, parser).getroot()
    _set(root, f"{{{BASIS}}}Identificatie", PLACEHOLDER.decode())  # before sizes are measured
    return root


def _set(element: etree._Element, tag: str, text: str) -> None:
    found = element.find(f".//{tag}")
    assert found is not None, f"no {tag} in {element.tag}"
    found.text = text


def _serialise(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _template(message_type: str, root: etree._Element, name: str) -> Template:
    ns = etree.QName(root).namespace
    afzender = root.findtext(f"{{{ns}}}Header/{{{ns}}}Afzender") or ""
    ontvanger = root.findtext(f"{{{ns}}}Header/{{{ns}}}Ontvanger") or ""
    xml = _serialise(root)
    return Template(
        name=f"{name}, {len(xml) / 1024:.1f} KB",
        message_type=message_type,
        sender=f"aanbieder-{afzender}",
        recipient=f"gemeente-{ontvanger}",
        xml=xml,
    )
