"""What a simulated provider declares: one 323 per municipality per declaration period.

Seed 003 (2020, iWmo 2.x with the 303) declares per 4-week period. A 323 of iWmo 3.2 cannot:
its DeclaratiePeriode is exactly one calendar month (CS340), each ProductPeriode lies within one
month (CS337), and both begin in 2021 or later (CS100). Since everything a simulated participant
sends must pass the standard's checks, the provider declares per calendar month from 2021 on, on
the first working day after the 4-week period in which the month ends (the seed's rhythm);
months before 2021 are not declared at all.

What a line holds comes from the assignment and the contract: the delivered volume is the
assigned volume for the days of the month the care ran (per week: volume x days / 7, rounded;
per month: the volume; in total: all of it in the first month), in the assigned unit, at the
contract tariff - unless the provider's own price list says otherwise (a fault a scenario
injects), which the municipality rejects with 0611.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from gateway.deadlines.periods import PeriodCalendar
from gateway.deadlines.workdays import WorkingDays
from gateway.participants import Participant
from gateway.standard import model
from gateway.standard.message_types import MessageType

FIRST_DECLARABLE = dt.date(2021, 1, 1)  # CS100
PER_WEEK, PER_MONTH, TOTAAL = "2", "4", "6"
DEBET = "D"


@dataclass(frozen=True, slots=True)
class Month:
    """A calendar month, the DeclaratiePeriode of iWmo 3.2."""

    year: int
    month: int

    @classmethod
    def of(cls, day: dt.date) -> Month:
        return cls(day.year, day.month)

    @property
    def first(self) -> dt.date:
        return dt.date(self.year, self.month, 1)

    @property
    def last(self) -> dt.date:
        return self.following.first - dt.timedelta(days=1)

    @property
    def following(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def months(first: dt.date, last: dt.date) -> Iterator[Month]:
    """The declarable months that ``first`` .. ``last`` touches (none before 2021)."""
    month = Month.of(max(first, FIRST_DECLARABLE))
    while month.first <= last:
        yield month
        month = month.following


def declaration_day(
    month: Month, workdays: WorkingDays, periods: PeriodCalendar | None = None
) -> dt.date:
    """The day a month is declared: the first working day after the 4-week period it ends in.

    The provider keeps the seed's rhythm - it declares when a 4-week period is over - and
    declares then what iWmo 3.2 lets it: the calendar month that has ended by then.
    """
    period = (periods or _PERIODS).holding(month.last)
    day = period.last + dt.timedelta(days=1)
    return day if workdays.is_working_day(day) else workdays.add(day, 1)


_PERIODS = PeriodCalendar()


@dataclass(frozen=True, slots=True)
class Delivered:
    """One assignment the provider delivered on in a month, ready to be priced."""

    bsn: str
    toewijzing_nummer: int
    categorie: str
    code: str
    begindatum: dt.date
    einddatum: dt.date
    volume: int
    eenheid: str
    tarief: int


def delivered_volume(
    volume: int, frequentie: str | None, begin: dt.date, end: dt.date, *, first_month: bool
) -> int:
    """How much of an assignment's volume falls in ``begin`` .. ``end`` (within one month)."""
    days = (end - begin).days + 1
    if frequentie == PER_WEEK:
        return max(1, round(volume * days / 7))
    if frequentie == TOTAAL:
        return volume if first_month else 0
    return volume  # per month, or a frequency the simulation does not spread


def declaratie(
    *,
    message_type: MessageType,
    sender: Participant,
    recipient: Participant,
    identificatie: str,
    nummer: str,
    month: Month,
    dagtekening: dt.date,
    lines: Sequence[tuple[str, Delivered]],
) -> model.Message:
    """A 323 (WMO323 or JW323) for ``month``: a Prestatie per (ReferentieNummer, line)."""
    clienten: dict[str, list[model.Prestatie]] = {}
    total = 0
    for referentie, line in lines:
        bedrag = line.volume * line.tarief
        total += bedrag
        clienten.setdefault(line.bsn, []).append(
            model.Prestatie(
                product_referentie=model.Referentie(referentie_nummer=referentie),
                toewijzing_nummer=line.toewijzing_nummer,
                product_categorie=line.categorie,
                product_code=line.code,
                product_periode=model.GeslotenPeriode(
                    begindatum=line.begindatum, einddatum=line.einddatum
                ),
                geleverd_volume=line.volume,
                eenheid=line.eenheid,
                product_tarief=line.tarief,
                ingediend_bedrag=model.BedragMetDC(bedrag=bedrag, debet_credit=DEBET),
            )
        )
    return model.Message(
        message_type=message_type,
        header=model.Header(
            afzender=sender.code,
            ontvanger=recipient.code,
            bericht_identificatie=model.BerichtIdentificatie(
                identificatie=identificatie, dagtekening=dagtekening
            ),
        ),
        body=model.Declaratie(
            declaratie_nummer=nummer,
            declaratie_periode=model.GeslotenPeriode(begindatum=month.first, einddatum=month.last),
            declaratie_dagtekening=dagtekening,
            totaal_ingediend_bedrag=model.TotaalBedragMetDC(
                totaal_bedrag=total, debet_credit=DEBET
            ),
            clienten=tuple(
                model.DeclaratieClient(bsn=bsn, prestaties=tuple(prestaties))
                for bsn, prestaties in clienten.items()
            ),
        ),
    )
