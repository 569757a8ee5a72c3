"""SQLite statements through `Database`: each is one call to aiosqlite's thread (not one per
cursor step), with the answers SQLAlchemy reads from a cursor intact: rows, row counts, the last
row id, errors; deferred writes go with the next statement or the commit, in its call."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.db import DEFERRED_WRITE, Database

metadata = MetaData()
things = Table(
    "things",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(20), nullable=False, unique=True),
)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'things.db'}")
    async with database.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield database
    await database.dispose()


async def test_each_statement_is_one_call_to_the_thread(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with db.session() as session:  # a connection in the pool, set up
        await session.execute(select(1))
    calls: list[str] = []
    async with db.engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None
        queue = driver._execute

        async def counted(function: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append(getattr(function, "__name__", repr(function)))
            return await queue(function, *args, **kwargs)

        monkeypatch.setattr(driver, "_execute", counted)
        await connection.execute(insert(things), [{"name": "a"}, {"name": "b"}])
        assert len(calls) == 2  # BEGIN IMMEDIATE, then the INSERT of both rows
        rows = (await connection.execute(select(things.c.name).order_by(things.c.id))).all()
        assert [r.name for r in rows] == ["a", "b"] and len(calls) == 3
        await connection.commit()
        assert len(calls) == 4


async def test_rows_counts_ids_and_errors_come_through(db: Database) -> None:
    async with db.session() as session:
        connection = await session.connection()
        first = await connection.execute(insert(things).values(name="a"))
        assert first.inserted_primary_key == (1,)  # the cursor's lastrowid
        many = await connection.execute(insert(things), [{"name": f"n{i}"} for i in range(150)])
        assert many.rowcount == 150
        changed = await connection.execute(
            update(things).where(things.c.name.like("n1%")).values(name=func.upper(things.c.name))
        )
        assert changed.rowcount == 61  # n1, n10–n19, n100–n149
        result = await session.execute(select(things.c.name).order_by(things.c.id))
        assert [r.name for r in result.fetchmany(2)] == ["a", "n0"]
        assert len(result.fetchall()) == 149
        assert (await session.execute(select(things).where(things.c.id < 0))).first() is None
    with pytest.raises(IntegrityError):
        async with db.session() as session:
            await session.execute(insert(things).values(name="a"))
    async with db.session() as session:  # the pool's connection is still good
        assert await session.scalar(select(func.count()).select_from(things)) == 151


@pytest.fixture
def thread_calls(monkeypatch: pytest.MonkeyPatch) -> Callable[[Any], list[str]]:
    """Counts the calls a connection makes to its thread, from now on."""

    def counting(driver: Any) -> list[str]:
        calls: list[str] = []
        queue = driver._execute

        async def counted(function: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append(getattr(function, "__name__", repr(function)))
            return await queue(function, *args, **kwargs)

        monkeypatch.setattr(driver, "_execute", counted)
        return calls

    return counting


async def driver_of(session: AsyncSession) -> Any:
    connection = await session.connection()
    return (await connection.get_raw_connection()).driver_connection


async def test_deferred_writes_reach_the_thread_with_the_commit(
    db: Database, thread_calls: Callable[[Any], list[str]]
) -> None:
    async with db.session() as session:
        calls = thread_calls(await driver_of(session))  # after BEGIN IMMEDIATE
        await session.execute(insert(things), [{"name": "a"}], execution_options=DEFERRED_WRITE)
        await session.execute(
            insert(things), [{"name": "b"}, {"name": "c"}], execution_options=DEFERRED_WRITE
        )
        assert calls == []
    assert calls == ["on_thread", "rollback"]  # both INSERTs and the COMMIT; the pool's reset
    async with db.session() as session:
        assert list(await session.scalars(select(things.c.name).order_by(things.c.id))) == [
            "a",
            "b",
            "c",
        ]


async def test_the_next_statement_runs_the_deferred_writes_first_in_the_same_call(
    db: Database, thread_calls: Callable[[Any], list[str]]
) -> None:
    async with db.session() as session:
        calls = thread_calls(await driver_of(session))
        await session.execute(insert(things), [{"name": "a"}], execution_options=DEFERRED_WRITE)
        # Not deferred: the read runs at once, after the write, and sees it.
        assert await session.scalar(select(func.count()).select_from(things)) == 1
        assert len(calls) == 1
        connection = await session.connection()
        changed = await connection.execute(update(things).values(name="b"))
        assert changed.rowcount == 1  # an ordinary statement's answer is intact
        assert len(calls) == 2


async def test_a_rollback_drops_the_deferred_writes_unrun(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.session() as session:
            await session.execute(insert(things), [{"name": "a"}], execution_options=DEFERRED_WRITE)
            raise RuntimeError("refused")
    async with db.session() as session:  # the same pooled connection: nothing left waiting
        await session.execute(insert(things), [{"name": "b"}])
    async with db.session() as session:
        assert list(await session.scalars(select(things.c.name))) == ["b"]


async def test_a_deferred_write_that_fails_fails_the_commit(db: Database) -> None:
    async with db.session() as session:
        await session.execute(insert(things).values(name="a"))
    with pytest.raises(IntegrityError) as raised:
        async with db.session() as session:
            await session.execute(insert(things), [{"name": "b"}], execution_options=DEFERRED_WRITE)
            await session.execute(insert(things), [{"name": "a"}], execution_options=DEFERRED_WRITE)
    assert any("deferred write" in note for note in getattr(raised.value.orig, "__notes__", []))
    async with db.session() as session:  # nothing of it committed; the connection still good
        assert list(await session.scalars(select(things.c.name))) == ["a"]
