"""Contract profiles: what a simulated municipality grants, refuses and pays.

A profile answers two questions: may this requested product be assigned (and until when), and
is this declared line right (product, unit, tariff)? ``istandaarden`` follows the standard
alone and grants what is asked. ``zoetermeer-2020`` carries the contract of seed 003: its six
products with categories, units, frequencies and tariffs, the old codes it no longer accepts,
and its caps (recreatieve dagbesteding at most 9 dagdelen a week; KIB at most 50 hours and once
in 12 months; waakvlam at most 15 hours a year; vervoer not on more days than the dagbesteding;
a term of at most 5 years). A product is asked in the contract's unit *and* frequency: 9
dagdelen a day is not 9 a week, nor 15 hours a week of waakvlam 15 a year.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from gateway.errors import ConfigError

# LDT_RedenAfwijzingVerzoek (WJ759)
GEEN_CONTRACT = "3"
PAST_NIET_BINNEN_CONTRACT = "4"
STAPELING = "6"

# Retourcodes on declared lines (WJ001)
TARIEF_ONJUIST = "0611"
GEEN_TOEWIJZING = "9338"
CATEGORIE_ONGELIJK = "9339"
CODE_ONGELIJK = "9340"
EENHEID_ONGELIJK = "9341"
VOLUME_TE_HOOG = "9321"
BEGIN_BUITEN_TOEWIJZING = "9307"
EINDE_BUITEN_TOEWIJZING = "9308"


@dataclass(frozen=True, slots=True)
class Request:
    """One requested product, as the municipality reads it from a 315 (or a 317)."""

    bsn: str
    categorie: str
    code: str | None
    ingangsdatum: dt.date
    einddatum: dt.date | None
    volume: int | None
    eenheid: str | None
    frequentie: str | None


@dataclass(frozen=True, slots=True)
class Assignment:
    """A toewijzing the municipality gave (ToegewezenProduct), kept to judge what follows."""

    toewijzing_nummer: int
    bsn: str
    provider: str
    categorie: str
    code: str | None
    ingangsdatum: dt.date
    einddatum: dt.date | None
    volume: int | None
    eenheid: str | None
    frequentie: str | None
    referentie_aanbieder: str | None = None

    def active_on(self, day: dt.date) -> bool:
        return self.ingangsdatum <= day and (self.einddatum is None or day <= self.einddatum)


@dataclass(frozen=True, slots=True)
class Grant:
    einddatum: dt.date


@dataclass(frozen=True, slots=True)
class Refusal:
    reden: str
    why: str


Decision = Grant | Refusal


@dataclass(frozen=True, slots=True)
class Line:
    """One declared Prestatie, as the municipality judges it."""

    bsn: str
    toewijzing_nummer: int
    categorie: str
    code: str
    begindatum: dt.date
    einddatum: dt.date
    volume: int
    eenheid: str
    tarief: int | None
    bedrag: int


class ContractProfile(Protocol):
    name: str

    def decide(self, request: Request, assignments: Sequence[Assignment]) -> Decision:
        """Grant (with the Einddatum the municipality sets) or refuse one requested product."""
        ...

    def judge(self, line: Line, assignment: Assignment | None) -> list[str]:
        """The retourcodes of a declared line; empty means approved."""
        ...

    def product(self, code: str | None) -> ContractProduct | None:
        """The contract's terms for a product code (unit, tariff), if the contract has them."""
        ...


def _same_day_years_on(day: dt.date, years: int) -> dt.date:
    """The same calendar day ``years`` on (or back); 29 February becomes the 28th."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _within_a_year(one: dt.date, other: dt.date) -> bool:
    """Whether fewer than 12 calendar months lie between two days."""
    first, last = sorted((one, other))
    return last < _same_day_years_on(first, 1)


def _years_later(day: dt.date, years: int) -> dt.date:
    """The last day of a term of ``years`` that starts on ``day``."""
    return _same_day_years_on(day, years) - dt.timedelta(days=1)


def judge_against_assignment(line: Line, assignment: Assignment | None) -> list[str]:
    """What the standard itself says of a line and the assignment it names."""
    if assignment is None:
        return [GEEN_TOEWIJZING]
    codes: list[str] = []
    if line.categorie != assignment.categorie:
        codes.append(CATEGORIE_ONGELIJK)
    if assignment.code is not None and line.code != assignment.code:
        codes.append(CODE_ONGELIJK)
    if assignment.eenheid is not None and line.eenheid != assignment.eenheid:
        codes.append(EENHEID_ONGELIJK)
    if not assignment.active_on(line.begindatum):
        codes.append(BEGIN_BUITEN_TOEWIJZING)
    if not assignment.active_on(line.einddatum):
        codes.append(EINDE_BUITEN_TOEWIJZING)
    return codes


class IStandaardenProfile:
    """No contract beyond the standard: grant what is asked, for a year unless an end is asked."""

    name = "istandaarden"

    def decide(self, request: Request, assignments: Sequence[Assignment]) -> Decision:
        return Grant(request.einddatum or _years_later(request.ingangsdatum, 1))

    def judge(self, line: Line, assignment: Assignment | None) -> list[str]:
        return judge_against_assignment(line, assignment)

    def product(self, code: str | None) -> ContractProduct | None:
        return None  # the standard sets no tariffs


@dataclass(frozen=True, slots=True)
class ContractProduct:
    """One product of a contract: its coding, unit, frequency, tariff (cents) and term."""

    categorie: str
    code: str
    name: str
    eenheid: str
    frequentie: str
    tarief: int
    term_years: int
    max_volume: int | None = None


DAGDEEL, ETMAAL, UUR = "16", "14", "04"
PER_WEEK, TOTAAL = "2", "6"

ZOETERMEER_2020: Mapping[str, ContractProduct] = {
    p.code: p
    for p in (
        ContractProduct(
            "07", "07A03", "Recreatieve dagbesteding basis", DAGDEEL, PER_WEEK, 3423, 5, 9
        ),
        ContractProduct(
            "07", "07A04", "Recreatieve dagbesteding specialistisch", DAGDEEL, PER_WEEK, 5028, 5, 9
        ),
        ContractProduct("08", "08A03", "Vervoer basis", ETMAAL, PER_WEEK, 1139, 5),
        ContractProduct("08", "08A04", "Vervoer rolstoel", ETMAAL, PER_WEEK, 2277, 5),
        ContractProduct("02", "02201", "Waakvlamcontact", UUR, TOTAAL, 4800, 1, 15),
        ContractProduct(
            "02", "02203", "Kortdurende individuele begeleiding", UUR, TOTAAL, 4800, 1, 50
        ),
    )
}
# The 2015 codes, under a phase-out since 2016: no new assignment carries them (seed 003, 2.3).
OLD_CODES = frozenset({"07204", "07205", "08101", "08102"})
KIB = "02203"
WAAKVLAM = "02201"
DAYS_A_WEEK = 7
# Judged after the other products of the same request: vervoer is measured against the
# dagbesteding, whichever order the provider listed them in.
JUDGED_LAST = frozenset({"08"})


class Zoetermeer2020:
    """The Zoetermeer 2020 contract for vrij inzetbare voorzieningen (seed 003)."""

    name = "zoetermeer-2020"
    products = ZOETERMEER_2020

    def decide(self, request: Request, assignments: Sequence[Assignment]) -> Decision:
        code = request.code or ""
        if code in OLD_CODES:
            return Refusal(
                PAST_NIET_BINNEN_CONTRACT,
                f"product code {code} is a 2015 code; since 2017 the contract uses its successor",
            )
        product = self.products.get(code)
        if product is None or product.categorie != request.categorie:
            return Refusal(GEEN_CONTRACT, f"no contract for product {request.categorie}/{code}")
        if request.eenheid not in (None, product.eenheid):
            return Refusal(
                PAST_NIET_BINNEN_CONTRACT,
                f"{product.name} is assigned in unit {product.eenheid}, not {request.eenheid}",
            )
        if request.frequentie not in (None, product.frequentie):
            return Refusal(
                PAST_NIET_BINNEN_CONTRACT,
                f"{product.name} is assigned with frequency {product.frequentie}, "
                f"not {request.frequentie}",
            )
        volume = request.volume or 0
        if product.max_volume is not None and volume > product.max_volume:
            return Refusal(
                PAST_NIET_BINNEN_CONTRACT,
                f"{product.name}: at most {product.max_volume}, asked {volume}",
            )
        client = [a for a in assignments if a.bsn == request.bsn]
        longest = _years_later(request.ingangsdatum, product.term_years)
        einddatum = min(request.einddatum or longest, longest)
        if code == KIB:
            # Once in 12 months: a second KIB only when 12 months have passed since the other.
            earlier = [
                a
                for a in client
                if a.code == KIB and _within_a_year(a.ingangsdatum, request.ingangsdatum)
            ]
            if earlier:
                return Refusal(
                    STAPELING,
                    f"KIB was assigned on {earlier[0].ingangsdatum}: once in 12 months",
                )
        if code == WAAKVLAM:
            # At most 15 hours a year: the waakvlam hours of assignments this year overlaps.
            overlapping = [
                a
                for a in client
                if a.code == WAAKVLAM
                and a.ingangsdatum <= einddatum
                and (a.einddatum is None or request.ingangsdatum <= a.einddatum)
            ]
            hours = sum(a.volume or 0 for a in overlapping)
            if product.max_volume is not None and hours + volume > product.max_volume:
                return Refusal(
                    PAST_NIET_BINNEN_CONTRACT,
                    f"waakvlam: {hours} hours assigned in the same year already, {volume} "
                    f"more would pass the {product.max_volume} a year",
                )
        if product.categorie == "08":
            # Vervoer etmalen not above the days of dagbesteding: a day holds one or more
            # dagdelen, a week 7 days.
            dagdelen = sum(
                a.volume or 0
                for a in client
                if a.categorie == "07" and a.active_on(request.ingangsdatum)
            )
            days = min(dagdelen, DAYS_A_WEEK)
            if volume > days:
                return Refusal(
                    PAST_NIET_BINNEN_CONTRACT,
                    f"vervoer for {volume} etmalen a week, dagbesteding for {dagdelen} "
                    f"dagdelen (at most {days} days) a week",
                )
        return Grant(einddatum)

    def judge(self, line: Line, assignment: Assignment | None) -> list[str]:
        codes = judge_against_assignment(line, assignment)
        product = self.products.get(line.code)
        if product is not None and line.tarief is not None and line.tarief != product.tarief:
            codes.append(TARIEF_ONJUIST)
        return codes

    def product(self, code: str | None) -> ContractProduct | None:
        return self.products.get(code or "")


PROFILES: Mapping[str, type[IStandaardenProfile] | type[Zoetermeer2020]] = {
    IStandaardenProfile.name: IStandaardenProfile,
    Zoetermeer2020.name: Zoetermeer2020,
}


def get_profile(name: str) -> ContractProfile:
    try:
        return PROFILES[name]()
    except KeyError:
        raise ConfigError(
            f"contract profile {name!r}: known profiles are {', '.join(PROFILES)}"
        ) from None
