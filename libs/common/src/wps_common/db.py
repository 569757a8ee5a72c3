"""Async database access for SQLite (aiosqlite) and PostgreSQL (asyncpg), and the unit of work."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

READ_ONLY = "wps_read_only"
# Integer primary keys that autoincrement on SQLite too (SQLite only does so for INTEGER).
BigIntPK = BigInteger().with_variant(Integer, "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both databases (SQLite drops the offset otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An engine configured for safe concurrent use of the given backend."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        _serialise_sqlite_writes(engine)
        return engine
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


def _serialise_sqlite_writes(engine: AsyncEngine) -> None:
    # pysqlite opens transactions lazily and as DEFERRED, so two writers can both read and then
    # fail with "database is locked" when upgrading. BEGIN IMMEDIATE takes the write lock up
    # front and waits (busy timeout) instead; WAL keeps readers of other connections unblocked.
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        driver = dbapi_connection.driver_connection
        if OneCallCursor.fits(driver):  # else aiosqlite's own cursor: slower, as correct
            driver.cursor = partial(OneCallCursor, driver)  # this connection's cursors only
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


class OneCallCursor:
    """An aiosqlite cursor whose statement runs, fetches its rows and closes in one call to the
    connection's thread.

    aiosqlite's own cursor makes four such calls for a query (open, execute, fetch, close) and
    three for a write, each a hand-off to the thread and back through the event loop. On a busy
    loop every hand-off waits behind the other requests' work while this transaction holds
    SQLite's write lock (and our turn, `Database.session`), so the hand-offs, not SQLite, set
    the pace of writes. SQLAlchemy's adapter awaits `execute` and then the fetch; both are
    served here by the one call. Rows are fetched whole, as SQLAlchemy's adapter does for
    every non-streaming cursor. It uses aiosqlite's `_execute` (the queue to its thread) and
    `_conn`, stable from 0.17 to 0.22; the tests of every service run on it."""

    arraysize = 1

    @staticmethod
    def fits(connection: Any) -> bool:
        """Whether this aiosqlite has the two internals the cursor uses (a later release may
        rename them: the platform then keeps aiosqlite's own cursor)."""
        return callable(getattr(connection, "_execute", None)) and hasattr(connection, "_conn")

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._rows: list[Any] = []
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None

    async def __aenter__(self) -> OneCallCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def execute(self, sql: str, parameters: Any = None) -> OneCallCursor:
        return await self._run(lambda cursor: cursor.execute(sql, parameters or ()))

    async def executemany(self, sql: str, parameters: Any) -> OneCallCursor:
        return await self._run(lambda cursor: cursor.executemany(sql, parameters))

    async def _run(self, statement: Callable[[sqlite3.Cursor], object]) -> OneCallCursor:
        connection: sqlite3.Connection = self._connection._conn

        def on_thread() -> tuple[Any, list[Any], int, int | None]:
            cursor = connection.cursor()
            try:
                statement(cursor)
                rows = cursor.fetchall() if cursor.description else []
                return cursor.description, rows, cursor.rowcount, cursor.lastrowid
            finally:
                cursor.close()

        result = await self._connection._execute(on_thread)
        self.description, self._rows, self.rowcount, self.lastrowid = result
        return self

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        size = size or self.arraysize
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def close(self) -> None:
        self._rows = []


class Database:
    """One engine and session factory; `session()` is the unit of work (commit or roll back)."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = create_engine(url, **engine_kwargs)
        self._turns = asyncio.Lock() if self.engine.dialect.name == "sqlite" else None

        class _Session(Session):
            pass

        self._session_class = _Session
        self.sessionmaker = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=_Session
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def is_postgresql(self) -> bool:
        return self.dialect == "postgresql"

    def on_commit(self, callback: Callable[[Session], None]) -> None:
        """Call `callback(session)` after every successful commit of this database's sessions."""
        event.listen(self._session_class, "after_commit", callback)

    def on_rollback(self, callback: Callable[[Session], None]) -> None:
        """Call `callback(session)` after every rollback of this database's sessions, a
        savepoint's included."""
        event.listen(
            self._session_class, "after_soft_rollback", lambda session, _previous: callback(session)
        )

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A transaction: committed when the block ends normally, rolled back on any error."""
        if self._turns is None:
            async with self.sessionmaker() as session, session.begin():
                yield session
            return
        # SQLite has one writer at a time and its busy handler is not fair: a loop that commits
        # back to back (a consumer under load) can starve the relay for minutes. Taking turns
        # in this process first (asyncio.Lock is FIFO) makes the database lock uncontended.
        async with self._turns, self.sessionmaker() as session, session.begin():
            yield session

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A read-only transaction that neither takes a turn nor waits for the writer: for
        lookups made while a unit of work of this same request may hold SQLite's write lock
        (waiting for it there would wait for ourselves). WAL lets it read the last commit."""
        async with self.sessionmaker() as session:
            await session.connection(execution_options={READ_ONLY: True})
            try:
                yield session
            finally:
                await session.rollback()

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
