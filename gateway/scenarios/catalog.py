"""The scenarios ``gateway scenario`` knows, each a chain from the seed or the standard.

A scenario plays the software of the participants that are not simulated (here: the provider's
software that asks for assignments, and a provider's decisions to stop), moves the virtual clock
from one step of the chain to the next, and returns its checks: what each message said, what
the simulated municipality and provider did, and the SLA state of the ledger.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from gateway.deadlines.workdays import AMSTERDAM
from gateway.handlers import declaring
from gateway.participants import Participant
from gateway.scenarios.chain import Chain
from gateway.scenarios.steps import (
    BSN,
    OTHER_PROVIDER,
    PROVIDER,
    START,
    ZOETERMEER,
    Check,
    ProductRequest,
    all_met,
    antwoorden,
    ask,
    assigned,
    at,
    bodies,
    contracted,
    declared_lines,
    no_remarks,
    nobody_late,
    rejected_lines,
    set_policy,
    toewijzingen,
    until,
    wait_all,
)
from gateway.sla.store import Query, State
from gateway.standard import model
from gateway.standard.message_types import MessageType

W = MessageType  # short, for the long lists of message types below


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    title: str
    play: Callable[[Chain], Awaitable[list[Check]]]
    municipalities: tuple[Participant, ...] = (ZOETERMEER,)
    providers: tuple[Participant, ...] = (PROVIDER,)
    start: dt.datetime = START
    prices: Mapping[str, int] = field(default_factory=dict)
    """The simulated providers' own tariffs (cents) where they differ from the contract."""


# -- the scenarios ---------------------------------------------------------------------------


async def viv_new(chain: Chain) -> list[Check]:
    """Seed 003, scenario 1: 315, 301, 305, the monthly declarations and at the end the 307."""
    today = chain.clock.today()
    # asks for 6 years; the contract grants at most 5
    sent = await ask(chain, [contracted("07A03", 4, today, dt.date(2026, 3, 1))])
    await wait_all(chain, {W.WMO316: 1, W.WMO301: 1, W.WMO302: 1, W.WMO305: 1, W.WMO306: 1})
    checks = [Check("315 answered by 316, 301, 302, 305, 306", True)]
    (assignment,) = toewijzingen(chain)[0].toegewezen_producten
    einddatum = assignment.einddatum
    checks.append(
        Check(
            "the municipality sets the Einddatum: at most 5 years (seed 003)",
            einddatum == dt.date(2025, 3, 1),
            f"Einddatum {einddatum}",
        )
    )
    before = [str(m.message_type) for m in await chain.messages(sent.conversatie_id)]
    first = ["WMO315", "WMO316", "WMO301", "WMO302", "WMO305", "WMO306"]
    checks.append(
        Check(
            "the ledger holds 315 ... 306 in one conversation",
            sorted(before) == sorted(first),
            " ".join(before),
        )
    )
    # iWmo 3.2 declares per calendar month from 2021 (CS100, CS340): the first is January 2021.
    await at(chain, dt.date(2021, 2, 1))
    await chain.wait_for(W.WMO325)
    (declaratie,) = bodies(chain, W.WMO323)
    assert isinstance(declaratie, model.Declaratie)
    (line,) = declaratie.clienten[0].prestaties
    checks.append(
        Check(
            "January 2021 declared: 18 dagdelen 07A03 at the contract tariff 34.23",
            (line.product_code, line.geleverd_volume, line.product_tarief) == ("07A03", 18, 3423),
            f"{line.product_code} {line.geleverd_volume} x {line.product_tarief}",
        )
    )
    assert einddatum is not None
    # Every month from January 2021 whose declaration day comes before the Einddatum is declared
    # and answered, each on its own day: the clock goes from one declaration day to the next.
    declared = [
        m
        for m in declaring.months(today, einddatum)
        if declaring.declaration_day(m, chain.clock.workdays) <= einddatum
    ]
    for number, month in enumerate(declared[1:], start=2):
        await at(chain, declaring.declaration_day(month, chain.clock.workdays))
        await chain.wait_for(W.WMO325, number)
    await at(chain, einddatum, 12)
    await wait_all(chain, {W.WMO307: 1, W.WMO308: 1, W.WMO325: len(declared)})
    checks.append(
        Check(
            f"{declared[0]} .. {declared[-1]} declared month by month, each with its 325",
            len(chain.received(W.WMO323)) == len(declared),
            f"{len(chain.received(W.WMO323))} declarations",
        )
    )
    # By now the retention job may have removed the early messages (VSP: two months).
    after = [str(m.message_type) for m in await chain.messages(sent.conversatie_id)]
    checks.append(
        Check(
            "at the Einddatum: the planned stop (307) and its 308, in the same conversation",
            sorted(after[-2:]) == ["WMO307", "WMO308"],
            " ".join(after),
        )
    )
    checks.append(no_remarks(chain, W.WMO302, W.WMO306, W.WMO308, W.WMO316, W.WMO325))
    checks.append(await nobody_late(chain))
    return checks


async def viv_change_volume(chain: Chain) -> list[Check]:
    """Seed 003, scenario 2: a new 315 for 6 dagdelen ends the running 4 the day before."""
    today = chain.clock.today()
    await ask(chain, [contracted("07A03", 4, today, dt.date(2021, 2, 28))])
    await wait_all(chain, {W.WMO301: 1, W.WMO302: 1, W.WMO305: 1, W.WMO306: 1})
    await at(chain, dt.date(2020, 4, 6))
    new_start = dt.date(2020, 5, 4)
    await ask(chain, [contracted("07A03", 6, new_start, dt.date(2021, 2, 28))])
    await wait_all(chain, {W.WMO316: 2, W.WMO301: 2, W.WMO302: 2})
    products = {p.toewijzing_nummer: p for p in toewijzingen(chain)[1].toegewezen_producten}
    old, new = products.get(1), products.get(2)
    checks = [
        Check(
            "the second 301 ends the running assignment the day before the new one",
            old is not None
            and old.einddatum == new_start - dt.timedelta(days=1)
            and old.reden_wijziging == "12",
            f"{old.einddatum} {old.reden_wijziging}" if old else "no assignment 1",
        ),
        Check(
            "... and assigns 6 dagdelen a week from the new start",
            new is not None
            and new.ingangsdatum == new_start
            and new.omvang is not None
            and new.omvang.volume == 6,
            f"{new.ingangsdatum} {new.omvang}" if new else "no assignment 2",
        ),
    ]
    await at(chain, new_start)
    await wait_all(chain, {W.WMO307: 1, W.WMO308: 1, W.WMO305: 2, W.WMO306: 2})
    stops = [b for b in bodies(chain, W.WMO307) if isinstance(b, model.StopClient)]
    stop = stops[0].stop_producten[0]
    checks.append(
        Check(
            "the provider stops the old assignment (307, reden 37) on its new Einddatum",
            (stop.toewijzing_nummer, stop.reden_beeindiging, stop.einddatum)
            == (1, "37", new_start - dt.timedelta(days=1)),
            f"{stop.toewijzing_nummer} {stop.reden_beeindiging} {stop.einddatum}",
        )
    )
    starts = [b for b in bodies(chain, W.WMO305) if isinstance(b, model.StartClient)]
    start = starts[-1].start_producten[0]
    checks.append(
        Check(
            "... and starts the new one (305) on its Ingangsdatum",
            (start.toewijzing_nummer, start.begindatum) == (2, new_start),
            f"{start.toewijzing_nummer} {start.begindatum}",
        )
    )
    checks.append(no_remarks(chain, W.WMO302, W.WMO306, W.WMO308, W.WMO316))
    checks.append(await all_met(chain, W.WMO305))
    checks.append(await nobody_late(chain))
    return checks


async def kib_over_50_hours(chain: Chain) -> list[Check]:
    """KIB: 60 hours refused, 50 granted, another within 12 months refused (stapeling)."""
    today = chain.clock.today()
    end = dt.date(2020, 6, 30)
    await ask(chain, [contracted("02203", 60, today, end)])
    await wait_all(chain, {W.WMO316: 1, W.WMO319: 1, W.WMO320: 1})
    await ask(chain, [contracted("02203", 50, today, end)])
    await wait_all(chain, {W.WMO316: 2, W.WMO301: 1, W.WMO302: 1, W.WMO305: 1, W.WMO306: 1})
    await at(chain, end)
    await wait_all(chain, {W.WMO307: 1, W.WMO308: 1})
    await at(chain, dt.date(2020, 9, 1))
    await ask(chain, [contracted("02203", 10, chain.clock.today(), dt.date(2020, 12, 31))])
    await wait_all(chain, {W.WMO316: 3, W.WMO319: 2, W.WMO320: 2})
    reasons = [a.reden_afwijzing_verzoek for a in antwoorden(chain)]
    (granted,) = toewijzingen(chain)[0].toegewezen_producten
    return [
        Check(
            "60 hours KIB refused: above the 50 of the contract (319, reden 4)",
            reasons[:1] == ["4"],
            str(reasons),
        ),
        Check(
            "50 hours KIB granted (301)",
            granted.omvang is not None and granted.omvang.volume == 50,
            str(granted.omvang),
        ),
        Check(
            "KIB again within 12 months refused (319, reden 6: stapeling)",
            reasons[1:] == ["6"],
            str(reasons),
        ),
        Check("only one 301", len(toewijzingen(chain)) == 1, str(len(toewijzingen(chain)))),
        no_remarks(chain, W.WMO302, W.WMO306, W.WMO308, W.WMO316, W.WMO320),
        await all_met(chain, W.WMO301),
        await nobody_late(chain),
    ]


async def vervoer_above_dagbesteding(chain: Chain) -> list[Check]:
    """Vervoer for 5 etmalen with dagbesteding for 3 dagdelen: vervoer refused; 3 granted."""
    today = chain.clock.today()
    end = dt.date(2021, 2, 28)
    await ask(chain, [contracted("07A03", 3, today, end), contracted("08A03", 5, today, end)])
    await wait_all(chain, {W.WMO316: 1, W.WMO301: 1, W.WMO319: 1, W.WMO305: 1, W.WMO320: 1})
    first = [p.product.code for p in toewijzingen(chain)[0].toegewezen_producten if p.product]
    refused = antwoorden(chain)
    await ask(chain, [contracted("08A03", 3, today, end)])
    await wait_all(chain, {W.WMO316: 2, W.WMO301: 2, W.WMO302: 2, W.WMO305: 2, W.WMO306: 2})
    second = {
        p.product.code: p.omvang.volume if p.omvang else None
        for p in toewijzingen(chain)[1].toegewezen_producten
        if p.product
    }
    return [
        Check("dagbesteding assigned, vervoer not", first == ["07A03"], str(first)),
        Check(
            "vervoer above the dagbesteding refused (319, reden 4)",
            [a.reden_afwijzing_verzoek for a in refused] == ["4"]
            and refused[0].referentie_aanbieder.endswith("-2"),
            str([(a.referentie_aanbieder, a.reden_afwijzing_verzoek) for a in refused]),
        ),
        Check(
            "vervoer for 3 etmalen granted beside 3 dagdelen",
            second == {"07A03": 3, "08A03": 3},
            str(second),
        ),
        no_remarks(chain, W.WMO302, W.WMO306, W.WMO316, W.WMO320),
        await all_met(chain, W.WMO305),
        await nobody_late(chain),
    ]


async def old_product_code(chain: Chain) -> list[Check]:
    """A 2015 product code (07204) is refused; its successor (07A03) in the same 315 granted."""
    today = chain.clock.today()
    end = dt.date(2021, 2, 28)
    old: ProductRequest = ("07", "07204", 4, "16", "2", today, end)
    await ask(chain, [old, contracted("07A03", 4, today, end)])
    await wait_all(
        chain,
        {W.WMO316: 1, W.WMO319: 1, W.WMO320: 1, W.WMO301: 1, W.WMO302: 1, W.WMO305: 1, W.WMO306: 1},
    )
    refused = antwoorden(chain)
    granted = [p.product.code for p in toewijzingen(chain)[0].toegewezen_producten if p.product]
    return [
        Check(
            "07204 refused (319, reden 4: does not fit the contract)",
            [(a.referentie_aanbieder[-2:], a.reden_afwijzing_verzoek) for a in refused]
            == [("-1", "4")],
            str([(a.referentie_aanbieder, a.reden_afwijzing_verzoek) for a in refused]),
        ),
        Check("07A03 granted in the 301, and nothing else", granted == ["07A03"], str(granted)),
        no_remarks(chain, W.WMO302, W.WMO306, W.WMO316, W.WMO320),
        await all_met(chain, W.WMO301),
        await nobody_late(chain),
    ]


async def temporary_stop(chain: Chain) -> list[Check]:
    """Seed 003, 5.4: a stop with reden 20 (levering tijdelijk beeindigd), later a new 305."""
    today = chain.clock.today()
    end = dt.date(2021, 2, 28)
    await ask(chain, [contracted("07A03", 4, today, end)])
    await wait_all(chain, {W.WMO316: 1, W.WMO301: 1, W.WMO302: 1, W.WMO305: 1, W.WMO306: 1})
    last_day, restart = dt.date(2020, 4, 10), dt.date(2020, 5, 4)
    await at(chain, last_day, 17)
    provider = chain.provider(PROVIDER)
    chain.initiate(PROVIDER, provider.pause_care(BSN, 1, last_day, restart, chain.clock.today()))
    await wait_all(chain, {W.WMO307: 1, W.WMO308: 1})
    await at(chain, restart)
    await wait_all(chain, {W.WMO305: 2, W.WMO306: 2})
    stop = next(b for b in bodies(chain, W.WMO307) if isinstance(b, model.StopClient))
    starts = [b for b in bodies(chain, W.WMO305) if isinstance(b, model.StartClient)]
    assignments = assigned(chain)
    return [
        Check(
            "the stop says 'levering is tijdelijk beeindigd' (reden 20)",
            (stop.stop_producten[0].reden_beeindiging, stop.stop_producten[0].einddatum)
            == ("20", last_day),
            f"reden {stop.stop_producten[0].reden_beeindiging}, "
            f"Einddatum {stop.stop_producten[0].einddatum}",
        ),
        Check(
            "the municipality keeps the assignment: no withdrawing 301",
            len(toewijzingen(chain)) == 1 and [a.einddatum for a in assignments] == [end],
            " ".join(
                f"{a.toewijzing_nummer}: {a.ingangsdatum}..{a.einddatum}" for a in assignments
            ),
        ),
        Check(
            "care starts again with a new 305 on the restart day",
            [s.start_producten[0].begindatum for s in starts] == [today, restart],
            str([s.start_producten[0].begindatum for s in starts]),
        ),
        no_remarks(chain, W.WMO302, W.WMO306, W.WMO308, W.WMO316),
        await nobody_late(chain),
    ]


async def change_of_provider(chain: Chain) -> list[Check]:
    """Seed 003, 7.4: the old provider stops (307, reden 38), the municipality withdraws its
    assignment (301), the new provider asks (315) and gets it (301) from the next day."""
    today = chain.clock.today()
    end = dt.date(2021, 2, 28)
    await ask(chain, [contracted("07A03", 4, today, end)])
    await wait_all(chain, {W.WMO301: 1, W.WMO302: 1, W.WMO305: 1, W.WMO306: 1})
    switch = dt.date(2020, 6, 1)
    last_day = switch - dt.timedelta(days=1)
    await at(chain, switch)
    old = chain.provider(PROVIDER)
    chain.initiate(PROVIDER, old.stop_care(BSN, 1, last_day, "38", chain.clock.today()))
    await wait_all(chain, {W.WMO307: 1, W.WMO308: 1, W.WMO301: 2, W.WMO302: 2})
    await ask(chain, [contracted("07A03", 4, switch, end)], provider=OTHER_PROVIDER)
    await wait_all(chain, {W.WMO316: 2, W.WMO301: 3, W.WMO302: 3, W.WMO305: 2, W.WMO306: 2})
    withdrawn = toewijzingen(chain, PROVIDER)[-1].toegewezen_producten[0]
    (taken_over,) = toewijzingen(chain, OTHER_PROVIDER)[0].toegewezen_producten
    starts = bodies(chain, W.WMO305, ZOETERMEER)
    return [
        Check(
            "the old provider's assignment ends the day before (301, RedenWijziging 09)",
            (withdrawn.einddatum, withdrawn.reden_wijziging) == (last_day, "09"),
            f"{withdrawn.einddatum} {withdrawn.reden_wijziging}",
        ),
        Check(
            "the new provider is assigned from the switch",
            (taken_over.ingangsdatum, taken_over.einddatum) == (switch, end),
            f"{taken_over.ingangsdatum} .. {taken_over.einddatum}",
        ),
        Check(
            "the old provider sent one 307 only (the withdrawal asks for no second)",
            len(chain.sent(W.WMO307)) == 1,
            str(len(chain.sent(W.WMO307))),
        ),
        Check("both providers started care (305)", len(starts) == 2, str(len(starts))),
        no_remarks(chain, W.WMO302, W.WMO306, W.WMO308, W.WMO316),
        await all_met(chain, W.WMO305),
        await nobody_late(chain),
    ]


async def late_302(chain: Chain) -> list[Check]:
    """The provider answers the 301 a working day after its deadline; the monitor sees it."""
    checks = [await set_policy(chain, PROVIDER, W.WMO302, "late:1")]
    await ask(chain, [contracted("07A03", 4, chain.clock.today(), dt.date(2021, 2, 28))])
    await wait_all(chain, {W.WMO316: 1, W.WMO301: 1, W.WMO305: 1, W.WMO306: 1})
    # The 302 is due within 3 working days after the 301: Thursday 5 March, end of day.
    await at(chain, dt.date(2020, 3, 6))
    owed = Query(message="WMO302")
    late = await until(chain, owed, lambda o: o.late_at is not None)
    checks.append(
        Check(
            "the monitor announces the 302 late (sla.late) once its due has passed",
            late is not None and late.state(chain.clock.now()) is State.LATE,
            f"{late.owed} due {late.due:%Y-%m-%d %H:%M} announced {late.late_at}" if late else "",
        )
    )
    await at(chain, dt.date(2020, 3, 6), 13)
    await chain.wait_for(W.WMO302)
    met = await until(chain, owed, lambda o: o.met_at is not None)
    checks.append(
        Check(
            "the 302 comes a working day late: met late",
            met is not None and met.state(chain.clock.now()) is State.MET_LATE,
            f"met {met.met_at}" if met else "",
        )
    )
    others = [o for o in await chain.obligations(Query(late=True)) if o.owed != "WMO302"]
    checks.append(Check("nobody else is late", not others, str([o.owed for o in others])))
    return checks


async def declaration_partly_rejected(chain: Chain) -> list[Check]:
    """The provider's vervoer tariff is wrong: its line is rejected (0611) and declared again,
    at the contract tariff, with the next month."""
    today = chain.clock.today()
    end = dt.date(2021, 12, 31)
    await ask(chain, [contracted("07A03", 4, today, end), contracted("08A03", 3, today, end)])
    await wait_all(chain, {W.WMO301: 1, W.WMO302: 1, W.WMO305: 2, W.WMO306: 2})
    await at(chain, dt.date(2021, 2, 1))
    await chain.wait_for(W.WMO325)
    january = declared_lines(bodies(chain, W.WMO323)[0])
    answer = rejected_lines(bodies(chain, W.WMO325)[0])
    checks = [
        Check(
            "January: dagbesteding at 34.23, vervoer at the provider's wrong 12.00",
            sorted((code, tarief) for code, _, tarief, _ in january.values())
            == [("07A03", 3423), ("08A03", 1200)],
            str(january),
        ),
        Check(
            "the 325 rejects the vervoer line alone, for its tariff (0611)",
            {january[ref][0]: codes for ref, codes in answer.items()} == {"08A03": ["0611"]},
            str(answer),
        ),
    ]
    await at(chain, dt.date(2021, 3, 1))
    await chain.wait_for(W.WMO325, 2)
    february = declared_lines(bodies(chain, W.WMO323)[1])
    periods = sorted((code, begin.month, tarief) for code, begin, tarief, _ in february.values())
    checks += [
        Check(
            "February's declaration holds January's vervoer again, at the contract's 11.39",
            periods == [("07A03", 2, 3423), ("08A03", 1, 1139), ("08A03", 2, 1139)],
            str(periods),
        ),
        Check(
            "the 325 approves February's declaration whole",
            rejected_lines(bodies(chain, W.WMO325)[1]) == {},
            str(rejected_lines(bodies(chain, W.WMO325)[1])),
        ),
        await all_met(chain, W.WMO325),
        await nobody_late(chain),
    ]
    return checks


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("viv-new", "Seed scenario 1: a new VIV recreatieve dagbesteding", viv_new),
        Scenario(
            "viv-change-volume",
            "Seed scenario 2: more dagdelen; the running assignment ends the day before",
            viv_change_volume,
        ),
        Scenario(
            "kib-over-50-hours", "KIB: at most 50 hours, once in 12 months", kib_over_50_hours
        ),
        Scenario(
            "vervoer-above-dagbesteding",
            "Vervoer for more etmalen than dagbesteding dagdelen is refused",
            vervoer_above_dagbesteding,
        ),
        Scenario("old-product-code", "A 2015 product code is refused", old_product_code),
        Scenario(
            "temporary-stop",
            "Stop with reden 20 (levering tijdelijk beeindigd), then start again",
            temporary_stop,
        ),
        Scenario(
            "change-of-provider",
            "The client moves to another provider: 307, withdrawing 301, 315 and 301",
            change_of_provider,
            providers=(PROVIDER, OTHER_PROVIDER),
        ),
        Scenario("late-302", "A 302 a working day late, caught by the SLA monitor", late_302),
        Scenario(
            "declaration-partly-rejected",
            "A declared line at a wrong tariff is rejected (0611) and corrected next month",
            declaration_partly_rejected,
            start=dt.datetime(2021, 1, 4, 9, 0, tzinfo=AMSTERDAM),
            prices={"08A03": 1200},
        ),
    )
}
