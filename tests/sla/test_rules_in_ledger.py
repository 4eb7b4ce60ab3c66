"""Every rule of every deadline profile, through the ledger on SQLite and PostgreSQL.

For each rule an official example opens the obligation and another one (or, for a rule that
counts from an event the message reports after the fact, the message itself) meets it. Each
obligation is checked for who owes, to whom, what, since when, due when, and when and by which
message it was met; the due moments are worked out by hand in the comments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from gateway.clock import VirtualClock
from gateway.deadlines import AMSTERDAM, PROFILE_NAMES, get_profile
from gateway.ledger import Ledger
from gateway.sla.chains import Chains
from gateway.sla.store import Obligation, ObligationStore, Query, State
from tests.sla.conftest import MONDAY, Admitter

ISTD, ZTM = "istandaarden-3.2", "zoetermeer-2020"

# The official 305 and 307 go from 65656055 to 0363 about assignment 300201: moved to the
# 301's parties and its ToewijzingNummer 101.
FOR_THE_301 = {"65656055": "42420001", "0363": "0384", "300201": "101"}
# The official 319 answers ReferentieAanbieder 9003 of 65656055: moved to the 315's first product.
FOR_THE_315 = {"65656055": "42420001", "9003": "42420001"}


def midnight_after(day: int, month: int, year: int = 2023) -> datetime:
    """The due moment of a due day: the first instant after it, Europe/Amsterdam."""
    return datetime(year, month, day, tzinfo=AMSTERDAM) + timedelta(days=1)


@dataclass(frozen=True)
class Case:
    """``trigger`` (received Monday 14 August 2023 10:00) opens ``owed`` by ``rule``; ``answer``,
    received an hour later, meets it (None: the trigger meets it itself)."""

    profile: str
    rule: str
    trigger: str
    owed: str
    debtor: str
    creditor: str
    due: datetime
    answer: str | None
    trigger_replace: dict[str, str] = field(default_factory=dict)
    answer_replace: dict[str, str] = field(default_factory=dict)
    reference: str | None = None
    product: str | None = None

    @property
    def id(self) -> str:
        return f"{self.profile}:{self.rule}:{self.trigger}->{self.answer or self.trigger}"


A42, A65 = "aanbieder-42420001", "aanbieder-65656055"
G0384, G0363 = "gemeente-0384", "gemeente-0363"

CASES = [
    # OP090: every message answered with its retour within 3 working days (Thursday 17 August).
    Case(ISTD, "OP090", "WMO301", "WMO302", A42, G0384, midnight_after(17, 8), "WMO302"),
    Case(ISTD, "OP090", "WMO305", "WMO306", G0363, A65, midnight_after(17, 8), "WMO306"),
    Case(ISTD, "OP090", "WMO307", "WMO308", G0363, A65, midnight_after(17, 8), "WMO308"),
    Case(ISTD, "OP090", "WMO315", "WMO316", G0384, A42, midnight_after(17, 8), "WMO316"),
    Case(ISTD, "OP090", "WMO317", "WMO318", G0384, A65, midnight_after(17, 8), "WMO318"),
    Case(ISTD, "OP090", "WMO319", "WMO320", A65, G0384, midnight_after(17, 8), "WMO320"),
    # OP274: per requested product a 301 or 319 within 5 working days (Monday 21 August).
    Case(ISTD, "OP274", "WMO315", "WMO301", G0384, A42, midnight_after(21, 8), "WMO301",
         reference="42420002", product="BCDEF"),
    Case(ISTD, "OP274", "WMO315", "WMO301", G0384, A42, midnight_after(21, 8), "WMO319",
         answer_replace=FOR_THE_315, reference="42420001", product="ABCDE"),
    # OP346: a 317 is answered with a 301 or 319 within 5 working days.
    Case(ISTD, "OP346", "WMO317", "WMO301", G0384, A65, midnight_after(21, 8), "WMO319",
         reference="9003"),
    # OP090x4: a 323 is answered with a 325 within 10 working days (Monday 28 August).
    Case(ISTD, "OP090x4", "WMO323", "WMO325", G0384, A65, midnight_after(28, 8), "WMO325"),
    # OP271: Ingangsdatum 1 January lies before receipt: 5 working days after receipt.
    Case(ISTD, "OP271", "WMO301", "WMO305", A42, G0384, midnight_after(21, 8), "WMO305",
         answer_replace=FOR_THE_301, reference="101"),
    # OP272: Einddatum Sunday 31 December + 5 working days, Nieuwjaarsdag off: Monday 8 January.
    Case(ISTD, "OP272", "WMO301", "WMO307", A42, G0384, midnight_after(8, 1, 2024), "WMO307",
         answer_replace=FOR_THE_301, reference="101"),
    # Zoetermeer 2020 (seed 003): the shared rules, the 20 working days for the 325, and the
    # messages owed after the fact, which the trigger meets itself.
    Case(ZTM, "OP090", "WMO301", "WMO302", A42, G0384, midnight_after(17, 8), "WMO302"),
    Case(ZTM, "OP271", "WMO301", "WMO305", A42, G0384, midnight_after(21, 8), "WMO305",
         answer_replace=FOR_THE_301, reference="101"),
    Case(ZTM, "OP272", "WMO301", "WMO307", A42, G0384, midnight_after(8, 1, 2024), "WMO307",
         answer_replace=FOR_THE_301, reference="101"),
    # 20 working days after Monday 14 August: Monday 11 September.
    Case(ZTM, "zoetermeer-6.1.1", "WMO323", "WMO325", G0384, A65, midnight_after(11, 9),
         "WMO325"),
    # KIB from Thursday 1 June: 2 working days, Friday 2 and Monday 5 June.
    Case(ZTM, "zoetermeer-4.2", "WMO315", "WMO315", A42, G0384, midnight_after(5, 6), None,
         trigger_replace={"ABCDE": "02201"}, reference="42420001", product="02201"),
    # Dagbesteding from Thursday 1 June (ISO week 22): period 6 is weeks 21-24 and ends Sunday
    # 18 June; two weeks later is Sunday 2 July.
    Case(ZTM, "zoetermeer-4.1", "WMO315", "WMO315", A42, G0384, midnight_after(2, 7), None,
         trigger_replace={"ABCDE": "07A03"}, reference="42420001", product="07A03"),
    # Begindatum Saturday 1 April (ISO week 13): period 4 is weeks 13-16 and ends Sunday
    # 23 April; its invoicing date three weeks later is Sunday 14 May.
    Case(ZTM, "zoetermeer-bijlage-4", "WMO323", "WMO323", A65, G0384, midnight_after(14, 5),
         None),
]  # fmt: skip


def test_every_rule_of_every_profile_has_a_case() -> None:
    """The cases cover each rule of each profile, and only those."""
    every = {(name, rule.name) for name in PROFILE_NAMES for rule in get_profile(name).rules}
    assert {(case.profile, case.rule) for case in CASES} == every


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
async def test_rule_opens_and_its_answer_meets(
    case: Case, sla_ledger: Ledger, reference: Path, clock: VirtualClock
) -> None:
    """The trigger opens the obligation of the rule; the answer meets that one and no other."""
    admitter = Admitter(sla_ledger, Chains(get_profile(case.profile)), reference)
    store = ObligationStore(sla_ledger)
    trigger = await admitter.admit(case.trigger, replace=case.trigger_replace)

    def of_rule(found: list[Obligation]) -> list[Obligation]:
        return [
            o
            for o in found
            if o.rule == case.rule
            and o.owed == case.owed
            and o.trigger_traceer_id == trigger.traceer_id
            and (case.reference is None or o.reference == case.reference)
        ]

    [opened] = of_rule(await store.find(Query(), clock.now()))
    assert (opened.owed, opened.debtor, opened.creditor) == (case.owed, case.debtor, case.creditor)
    assert opened.opened_at == MONDAY
    assert opened.due == case.due
    assert opened.product == case.product
    assert case.owed in opened.accepts

    if case.answer is None:
        # Owed for an event before the message reported it: opened and met by the message.
        assert (opened.met_at, opened.met_by, opened.met_by_type) == (
            MONDAY,
            trigger.traceer_id,
            case.trigger,
        )
        assert opened.state(clock.now()) is State.MET_LATE
        return

    assert opened.met_at is None
    clock.advance(timedelta(hours=1))
    answer = await admitter.admit(case.answer, replace=case.answer_replace)

    [met] = of_rule(await store.find(Query(), clock.now()))
    assert (met.met_at, met.met_by, met.met_by_type) == (
        MONDAY + timedelta(hours=1),
        answer.traceer_id,
        case.answer,
    )
    assert met.state(clock.now()) is State.MET
    # The answer meets this obligation and nothing else the trigger opened.
    everything = await store.of_messages([trigger.traceer_id, answer.traceer_id])
    assert [o.id for o in everything if o.met_by == answer.traceer_id] == [met.id]
