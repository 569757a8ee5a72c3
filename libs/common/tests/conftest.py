"""A miniature service for testing the shared event machinery on real NATS and databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import ClassVar

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table

from wps_common.db import Database
from wps_common.events.envelope import EventPayload
from wps_common.events.outbox import Outbox
from wps_common.jobs import JobRuns

metadata = MetaData()
outbox = Outbox(metadata)
job_runs = JobRuns(metadata)
effects = Table(
    "effects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("thing_id", String(36), nullable=False),
)


class ThingHappened(EventPayload):
    service: ClassVar[str] = "testkit"
    entity: ClassVar[str] = "thing"
    action: ClassVar[str] = "happened"

    thing_id: str
    n: int = 0

    def about(self) -> str:
        return f"thing/{self.thing_id}"


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    async with database.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield database
    await database.dispose()
