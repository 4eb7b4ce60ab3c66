"""The simple types (LDT_...) of the iWmo/iJw 3.2 basisschema, as facts we own.

Both standards share these types and their facets; they differ only in the values of a few code
lists (LDT_ProductCategorie, LDT_RedenBeeindiging), which live in ``data/<standard>-3.2-codes.tsv``
and are read by :mod:`gateway.standard.codelists`. The schema generator, the typed model and the
test strategies all read this one table.
"""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass


class Base(enum.StrEnum):
    """The XSD built-in type a simple type restricts."""

    STRING = "string"
    INTEGER = "integer"
    DATE = "date"
    TIME = "time"

    @property
    def python_type(self) -> type:
        return _PYTHON[self]


_PYTHON: dict[Base, type] = {
    Base.STRING: str,
    Base.INTEGER: int,
    Base.DATE: datetime.date,
    Base.TIME: datetime.time,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class SimpleType:
    """One LDT_ type: its base and facets. ``coded`` types enumerate a code list."""

    name: str
    base: Base
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    min_inclusive: int | None = None
    max_inclusive: int | None = None
    coded: bool = False


# A non-blank text: at least one character that is not XSD whitespace. The standard writes it in
# two ways; both are kept as written, so that our verdicts are the official ones by construction.
_TEXT = r".*[^\s].*"


def _t(name: str, base: Base, **facets: object) -> SimpleType:
    return SimpleType(name=name, base=base, **facets)  # type: ignore[arg-type]


SIMPLE_TYPES: dict[str, SimpleType] = {
    t.name: t
    for t in (
        _t("LDT_AanduidingWoonadres", Base.STRING, max_length=2, coded=True),
        _t("LDT_AdresSoort", Base.STRING, max_length=2, coded=True),
        _t("LDT_AgbCode", Base.STRING, min_length=1, max_length=8, pattern=r"[0-9]{8}"),
        _t("LDT_Bedrag", Base.INTEGER, min_inclusive=0, max_inclusive=99999999),
        _t("LDT_BerichtCode", Base.STRING, min_length=1, max_length=3),
        _t("LDT_BerichtSubversie", Base.INTEGER, min_inclusive=0, max_inclusive=99),
        _t("LDT_BerichtVersie", Base.INTEGER, min_inclusive=0, max_inclusive=99),
        _t("LDT_Budget", Base.INTEGER, min_inclusive=0, max_inclusive=99999999),
        _t("LDT_BurgerServicenummer", Base.STRING, min_length=1, max_length=9, pattern=r"[0-9]{9}"),
        _t("LDT_Commentaar", Base.STRING, min_length=1, pattern=r"([.\s]*\S+[.\s]*)+"),
        _t("LDT_Communicatievorm", Base.STRING, max_length=1, coded=True),
        # No time zone: the standard's dates are local dates.
        _t("LDT_Datum", Base.DATE, pattern=r"[^:Z]*"),
        _t("LDT_DatumGebruik", Base.STRING, max_length=1, coded=True),
        _t("LDT_DebetCredit", Base.STRING, max_length=1, coded=True),
        _t("LDT_Eenheid", Base.STRING, max_length=2, coded=True),
        _t("LDT_Emailadres", Base.STRING, min_length=1, max_length=80, pattern=_TEXT),
        _t("LDT_Frequentie", Base.STRING, max_length=1, coded=True),
        _t("LDT_Gemeente", Base.STRING, min_length=1, pattern=r"[0-9]{4}"),
        _t("LDT_Geslacht", Base.STRING, max_length=1, coded=True),
        _t("LDT_Huisletter", Base.STRING, min_length=1, max_length=1, pattern=_TEXT),
        _t("LDT_Huisnummer", Base.INTEGER, min_inclusive=0, max_inclusive=99999),
        _t("LDT_HuisnummerToevoeging", Base.STRING, min_length=1, max_length=4, pattern=_TEXT),
        _t("LDT_IdentificatieBericht", Base.STRING, min_length=1, max_length=12, pattern=_TEXT),
        _t("LDT_IdentificatieDeclaratie", Base.STRING, min_length=1, max_length=12),
        _t("LDT_JaNee", Base.STRING, max_length=1, coded=True),
        _t("LDT_JuridischeStatus", Base.STRING, max_length=2, coded=True),
        _t("LDT_LandCode", Base.STRING, max_length=2, coded=True),
        _t("LDT_Landnummer", Base.STRING, min_length=1, max_length=4, pattern=_TEXT),
        _t("LDT_Naam", Base.STRING, min_length=1, max_length=200, pattern=_TEXT),
        _t("LDT_NaamGebruik", Base.STRING, max_length=1, coded=True),
        _t("LDT_NaamVerwijzer", Base.STRING, min_length=1, max_length=64, pattern=_TEXT),
        _t("LDT_Nummer", Base.INTEGER, min_inclusive=0, max_inclusive=999999999),
        _t("LDT_Organisatienaam", Base.STRING, min_length=1, max_length=35, pattern=_TEXT),
        _t("LDT_Persoonsid", Base.STRING, min_length=1, max_length=20, pattern=_TEXT),
        _t("LDT_Plaatsnaam", Base.STRING, min_length=1, max_length=80, pattern=_TEXT),
        _t("LDT_Postcode", Base.STRING, min_length=1, max_length=8, pattern=_TEXT),
        _t("LDT_ProductCategorie", Base.STRING, max_length=2, coded=True),
        _t("LDT_ProductCode", Base.STRING, min_length=1, max_length=5, pattern=_TEXT),
        _t("LDT_RedenAfwijzingVerzoek", Base.STRING, max_length=2, coded=True),
        _t("LDT_RedenBeeindiging", Base.STRING, max_length=2, coded=True),
        _t("LDT_RedenVerzoek", Base.STRING, max_length=1, coded=True),
        _t("LDT_RedenWijziging", Base.STRING, max_length=2, coded=True),
        _t("LDT_Referentie", Base.STRING, min_length=1, max_length=36, pattern=_TEXT),
        _t("LDT_ReferentieNummer", Base.STRING, min_length=1, max_length=20),
        _t("LDT_RelatieVolgorde", Base.INTEGER, min_inclusive=0, max_inclusive=99),
        _t("LDT_RetourCode", Base.STRING, max_length=4, coded=True),
        _t("LDT_SoortRelatie", Base.STRING, max_length=2, coded=True),
        _t("LDT_StatusAanlevering", Base.STRING, max_length=1, coded=True),
        _t("LDT_Straatnaam", Base.STRING, min_length=1, max_length=24, pattern=_TEXT),
        _t("LDT_Taal", Base.STRING, min_length=1, max_length=25, pattern=_TEXT),
        _t("LDT_Telefoonnummer", Base.STRING, min_length=1, max_length=15, pattern=r"[0-9]*"),
        # No time zone, like the dates.
        _t("LDT_Tijd", Base.TIME, pattern=r"[^Z+-]+"),
        _t("LDT_TotaalBedrag", Base.INTEGER, min_inclusive=0, max_inclusive=999999999999),
        _t("LDT_TypeVerwijzer", Base.STRING, max_length=2, coded=True),
        _t(
            "LDT_Versie",
            Base.STRING,
            min_length=1,
            pattern=r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)",
        ),
        _t("LDT_VerzoekAntwoord", Base.STRING, max_length=1, coded=True),
        _t("LDT_Volume", Base.INTEGER, min_inclusive=0, max_inclusive=99999999),
        _t("LDT_Voorletters", Base.STRING, min_length=1, max_length=6, pattern=r"([a-zA-ZÀ-ỳ])+"),
        _t("LDT_Voorvoegsel", Base.STRING, min_length=1, max_length=10, pattern=_TEXT),
        _t("LDT_WettelijkeVertegenwoordiging", Base.STRING, max_length=2, coded=True),
    )
}
