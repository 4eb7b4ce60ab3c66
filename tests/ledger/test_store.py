"""The ledger admits, deduplicates, routes and lists messages the same on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import threading
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.config import sqlalchemy_url
from gateway.errors import (
    ConfigError,
    DuplicateIdentificatie,
    DuplicateTraceerId,
    LedgerUnavailable,
)
from gateway.ledger import Ledger
from gateway.ledger.schema import MIGRATIONS, metadata, migrate, schema_version
from gateway.ledger.store import Answers, NewMessage, Original, original_key
from gateway.vsp import Berichtstatus

PROVIDER = "aanbieder-12345678"
MUNICIPALITY = "gemeente-0637"


def new_message(payload: bytes = b"<x/>", identificatie: str = "ID1", **changes: str) -> NewMessage:
    values: dict[str, str | None] = {
        "traceer_id": str(uuid.uuid4()),
        "conversatie_id": str(uuid.uuid4()),
        "als_antwoord_op": None,
        "referentie_id": None,
        "sender": PROVIDER,
        "recipient": MUNICIPALITY,
        "message_type": "WMO305",
        "release": "3.2",
        "berichttype": "WMO305",
        "identificatie": identificatie,
        "dagtekening": "2020-03-02",
        "answers_identificatie": None,
        "trace_id": uuid.uuid4().hex,
    }
    values.update(changes)
    return NewMessage(
        sha256=hashlib.sha256(payload).hexdigest(),
        payload=payload,
        **values,  # type: ignore[arg-type]
    )


async def test_admitted_message_is_processing_until_routed(ledger: Ledger) -> None:
    """A new message is WordtVerwerkt until the broker confirms it, then ready for its recipient."""
    message = new_message()
    admission = await ledger.admit(message)
    assert not admission.replay
    assert admission.message.status is Berichtstatus.WORDT_VERWERKT
    assert await ledger.inbox(MUNICIPALITY, limit=10) == []

    await ledger.routed(message.traceer_id)
    inbox = await ledger.inbox(MUNICIPALITY, limit=10)
    assert [m.traceer_id for m in inbox] == [message.traceer_id]
    found = await ledger.payload(MUNICIPALITY, message.traceer_id)
    assert found is not None
    assert found[1] == b"<x/>"
    assert await ledger.payload(PROVIDER, message.traceer_id) is None


async def test_identical_retry_is_a_replay(ledger: Ledger) -> None:
    """The same bytes from the same sender again are recognised, under either id."""
    first = new_message()
    await ledger.admit(first)
    again = await ledger.admit(new_message(traceer_id=first.traceer_id))
    assert again.replay
    assert again.message.traceer_id == first.traceer_id
    other_id = await ledger.admit(new_message())
    assert other_id.replay
    assert other_id.message.traceer_id == first.traceer_id


async def test_same_identificatie_other_content_is_refused(ledger: Ledger) -> None:
    """TR056: one Identificatie per sender and message type, whatever the traceerId."""
    await ledger.admit(new_message(b"<a/>"))
    with pytest.raises(DuplicateIdentificatie, match="TR056"):
        await ledger.admit(new_message(b"<b/>"))
    # another message type, or another sender, may use the same Identificatie
    assert not (await ledger.admit(new_message(b"<b/>", message_type="WMO307"))).replay
    assert not (await ledger.admit(new_message(b"<b/>", sender="aanbieder-87654321"))).replay


async def test_traceer_id_reused_for_other_content_is_refused(ledger: Ledger) -> None:
    """A traceerId names one message only (BRS114)."""
    first = new_message(b"<a/>")
    await ledger.admit(first)
    with pytest.raises(DuplicateTraceerId):
        await ledger.admit(new_message(b"<b/>", "ID2", traceer_id=first.traceer_id))


async def test_withdrawn_message_can_be_sent_again(ledger: Ledger) -> None:
    """A message whose publish failed leaves no trace, so the sender's retry is new."""
    message = new_message()
    await ledger.admit(message)
    await ledger.withdraw(message.traceer_id)
    assert await ledger.get(message.traceer_id) is None
    assert not (await ledger.admit(message)).replay


async def test_a_retour_message_finds_the_message_it_answers(ledger: Ledger) -> None:
    """By its sender, message type and Identificatie: the ids a retour message takes from it."""
    answered = new_message(identificatie="ID7")
    await ledger.admit(answered)
    found = await ledger.find_original(PROVIDER, "WMO305", "ID7")
    assert found == Original(answered.traceer_id, answered.conversatie_id)
    assert await ledger.find_original(PROVIDER, "WMO305", "ID8") is None
    assert await ledger.find_original(PROVIDER, "WMO317", "ID7") is None
    assert await ledger.find_original(MUNICIPALITY, "WMO305", "ID7") is None


async def test_a_retour_takes_what_its_sender_left_out_from_what_it_answers(
    ledger: Ledger,
) -> None:
    """Admitted with what it answers, a retour finds that message in its batch: it takes its
    conversatieId and its traceerId as alsAntwoordOp where its sender gave none, keeps what its
    sender gave, and keeps its own when nothing is found."""
    answered = new_message(identificatie="ID12")
    await ledger.admit(answered)
    key = original_key(PROVIDER, "WMO305", "ID12")

    left_out = retour_of(answered, "R4")
    admission = await ledger.admit(left_out, answers=Answers(key, conversatie=True, antwoord=True))
    assert admission.original == Original(answered.traceer_id, answered.conversatie_id)
    stored = await ledger.get(left_out.traceer_id)
    assert stored is not None
    for message in (admission.message, stored):
        assert message.conversatie_id == answered.conversatie_id
        assert message.als_antwoord_op == answered.traceer_id

    given = retour_of(answered, "R5")
    admission = await ledger.admit(given, answers=Answers(key, conversatie=False, antwoord=False))
    assert admission.original == Original(answered.traceer_id, answered.conversatie_id)
    assert (admission.message.conversatie_id, admission.message.als_antwoord_op) == (
        given.conversatie_id,
        None,
    )

    unknown = retour_of(answered, "R6")
    nowhere = Answers(original_key(PROVIDER, "WMO305", "ID13"), conversatie=True, antwoord=True)
    admission = await ledger.admit(unknown, answers=nowhere)
    assert admission.original is None
    stored = await ledger.get(unknown.traceer_id)
    assert stored is not None
    assert (stored.conversatie_id, stored.als_antwoord_op) == (unknown.conversatie_id, None)


async def test_an_sqlite_file_is_read_in_threads_that_end_with_the_ledger(tmp_path: Path) -> None:
    """Reads of an SQLite file run on reader threads of the ledger's own (ThreadReads); they see
    what the writer committed and are gone once the ledger is closed."""

    def readers() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name.startswith("ledger-reader")}

    others = readers()  # of other ledgers in this process, if any are open
    ledger = await Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        message = new_message()
        await ledger.admit(message)
        await ledger.routed(message.traceer_id)
        stored = await ledger.get(message.traceer_id)
        assert stored is not None
        assert stored.status is Berichtstatus.WORDT_AANGEBODEN
        assert [m.traceer_id for m in await ledger.inbox(MUNICIPALITY, limit=5)] == [
            message.traceer_id
        ]
        own = readers() - others
        assert own
    finally:
        await ledger.close()
    assert not any(thread.is_alive() for thread in own)


async def test_delivery_and_history(ledger: Ledger) -> None:
    """Confirming receipt makes the message Bezorgd; the history shows the whole way."""
    message = new_message()
    await ledger.admit(message)
    await ledger.routed(message.traceer_id)
    assert not await ledger.delivered(message.traceer_id, recipient=PROVIDER)
    assert await ledger.delivered(message.traceer_id, recipient=MUNICIPALITY)
    assert await ledger.inbox(MUNICIPALITY, limit=10) == []
    statuses = [s for s, _ in await ledger.history(message.traceer_id)]
    assert statuses == [
        Berichtstatus.ONTVANGEN,
        Berichtstatus.WORDT_VERWERKT,
        Berichtstatus.VERWERKING_VOLTOOID,
        Berichtstatus.WORDT_AANGEBODEN,
        Berichtstatus.BEZORGD,
    ]


OFFERED = [
    Berichtstatus.ONTVANGEN,
    Berichtstatus.WORDT_VERWERKT,
    Berichtstatus.VERWERKING_VOLTOOID,
    Berichtstatus.WORDT_AANGEBODEN,
]


def retour_of(answered: NewMessage, identificatie: str = "R1") -> NewMessage:
    """A 306 from the recipient of ``answered`` back to its sender."""
    return new_message(
        identificatie=identificatie,
        sender=answered.recipient,
        recipient=answered.sender,
        message_type="WMO306",
        berichttype="WMO306",
        answers_identificatie=answered.identificatie,
    )


async def test_a_routed_retour_delivers_what_it_answers(ledger: Ledger) -> None:
    """Marked routed with what it answers, a retour makes that message Bezorgd and confirmed,
    after marking it routed if that mark is in the same batch (queued after the retour's, too),
    or with the statuses in between if that mark is not written yet; once only, and only a
    message addressed to the retour's sender."""
    answered = new_message(identificatie="ID9")
    retour = retour_of(answered)
    await ledger.admit(answered)
    await ledger.admit(retour)
    # Queued in one turn, so written in one batch: the retour's mark first.
    await asyncio.gather(
        ledger.routed(retour.traceer_id, delivers=(answered.traceer_id, MUNICIPALITY)),
        ledger.routed(answered.traceer_id),
    )
    stored = await ledger.get(answered.traceer_id)
    assert stored is not None
    assert stored.status is Berichtstatus.BEZORGD
    assert stored.confirmed_at is not None
    assert await ledger.inbox(MUNICIPALITY, limit=10) == []
    assert [s for s, _ in await ledger.history(answered.traceer_id)] == [
        *OFFERED,
        Berichtstatus.BEZORGD,
    ]
    again = retour_of(answered, "R2")
    await ledger.admit(again)
    await ledger.routed(again.traceer_id, delivers=(answered.traceer_id, MUNICIPALITY))
    assert len(await ledger.history(answered.traceer_id)) == len(OFFERED) + 1

    unmarked = new_message(identificatie="ID14")
    await ledger.admit(unmarked)  # its routed mark not written yet (another gateway has it)
    early = retour_of(unmarked, "R7")
    await ledger.admit(early)
    await ledger.routed(early.traceer_id, delivers=(unmarked.traceer_id, MUNICIPALITY))
    await ledger.routed(unmarked.traceer_id)  # the late mark leaves it delivered
    assert [s for s, _ in await ledger.history(unmarked.traceer_id)] == [
        *OFFERED,
        Berichtstatus.BEZORGD,
    ]
    stored = await ledger.get(unmarked.traceer_id)
    assert stored is not None
    assert stored.status is Berichtstatus.BEZORGD

    other = new_message(identificatie="ID10")
    await ledger.admit(other)
    await ledger.routed(other.traceer_id)
    stranger = retour_of(other, "R3")
    await ledger.admit(stranger)
    await ledger.routed(stranger.traceer_id, delivers=(other.traceer_id, PROVIDER))
    assert [m.traceer_id for m in await ledger.inbox(MUNICIPALITY, limit=10)] == [other.traceer_id]


@pytest.mark.parametrize(
    "outcome", [Berichtstatus.AANBIEDEN_MISLUKT, Berichtstatus.BEZORGING_AFGEBROKEN]
)
async def test_undeliverable_message_moves_once_and_leaves_the_inbox(
    ledger: Ledger, outcome: Berichtstatus
) -> None:
    """A dead-lettered message on offer takes its outcome once, in its history too, and can no
    longer be listed, downloaded or confirmed by its recipient."""
    message = new_message()
    await ledger.admit(message)
    await ledger.routed(message.traceer_id)

    assert await ledger.undeliverable(message.traceer_id, outcome, recipient=MUNICIPALITY)
    assert not await ledger.undeliverable(message.traceer_id, outcome, recipient=MUNICIPALITY)
    other = next(
        s
        for s in (Berichtstatus.AANBIEDEN_MISLUKT, Berichtstatus.BEZORGING_AFGEBROKEN)
        if s is not outcome
    )
    assert not await ledger.undeliverable(message.traceer_id, other, recipient=MUNICIPALITY)

    stored = await ledger.get(message.traceer_id)
    assert stored is not None
    assert stored.status is outcome
    assert [s for s, _ in await ledger.history(message.traceer_id)] == [*OFFERED, outcome]
    assert await ledger.inbox(MUNICIPALITY, limit=10) == []
    assert await ledger.payload(MUNICIPALITY, message.traceer_id) is None
    assert not await ledger.delivered(message.traceer_id, recipient=MUNICIPALITY)
    [status] = await ledger.statuses(PROVIDER, traceer_id=message.traceer_id)
    assert status.status is outcome


async def test_delivered_message_stays_delivered_after_a_dead_letter(ledger: Ledger) -> None:
    """A message already Bezorgd is not moved by a dead letter of a copy of it."""
    message = new_message()
    await ledger.admit(message)
    await ledger.routed(message.traceer_id)
    await ledger.delivered(message.traceer_id, recipient=MUNICIPALITY)
    assert not await ledger.undeliverable(
        message.traceer_id, Berichtstatus.AANBIEDEN_MISLUKT, recipient=MUNICIPALITY
    )
    stored = await ledger.get(message.traceer_id)
    assert stored is not None
    assert stored.status is Berichtstatus.BEZORGD
    assert [s for s, _ in await ledger.history(message.traceer_id)] == [
        *OFFERED,
        Berichtstatus.BEZORGD,
    ]


async def test_undeliverable_needs_the_inbox_of_the_recipient(ledger: Ledger) -> None:
    """Only a dead letter of the message's own recipient's inbox moves it."""
    message = new_message()
    await ledger.admit(message)
    await ledger.routed(message.traceer_id)
    assert not await ledger.undeliverable(
        message.traceer_id, Berichtstatus.AANBIEDEN_MISLUKT, recipient=PROVIDER
    )
    assert not await ledger.undeliverable(
        str(uuid.uuid4()), Berichtstatus.AANBIEDEN_MISLUKT, recipient=MUNICIPALITY
    )
    stored = await ledger.get(message.traceer_id)
    assert stored is not None
    assert stored.status is Berichtstatus.WORDT_AANGEBODEN


async def test_undeliverable_before_the_confirm_was_recorded(ledger: Ledger) -> None:
    """A dead letter that overtakes the ingress's record of the confirm still moves the message,
    with the steps the broker's having it implies; the late record then changes nothing."""
    message = new_message()
    await ledger.admit(message)
    assert await ledger.undeliverable(
        message.traceer_id, Berichtstatus.AANBIEDEN_MISLUKT, recipient=MUNICIPALITY
    )
    await ledger.routed(message.traceer_id)
    stored = await ledger.get(message.traceer_id)
    assert stored is not None
    assert stored.status is Berichtstatus.AANBIEDEN_MISLUKT
    assert [s for s, _ in await ledger.history(message.traceer_id)] == [
        *OFFERED,
        Berichtstatus.AANBIEDEN_MISLUKT,
    ]
    assert await ledger.unconfirmed_by_broker() == []


async def test_undeliverable_takes_only_its_two_statuses(ledger: Ledger) -> None:
    """Asking for any other status is a programming error, refused before the ledger is touched."""
    with pytest.raises(ValueError, match="Bezorgd"):
        await ledger.undeliverable(str(uuid.uuid4()), Berichtstatus.BEZORGD, recipient=PROVIDER)


async def test_refusal_is_visible_to_its_sender_only(ledger: Ledger) -> None:
    """A refused message keeps its meldingen for the status API of its own sender."""
    traceer_id = str(uuid.uuid4())
    melding = {"code": "BRS13", "omschrijving": "Bericht voldoet niet aan het XSD"}
    await ledger.refuse(
        traceer_id=traceer_id,
        conversatie_id=str(uuid.uuid4()),
        sender=PROVIDER,
        meldingen=[melding],
    )
    [status] = await ledger.statuses(PROVIDER, traceer_id=traceer_id)
    assert status.status is Berichtstatus.AFGEKEURD_DOOR_DIENST
    assert status.meldingen == [melding]
    assert await ledger.statuses(MUNICIPALITY, traceer_id=traceer_id) == []


async def test_inbox_is_oldest_first_and_limited(ledger: Ledger) -> None:
    """The pull list gives the oldest ready messages first, at most ``limit``."""
    ids = []
    for n in range(5):
        message = new_message(f"<m{n}/>".encode(), f"ID{n}")
        await ledger.admit(message)
        await ledger.routed(message.traceer_id)
        ids.append(message.traceer_id)
    listed = await ledger.inbox(MUNICIPALITY, limit=3)
    assert [m.traceer_id for m in listed] == ids[:3]


async def test_unreachable_database_is_ledger_unavailable() -> None:
    """A ledger that cannot be reached is reported as such, naming the URL."""
    with pytest.raises(LedgerUnavailable, match=r"127\.0\.0\.1:1"):
        await Ledger.open("postgresql://postgres@127.0.0.1:1/none")


async def test_inbox_keeps_arrival_order_while_the_clock_stands_still(db_url: str) -> None:
    """With a virtual clock that does not move, the pull list is still first in, first out."""
    frozen = dt.datetime(2020, 3, 2, 8, 0, tzinfo=dt.UTC)
    ledger = await Ledger.open(db_url, now=lambda: frozen)
    try:
        ids = []
        for n in range(8):
            message = new_message(f"<m{n}/>".encode(), f"ID{n}")
            await ledger.admit(message)
            await ledger.routed(message.traceer_id)
            ids.append(message.traceer_id)
        assert [m.traceer_id for m in await ledger.inbox(MUNICIPALITY, limit=10)] == ids
    finally:
        await ledger.close()


async def test_a_ledger_without_arrival_column_is_upgraded(db_url: str) -> None:
    """Migration 3 adds ``arrived_ns`` to a ledger made before it, and leaves new ones be."""
    engine = create_async_engine(sqlalchemy_url(db_url))
    async with engine.begin() as connection:
        await connection.run_sync(migrate)
        await connection.execute(sa.text("ALTER TABLE messages DROP COLUMN arrived_ns"))
        await connection.execute(schema_version.update().values(version=2))
    await engine.dispose()

    ledger = await Ledger.open(db_url)
    try:
        message = new_message()
        await ledger.admit(message)
        stored = await ledger.get(message.traceer_id)
        assert stored is not None
        assert stored.arrived_ns is not None
    finally:
        await ledger.close()


async def test_obligations_are_found_by_index(ledger: Ledger) -> None:
    """Migration 4: answers find their obligation by identification or reference, not by scan."""
    async with ledger.engine.connect() as connection:
        names = await connection.run_sync(
            lambda c: {i["name"] for i in sa.inspect(c).get_indexes("obligations")}
        )
    assert {"ix_obligations_answer", "ix_obligations_reference"} <= names


async def test_payloads_move_out_of_the_messages_table(db_url: str) -> None:
    """Migration 5: a ledger that kept payloads in ``messages`` keeps them, in ``payloads``."""
    blob = "BYTEA" if db_url.startswith("postgresql") else "BLOB"
    older = new_message(b"<kept/>", "OLD")
    engine = create_async_engine(sqlalchemy_url(db_url))
    async with engine.begin() as connection:
        await connection.run_sync(migrate)
        await connection.execute(sa.text("DROP TABLE payloads"))
        await connection.execute(sa.text(f"ALTER TABLE messages ADD COLUMN payload {blob}"))
        await connection.execute(schema_version.update().values(version=4))
        await connection.execute(
            sa.text(
                "INSERT INTO messages (traceer_id, conversatie_id, sender, recipient, status,"
                " status_changed_at, received_at, payload) VALUES (:traceer_id,"
                " :conversatie_id, :sender, :recipient, 'WordtAangeboden', :at, :at, :payload)"
            ),
            {
                "traceer_id": older.traceer_id,
                "conversatie_id": older.conversatie_id,
                "sender": older.sender,
                "recipient": MUNICIPALITY,
                "at": dt.datetime.now(dt.UTC),
                "payload": older.payload,
            },
        )
    await engine.dispose()

    ledger = await Ledger.open(db_url)
    try:
        assert await ledger.payload_of(older.traceer_id) == b"<kept/>"
        found = await ledger.payload(MUNICIPALITY, older.traceer_id)
        assert found is not None
        assert found[1] == b"<kept/>"
        async with ledger.engine.connect() as connection:
            columns = await connection.run_sync(
                lambda c: {col["name"] for col in sa.inspect(c).get_columns("messages")}
            )
        assert "payload" not in columns
    finally:
        await ledger.close()


def _shape(connection: sa.Connection) -> dict[str, set[str]]:
    inspector = sa.inspect(connection)
    return {
        table: {column["name"] for column in inspector.get_columns(table)}
        for table in inspector.get_table_names()
    }


def _defined() -> dict[str, set[str]]:
    return {name: {c.name for c in table.columns} for name, table in metadata.tables.items()}


async def test_a_new_ledger_has_the_one_schema(ledger: Ledger) -> None:
    """On either database a new ledger has every table and column of ``metadata``, no other."""
    async with ledger.engine.connect() as connection:
        assert await connection.run_sync(_shape) == _defined()


async def test_a_version_1_ledger_is_migrated_to_the_one_schema(db_url: str) -> None:
    """A ledger as migration 1 made it before ``arrived_ns`` existed ends up with the same."""
    engine = create_async_engine(sqlalchemy_url(db_url))
    async with engine.begin() as connection:
        await connection.run_sync(MIGRATIONS[0])
        await connection.run_sync(schema_version.create)
        await connection.execute(schema_version.insert().values(version=1))
        await connection.execute(sa.text("ALTER TABLE messages DROP COLUMN arrived_ns"))
    await engine.dispose()

    ledger = await Ledger.open(db_url)
    try:
        async with ledger.engine.connect() as connection:
            assert await connection.run_sync(_shape) == _defined()
            version = (await connection.execute(sa.select(schema_version.c.version))).scalar()
        assert version == len(MIGRATIONS)
    finally:
        await ledger.close()


async def test_a_ledger_newer_than_the_gateway_is_refused(db_url: str) -> None:
    """A schema version beyond the last migration stops the gateway with a clear message."""
    ledger = await Ledger.open(db_url)
    async with ledger.engine.begin() as connection:
        await connection.execute(schema_version.update().values(version=len(MIGRATIONS) + 1))
    await ledger.close()
    with pytest.raises(ConfigError, match="newer than this gateway"):
        await Ledger.open(db_url)
