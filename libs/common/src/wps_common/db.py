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
from typing import Any, TypeVar

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
# An execution option (`execution_options=DEFERRED_WRITE`) for a write whose answer nobody reads
# (no RETURNING, no row count, no last row id): on SQLite it goes to the connection's thread
# with the next statement of the transaction, or its commit, in the same call. An error it
# raises is raised there. On PostgreSQL, or without the one-call cursor, it runs at once.
DEFERRED = "wps_deferred"
DEFERRED_WRITE = {DEFERRED: True}
_WRITES = "wps_deferred_writes"  # the pool's record of a connection: its DeferredWrites
# Integer primary keys that autoincrement on SQLite too (SQLite only does so for INTEGER).
BigIntPK = BigInteger().with_variant(Integer, "sqlite")
T = TypeVar("T")


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
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        driver = dbapi_connection.driver_connection
        if OneCallCursor.fits(driver):  # else aiosqlite's own cursor: slower, as correct
            writes = record.info[_WRITES] = DeferredWrites(driver)
            # This connection's cursors, commits and rollbacks only.
            driver.cursor = partial(OneCallCursor, driver, writes)
            driver.commit, driver.rollback = writes.commit, writes.rollback
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(sync_engine, "before_cursor_execute")
    def _on_statement(
        connection: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool
    ) -> None:
        if context is not None and context.execution_options.get(DEFERRED, False):
            writes: DeferredWrites | None = connection.info.get(_WRITES)
            if writes is not None:
                writes.mark(statement)

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


class DeferredWrites:
    """The writes of one SQLite connection that wait for its next call to the thread
    (`DEFERRED_WRITE`): they run there first, in order, then the statement or the commit that
    made the call. A rollback drops them unrun.

    A transaction's last writes (an enrolment, its event, its audit entry) thus reach the
    thread with its commit: each call is a hand-off to the thread and back through a busy event
    loop while the transaction holds SQLite's write lock, and the lock sets the pace."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._marked: str | None = None
        self._waiting: list[tuple[str, Callable[[sqlite3.Cursor], object]]] = []
        self._rollback = connection.rollback  # aiosqlite's own

    def mark(self, sql: str) -> None:
        """The statement about to be executed is a deferred write."""
        self._marked = sql

    def defer(self, sql: str, write: Callable[[sqlite3.Cursor], object]) -> bool:
        """Keep `write` for the next call if its statement was marked; False: run it now."""
        marked, self._marked = self._marked, None
        if marked is None or marked != sql:
            return False
        self._waiting.append((sql, write))
        return True

    async def call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work` on the connection's thread, after the writes waiting."""
        connection: sqlite3.Connection = self._connection._conn
        waiting, self._waiting = self._waiting, []

        def on_thread() -> T:
            if waiting:
                cursor = connection.cursor()
                try:
                    for sql, write in waiting:
                        try:
                            write(cursor)
                        except sqlite3.Error as exc:
                            exc.add_note(f"raised by a deferred write: {sql[:200]}")
                            raise
                finally:
                    cursor.close()
            return work(connection)

        result: T = await self._connection._execute(on_thread)
        return result

    async def commit(self) -> None:
        await self.call(lambda connection: connection.commit())

    async def rollback(self) -> None:
        self._waiting.clear()
        await self._rollback()


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

    def __init__(self, connection: Any, writes: DeferredWrites) -> None:
        self._connection = connection
        self._writes = writes
        self._rows: list[Any] = []
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None

    async def __aenter__(self) -> OneCallCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def execute(self, sql: str, parameters: Any = None) -> OneCallCursor:
        return await self._run(sql, lambda cursor: cursor.execute(sql, parameters or ()))

    async def executemany(self, sql: str, parameters: Any) -> OneCallCursor:
        return await self._run(sql, lambda cursor: cursor.executemany(sql, parameters))

    async def _run(self, sql: str, statement: Callable[[sqlite3.Cursor], object]) -> OneCallCursor:
        if self._writes.defer(sql, statement):
            self.description, self._rows, self.rowcount, self.lastrowid = None, [], -1, None
            return self

        def on_thread(connection: sqlite3.Connection) -> tuple[Any, list[Any], int, int | None]:
            cursor = connection.cursor()
            try:
                statement(cursor)
                rows = cursor.fetchall() if cursor.description else []
                return cursor.description, rows, cursor.rowcount, cursor.lastrowid
            finally:
                cursor.close()

        result = await self._writes.call(on_thread)
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
