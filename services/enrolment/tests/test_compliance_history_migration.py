"""The kept history of statuses begins, on upgrade, with each current status from the day it
was reached (what the monthly series reads for the months before the upgrade)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from alembic import command
from sqlalchemy import select
from sqlalchemy.engine import Connection

from wps_common.db import Database
from wps_common.migrations import alembic_config
from wps_enrolment.main import MIGRATIONS
from wps_enrolment.models import ComplianceChange

BEFORE = "5a1c3342f266"  # the revision before the history
SINCE = datetime(2026, 2, 10, 23, 30, tzinfo=UTC)


def _migrate(connection: Connection, target: str) -> None:
    config = alembic_config(MIGRATIONS)
    config.attributes["connection"] = connection
    command.upgrade(config, target)


def _row(table: sa.Table, **given: Any) -> dict[str, Any]:
    """`given`, and a plain value for every other column the table requires."""
    plain: dict[type, Any] = {
        sa.String: "x",
        sa.Text: "x",
        sa.Boolean: True,
        sa.Integer: 1,
        sa.Date: date(2026, 1, 1),
        sa.DateTime: SINCE,
        sa.JSON: [],
    }
    row = dict(given)
    for column in table.columns:
        if column.name in row or column.nullable or column.server_default is not None:
            continue
        if column.primary_key and isinstance(column.type, sa.Integer):
            continue
        row[column.name] = next(v for t, v in plain.items() if isinstance(column.type, t))
    return row


def _seed(connection: Connection) -> None:
    meta = sa.MetaData()
    meta.reflect(connection, only=["academies", "trainees", "compliance"])
    academies, trainees, compliance = (
        meta.tables[n] for n in ("academies", "trainees", "compliance")
    )
    connection.execute(academies.insert(), [_row(academies, id="a-1", code="KZ-ALM")])
    connection.execute(
        trainees.insert(),
        [_row(trainees, id=f"t-{n}", academy_id="a-1", employee_number=f"E-{n}") for n in (1, 2)],
    )
    connection.execute(
        compliance.insert(),
        [
            _row(
                compliance,
                trainee_id=f"t-{n}",
                academy_id="a-1",
                requirement_code="REQ-GHR",
                status=status,
                since=SINCE,
                evaluated_on=date(2026, 3, 1),
            )
            for n, status in ((1, "compliant"), (2, "overdue"))
        ],
    )


async def test_the_history_begins_with_the_current_statuses(database_url: str) -> None:
    db = Database(database_url)
    try:
        async with db.engine.begin() as connection:
            await connection.run_sync(_migrate, BEFORE)
            await connection.run_sync(_seed)
            await connection.run_sync(_migrate, "head")
        async with db.reading() as session:
            rows = (
                await session.execute(
                    select(
                        ComplianceChange.trainee_id,
                        ComplianceChange.status,
                        ComplianceChange.changed_on,
                        ComplianceChange.changed_at,
                    ).order_by(ComplianceChange.trainee_id)
                )
            ).all()
        assert [tuple(r) for r in rows] == [
            ("t-1", "compliant", date(2026, 2, 10), SINCE),
            ("t-2", "overdue", date(2026, 2, 10), SINCE),
        ]
    finally:
        await db.dispose()
