"""Obligations in the ledger, on SQLite and PostgreSQL: opened and met with the admission."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.clock import VirtualClock
from gateway.config import sqlalchemy_url
from gateway.deadlines import AMSTERDAM, get_profile
from gateway.ledger import Ledger
from gateway.ledger.schema import MIGRATIONS, metadata, schema_version
from gateway.sla.chains import Chains
from gateway.sla.store import ObligationStore, Query, State
from gateway.vsp import Berichtstatus
from tests.sla.conftest import Admitter


async def test_302_meets_the_obligation_of_the_301_it_answers(
    admitter: Admitter, store: ObligationStore, clock: VirtualClock
) -> None:
    """The 302 with the 301's BerichtIdentificatie meets its 302 obligation, nothing else."""
    assignment = await admitter.admit("WMO301")
    clock.advance(timedelta(hours=2))
    retour = await admitter.admit("WMO302")

    found = {o.owed: o for o in await store.find(Query(), clock.now())}
    assert found["WMO302"].met_at == clock.now()
    assert found["WMO302"].met_by == retour.traceer_id
    assert found["WMO302"].trigger_traceer_id == assignment.traceer_id
    assert found["WMO302"].state(clock.now()) is State.MET
    assert found["WMO305"].met_at is None


async def test_302_of_another_301_meets_nothing(
    admitter: Admitter, store: ObligationStore, clock: VirtualClock
) -> None:
    """A 302 copying another BerichtIdentificatie leaves the 301's obligation open."""
    await admitter.admit("WMO301")
    await admitter.admit("WMO302", replace={"123456789012": "999999999999"})
    [retour] = await store.find(Query(message="WMO302"), clock.now())
    assert retour.met_at is None


async def test_301_meets_the_315_product_it_names(
    admitter: Admitter, store: ObligationStore, clock: VirtualClock
) -> None:
    """A 301 for ReferentieAanbieder 42420002 meets that product's obligation, not the other."""
    await admitter.admit("WMO315")
    # The official 301 goes from Diemen to 42420001 and names ReferentieAanbieder 42420002.
    answer = await admitter.admit("WMO301")
    open_ = await store.find(Query(message="WMO301"), clock.now())
    met = {o.reference: o.met_by for o in open_}
    assert met == {"42420002": answer.traceer_id, "42420001": None}


async def test_late_is_decided_against_the_clock(
    admitter: Admitter, store: ObligationStore, clock: VirtualClock
) -> None:
    """Open past due is late; met at or after due is met late; before due neither."""
    await admitter.admit("WMO301")
    assert await store.find(Query(late=True), clock.now()) == []

    clock.advance_working_days(3)  # Thursday 10:00: the 302 is due at midnight
    assert await store.find(Query(late=True), clock.now()) == []
    clock.advance(timedelta(hours=14))  # Friday 00:00: the first moment too late
    [late] = await store.find(Query(late=True), clock.now())
    assert (late.owed, late.state(clock.now())) == ("WMO302", State.LATE)

    await admitter.admit("WMO302")
    [met_late] = await store.find(Query(late=True), clock.now())
    assert met_late.state(clock.now()) is State.MET_LATE
    assert met_late.as_json(clock.now())["late"] is True
    assert await store.find(Query(late=True, open=True), clock.now()) == []


async def test_claim_late_announces_each_obligation_once(
    admitter: Admitter, store: ObligationStore, clock: VirtualClock
) -> None:
    """Past due, the first claim takes the obligation and the next one gets nothing."""
    await admitter.admit("WMO323")
    clock.advance(timedelta(days=30))
    [claimed] = await store.claim_late(clock.now())
    assert claimed.owed == "WMO325"
    assert await store.claim_late(clock.now()) == []
    await store.unclaim(claimed.id)
    assert [o.id for o in await store.claim_late(clock.now())] == [claimed.id]


async def test_filters_by_participant_code_and_message(
    admitter: Admitter, store: ObligationStore, clock: VirtualClock
) -> None:
    """``participant`` matches debtor or creditor by code or key; ``message`` the type owed."""
    await admitter.admit("WMO301")
    await admitter.admit("WMO323")
    now = clock.now()
    assert {o.owed for o in await store.find(Query(participant="65656055"), now)} == {"WMO325"}
    assert {o.owed for o in await store.find(Query(participant="gemeente-0384"), now)} == {
        "WMO302",
        "WMO305",
        "WMO307",
        "WMO325",
    }
    assert [o.owed for o in await store.find(Query(message="wmo305"), now)] == ["WMO305"]


async def test_withdrawn_message_takes_its_obligations_back(
    admitter: Admitter, store: ObligationStore, sla_ledger: Ledger, clock: VirtualClock
) -> None:
    """A message withdrawn (no broker confirm) opens nothing and meets nothing."""
    await admitter.admit("WMO301")
    retour = await admitter.admit("WMO302")
    # As if the broker had not confirmed the 302: back to WordtVerwerkt, then withdrawn.
    async with sla_ledger.engine.begin() as connection:
        await connection.execute(
            sa.text("UPDATE messages SET status = 'WordtVerwerkt' WHERE traceer_id = :t"),
            {"t": retour.traceer_id},
        )
    await sla_ledger.withdraw(retour.traceer_id)
    [owed] = await store.find(Query(message="WMO302"), clock.now())
    assert owed.met_at is None
    assert owed.met_by is None


async def test_a_message_never_offered_takes_its_obligations_back(
    admitter: Admitter, store: ObligationStore, sla_ledger: Ledger, clock: VirtualClock
) -> None:
    """A dead-lettered 302 (AanbiedenMislukt) meets nothing: the provider owes it again; a
    dead-lettered 301 opens nothing: the provider owes no 302 or 305 for it."""
    first = await admitter.admit("WMO301")
    retour = await admitter.admit("WMO302")
    assert retour.recipient is not None
    assert await sla_ledger.undeliverable(
        retour.traceer_id, Berichtstatus.AANBIEDEN_MISLUKT, recipient=retour.recipient
    )
    [owed] = await store.find(Query(message="WMO302"), clock.now())
    assert (owed.trigger_traceer_id, owed.met_at, owed.met_by) == (first.traceer_id, None, None)

    assert first.recipient is not None
    assert await sla_ledger.undeliverable(
        first.traceer_id, Berichtstatus.BEZORGING_AFGEBROKEN, recipient=first.recipient
    )
    assert await store.find(Query(message="WMO302"), clock.now()) == []
    assert await store.find(Query(message="WMO305"), clock.now()) == []


async def test_tally_counts_per_message_and_debtor(
    admitter: Admitter, store: ObligationStore, clock: VirtualClock
) -> None:
    """Counts: owed, met on time, met late, open, late, per message owed and participant."""
    await admitter.admit("WMO301")
    await admitter.admit("WMO302")
    clock.advance(timedelta(days=10))
    tallies = {(t.owed, t.debtor): t for t in await store.tally(clock.now())}
    retour = tallies["WMO302", "aanbieder-42420001"]
    assert (retour.total, retour.met_on_time, retour.met_late, retour.open, retour.late) == (
        1,
        1,
        0,
        0,
        0,
    )
    start = tallies["WMO305", "aanbieder-42420001"]
    assert (start.total, start.open, start.late) == (1, 1, 1)


async def test_a_version_1_ledger_is_migrated_to_the_obligations_schema(db_url: str) -> None:
    """A ledger made by migration 1 only gets the obligations table at the next open."""
    engine = create_async_engine(sqlalchemy_url(db_url))
    async with engine.begin() as connection:
        await connection.run_sync(MIGRATIONS[0])
        await connection.run_sync(schema_version.create)
        await connection.execute(schema_version.insert().values(version=1))
    await engine.dispose()

    ledger = await Ledger.open(db_url)
    try:
        async with ledger.engine.connect() as connection:
            version = (await connection.execute(sa.select(schema_version.c.version))).scalar()
            tables = await connection.run_sync(lambda c: sa.inspect(c).get_table_names())
        assert version == len(MIGRATIONS) >= 2
        assert "obligations" in tables
        assert set(metadata.tables) <= set(tables)
    finally:
        await ledger.close()


async def test_message_owed_after_the_fact_is_recorded_met_late(
    sla_ledger: Ledger, reference: Path, clock: VirtualClock
) -> None:
    """A 323 for April declared in August (Zoetermeer 2020) is stored opened and met late."""
    admitter = Admitter(sla_ledger, Chains(get_profile("zoetermeer-2020")), reference)
    declaration = await admitter.admit("WMO323")
    store = ObligationStore(sla_ledger)
    [declared] = await store.find(Query(message="WMO323"), clock.now())
    assert declared.met_by == declaration.traceer_id
    assert declared.met_at == clock.now()
    assert declared.state(clock.now()) is State.MET_LATE
    [answer] = await store.find(Query(message="WMO325", open=True), clock.now())
    assert answer.rule == "zoetermeer-6.1.1"


async def test_changed_assignment_moves_its_307_and_owes_no_second_305(
    admitter: Admitter, store: ObligationStore, clock: VirtualClock
) -> None:
    """A second 301 for ToewijzingNummer 101 gets its own 302; its 305 and 307 stay one each."""
    await admitter.admit("WMO301")
    clock.advance(timedelta(days=1))
    await admitter.admit(
        "WMO301", replace={"123456789012": "123456789099", "2023-12-31": "2023-10-31"}
    )
    found = await store.find(Query(), clock.now())
    assert sorted(o.owed for o in found) == ["WMO302", "WMO302", "WMO305", "WMO307"]
    [stop] = [o for o in found if o.owed == "WMO307"]
    assert stop.due == datetime(2023, 11, 8, tzinfo=AMSTERDAM)  # Tue 31 Oct + 5 working days
