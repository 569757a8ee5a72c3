"""`insert_rows` (the driver's executemany) writes what SQLAlchemy's own insert writes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
)

from wps_common.db import BigIntPK, Database, UTCDateTime
from wps_common.events.outbox import insert_rows


def _tables() -> tuple[MetaData, Table, Table]:
    metadata = MetaData()

    def table(name: str) -> Table:
        return Table(
            name,
            metadata,
            Column("id", BigIntPK, primary_key=True, autoincrement=True),
            Column("label", Text, nullable=False),
            Column("changes", JSON, nullable=False),
            Column("at", UTCDateTime, nullable=False),
            Column("born", Date, nullable=True),
            Column("active", Boolean, nullable=False, default=True),
            Column("tries", Integer, nullable=False, default=0),
            Column("note", String(20), nullable=True),
        )

    return metadata, table("by_sqlalchemy"), table("by_driver")


def _rows() -> list[dict[str, Any]]:
    at = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
    tbilisi = timezone(timedelta(hours=4))
    return [
        {
            "label": label,
            "changes": {"name": label, "n": n, "nested": [1, None, "é"]},
            # The same object on consecutive rows (converted once), then another time zone.
            "at": at if n < 2 else at.astimezone(tbilisi),
            "born": date(2000, 1, n + 1) if n % 2 else None,
        }
        for n, label in enumerate(["plain", "quote ' \" \\", "Ёлкина 🎓", "line\nbreak"])
    ]


async def test_the_rows_read_back_as_sqlalchemys_do(db: Database) -> None:
    metadata, by_sqlalchemy, by_driver = _tables()
    async with db.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    async with db.session() as session:
        await session.execute(insert(by_sqlalchemy), _rows())
        await insert_rows(session, by_driver, _rows())
    async with db.session() as session:
        expected = (await session.execute(select(by_sqlalchemy).order_by("id"))).all()
        written = (await session.execute(select(by_driver).order_by("id"))).all()
    assert len(written) == 4
    assert written == expected
    assert written[0].active is True and written[0].tries == 0  # the scalar defaults
    assert written[3].at == datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


async def test_a_column_with_a_computed_default_goes_through_sqlalchemy(db: Database) -> None:
    metadata = MetaData()
    table = Table(
        "computed",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("label", Text, nullable=False),
        Column("copy", Text, default=lambda context: context.get_current_parameters()["label"]),
    )
    async with db.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    async with db.session() as session:
        await insert_rows(session, table, [{"label": "a"}, {"label": "b"}])
    async with db.session() as session:
        assert (await session.execute(select(table.c.copy).order_by("id"))).scalars().all() == [
            "a",
            "b",
        ]
