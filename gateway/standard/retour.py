"""Return messages, built by the rules of the standard from a message and the remarks on it.

For a 301, 305, 307, 315, 317 or 319 the receiver sends one retour message (302 ... 320) that
copies the original's header (IV028): Afzender and Ontvanger stay as they were. What follows
the header depends on what was found (IV028, IV032, OP065):

- nothing: the header alone, without retourcodes;
- a level-2 fault (retourcode 0001): the header alone with 0001 and XsltVersie;
- a level-3/4 fault in the header: the header alone with that rule's retourcode;
- faults in the body: header 0200, then the client (or Antwoord) with every berichtklasse below
  it, each with its retourcodes: the rule's own code where the fault is, 0233 (not assessed)
  below a berichtklasse that was rejected, 0200 (no remark) elsewhere.

A 323 is answered by a 325 (IV087, IV088) with a header of its own (Afzender is the
municipality), the declaration's identification in DeclaratieIdentificatie, and the approval or
rejection of each Prestatie; ``Beoordeling`` is how the caller says which lines are rejected.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from lxml import etree

from gateway.errors import UnknownMessageError
from gateway.standard.message_types import NAMESPACES, MessageType, basis_namespace
from gateway.standard.rules import Controleniveau, Remark, _xml
from gateway.standard.rules._xml import Element
from gateway.standard.rules.places import berichtklassen
from gateway.standard.xmlsafe import parse_xml

XSD_VERSIE_RETOUR = ("1.0.0", "1.0.0")
"""(BasisschemaXsdVersie, BerichtXsdVersie) of the XSDs the retour messages are built on."""
RULES_VERSIE = "1.0.0"
"""The version of our level-2 rule set, given as XsltVersie when a message fails one (IV033)."""

GEEN_OPMERKING = "0200"
NIET_BEOORDEELD = "0233"
TECHNISCH_AFGEKEURD = "0001"
VOLLEDIG_TOEGEWEZEN = "8001"

Document = bytes | Element | etree._ElementTree


def build_retour(
    original: Document,
    remarks: Sequence[Remark],
    *,
    identificatie: str,
    dagtekening: datetime.date,
    rejected: bool = False,
    xslt_versie: str | None = None,
) -> bytes:
    """The retour message (302, 306, 308, 316, 318 or 320) for ``original``.

    ``rejected`` rejects the message as a whole (retourcode 0001) whatever the remarks say.
    """
    root = _root(original)
    heen = _message_type(root)
    retour = heen.retour
    if retour is None or not retour.copies_header:
        raise ValueError(f"{heen} has no header-copying retour message; a 323 gets a 325")
    _check_identificatie(identificatie)
    header_codes, body_remarks = _sort_out(remarks, rejected)
    technical = header_codes == [TECHNISCH_AFGEKEURD]
    if technical and xslt_versie is None:
        xslt_versie = RULES_VERSIE

    names = _Names(heen, retour)
    bericht = etree.Element(names.q("Bericht"), nsmap=names.nsmap)
    header = etree.SubElement(bericht, names.q("Header"))
    for element in _elements(_xml.child(root, "Header")):
        copied = names.copy(element, header)
        if _xml.local(copied) == "BerichtCode":
            copied.text = str(retour.code)
    _leaf(header, names.q("IdentificatieRetour"), identificatie)
    _leaf(header, names.q("DagtekeningRetour"), dagtekening.isoformat())
    if xslt_versie is not None:
        _leaf(header, names.q("XsltVersie"), xslt_versie)
    names.xsd_versie(header, "XsdVersieRetour", XSD_VERSIE_RETOUR)

    if body_remarks and not header_codes:
        header_codes = [GEEN_OPMERKING]
        body = _body(root)
        if body is None:
            raise ValueError(f"remarks on the body of a {heen} that has none")
        _annotated_body(names, bericht, body, body_remarks, berichtklassen(heen.number))
    if header_codes:
        names.retourcodes(header, header_codes)
    return _serialize(bericht)


def returned_codes(remarks: Sequence[Remark]) -> list[str]:
    """The retourcodes the answer to a message with these remarks carries for its faults.

    By the rules ``build_retour`` and ``build_declaratie_antwoord`` (with
    ``Beoordeling.from_remarks``) follow: 0001 alone when a remark rejects the message as a
    whole; else the Header's codes alone when the Header has a remark; else, for a 323, the
    Declaratie's codes alone when it has one; else the code of every remark. Each once, in the
    remarks' order; the codes that say nothing was found (0200, 0233, 8001) are left out.
    """
    if any(_technical(r) for r in remarks):
        return [TECHNISCH_AFGEKEURD]
    for whole in ("Header", "Declaratie"):
        codes = _unique(r.retourcode for r in remarks if r.berichtklasse.name == whole)
        if codes:
            return codes
    return _unique(r.retourcode for r in remarks)


def _sort_out(remarks: Sequence[Remark], rejected: bool) -> tuple[list[str], list[Remark]]:
    """The header's retourcodes (when the header alone goes back) and the body's remarks."""
    technical = rejected or any(_technical(r) for r in remarks)
    if technical:
        return [TECHNISCH_AFGEKEURD], []
    on_header = _unique(r.retourcode for r in remarks if r.berichtklasse.is_header)
    if on_header:
        return on_header, []
    return [], [r for r in remarks if not r.berichtklasse.is_header]


def _technical(remark: Remark) -> bool:
    """A level-2 remark, or any remark with 0001: the message is rejected as a whole."""
    return (
        remark.controleniveau is Controleniveau.INHOUD or remark.retourcode == TECHNISCH_AFGEKEURD
    )


def _annotated_body(
    names: _Names,
    bericht: Element,
    body: Element,
    remarks: Sequence[Remark],
    classes: frozenset[str],
) -> None:
    """Copy ``body`` under ``bericht``; give each berichtklasse its RetourCodes (OP065)."""
    codes: dict[str, list[str]] = {}
    for remark in remarks:
        target = _xml.resolve(body.getroottree().getroot(), remark.berichtklasse.path)
        if target is None or _xml.local(target) not in classes:
            raise ValueError(
                f"remark {remark.rule} names berichtklasse {remark.berichtklasse.path!r}, "
                "which is not a berichtklasse of the message"
            )
        # Keyed by the canonical path: "Client/X" and "Client/X[1]" name the same class.
        own = codes.setdefault(_xml.path_of(target), [])
        if remark.retourcode not in own:
            own.append(remark.retourcode)

    def copy(element: Element, parent: Element, under_rejected: bool) -> None:
        new = etree.SubElement(parent, names.rename(element.tag))
        children = _elements(element)
        if not children:
            new.text = element.text
        is_class = _xml.local(element) in classes
        own = codes.get(_xml.path_of(element), []) if is_class else []
        for sub in children:
            copy(sub, new, under_rejected or bool(own))
        if is_class:
            default = NIET_BEOORDEELD if under_rejected else GEEN_OPMERKING
            names.retourcodes(new, own or [default])

    with _xml.remembering_paths():
        copy(body, bericht, False)


@dataclass(frozen=True, slots=True)
class Beoordeling:
    """A municipality's judgement of a 323: which parts are rejected, with which retourcodes.

    Whatever is not named is approved. ``Beoordeling(prestaties={"RN001": ("0611",)})`` rejects
    the line with ReferentieNummer RN001 for its tariff and approves the others.
    """

    prestaties: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """ReferentieNummer of a Prestatie -> its retourcodes: that line is rejected."""
    clienten: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """Bsn of a Client -> its retourcodes: all its lines rejected, as not assessed (0233)."""
    declaratie: Sequence[str] = ()
    """Retourcodes on the Declaratie (9333): nothing assessed, TotaalToegekendBedrag 0."""
    header: Sequence[str] = ()
    """Retourcodes on the Header (9056, 8848): the 325 is its header alone."""
    technisch_afgekeurd: bool = False
    """A level-2 fault: the header alone with 0001; the declaration counts as not sent."""

    @classmethod
    def from_remarks(cls, declaratie: Document, remarks: Sequence[Remark]) -> Beoordeling:
        """The judgement ``rules.check`` remarks make, keyed by the 323's own numbers."""
        root = _root(declaratie)
        prestaties: dict[str, list[str]] = {}
        clienten: dict[str, list[str]] = {}
        on_declaratie: list[str] = []
        on_header: list[str] = []
        technical = False
        for remark in remarks:
            if _technical(remark):
                technical = True
                continue
            klasse = remark.berichtklasse
            element = _xml.resolve(root, klasse.path)
            if klasse.is_header:
                on_header.append(remark.retourcode)
            elif klasse.name == "Declaratie":
                on_declaratie.append(remark.retourcode)
            elif klasse.name == "Client" and element is not None:
                clienten.setdefault(_xml.text(element, "Bsn") or "", []).append(remark.retourcode)
            elif klasse.name == "Prestatie" and element is not None:
                nummer = _xml.text(element, "ProductReferentie/ReferentieNummer") or ""
                prestaties.setdefault(nummer, []).append(remark.retourcode)
            else:
                raise ValueError(f"remark {remark.rule} on {klasse.path!r}: not part of a 323")
        return cls(
            prestaties={k: tuple(_unique(v)) for k, v in prestaties.items()},
            clienten={k: tuple(_unique(v)) for k, v in clienten.items()},
            declaratie=tuple(_unique(on_declaratie)),
            header=tuple(_unique(on_header)),
            technisch_afgekeurd=technical,
        )


def build_declaratie_antwoord(
    declaratie: Document,
    beoordeling: Beoordeling,
    *,
    identificatie: str,
    dagtekening: datetime.date,
    xslt_versie: str | None = None,
) -> bytes:
    """The 325 answering the 323 ``declaratie``, from the municipality's ``beoordeling``."""
    root = _root(declaratie)
    heen = _message_type(root)
    antwoord = heen.retour
    if heen.number != 323 or antwoord is None:
        raise ValueError(f"a 325 answers a 323, not a {heen}")
    _check_identificatie(identificatie)
    source_header = _xml.child(root, "Header")
    source = _xml.child(root, "Declaratie")
    if source_header is None or source is None:
        raise ValueError("the 323 has no Header or no Declaratie")
    _check_known(source, beoordeling)

    names = _Names(heen, antwoord)
    bericht = etree.Element(names.q("Bericht"), nsmap=names.nsmap)
    header = etree.SubElement(bericht, names.q("Header"))
    _leaf(header, names.q("BerichtCode"), str(antwoord.code))
    for name in ("BerichtVersie", "BerichtSubversie"):
        _leaf(header, names.q(name), _xml.text(source_header, name) or "")
    # The municipality answers: Afzender and Ontvanger swap places (unlike IV028).
    _leaf(header, names.q("Afzender"), _xml.text(source_header, "Ontvanger") or "")
    _leaf(header, names.q("Ontvanger"), _xml.text(source_header, "Afzender") or "")
    identity = etree.SubElement(header, names.q("BerichtIdentificatie"))
    _leaf(identity, names.basis("Identificatie"), identificatie)
    _leaf(identity, names.basis("Dagtekening"), dagtekening.isoformat())
    names.xsd_versie(header, "XsdVersie", XSD_VERSIE_RETOUR)
    names.copy(_required(source_header, "BerichtIdentificatie"), header, "DeclaratieIdentificatie")
    if beoordeling.technisch_afgekeurd and xslt_versie is None:
        xslt_versie = RULES_VERSIE
    if xslt_versie is not None:
        _leaf(header, names.q("XsltVersie"), xslt_versie)
    names.copy(_required(source_header, "XsdVersie"), header, "XsdVersieDeclaratie")

    if beoordeling.technisch_afgekeurd:
        names.retourcodes(header, [TECHNISCH_AFGEKEURD])
        return _serialize(bericht)
    if beoordeling.header:
        names.retourcodes(header, _unique(beoordeling.header))
        return _serialize(bericht)
    names.retourcodes(header, [GEEN_OPMERKING])

    body = etree.SubElement(bericht, names.q("DeclaratieAntwoord"))
    names.copy(_required(source, "DeclaratieNummer"), body)
    ingediend = _required(source, "TotaalIngediendBedrag")
    names.copy(ingediend, body)
    if beoordeling.declaratie:
        _bedrag(names, body, 0)
        names.retourcodes(body, _unique(beoordeling.declaratie))
        return _serialize(bericht)

    rejected_total = 0
    clienten = etree.Element(names.q("Clienten"))
    for client in _xml.iterate(source, "Clienten/Client"):
        bsn = _xml.text(client, "Bsn") or ""
        client_codes = list(beoordeling.clienten.get(bsn, ()))
        rejected = [
            (p, list(beoordeling.prestaties.get(_referentie(p), ())))
            for p in _xml.iterate(client, "Prestaties/Prestatie")
        ]
        if not client_codes:
            rejected = [(p, codes) for p, codes in rejected if codes]
        if not rejected:
            continue
        answer = etree.SubElement(clienten, names.q("Client"))
        names.copy(_required(client, "Bsn"), answer)
        prestaties = etree.SubElement(answer, names.q("Prestaties"))
        for prestatie, codes in rejected:
            copied = names.copy(prestatie, prestaties)
            names.retourcodes(copied, _unique(codes) or [NIET_BEOORDEELD])
            rejected_total += _signed(prestatie, "IngediendBedrag", "Bedrag")
        names.retourcodes(answer, _unique(client_codes) or [GEEN_OPMERKING])

    total = _signed(source, "TotaalIngediendBedrag", "TotaalBedrag")
    _bedrag(names, body, total - rejected_total)
    if len(clienten):
        body.append(clienten)
        names.retourcodes(body, [GEEN_OPMERKING])
    else:
        names.retourcodes(body, [VOLLEDIG_TOEGEWEZEN])
    return _serialize(bericht)


def _check_known(declaratie: Element, beoordeling: Beoordeling) -> None:
    """Every ReferentieNummer and Bsn the judgement names is in the declaration."""
    referenties = {
        _referentie(p) for p in _xml.iterate(declaratie, "Clienten/Client/Prestaties/Prestatie")
    }
    bsns = {_xml.text(c, "Bsn") for c in _xml.iterate(declaratie, "Clienten/Client")}
    for nummer in beoordeling.prestaties:
        if nummer not in referenties:
            raise ValueError(f"no Prestatie with ReferentieNummer {nummer!r} in the declaration")
    for bsn in beoordeling.clienten:
        if bsn not in bsns:
            raise ValueError(f"no Client with Bsn {bsn!r} in the declaration")


def _referentie(prestatie: Element) -> str:
    return _xml.text(prestatie, "ProductReferentie/ReferentieNummer") or ""


def _signed(element: Element, name: str, amount: str) -> int:
    """An amount with DebetCredit as a signed number of cents (credit negative)."""
    value = _xml.integer(element, f"{name}/{amount}") or 0
    return -value if _xml.text(element, f"{name}/DebetCredit") == "C" else value


def _bedrag(names: _Names, parent: Element, cents: int) -> None:
    """TotaalToegekendBedrag: the amount and D or C (0 is debit, CS325)."""
    element = etree.SubElement(parent, names.q("TotaalToegekendBedrag"))
    _leaf(element, names.basis("TotaalBedrag"), str(abs(cents)))
    _leaf(element, names.basis("DebetCredit"), "C" if cents < 0 else "D")


class _Names:
    """Element names of the answer: the heen message's own names move to the answer's namespace."""

    def __init__(self, heen: MessageType, answer: MessageType) -> None:
        self.heen = heen.namespace
        self.answer = answer.namespace
        self.base = basis_namespace(answer.standard)
        self.nsmap = {answer.standard.value: self.base, answer.name.lower(): self.answer}

    def q(self, name: str) -> str:
        return f"{{{self.answer}}}{name}"

    def basis(self, name: str) -> str:
        return f"{{{self.base}}}{name}"

    def rename(self, tag: object) -> str:
        qname = etree.QName(str(tag))
        return self.q(qname.localname) if qname.namespace == self.heen else str(tag)

    def copy(self, element: Element, parent: Element, name: str | None = None) -> Element:
        """A copy of ``element`` (and all below it) under ``parent``, renamed where needed."""
        new = etree.SubElement(parent, self.q(name) if name else self.rename(element.tag))
        children = _elements(element)
        if not children:
            new.text = element.text
        for sub in children:
            self.copy(sub, new)
        return new

    def xsd_versie(self, parent: Element, name: str, versie: tuple[str, str]) -> None:
        element = etree.SubElement(parent, self.q(name))
        _leaf(element, self.basis("BasisschemaXsdVersie"), versie[0])
        _leaf(element, self.basis("BerichtXsdVersie"), versie[1])

    def retourcodes(self, parent: Element, codes: Sequence[str]) -> None:
        element = etree.SubElement(parent, self.q("RetourCodes"))
        for code in codes:
            _leaf(element, self.q("RetourCode"), code)


def _leaf(parent: Element, tag: str, value: str) -> Element:
    element = etree.SubElement(parent, tag)
    element.text = value
    return element


def _elements(element: Element | None) -> list[Element]:
    """The child elements, without comments or processing instructions."""
    return [] if element is None else [c for c in element if isinstance(c.tag, str)]


def _required(element: Element, name: str) -> Element:
    found = _xml.child(element, name)
    if found is None:
        raise ValueError(f"{_xml.local(element)} has no {name}")
    return found


def _body(root: Element) -> Element | None:
    return next((c for c in _elements(root) if _xml.local(c) != "Header"), None)


def _unique(codes: Iterable[str]) -> list[str]:
    """The codes in their first order, each once."""
    seen: list[str] = []
    for code in codes:
        if code not in seen:
            seen.append(code)
    return seen


def _check_identificatie(identificatie: str) -> None:
    """IdentificatieRetour and BerichtIdentificatie: 1 to 12 characters, not only blanks."""
    if not identificatie.strip() or len(identificatie) > 12:
        raise ValueError(f"identificatie {identificatie!r}: expected 1 to 12 characters")


def _root(document: Document) -> Element:
    if isinstance(document, bytes):
        return parse_xml(document).getroot()
    if isinstance(document, etree._ElementTree):
        return document.getroot()
    return document


def _message_type(root: Element) -> MessageType:
    qname = etree.QName(root)
    try:
        return NAMESPACES[qname.namespace or ""]
    except KeyError:
        raise UnknownMessageError(qname.namespace, qname.localname) from None


def _serialize(root: Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


__all__ = [
    "RULES_VERSIE",
    "XSD_VERSIE_RETOUR",
    "Beoordeling",
    "build_declaratie_antwoord",
    "build_retour",
]
