"""The ledger's tables, and the migrations that bring a database to the current schema.

One schema for SQLite and PostgreSQL. A migration is a numbered step; ``schema_version`` holds
the highest step applied, so a newer gateway upgrades an older ledger at start and a gateway
never runs on a ledger newer than itself.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.errors import ConfigError

metadata = sa.MetaData()

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("traceer_id", sa.String(36), primary_key=True),
    sa.Column("conversatie_id", sa.String(36), nullable=False, index=True),
    sa.Column("als_antwoord_op", sa.String(36), index=True),
    sa.Column("referentie_id", sa.String(150)),
    # participant keys, "aanbieder-12345678"; the recipient is unknown for some refusals
    sa.Column("sender", sa.String(24), nullable=False),
    sa.Column("recipient", sa.String(24)),
    sa.Column("message_type", sa.String(8)),
    sa.Column("release", sa.String(8)),
    sa.Column("berichttype", sa.String(60)),
    # the message's own Identificatie (IdentificatieRetour for a header-copying retour message)
    sa.Column("identificatie", sa.String(12)),
    sa.Column("dagtekening", sa.String(10)),
    # for a retour message: the BerichtIdentificatie of the message it answers
    sa.Column("answers_identificatie", sa.String(12)),
    # "<sender>|<message type>|<identificatie>" of an accepted message (TR056); NULL if refused
    sa.Column("dedup_key", sa.String(64), unique=True),
    sa.Column("sha256", sa.String(64)),
    sa.Column("size", sa.Integer),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    # Wall-clock nanoseconds at admission: orders messages that share a received_at, as they
    # all do while a virtual clock stands still (migration 3).
    sa.Column("arrived_ns", sa.BigInteger),
    sa.Column("confirmed_at", sa.DateTime(timezone=True)),
    sa.Column("payload_deleted_at", sa.DateTime(timezone=True)),
    sa.Column("meldingen", sa.JSON),
    sa.Column("trace_id", sa.String(64)),
    sa.Index("ix_messages_inbox", "recipient", "status", "received_at"),
    sa.Index("ix_messages_sender", "sender", "received_at"),
)

# The message itself, apart from its metadata (migration 5): listings never touch it, retention
# deletes it on its own, and on SQLite a large one is written in place (``store``), which needs
# the blob to be the last column of its row.
payloads = sa.Table(
    "payloads",
    metadata,
    sa.Column("traceer_id", sa.String(36), primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

status_history = sa.Table(
    "status_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("traceer_id", sa.String(36), nullable=False, index=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)

# What a message obliges somebody to send (migration 2): opened at admission of the trigger,
# met by the admission of the message that answers it. ``accepts`` lists every message type that
# meets it, comma-delimited on both ends (",WMO301,WMO319,") so that one LIKE finds it.
obligations = sa.Table(
    "obligations",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("rule", sa.String(40), nullable=False),
    sa.Column("owed", sa.String(8), nullable=False),
    sa.Column("accepts", sa.String(64), nullable=False),
    sa.Column("debtor", sa.String(24), nullable=False),
    sa.Column("creditor", sa.String(24), nullable=False),
    sa.Column("product", sa.String(16)),
    # what ties the answer to this obligation beyond the header: ReferentieAanbieder (315,
    # 317 -> 301/319) or ToewijzingNummer (301 -> 305/307)
    sa.Column("reference", sa.String(40)),
    sa.Column("trigger_traceer_id", sa.String(36), nullable=False, index=True),
    sa.Column("trigger_type", sa.String(8), nullable=False),
    sa.Column("trigger_identificatie", sa.String(12), nullable=False),
    sa.Column("conversatie_id", sa.String(36)),
    sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("due", sa.DateTime(timezone=True), nullable=False),
    sa.Column("met_at", sa.DateTime(timezone=True)),
    sa.Column("met_by", sa.String(36), index=True),
    sa.Column("met_by_type", sa.String(8)),
    # when the monitor announced it late (sla.late); NULL until then
    sa.Column("late_at", sa.DateTime(timezone=True)),
    sa.Index("ix_obligations_open", "debtor", "creditor", "owed", "met_at"),
    sa.Index("ix_obligations_due", "met_at", "late_at", "due"),
)

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, nullable=False),
)


def _v1(connection: Connection) -> None:
    for table in (messages, status_history):
        table.create(connection, checkfirst=True)


def _v2(connection: Connection) -> None:
    obligations.create(connection, checkfirst=True)
    # The retention job looks for old rows and for confirmed payloads by these.
    # (Plain DDL: Index objects would attach to ``messages`` and change what migration 1 makes.)
    for name, column in (
        ("ix_messages_received", "received_at"),
        ("ix_messages_confirmed", "confirmed_at"),
    ):
        connection.execute(sa.text(f"CREATE INDEX IF NOT EXISTS {name} ON messages ({column})"))


def _v3(connection: Connection) -> None:
    # Migration 1 creates ``messages`` as the code defines it now, so a new ledger has the
    # column already; an older one gets it here.
    columns = {c["name"] for c in sa.inspect(connection).get_columns("messages")}
    if "arrived_ns" not in columns:
        connection.execute(sa.text("ALTER TABLE messages ADD COLUMN arrived_ns BIGINT"))


def _v4(connection: Connection) -> None:
    # An answer finds the obligation it meets by the identification it quotes (a retour) or by
    # its reference (a 301 by ReferentieAanbieder, a 305 by ToewijzingNummer); without these
    # every admission scanned all open obligations between the same two participants.
    for name, columns in (
        ("ix_obligations_answer", "debtor, creditor, trigger_identificatie"),
        ("ix_obligations_reference", "debtor, creditor, reference"),
    ):
        connection.execute(sa.text(f"CREATE INDEX IF NOT EXISTS {name} ON obligations ({columns})"))


def _v5(connection: Connection) -> None:
    # Payloads move out of ``messages`` into a table of their own.
    payloads.create(connection, checkfirst=True)
    columns = {c["name"] for c in sa.inspect(connection).get_columns("messages")}
    if "payload" in columns:
        connection.execute(
            sa.text(
                "INSERT INTO payloads (traceer_id, data)"
                " SELECT traceer_id, payload FROM messages WHERE payload IS NOT NULL"
            )
        )
        connection.execute(sa.text("ALTER TABLE messages DROP COLUMN payload"))


MIGRATIONS: tuple[Callable[[Connection], None], ...] = (_v1, _v2, _v3, _v4, _v5)

# Any fixed number: gateways starting together on one PostgreSQL ledger migrate one at a time.
_MIGRATION_LOCK = 0x1A3D2020


def migrate(connection: Connection) -> int:
    """Apply every migration the database has not seen; return the resulting version."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})"))
    schema_version.create(connection, checkfirst=True)
    current = connection.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0
    if current > len(MIGRATIONS):
        raise ConfigError(
            f"the ledger is at schema version {current}, newer than this gateway "
            f"({len(MIGRATIONS)}); upgrade the gateway"
        )
    for number, step in enumerate(MIGRATIONS[current:], start=current + 1):
        step(connection)
        connection.execute(schema_version.delete())
        connection.execute(schema_version.insert().values(version=number))
    return len(MIGRATIONS)
