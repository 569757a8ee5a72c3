"""The rolled-back session that service-function tests run in: what a test writes, flushes or
even commits is gone afterwards, on SQLite and PostgreSQL, and a failed statement inside it
leaves the session usable (a SAVEPOINT is rolled back, not the test's transaction)."""

from __future__ import annotations

import pytest
from sqlalchemy import MetaData, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.pool import NullPool

from wps_common.db import create_engine
from wps_common.testing import outbox_events, rolled_back_session
from wps_common.testing.plugin import ServiceDatabases

from .conftest import ThingHappened, effects, metadata, outbox


@pytest.fixture
def service_metadata() -> MetaData:
    return metadata


@pytest.fixture
async def url(
    db_backend: str, service_databases: ServiceDatabases, request: pytest.FixtureRequest
) -> str:
    admin_url = request.getfixturevalue("postgres_admin_url") if db_backend == "postgresql" else ""
    return await service_databases.url(db_backend, metadata, admin_url)


async def committed_effects(url: str) -> int:
    """Rows of `effects` as another connection sees them."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            return int(await connection.scalar(select(func.count()).select_from(effects)) or 0)
    finally:
        await engine.dispose()


async def test_the_fixture_gives_a_working_session(service_session: AsyncSession) -> None:
    # Runs first (file order): the next test finds the shared database empty.
    await service_session.execute(insert(effects).values(thing_id="in-fixture"))
    assert await service_session.scalar(select(func.count()).select_from(effects)) == 1


async def test_writes_flushes_and_commits_are_rolled_back(url: str) -> None:
    assert await committed_effects(url) == 0
    async with rolled_back_session(url) as session:
        await session.execute(insert(effects).values(thing_id="flushed"))
        await session.commit()  # as a service function that commits would
        await session.execute(insert(effects).values(thing_id="after-commit"))
        await outbox.add(session, ThingHappened(thing_id="t-1"))
        assert await session.scalar(select(func.count()).select_from(effects)) == 2
        assert [e.data["thing_id"] for e in await outbox_events(session, outbox)] == ["t-1"]
    assert await committed_effects(url) == 0
    async with rolled_back_session(url) as session:
        assert await outbox_events(session, outbox) == []


async def test_a_failed_statement_leaves_the_session_usable(url: str) -> None:
    async with rolled_back_session(url) as session:
        await outbox.add(session, ThingHappened(thing_id="t-1"))
        await session.commit()
        body = {
            "event_id": "same",
            "event_type": "x",
            "subject": "x",
            "body": "{}",
            "created_at": func.now(),
        }
        await session.execute(insert(outbox.table).values(body))
        with pytest.raises(IntegrityError):
            await session.execute(insert(outbox.table).values(body))
        await session.rollback()  # back to the last SAVEPOINT, as the session would on error
        assert [e.data["thing_id"] for e in await outbox_events(session, outbox)] == ["t-1"]
        async with session.begin_nested():
            await session.execute(insert(effects).values(thing_id="nested"))
        assert await session.scalar(select(func.count()).select_from(effects)) == 1
    assert await committed_effects(url) == 0
