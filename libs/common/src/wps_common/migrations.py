"""Alembic per service, applied programmatically (at start in embedded mode, or by a CLI)."""

from __future__ import annotations

from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection

from wps_common.db import Database


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
    )
    with context.begin_transaction():
        context.run_migrations()
