"""Level-2 rules: what can be checked within one message (the standard's XSLT level).

Each of these has the general retourcode 0001: a message that breaks one is rejected as a whole
and its retour is the Header alone (IV028, IV032). The rule texts are those of the iWmo/iJw 3.2
rule reports (TR-regels, condities and constraints per data-element); where the standard names
an element only loosely, the docstring says how we read it.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterable, Iterator

from gateway.standard.rules import _xml
from gateway.standard.rules._xml import Element
from gateway.standard.rules.base import Message, Remark, Rule, rule
from gateway.standard.rules.places import all_of

HEEN = "301 305 307 315 317 319 323 325"
PERSONS = "301 305 307 315"
XSD_VERSIES: dict[str, frozenset[str]] = {
    "iwmo": frozenset({"1.0.0"}),
    # The iJw 3.2 XSDs as published carry 0.1.0 in their appinfo, the examples 1.0.0: both occur.
    "ijw": frozenset({"1.0.0", "0.1.0"}),
}
LAST_DAY_2020 = datetime.date(2020, 12, 31)


def _clients(m: Message) -> Iterator[Element]:
    return all_of(m, "Client")


def _persons(m: Message) -> Iterator[Element]:
    """Clients and (in a 301) their relations: whoever has a Geboortedatum and a Naam."""
    yield from _clients(m)
    yield from all_of(m, "Relatie")


def _products(m: Message) -> Iterator[tuple[Element, str, str]]:
    """Every product class with an Omvang: (class, its begin element, its end element)."""
    for element in all_of(m, "ToegewezenProduct"):
        yield element, "Ingangsdatum", "Einddatum"
    for element in all_of(m, "AangevraagdProduct"):
        yield element, "ToewijzingIngangsdatum", "ToewijzingEinddatum"
    for name in ("NieuwProduct", "TeWijzigenProduct"):
        for element in all_of(m, name):
            yield element, "GewensteIngangsdatum", "Einddatum"


def _at(element: Element, path: str) -> Element:
    """The element at ``path`` if present, else ``element`` itself (to name in a remark)."""
    found = _xml.find(element, path)
    return element if found is None else found


def eleven_test(bsn: str) -> bool:
    """The BSN eleven-test (CS002): 9*d1 + 8*d2 + ... + 2*d8 - 1*d9 is a multiple of 11."""
    if len(bsn) != 9 or not bsn.isdigit():
        return False
    digits = [int(c) for c in bsn]
    total = sum(d * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True)) - digits[8]
    return total % 11 == 0


@rule("CS002", "0001", "301 305 307 315 317 323 325", "Bsn passes the eleven-test")
def _cs002(r: Rule, m: Message) -> Iterator[Remark]:
    for client in _clients(m):
        bsn = _xml.text(client, "Bsn")
        if bsn is not None and not eleven_test(bsn):
            yield r.remark(_at(client, "Bsn"), client, f"Bsn {bsn} fails the eleven-test")


@rule("IV034", "0001", HEEN, "XsdVersie names a version of the XSDs of this release")
def _iv034(r: Rule, m: Message) -> Iterator[Remark]:
    header = m.header
    if header is None:
        return
    allowed = XSD_VERSIES[m.type.standard.value]
    for name in ("BasisschemaXsdVersie", "BerichtXsdVersie"):
        element = _xml.find(header, f"XsdVersie/{name}")
        value = _xml.text(element)
        if element is not None and value not in allowed:
            yield r.remark(
                element, header, f"{name} {value} is not one of {', '.join(sorted(allowed))}"
            )


def _unknown_birth_date(geboortedatum: Element) -> bool:
    return _xml.text(geboortedatum, "DatumGebruik") == "3" and _xml.date(
        geboortedatum, "Datum"
    ) == datetime.date(1900, 1, 1)


@rule("TR002", "0001", PERSONS, "Geboortedatum at most 120 years before Dagtekening")
def _tr002(r: Rule, m: Message) -> Iterator[Remark]:
    dagtekening = m.dagtekening
    if dagtekening is None:
        return
    for person in _persons(m):
        geboortedatum = _xml.child(person, "Geboortedatum")
        born = _xml.date(geboortedatum, "Datum")
        if geboortedatum is None or born is None or _unknown_birth_date(geboortedatum):
            continue
        if born < _years_before(dagtekening, 120):
            yield r.remark(
                _at(geboortedatum, "Datum"),
                person,
                f"Geboortedatum {born} is more than 120 years before Dagtekening {dagtekening}",
            )


def _years_before(day: datetime.date, years: int) -> datetime.date:
    """The same day ``years`` years earlier (28 February for a 29 February)."""
    if day.year <= years:
        return datetime.date.min
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


@rule("TR006", "0001", "301", "a Contact has a Telefoon, or a Huis and a Postcode")
def _tr006(r: Rule, m: Message) -> Iterator[Remark]:
    for contact in all_of(m, "Contact"):
        has_phone = _xml.child(contact, "Telefoon") is not None
        has_address = (
            _xml.find(contact, "Adres/Huis") is not None
            and _xml.find(contact, "Adres/Postcode") is not None
        )
        if not (has_phone or has_address):
            yield r.remark(contact, contact, "Contact has neither Telefoon nor Huis and Postcode")


@rule("TR018", "0001", "307", "StopProduct Einddatum on or after its Begindatum")
def _tr018(r: Rule, m: Message) -> Iterator[Remark]:
    for stop in all_of(m, "StopProduct"):
        yield from _not_before(r, stop, "Begindatum", "Einddatum")


def _not_before(r: Rule, klasse: Element, begin: str, end: str) -> Iterator[Remark]:
    first, last = _xml.date(klasse, begin), _xml.date(klasse, end)
    if first is not None and last is not None and last < first:
        yield r.remark(_at(klasse, end), klasse, f"{end} {last} is before {begin} {first}")


@rule("TR061", "0001", "301", "a Client has a Contact of Soort 01, 02 or 03")
def _tr061(r: Rule, m: Message) -> Iterator[Remark]:
    for client in _clients(m):
        soorten = {_xml.text(c, "Soort") for c in _xml.iterate(client, "Contactgegevens/Contact")}
        if not soorten & {"01", "02", "03"}:
            yield r.remark(
                _at(client, "Contactgegevens"),
                client,
                "no Contact of Soort 01 (BRP), 02 (correspondence) or 03 (residence)",
            )


# TR101: the logical key of each berichtklasse, as the standard marks its key elements.
_KEYS: dict[str, tuple[str, ...]] = {
    "Relatie": ("Nummer",),
    "ToegewezenProduct": ("ToewijzingNummer",),
    "StartProduct": ("ToewijzingNummer", "Product/Categorie", "Product/Code", "Begindatum"),
    "StopProduct": (
        "ToewijzingNummer",
        "Product/Categorie",
        "Product/Code",
        "Begindatum",
        "Einddatum",
        "RedenBeeindiging",
    ),
    "OngewijzigdProduct": ("ToewijzingNummer",),
    "TeWijzigenProduct": ("ToewijzingNummer",),
    "NieuwProduct": ("Product/Categorie", "Product/Code", "GewensteIngangsdatum"),
    "Prestatie": ("ProductReferentie/ReferentieNummer",),
}


@rule("TR101", "0001", "301 305 307 317 323 325", "no two berichtklassen with the same key")
def _tr101(r: Rule, m: Message) -> Iterator[Remark]:
    groups: list[tuple[str, list[Element]]] = [("Client", list(_clients(m)))]
    for name in _KEYS:
        by_parent: dict[int, list[Element]] = {}
        for element in all_of(m, name):
            parent = element.getparent()
            by_parent.setdefault(id(parent), []).append(element)
        groups.extend((name, elements) for elements in by_parent.values())
    for name, elements in groups:
        paths = ("Bsn",) if name == "Client" else _KEYS[name]
        seen: set[tuple[str | None, ...]] = set()
        for element in elements:
            key = tuple(_xml.text(element, p) for p in paths)
            if key in seen:
                shown = ", ".join(f"{p}={v}" for p, v in zip(paths, key, strict=True) if v)
                yield r.remark(element, element, f"a second {name} with the same key ({shown})")
            seen.add(key)


@rule(
    "TR134", "0001", "301 305 307 315 323", "dates of birth, assignment, declaration by Dagtekening"
)
def _tr134(r: Rule, m: Message) -> Iterator[Remark]:
    dagtekening = m.dagtekening
    if dagtekening is None:
        return
    checked: list[tuple[Element, Element]] = []
    for person in _persons(m):
        datum = _xml.find(person, "Geboortedatum/Datum")
        if datum is not None:
            checked.append((datum, person))
    for product in all_of(m, "ToegewezenProduct"):
        datum = _xml.child(product, "Toewijzingsdatum")
        if datum is not None:
            checked.append((datum, product))
    for declaratie in all_of(m, "Declaratie"):
        datum = _xml.child(declaratie, "DeclaratieDagtekening")
        if datum is not None:
            checked.append((datum, declaratie))
    for element, klasse in checked:
        value = _xml.date(element)
        if value is not None and value > dagtekening:
            yield r.remark(
                element,
                klasse,
                f"{_xml.local(element)} {value} is after the Dagtekening {dagtekening}",
            )


@rule("TR137", "0001", "323 325", "ProductPeriode ends on or after it begins, by Dagtekening")
def _tr137(r: Rule, m: Message) -> Iterator[Remark]:
    dagtekening = m.dagtekening
    for prestatie in all_of(m, "Prestatie"):
        begin = _xml.date(prestatie, "ProductPeriode/Begindatum")
        end = _xml.date(prestatie, "ProductPeriode/Einddatum")
        where = _at(prestatie, "ProductPeriode/Einddatum")
        if begin is not None and end is not None and end < begin:
            yield r.remark(where, prestatie, f"Einddatum {end} is before Begindatum {begin}")
        elif dagtekening is not None and end is not None and end > dagtekening:
            yield r.remark(where, prestatie, f"Einddatum {end} is after Dagtekening {dagtekening}")


def _removed(product: Element, begin: str, end: str) -> bool:
    """A withdrawn assignment (RedenWijziging 13 or 01, Einddatum = Ingangsdatum) stacks nothing."""
    return _xml.text(product, "RedenWijziging") in ("13", "01") and _xml.date(
        product, begin
    ) == _xml.date(product, end)


def _overlaps(
    r: Rule, products: Iterable[Element], begin: str, end: str, skip_removed: bool = False
) -> Iterator[Remark]:
    """Two products of the same code (or category, or any without a category) overlap."""
    spans: list[tuple[Element, str | None, str | None, datetime.date, datetime.date]] = []
    for product in products:
        first = _xml.date(product, begin)
        if first is None or (skip_removed and _removed(product, begin, end)):
            continue
        last = _xml.date(product, end) or datetime.date.max
        category = _xml.text(product, "Product/Categorie")
        code = _xml.text(product, "Product/Code")
        for other, other_category, other_code, other_first, other_last in spans:
            if code is not None and other_code is not None:
                same = code == other_code and category == other_category
            elif category is not None and other_category is not None:
                same = category == other_category
            else:
                same = True
            if same and first <= other_last and other_first <= last:
                yield r.remark(
                    product,
                    product,
                    f"product {code or category or '(none)'} from {first} overlaps "
                    f"{_xml.path_of(other)}",
                )
                break
        spans.append((product, category, code, first, last))


@rule("TR302", "0001", "301", "the same product is assigned only for periods that do not overlap")
def _tr302(r: Rule, m: Message) -> Iterator[Remark]:
    for client in _clients(m):
        products = _xml.iterate(client, "ToegewezenProducten/ToegewezenProduct")
        yield from _overlaps(r, products, "Ingangsdatum", "Einddatum", skip_removed=True)


@rule("TR386", "0001", "315", "the same product is requested only for periods that do not overlap")
def _tr386(r: Rule, m: Message) -> Iterator[Remark]:
    for client in _clients(m):
        products = _xml.iterate(client, "AangevraagdeProducten/AangevraagdProduct")
        yield from _overlaps(r, products, "ToewijzingIngangsdatum", "ToewijzingEinddatum")


@rule("TR410", "0001", "317", "the same NieuwProduct is asked only for periods that do not overlap")
def _tr410(r: Rule, m: Message) -> Iterator[Remark]:
    for verzoek in all_of(m, "Verzoek"):
        products = _xml.iterate(verzoek, "NieuweProducten/NieuwProduct")
        yield from _overlaps(r, products, "GewensteIngangsdatum", "Einddatum")


@rule("TR315", "0001", "323", "each VorigReferentieNummer occurs once in the message")
def _tr315(r: Rule, m: Message) -> Iterator[Remark]:
    counts = Counter(
        _xml.text(p, "ProductReferentie/VorigReferentieNummer") for p in all_of(m, "Prestatie")
    )
    for prestatie in all_of(m, "Prestatie"):
        vorig = _xml.text(prestatie, "ProductReferentie/VorigReferentieNummer")
        if vorig is not None and counts[vorig] > 1:
            yield r.remark(
                _at(prestatie, "ProductReferentie/VorigReferentieNummer"),
                prestatie,
                f"VorigReferentieNummer {vorig} occurs {counts[vorig]} times in the message",
            )


@rule("TR316", "0001", "323", "a debit Prestatie is not credited in the same message")
def _tr316(r: Rule, m: Message) -> Iterator[Remark]:
    numbers = {_xml.text(p, "ProductReferentie/ReferentieNummer") for p in all_of(m, "Prestatie")}
    for prestatie in all_of(m, "Prestatie"):
        vorig = _xml.text(prestatie, "ProductReferentie/VorigReferentieNummer")
        if vorig is not None and vorig in numbers:
            yield r.remark(
                _at(prestatie, "ProductReferentie/VorigReferentieNummer"),
                prestatie,
                f"VorigReferentieNummer {vorig} credits a Prestatie of this same message",
            )


@rule("TR335", "0001", "323", "ProductPeriode ends at most 5 years before DeclaratieDagtekening")
def _tr335(r: Rule, m: Message) -> Iterator[Remark]:
    for declaratie in all_of(m, "Declaratie"):
        dagtekening = _xml.date(declaratie, "DeclaratieDagtekening")
        if dagtekening is None:
            continue
        for prestatie in all_of(m, "Prestatie"):
            end = _xml.date(prestatie, "ProductPeriode/Einddatum")
            if end is not None and end < _years_before(dagtekening, 5):
                yield r.remark(
                    _at(prestatie, "ProductPeriode/Einddatum"),
                    prestatie,
                    f"Einddatum {end} is more than 5 years before DeclaratieDagtekening "
                    f"{dagtekening}",
                )


def _signed(element: Element | None, amount: str) -> int | None:
    """An amount with its DebetCredit as a signed number (credit negative)."""
    value = _xml.integer(element, amount)
    if value is None:
        return None
    return -value if _xml.text(element, "DebetCredit") == "C" else value


def _sum_of_prestaties(m: Message) -> int | None:
    total = 0
    for prestatie in all_of(m, "Prestatie"):
        value = _signed(_xml.child(prestatie, "IngediendBedrag"), "Bedrag")
        if value is None:
            return None
        total += value
    return total


@rule("TR358", "0001", "323", "TotaalIngediendBedrag is the sum of the Prestaties (D - C)")
def _tr358(r: Rule, m: Message) -> Iterator[Remark]:
    for declaratie in all_of(m, "Declaratie"):
        total_element = _xml.child(declaratie, "TotaalIngediendBedrag")
        total = _signed(total_element, "TotaalBedrag")
        summed = _sum_of_prestaties(m)
        if total_element is None or total is None or summed is None or total == summed:
            continue
        yield r.remark(
            total_element,
            declaratie,
            f"TotaalIngediendBedrag {total} differs from the Prestaties' sum {summed}",
        )


@rule("TR342", "0001", "325", "the rejected Prestaties explain Ingediend minus Toegekend")
def _tr342(r: Rule, m: Message) -> Iterator[Remark]:
    for antwoord in all_of(m, "DeclaratieAntwoord"):
        ingediend = _signed(_xml.child(antwoord, "TotaalIngediendBedrag"), "TotaalBedrag")
        toegekend_element = _xml.child(antwoord, "TotaalToegekendBedrag")
        toegekend = _signed(toegekend_element, "TotaalBedrag")
        rejected = _sum_of_prestaties(m)
        if toegekend_element is None or ingediend is None or toegekend is None:
            continue
        if _xml.child(antwoord, "Clienten") is None and toegekend == 0:
            continue  # rejected as a whole on DeclaratieAntwoord: Toegekend is 0 (TR342)
        if rejected is not None and rejected != ingediend - toegekend:
            yield r.remark(
                toegekend_element,
                antwoord,
                f"rejected Prestaties sum to {rejected}, but Ingediend {ingediend} minus "
                f"Toegekend {toegekend} is {ingediend - toegekend}",
            )


@rule("TR352", "0001", "317", "a Verzoek holds an OngewijzigdProduct or a TeWijzigenProduct")
def _tr352(r: Rule, m: Message) -> Iterator[Remark]:
    for verzoek in all_of(m, "Verzoek"):
        names = ("OngewijzigdeProducten", "TeWijzigenProducten")
        if all(_xml.child(verzoek, n) is None for n in names):
            yield r.remark(verzoek, verzoek, "no OngewijzigdProduct and no TeWijzigenProduct")


@rule("TR353", "0001", "317", "a Verzoek holds a TeWijzigenProduct or a NieuwProduct")
def _tr353(r: Rule, m: Message) -> Iterator[Remark]:
    for verzoek in all_of(m, "Verzoek"):
        if not any(
            _xml.child(verzoek, n) is not None for n in ("TeWijzigenProducten", "NieuweProducten")
        ):
            yield r.remark(verzoek, verzoek, "no TeWijzigenProduct and no NieuwProduct")


@rule("TR383", "0001", "315", "each AangevraagdProduct has its own ReferentieAanbieder")
def _tr383(r: Rule, m: Message) -> Iterator[Remark]:
    seen: set[str] = set()
    for product in all_of(m, "AangevraagdProduct"):
        referentie = _xml.text(product, "ReferentieAanbieder")
        if referentie is None:
            continue
        if referentie in seen:
            yield r.remark(
                _at(product, "ReferentieAanbieder"),
                product,
                f"ReferentieAanbieder {referentie} is used by another AangevraagdProduct",
            )
        seen.add(referentie)


@rule("TR416", "0001", "323", "one debit Prestatie per period, product and ToewijzingNummer")
def _tr416(r: Rule, m: Message) -> Iterator[Remark]:
    seen: set[tuple[str | None, ...]] = set()
    for prestatie in all_of(m, "Prestatie"):
        if _xml.text(prestatie, "IngediendBedrag/DebetCredit") != "D":
            continue
        key = tuple(
            _xml.text(prestatie, p)
            for p in (
                "ProductPeriode/Begindatum",
                "ProductPeriode/Einddatum",
                "ProductCategorie",
                "ProductCode",
                "ToewijzingNummer",
            )
        )
        if key in seen:
            yield r.remark(
                prestatie,
                prestatie,
                f"a second debit Prestatie for ToewijzingNummer {key[4]}, product {key[3]}, "
                f"period {key[0]} - {key[1]}",
            )
        seen.add(key)


@rule("CS003", "0001", "301 315 317", "an Einddatum is on or after its Begindatum or Ingangsdatum")
def _cs003(r: Rule, m: Message) -> Iterator[Remark]:
    for contact in all_of(m, "Contact"):
        yield from _not_before(r, contact, "Periode/Begindatum", "Periode/Einddatum")
    for product, begin, end in _products(m):
        yield from _not_before(r, product, begin, end)


@rule("CS050", "0001", "301", "NaamGebruik fits whether a Partnernaam is given")
def _cs050(r: Rule, m: Message) -> Iterator[Remark]:
    for person in _persons(m):
        naam = _xml.child(person, "Naam")
        gebruik = _xml.text(naam, "NaamGebruik")
        if naam is None or gebruik is None:
            continue
        partner = _xml.child(naam, "Partnernaam") is not None
        allowed = ("1", "2", "3", "4") if partner else ("1", "6")
        if gebruik not in allowed:
            why = "with a Partnernaam" if partner else "without a Partnernaam"
            yield r.remark(
                _at(naam, "NaamGebruik"),
                person,
                f"NaamGebruik {gebruik} {why}; allowed: {', '.join(allowed)}",
            )


@rule("CS058", "0001", "305 307", "StatusAanlevering is 1 (first) or 3 (delete)")
def _cs058(r: Rule, m: Message) -> Iterator[Remark]:
    for name in ("StartProduct", "StopProduct"):
        for product in all_of(m, name):
            status = _xml.text(product, "StatusAanlevering")
            if status is not None and status not in ("1", "3"):
                yield r.remark(
                    _at(product, "StatusAanlevering"),
                    product,
                    f"StatusAanlevering {status} is not allowed here; use 1 or 3",
                )


def _dutch_postcode(value: str) -> bool:
    return (
        len(value) == 6
        and value[0] in "123456789"
        and value[1:4].isdigit()
        and value[4:].isalpha()
        and value[4:].isupper()
        and value[4:].isascii()
    )


@rule("CS089", "0001", "301", "a Dutch address has a Dutch Postcode (1234AB)")
def _cs089(r: Rule, m: Message) -> Iterator[Remark]:
    for contact in all_of(m, "Contact"):
        adres = _xml.child(contact, "Adres")
        postcode = _xml.text(adres, "Postcode")
        if _xml.text(adres, "LandCode") == "NL" and postcode and not _dutch_postcode(postcode):
            yield r.remark(
                _at(contact, "Adres/Postcode"), contact, f"Postcode {postcode} is not Dutch"
            )


@rule("CS100", "0001", "323", "DeclaratiePeriode and ProductPeriode begin in 2021 or later")
def _cs100(r: Rule, m: Message) -> Iterator[Remark]:
    places = [(d, "DeclaratiePeriode/Begindatum") for d in all_of(m, "Declaratie")]
    places += [(p, "ProductPeriode/Begindatum") for p in all_of(m, "Prestatie")]
    for klasse, path in places:
        begin = _xml.date(klasse, path)
        if begin is not None and begin <= LAST_DAY_2020:
            yield r.remark(_at(klasse, path), klasse, f"{path} {begin} is before 2021-01-01")


@rule("CS139", "0001", PERSONS, "DatumGebruik agrees with the Datum of a Geboortedatum")
def _cs139(r: Rule, m: Message) -> Iterator[Remark]:
    for person in _persons(m):
        geboortedatum = _xml.child(person, "Geboortedatum")
        gebruik = _xml.text(geboortedatum, "DatumGebruik")
        datum = _xml.date(geboortedatum, "Datum")
        if geboortedatum is None or gebruik is None or datum is None:
            continue
        # 1: day unknown (the 1st), 2: day and month unknown (1 January), 3: 1 January 1900.
        agrees = {
            "1": datum.day == 1,
            "2": (datum.month, datum.day) == (1, 1),
            "3": datum == datetime.date(1900, 1, 1),
        }.get(gebruik, True)
        if not agrees:
            yield r.remark(
                _at(geboortedatum, "DatumGebruik"),
                person,
                f"DatumGebruik {gebruik} does not agree with Datum {datum}",
            )


@rule("CS318", "0001", "301", "a Client's NaamGebruik is not 6 (not a natural person)")
def _cs318(r: Rule, m: Message) -> Iterator[Remark]:
    for client in _clients(m):
        if _xml.text(client, "Naam/NaamGebruik") == "6":
            yield r.remark(_at(client, "Naam/NaamGebruik"), client, "NaamGebruik 6 for a Client")


@rule("CS325", "0001", "323 325", "an amount of 0 has DebetCredit D")
def _cs325(r: Rule, m: Message) -> Iterator[Remark]:
    places: list[tuple[Element, str, str]] = []
    for name in ("Declaratie", "DeclaratieAntwoord"):
        for klasse in all_of(m, name):
            places.append((klasse, "TotaalIngediendBedrag", "TotaalBedrag"))
            places.append((klasse, "TotaalToegekendBedrag", "TotaalBedrag"))
    places += [(p, "IngediendBedrag", "Bedrag") for p in all_of(m, "Prestatie")]
    for klasse, name, amount in places:
        element = _xml.child(klasse, name)
        if _xml.integer(element, amount) == 0 and _xml.text(element, "DebetCredit") == "C":
            yield r.remark(_at(klasse, f"{name}/DebetCredit"), klasse, f"{name} is 0 but credit")


@rule("CS335", "0001", "301", "RedenWijziging 13 (removed) only when Einddatum = Ingangsdatum")
def _cs335(r: Rule, m: Message) -> Iterator[Remark]:
    for product in all_of(m, "ToegewezenProduct"):
        if _xml.text(product, "RedenWijziging") != "13":
            continue
        begin, end = _xml.date(product, "Ingangsdatum"), _xml.date(product, "Einddatum")
        if begin != end:
            yield r.remark(
                _at(product, "RedenWijziging"),
                product,
                f"RedenWijziging 13 with Ingangsdatum {begin} and Einddatum {end}",
            )


@rule("CS336", "0001", "301", "RedenWijziging 01 (administrative correction) is not used")
def _cs336(r: Rule, m: Message) -> Iterator[Remark]:
    for product in all_of(m, "ToegewezenProduct"):
        if _xml.text(product, "RedenWijziging") == "01":
            yield r.remark(_at(product, "RedenWijziging"), product, "RedenWijziging 01 is retired")


@rule("CS337", "0001", "323", "a ProductPeriode lies within one calendar month")
def _cs337(r: Rule, m: Message) -> Iterator[Remark]:
    for prestatie in all_of(m, "Prestatie"):
        begin = _xml.date(prestatie, "ProductPeriode/Begindatum")
        end = _xml.date(prestatie, "ProductPeriode/Einddatum")
        if begin and end and (begin.year, begin.month) != (end.year, end.month):
            yield r.remark(
                _at(prestatie, "ProductPeriode/Einddatum"),
                prestatie,
                f"ProductPeriode {begin} - {end} spans more than one calendar month",
            )


def _frequentie_rule(r: Rule, products: Iterable[tuple[Element, str, str]]) -> Iterator[Remark]:
    for product, _begin, end in products:
        omvang = _xml.child(product, "Omvang")
        eenheid = _xml.text(omvang, "Eenheid")
        frequentie = _xml.text(omvang, "Frequentie")
        last = _xml.date(product, end)
        runs_on = last is None or last > LAST_DAY_2020
        if eenheid in ("14", "16", "83", "84") and runs_on and frequentie not in ("2", "4", "6"):
            yield r.remark(
                _at(product, "Omvang/Frequentie"),
                product,
                f"Eenheid {eenheid} with Frequentie {frequentie}; use 2, 4 or 6",
            )


@rule("CS338", "0001", "301 317", "Eenheid 14, 16, 83 or 84 goes per week, month or in total")
def _cs338(r: Rule, m: Message) -> Iterator[Remark]:
    yield from _frequentie_rule(r, (p for p in _products(m) if p[1] != "ToewijzingIngangsdatum"))


@rule("CS343", "0001", "315", "requested Eenheid 14, 16, 83 or 84 goes per week, month, total")
def _cs343(r: Rule, m: Message) -> Iterator[Remark]:
    yield from _frequentie_rule(r, (p for p in _products(m) if p[1] == "ToewijzingIngangsdatum"))


@rule("CS339", "0001", "323", "for Eenheid 83 (euros) IngediendBedrag equals GeleverdVolume")
def _cs339(r: Rule, m: Message) -> Iterator[Remark]:
    for prestatie in all_of(m, "Prestatie"):
        if _xml.text(prestatie, "Eenheid") != "83":
            continue
        volume = _xml.integer(prestatie, "GeleverdVolume")
        bedrag = _xml.integer(prestatie, "IngediendBedrag/Bedrag")
        if volume is not None and bedrag is not None and volume != bedrag:
            yield r.remark(
                _at(prestatie, "IngediendBedrag/Bedrag"),
                prestatie,
                f"Eenheid 83: Bedrag {bedrag} differs from GeleverdVolume {volume}",
            )


@rule("CS340", "0001", "323", "a DeclaratiePeriode is exactly one calendar month")
def _cs340(r: Rule, m: Message) -> Iterator[Remark]:
    for declaratie in all_of(m, "Declaratie"):
        begin = _xml.date(declaratie, "DeclaratiePeriode/Begindatum")
        end = _xml.date(declaratie, "DeclaratiePeriode/Einddatum")
        if begin is None or end is None:
            continue
        following = (end + datetime.timedelta(days=1)).day == 1
        if begin.day != 1 or not following or (begin.year, begin.month) != (end.year, end.month):
            yield r.remark(
                _at(declaratie, "DeclaratiePeriode"),
                declaratie,
                f"DeclaratiePeriode {begin} - {end} is not one whole calendar month",
            )


def _both_or_neither(
    r: Rule, klasse: Element, present: bool, required: bool, element: str, why: str
) -> Iterator[Remark]:
    """A condition: ``element`` must be present exactly when ``required``."""
    if present and not required:
        yield r.remark(_at(klasse, element), klasse, f"{element} must be empty: {why}")
    elif required and not present:
        yield r.remark(klasse, klasse, f"{element} is missing: {why}")


@rule("CD005", "0001", "301", "LandCode is given exactly when a Postcode is")
def _cd005(r: Rule, m: Message) -> Iterator[Remark]:
    for contact in all_of(m, "Contact"):
        adres = _xml.child(contact, "Adres")
        if adres is None:
            continue
        postcode = _xml.child(adres, "Postcode") is not None
        land = _xml.child(adres, "LandCode") is not None
        yield from _both_or_neither(r, contact, land, postcode, "Adres/LandCode", "Postcode")


@rule("CD007", "0001", "301", "Taal is given exactly when Communicatie Vorm is 1 (interpreter)")
def _cd007(r: Rule, m: Message) -> Iterator[Remark]:
    for client in _clients(m):
        communicatie = _xml.child(client, "Communicatie")
        if communicatie is None:
            continue
        tolk = _xml.text(communicatie, "Vorm") == "1"
        taal = _xml.child(communicatie, "Taal") is not None
        yield from _both_or_neither(r, client, taal, tolk, "Communicatie/Taal", "Vorm 1")


@rule("CD009", "0001", "301", "a Contact Periode only for Soort 04 (temporary address)")
def _cd009(r: Rule, m: Message) -> Iterator[Remark]:
    for contact in all_of(m, "Contact"):
        if _xml.child(contact, "Periode") is not None and _xml.text(contact, "Soort") != "04":
            soort = _xml.text(contact, "Soort")
            yield r.remark(_at(contact, "Periode"), contact, f"Periode with Soort {soort}")


@rule("CD025", "0001", "301", "a Dutch address (LandCode NL) has a Huis")
def _cd025(r: Rule, m: Message) -> Iterator[Remark]:
    for contact in all_of(m, "Contact"):
        adres = _xml.child(contact, "Adres")
        if _xml.text(adres, "LandCode") == "NL" and _xml.child(adres, "Huis") is None:
            yield r.remark(_at(contact, "Adres"), contact, "LandCode NL without Huis")


@rule("CD034", "0001", "301", "a BRP (01) or residence (03) address has a Postcode")
def _cd034(r: Rule, m: Message) -> Iterator[Remark]:
    for contact in all_of(m, "Contact"):
        soort = _xml.text(contact, "Soort")
        if soort in ("01", "03") and _xml.find(contact, "Adres/Postcode") is None:
            yield r.remark(contact, contact, f"Contact of Soort {soort} without Postcode")


@rule("CD041", "0001", "301 315 317", "a product with a ProductCode has an Omvang")
def _cd041(r: Rule, m: Message) -> Iterator[Remark]:
    for product, _begin, _end in _products(m):
        if _xml.local(product) == "TeWijzigenProduct":
            continue  # it has no Product of its own
        code = _xml.text(product, "Product/Code")
        if code is not None and _xml.child(product, "Omvang") is None:
            yield r.remark(product, product, f"Product Code {code} without Omvang")


@rule("CD043", "0001", "315", "BeschikkingIngangsdatum is given exactly with a BeschikkingNummer")
def _cd043(r: Rule, m: Message) -> Iterator[Remark]:
    for product in all_of(m, "AangevraagdProduct"):
        nummer = _xml.child(product, "BeschikkingNummer") is not None
        datum = _xml.child(product, "BeschikkingIngangsdatum") is not None
        yield from _both_or_neither(
            r, product, datum, nummer, "BeschikkingIngangsdatum", "BeschikkingNummer"
        )


@rule("CD060", "0001", "323 325", "VorigReferentieNummer is given exactly for a credit Prestatie")
def _cd060(r: Rule, m: Message) -> Iterator[Remark]:
    for prestatie in all_of(m, "Prestatie"):
        credit = _xml.text(prestatie, "IngediendBedrag/DebetCredit") == "C"
        vorig = _xml.find(prestatie, "ProductReferentie/VorigReferentieNummer") is not None
        yield from _both_or_neither(
            r, prestatie, vorig, credit, "ProductReferentie/VorigReferentieNummer", "credit"
        )


@rule("CD075", "0001", "301 315 317", "a product with a Budget has an Einddatum")
def _cd075(r: Rule, m: Message) -> Iterator[Remark]:
    for product, _begin, end in _products(m):
        if _xml.child(product, "Budget") is not None and _xml.child(product, end) is None:
            yield r.remark(product, product, f"Budget without {end}")


@rule("CD076", "0001", "301 315 317", "a product given per week (Frequentie 2) has an Einddatum")
def _cd076(r: Rule, m: Message) -> Iterator[Remark]:
    for product, _begin, end in _products(m):
        if _xml.text(product, "Omvang/Frequentie") == "2" and _xml.child(product, end) is None:
            yield r.remark(product, product, f"Frequentie 2 (per week) without {end}")


@rule("CD077", "0001", "301 315 317", "a product has an Omvang or a Budget, not both")
def _cd077(r: Rule, m: Message) -> Iterator[Remark]:
    for product, _begin, _end in _products(m):
        if _xml.child(product, "Omvang") is not None and _xml.child(product, "Budget") is not None:
            yield r.remark(_at(product, "Omvang"), product, "both Omvang and Budget")


@rule("CD079", "0001", "301 315 317", "a product without a Budget names its Product")
def _cd079(r: Rule, m: Message) -> Iterator[Remark]:
    for product, _begin, _end in _products(m):
        if _xml.local(product) == "TeWijzigenProduct":
            continue
        if _xml.child(product, "Budget") is None and _xml.child(product, "Product") is None:
            yield r.remark(product, product, "neither Budget nor Product")


def _no_omvang_without_code(
    r: Rule, products: Iterable[tuple[Element, str, str]]
) -> Iterator[Remark]:
    for product, _begin, end in products:
        last = _xml.date(product, end)
        code = _xml.text(product, "Product/Code")
        runs_on = last is None or last > LAST_DAY_2020
        if code is None and runs_on and _xml.child(product, "Omvang") is not None:
            yield r.remark(
                _at(product, "Omvang"), product, f"Omvang without a Product Code and {end} {last}"
            )


@rule("CD080", "0001", "301", "no Omvang for a category-only assignment running past 2020")
def _cd080(r: Rule, m: Message) -> Iterator[Remark]:
    yield from _no_omvang_without_code(r, (p for p in _products(m) if p[1] == "Ingangsdatum"))


@rule("CD095", "0001", "315", "no Omvang for a category-only request running past 2020")
def _cd095(r: Rule, m: Message) -> Iterator[Remark]:
    yield from _no_omvang_without_code(
        r, (p for p in _products(m) if p[1] == "ToewijzingIngangsdatum")
    )


@rule("CD096", "0001", "317", "no Omvang for a category-only NieuwProduct running past 2020")
def _cd096(r: Rule, m: Message) -> Iterator[Remark]:
    products = ((p, b, e) for p, b, e in _products(m) if _xml.local(p) == "NieuwProduct")
    yield from _no_omvang_without_code(r, products)


@rule("CD085", "0001", "319", "RedenAfwijzingVerzoek is given exactly when VerzoekAntwoord is 1")
def _cd085(r: Rule, m: Message) -> Iterator[Remark]:
    for antwoord in all_of(m, "Antwoord"):
        afgewezen = _xml.text(antwoord, "VerzoekAntwoord") == "1"
        reden = _xml.child(antwoord, "RedenAfwijzingVerzoek") is not None
        yield from _both_or_neither(
            r, antwoord, reden, afgewezen, "RedenAfwijzingVerzoek", "VerzoekAntwoord 1"
        )


@rule("CD087", "0001", "323", "ProductTarief is given exactly when Eenheid is not 83 (euros)")
def _cd087(r: Rule, m: Message) -> Iterator[Remark]:
    for prestatie in all_of(m, "Prestatie"):
        eenheid = _xml.text(prestatie, "Eenheid")
        if eenheid is None:
            continue
        tarief = _xml.child(prestatie, "ProductTarief") is not None
        yield from _both_or_neither(
            r, prestatie, tarief, eenheid != "83", "ProductTarief", f"Eenheid {eenheid}"
        )
