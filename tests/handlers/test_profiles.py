"""The zoetermeer-2020 contract profile against seed 003: its products, and each of its caps."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace

import pytest

from gateway.handlers.profiles import (
    OLD_CODES,
    ZOETERMEER_2020,
    Assignment,
    Grant,
    Line,
    Refusal,
    Request,
    get_profile,
)

BSN = "999900018"
MONDAY = dt.date(2020, 3, 2)
PROFILE = get_profile("zoetermeer-2020")

# Seed 003, 2.1 and 4.1/4.2: how the tariff table names its unit, and the iWmo code for it.
UNITS = {"dagdeel": "16", "etmaal": "14", "uur": "04"}


def _euro_cents(text: str) -> int:
    euros, cents = text.split(",")
    return int(euros) * 100 + int(cents)


def _name(text: str) -> str:
    return text.replace(",", "").strip().lower()


def test_the_products_are_the_seeds(zoetermeer_seed: str) -> None:
    """Codes, categories, old codes, units and system tariffs (2.1, 2.3) as the seed has them."""
    # 2.1: "Recreatieve dagbesteding, Basis	€ 33,76 per dagdeel*	€ 34,23	€ 34,23"
    tariffs = {
        _name(m["name"]): (UNITS[m["unit"]], _euro_cents(m["system"]))
        for m in re.finditer(
            r"^(?P<name>[^\t\n€]+)\t€ [\d,]+ per (?P<unit>\w+)\*?\t€ [\d,]+\t€ (?P<system>[\d,]+)$",
            zoetermeer_seed,
            re.MULTILINE,
        )
    }
    # 2.3: "Recreatieve dagbesteding basis	07	07204	07A03	Dagbesteding regulier: ..."
    codes = {
        _name(m["name"]): (m["categorie"], m["old"], m["new"])
        for m in re.finditer(
            r"^(?P<name>[^\t\n]+)\t(?P<categorie>\d\d)\t(?P<old>\d{5})\t(?P<new>\w{5})\t",
            zoetermeer_seed,
            re.MULTILINE,
        )
    }
    assert len(tariffs) == len(codes) == 6, (tariffs, codes)
    found = set()
    for name, (categorie, old, new) in codes.items():
        eenheid, tarief = tariffs[name]
        product = ZOETERMEER_2020[new]
        assert (product.categorie, product.eenheid, product.tarief) == (categorie, eenheid, tarief)
        if old != new:
            found.add(old)
    assert found == OLD_CODES == {"07204", "07205", "08101", "08102"}
    assert set(ZOETERMEER_2020) == {"07A03", "07A04", "08A03", "08A04", "02201", "02203"}
    # 4.1: dagdelen and etmalen per week (2); 4.2: hours in total (6), 15 and 50 of them.
    frequencies = {code: p.frequentie for code, p in ZOETERMEER_2020.items()}
    assert frequencies == {
        "07A03": "2",
        "07A04": "2",
        "08A03": "2",
        "08A04": "2",
        "02201": "6",
        "02203": "6",
    }
    assert "15\tWaakvlamcontact" in zoetermeer_seed
    assert "50\tKortdurende individuele begeleiding (KIB)" in zoetermeer_seed
    assert (ZOETERMEER_2020["02201"].max_volume, ZOETERMEER_2020["02203"].max_volume) == (15, 50)
    assert "maximale indicatie van 9 dagdelen per week" in zoetermeer_seed
    assert ZOETERMEER_2020["07A03"].max_volume == ZOETERMEER_2020["07A04"].max_volume == 9


def _request(
    code: str,
    volume: int,
    *,
    start: dt.date = MONDAY,
    end: dt.date | None = None,
    eenheid: str | None = None,
    frequentie: str | None = None,
    categorie: str | None = None,
) -> Request:
    product = ZOETERMEER_2020.get(code)
    return Request(
        bsn=BSN,
        categorie=categorie or (product.categorie if product else code[:2]),
        code=code,
        ingangsdatum=start,
        einddatum=end,
        volume=volume,
        eenheid=eenheid or (product.eenheid if product else "16"),
        frequentie=frequentie or (product.frequentie if product else "2"),
    )


def _assignment(
    nummer: int, code: str, volume: int, start: dt.date, end: dt.date | None
) -> Assignment:
    product = ZOETERMEER_2020[code]
    return Assignment(
        toewijzing_nummer=nummer,
        bsn=BSN,
        provider="12345678",
        categorie=product.categorie,
        code=code,
        ingangsdatum=start,
        einddatum=end,
        volume=volume,
        eenheid=product.eenheid,
        frequentie=product.frequentie,
    )


def _reden(decision: Grant | Refusal) -> str | None:
    return decision.reden if isinstance(decision, Refusal) else None


@pytest.mark.parametrize("code", sorted(OLD_CODES))
def test_the_2015_codes_are_refused(code: str) -> None:
    """07204, 07205, 08101, 08102: no new assignment carries them (319, reden 4)."""
    assert _reden(PROFILE.decide(_request(code, 2), [])) == "4"


def test_a_product_outside_the_contract_or_its_category_is_refused() -> None:
    """A code the contract lacks, or a known code under another category: reden 3."""
    assert _reden(PROFILE.decide(_request("07A05", 2), [])) == "3"
    assert _reden(PROFILE.decide(_request("07A03", 2, categorie="08"), [])) == "3"


def test_unit_and_frequency_must_be_the_contracts() -> None:
    """9 dagdelen a day is not 9 a week; 15 hours a week of waakvlam is not 15 a year."""
    assert _reden(PROFILE.decide(_request("08A03", 2, eenheid="16"), [])) == "4"
    assert _reden(PROFILE.decide(_request("07A03", 9, frequentie="1"), [])) == "4"
    assert _reden(PROFILE.decide(_request("02201", 15, frequentie="2"), [])) == "4"
    assert _reden(PROFILE.decide(_request("02203", 50, frequentie="4"), [])) == "4"


@pytest.mark.parametrize(
    ("code", "most"), [("07A03", 9), ("07A04", 9), ("02201", 15), ("02203", 50)]
)
def test_the_caps_on_volume(code: str, most: int) -> None:
    """Dagbesteding 9 dagdelen a week, waakvlam 15 hours, KIB 50 hours: at the cap granted."""
    assert isinstance(PROFILE.decide(_request(code, most), []), Grant)
    assert _reden(PROFILE.decide(_request(code, most + 1), [])) == "4"


def test_the_term_is_at_most_5_years_and_1_for_kib_and_waakvlam() -> None:
    """The municipality sets the Einddatum: what is asked, but no later than the term."""
    far = dt.date(2031, 1, 1)
    assert PROFILE.decide(_request("07A03", 4, end=far), []) == Grant(dt.date(2025, 3, 1))
    assert PROFILE.decide(_request("07A04", 4, end=dt.date(2020, 6, 30)), []) == Grant(
        dt.date(2020, 6, 30)
    )
    assert PROFILE.decide(_request("02203", 50, end=far), []) == Grant(dt.date(2021, 3, 1))
    assert PROFILE.decide(_request("02201", 15), []) == Grant(dt.date(2021, 3, 1))


def test_kib_once_in_12_months() -> None:
    """A second KIB within 12 calendar months of the first is refused (reden 6: stapeling)."""
    first = _assignment(1, "02203", 50, dt.date(2019, 3, 2), dt.date(2020, 3, 1))
    # 2020 is a leap year: 365 days after 2019-03-02 is 2020-03-01, still within 12 months.
    assert _reden(PROFILE.decide(_request("02203", 10, start=dt.date(2020, 3, 1)), [first])) == "6"
    assert isinstance(
        PROFILE.decide(_request("02203", 10, start=dt.date(2020, 3, 2)), [first]), Grant
    )
    # Another client's KIB is no reason.
    other = replace(_assignment(2, "02203", 50, MONDAY, None), bsn="999900031")
    assert isinstance(PROFILE.decide(_request("02203", 10), [other]), Grant)


def test_waakvlam_at_most_15_hours_a_year_together() -> None:
    """A second waakvlam in the same year counts the hours of the first."""
    first = _assignment(1, "02201", 10, MONDAY, dt.date(2021, 3, 1))
    assert isinstance(
        PROFILE.decide(_request("02201", 5, start=dt.date(2020, 6, 1)), [first]), Grant
    )
    assert _reden(PROFILE.decide(_request("02201", 6, start=dt.date(2020, 6, 1)), [first])) == "4"
    # After the first's year, 15 hours again.
    after = dt.date(2021, 3, 2)
    assert isinstance(PROFILE.decide(_request("02201", 15, start=after), [first]), Grant)


def test_vervoer_not_on_more_days_than_dagbesteding() -> None:
    """Etmalen vervoer at most the dagdelen dagbesteding running then, and at most 7 a week."""
    dagbesteding = _assignment(1, "07A03", 3, MONDAY, dt.date(2021, 2, 28))
    assert _reden(PROFILE.decide(_request("08A03", 3), [])) == "4"
    assert isinstance(PROFILE.decide(_request("08A03", 3), [dagbesteding]), Grant)
    assert _reden(PROFILE.decide(_request("08A04", 4), [dagbesteding])) == "4"
    nine = _assignment(1, "07A04", 9, MONDAY, dt.date(2021, 2, 28))
    assert isinstance(PROFILE.decide(_request("08A03", 7), [nine]), Grant)
    assert _reden(PROFILE.decide(_request("08A03", 8), [nine])) == "4"
    # Dagbesteding that ended before the vervoer starts does not count.
    ended = _assignment(1, "07A03", 3, dt.date(2019, 1, 1), dt.date(2020, 3, 1))
    assert _reden(PROFILE.decide(_request("08A03", 1), [ended])) == "4"


def _line(**changes: object) -> Line:
    values: dict[str, object] = {
        "bsn": BSN,
        "toewijzing_nummer": 1,
        "categorie": "07",
        "code": "07A03",
        "begindatum": dt.date(2021, 1, 1),
        "einddatum": dt.date(2021, 1, 31),
        "volume": 18,
        "eenheid": "16",
        "tarief": 3423,
        "bedrag": 18 * 3423,
    }
    values.update(changes)
    return Line(**values)  # type: ignore[arg-type]


def test_a_declared_line_against_its_assignment_in_its_unit_at_the_contract_tariff() -> None:
    """Approved only when all hold; each fault has its own retourcode."""
    assignment = _assignment(1, "07A03", 4, dt.date(2020, 3, 2), dt.date(2021, 2, 28))
    assert PROFILE.judge(_line(), assignment) == []
    assert PROFILE.judge(_line(), None) == ["9338"]
    assert PROFILE.judge(_line(eenheid="14"), assignment) == ["9341"]
    assert PROFILE.judge(_line(tarief=3400, bedrag=18 * 3400), assignment) == ["0611"]
    assert PROFILE.judge(_line(code="07A04", tarief=5028), assignment) == ["9340"]
    assert PROFILE.judge(_line(categorie="08"), assignment) == ["9339"]
    late = _line(begindatum=dt.date(2021, 3, 1), einddatum=dt.date(2021, 3, 31))
    assert PROFILE.judge(late, assignment) == ["9307", "9308"]
