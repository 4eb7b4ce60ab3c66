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
    sa.Column("payload", sa.LargeBinary),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("confirmed_at", sa.DateTime(timezone=True)),
    sa.Column("payload_deleted_at", sa.DateTime(timezone=True)),
    sa.Column("meldingen", sa.JSON),
    sa.Column("trace_id", sa.String(64)),
    sa.Index("ix_messages_inbox", "recipient", "status", "received_at"),
    sa.Index("ix_messages_sender", "sender", "received_at"),
)

status_history = sa.Table(
    "status_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("traceer_id", sa.String(36), nullable=False, index=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, nullable=False),
)


def _v1(connection: Connection) -> None:
    for table in (messages, status_history):
        table.create(connection, checkfirst=True)


MIGRATIONS: tuple[Callable[[Connection], None], ...] = (_v1,)


def migrate(connection: Connection) -> int:
    """Apply every migration the database has not seen; return the resulting version."""
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
