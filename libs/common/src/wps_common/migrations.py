"""Alembic per service, applied programmatically (at start in embedded mode, or by a CLI)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection

from wps_common.db import Database, UTCDateTime
from wps_common.search import compared


def alembic_config(script_location: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    return config


async def migrate(db: Database, script_location: Path, *, lock_name: str) -> None:
    """Upgrade to head. On PostgreSQL an advisory lock lets several replicas start at once."""
    config = alembic_config(script_location)
    async with db.engine.begin() as connection:
        if db.is_postgresql:
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": lock_name}
            )
        await connection.run_sync(_upgrade, config)


def _upgrade(connection: Connection, config: Config) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def make_revision(db: Database, script_location: Path, message: str) -> None:
    """Developer tool: autogenerate a revision from the models against an up-to-date database."""
    config = alembic_config(script_location)
    async with db.engine.begin() as connection:
        await connection.run_sync(_upgrade, config)
        await connection.run_sync(_revision, config, message)


def _revision(connection: Connection, config: Config, message: str) -> None:
    config.attributes["connection"] = connection
    command.revision(config, message=message, autogenerate=True)


def run_env(target_metadata: MetaData) -> None:
    """Body of every service's migrations/env.py."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `wps-<service> migrate`, not the alembic CLI")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite can only ALTER by copying tables
        compare_type=True,
        **compared(target_metadata, connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()


# The tables every service shares (outbox, inbox, idempotency keys, job runs), written once.
# Each service's revisions call these steps; tests/contracts checks that the steps add up to the
# tables in libs/common. A step is frozen once released, because databases already migrated ran
# it: a change to a shared table is a new step here and a new revision in each service using it.


OUTBOX_PENDING = "sent_at IS NULL"


def create_outbox() -> None:
    """The outbox as first released (the trace context came later: `add_outbox_traceparent`)."""
    op.create_table(
        "outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("restricted", sa.Boolean(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_created_at", ["created_at"], unique=False)
        batch_op.create_index(
            "ix_outbox_pending",
            ["id"],
            unique=False,
            postgresql_where=sa.text(OUTBOX_PENDING),
            sqlite_where=sa.text(OUTBOX_PENDING),
        )


def drop_outbox() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_outbox_pending",
            postgresql_where=sa.text(OUTBOX_PENDING),
            sqlite_where=sa.text(OUTBOX_PENDING),
        )
        batch_op.drop_index("ix_outbox_created_at")
    op.drop_table("outbox")


def add_outbox_traceparent() -> None:
    """Outbox rows keep the W3C traceparent of the request or event that wrote them."""
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("traceparent", sa.String(length=100), nullable=True))


def drop_outbox_traceparent() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("traceparent")


def create_inbox() -> None:
    op.create_table(
        "inbox",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("processed_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )


def drop_inbox() -> None:
    op.drop_table("inbox")


def add_inbox_processed_at_index() -> None:
    """Event retention deletes inbox ids by age (wps_common.retention)."""
    with op.batch_alter_table("inbox") as batch:
        batch.create_index("ix_inbox_processed_at", ["processed_at"], unique=False)


def drop_inbox_processed_at_index() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.drop_index("ix_inbox_processed_at")


def create_idempotency_keys() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("content_type", sa.String(length=200), nullable=True),
        sa.Column("headers", sa.Text(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope"),
    )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idempotency_keys_created_at"), ["created_at"], unique=False
        )


def drop_idempotency_keys() -> None:
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_keys_created_at"))
    op.drop_table("idempotency_keys")


def create_job_runs() -> None:
    op.create_table(
        "job_runs",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("holder", sa.String(length=120), nullable=True),
        sa.Column("lease_until", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_period", sa.String(length=40), nullable=True),
        sa.Column("last_started_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_finished_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )


def drop_job_runs() -> None:
    op.drop_table("job_runs")
