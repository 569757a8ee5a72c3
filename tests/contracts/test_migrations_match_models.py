"""Each service's migrations, run to head on an empty database, produce exactly its models."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from wps_common.db import Database
from wps_common.migrations import migrate
from wps_common.search import compared

SERVICES = ["curriculum", "enrolment", "certification", "webhooks"]


def _metadata_and_migrations(service: str) -> tuple[MetaData, Path]:
    models = importlib.import_module(f"wps_{service}.models")
    main = importlib.import_module(f"wps_{service}.main")
    return models.Base.metadata, main.MIGRATIONS


def _diff(connection: Connection, metadata: MetaData) -> list[Any]:
    # The same options as the migrations' own environment (wps_common.migrations.run_env):
    # types are compared, each database against its own variant (the outbox id is BIGINT on
    # PostgreSQL, INTEGER on SQLite); server defaults are not, because the models set their
    # defaults in Python and a revision may use a server default only to fill existing rows
    # (curriculum's search and sort columns keep theirs from that fill: harmless, and dropping
    # them would be a schema change for no behaviour).
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "compare_server_default": False,
            # Not SQLite's FTS5 index tables, nor indexes of the other database.
            **compared(metadata, connection.dialect.name),
        },
    )
    ignored = {"alembic_version"}
    return [
        change
        for change in compare_metadata(context, metadata)
        if not (change[0] == "remove_table" and change[1].name in ignored)
    ]


@pytest.mark.parametrize("service", SERVICES)
async def test_migrations_produce_the_models(
    service: str, database_factory: Callable[[str], str]
) -> None:
    metadata, migrations = _metadata_and_migrations(service)
    db = Database(database_factory(service))
    try:
        await migrate(db, migrations, lock_name=f"{service}-migrations")
        async with db.engine.connect() as connection:
            diff = await connection.run_sync(_diff, metadata)
    finally:
        await db.engine.dispose()
    assert diff == [], f"{service}: migrations and models differ:\n" + "\n".join(map(str, diff))
