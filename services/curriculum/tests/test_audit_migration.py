"""The audit trail moved to the shape every service shares (`audit_entries` became `audit_log`):
existing entries keep their ids, statuses and comments, and a downgrade gives them back."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command
from sqlalchemy import select
from sqlalchemy.engine import Connection

from wps_common.db import Database, UTCDateTime
from wps_common.migrations import alembic_config
from wps_curriculum.main import MIGRATIONS
from wps_curriculum.models import AuditEntry

BEFORE = "b12378b99b49"
COLUMNS = "entity, code, version, action, actor, actor_name, from_status, to_status, comment"
ENTRIES = [
    ("module", "WPS-101", 1, "created", "author-1", None, None, "draft", None),
    ("module", "WPS-101", 1, "rejected", "reviewer-1", "Rev Iewer", "in_review", "draft", "Cite."),
    ("requirement", "REQ-ALL-FOUND", 2, "updated", "admin-1", None, None, None, None),
]
AT = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
OLD = sa.table(
    "audit_entries",
    *(sa.column(name) for name in COLUMNS.split(", ")),
    sa.column("at", UTCDateTime()),
)


def _migrate(connection: Connection, target: str, *, down: bool = False) -> None:
    config = alembic_config(MIGRATIONS)
    config.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(config, target)


async def test_entries_keep_their_ids_statuses_and_comments(database_url: str) -> None:
    db = Database(database_url)
    try:
        async with db.engine.begin() as connection:
            await connection.run_sync(_migrate, BEFORE)
            await connection.execute(
                OLD.insert(),
                [
                    {**dict(zip(COLUMNS.split(", "), entry, strict=True)), "at": AT}
                    for entry in ENTRIES
                ],
            )
            await connection.run_sync(_migrate, "head")
        async with db.session() as session:
            rows = list(await session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
            migrated = [
                (e.id, e.entity, e.entity_id, e.version, e.action, e.actor, e.actor_name)
                + (e.from_status, e.to_status, e.comment, e.academy_id)
                for e in rows
            ]
            assert rows[1].changes == {
                "from_status": "in_review",
                "to_status": "draft",
                "comment": "Cite.",
            }
        assert migrated == [(n + 1, *e, None) for n, e in enumerate(ENTRIES)]
        async with db.engine.begin() as connection:
            await connection.run_sync(_migrate, BEFORE, down=True)
            back = (
                await connection.execute(
                    sa.text(f"SELECT {COLUMNS} FROM audit_entries ORDER BY id")
                )
            ).all()
            await connection.run_sync(_migrate, "head")
        assert [tuple(row) for row in back] == ENTRIES
    finally:
        await db.dispose()
