"""What the simulated provider declares: months, declaration days, volumes, and a clean 323."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from gateway.deadlines.workdays import WorkingDays
from gateway.handlers.declaring import (
    Delivered,
    Month,
    declaratie,
    declaration_day,
    delivered_volume,
    months,
)
from gateway.participants import Participant
from gateway.standard.codec import build
from gateway.standard.message_types import MessageType
from gateway.standard.rules import CheckContext, check
from gateway.standard.xmlsafe import parse_xml


def test_months_start_in_2021_and_cover_the_care() -> None:
    """Care from March 2020 to March 2021 is declared for January to March 2021 (CS100)."""
    found = [str(m) for m in months(dt.date(2020, 3, 2), dt.date(2021, 3, 1))]
    assert found == ["2021-01", "2021-02", "2021-03"]
    assert Month(2021, 12).following == Month(2022, 1)
    assert Month(2024, 2).last == dt.date(2024, 2, 29)


def test_a_month_is_declared_after_the_4_week_period_it_ends_in() -> None:
    """January 2021 ends in period 1 (to 31 January): Monday 1 February; February 2025 ends in
    period 3 (to Sunday 23 March): Monday 24 March; March 2024 ends in period 4 (to Sunday 21
    April): Monday 22 April."""
    workdays = WorkingDays()
    assert declaration_day(Month(2021, 1), workdays) == dt.date(2021, 2, 1)
    assert declaration_day(Month(2025, 2), workdays) == dt.date(2025, 3, 24)
    assert declaration_day(Month(2024, 3), workdays) == dt.date(2024, 4, 22)


def test_delivered_volume_follows_the_frequency() -> None:
    """Per week: volume x days / 7, at least 1; per month: the volume; in total: the first month."""
    january = (dt.date(2021, 1, 1), dt.date(2021, 1, 31))
    assert delivered_volume(4, "2", *january, first_month=True) == 18
    assert (
        delivered_volume(4, "2", dt.date(2021, 1, 31), dt.date(2021, 1, 31), first_month=False) == 1
    )
    assert delivered_volume(8, "4", *january, first_month=False) == 8
    assert delivered_volume(50, "6", *january, first_month=True) == 50
    assert delivered_volume(50, "6", *january, first_month=False) == 0


def test_the_declaration_passes_the_standards_checks() -> None:
    """A 323 with two clients' lines: valid, and without a remark of the level-2 rules."""
    line = Delivered(
        bsn="999900018",
        toewijzing_nummer=1,
        categorie="07",
        code="07A03",
        begindatum=dt.date(2021, 1, 4),
        einddatum=dt.date(2021, 1, 31),
        volume=16,
        eenheid="16",
        tarief=3423,
    )
    other = replace(line, bsn="999900031", toewijzing_nummer=2)
    message = declaratie(
        message_type=MessageType.WMO323,
        sender=Participant.parse("aanbieder-12345678"),
        recipient=Participant.parse("gemeente-0637"),
        identificatie="ID0000000001",
        nummer="D00000000001",
        month=Month(2021, 1),
        dagtekening=dt.date(2021, 2, 1),
        lines=[("R1", line), ("R2", other)],
    )
    payload = build(message)
    assert (
        check(parse_xml(payload), MessageType.WMO323, CheckContext(today=dt.date(2021, 2, 1))) == []
    )
    assert b"<iwmo:TotaalBedrag>109536</iwmo:TotaalBedrag>" in payload
