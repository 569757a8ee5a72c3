"""The transactional outbox and inbox tables, and `Outbox.add` inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, Column, Index, Integer, MetaData, String, Table, Text, insert, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common import tracing
from wps_common.db import DEFERRED_WRITE, BigIntPK, UTCDateTime, utcnow
from wps_common.events.envelope import (
    CloudEvent,
    EventPayload,
    envelope_json,
    rfc3339,
    subject_for,
)

PENDING_FLAG = "wps_outbox_pending"
# session.info: the rows this transaction wrote, for the relay of this process to publish right
# after the commit without reading them back (`HANDED_ROWS`), or a flag that it must read them
# (`HANDED_NOT`): rows written in a savepoint, or more than `HANDED_MAX` (bulk writes).
HANDED_ROWS = "wps_outbox_handed"
HANDED_NOT = "wps_outbox_not_handed"
HANDED_MAX = 100


@dataclass(frozen=True)
class HandedRow:
    """An outbox row as written, handed to the relay after its transaction committed."""

    event_id: str
    subject: str
    restricted: bool
    body: str
    traceparent: str | None


@dataclass(frozen=True)
class EventRouting:
    """Where events go: the public and restricted subject roots (per deployment, per test)."""

    root: str = "training"
    restricted_root: str = "restricted"

    def subject(self, payload_class: type[EventPayload]) -> str:
        return subject_for(payload_class, root=self.root, restricted_root=self.restricted_root)

    def full_subject(self, relative: str, restricted: bool) -> str:
        return f"{self.restricted_root if restricted else self.root}.{relative}"


class Outbox:
    """A service's `outbox` (events to publish) and `inbox` (events already handled) tables."""

    def __init__(self, metadata: MetaData) -> None:
        self.table = Table(
            "outbox",
            metadata,
            Column("id", BigIntPK, primary_key=True, autoincrement=True),
            Column("event_id", String(36), nullable=False, unique=True),
            Column("event_type", String(200), nullable=False),
            # Relative to the subject root, which is a deployment setting read by the relay.
            Column("subject", String(255), nullable=False),
            Column("restricted", Boolean, nullable=False, default=False),
            Column("body", Text, nullable=False),
            Column("created_at", UTCDateTime, nullable=False),
            Column("sent_at", UTCDateTime, nullable=True),
            Column("attempts", Integer, nullable=False, default=0),
            Column("last_error", Text, nullable=True),
            # W3C traceparent of the operation that wrote the event (also in the event itself).
            Column("traceparent", String(100), nullable=True),
            Index(
                "ix_outbox_pending",
                "id",
                postgresql_where=text("sent_at IS NULL"),
                sqlite_where=text("sent_at IS NULL"),
            ),
            Index("ix_outbox_created_at", "created_at"),
        )
        self.inbox = Table(
            "inbox",
            metadata,
            Column("event_id", String(36), primary_key=True),
            Column("event_type", String(200), nullable=False),
            Column("consumer", String(100), nullable=False),
            Column("processed_at", UTCDateTime, nullable=False),
            # Event retention deletes ids by age (wps_common.retention).
            Index("ix_inbox_processed_at", "processed_at"),
        )
        # Built once: SQLAlchemy memoises a statement's cache key, so a write only binds values.
        self._insert_statement = insert(self.table)

    async def add(self, session: AsyncSession, payload: EventPayload) -> CloudEvent:
        """Record an event in the caller's transaction; it is published only if that commits."""
        [event] = await self.add_many(session, [payload])
        return event

    async def add_many(
        self, session: AsyncSession, payloads: Sequence[EventPayload]
    ) -> list[CloudEvent]:
        """`add` for many events in one statement (sweeps, batches); same guarantees."""
        rows = await self._insert(session, payloads)
        return [CloudEvent.model_validate_json(row["body"]) for row in rows]

    async def add_bulk(self, session: AsyncSession, payloads: Sequence[EventPayload]) -> int:
        """`add_many` for writers of thousands of events (imports) that need no envelope
        objects back: how many were written (through the driver's executemany)."""
        return await self.add_rows(session, self.rows(payloads))

    def rows(self, payloads: Sequence[EventPayload]) -> list[dict[str, Any]]:
        """The outbox rows of these events, for `add_rows`: pure work that touches no session
        (a bulk writer may build them in a thread while its other statements run)."""
        if not payloads:
            return []
        # One trace for the batch: the request's or handled event's, else a new one.
        trace = tracing.carrier_or_new_trace(f"emit {payloads[0].event_type()}")
        # The bodies are written straight from the payloads (`envelope_json`, the same bytes as
        # `CloudEvent.to_json`), one time stamp for the batch: no envelope model per event.
        now = utcnow()
        stamp = rfc3339(now)
        traceparent = trace.get("traceparent")
        rows = [
            {
                "event_id": (event_id := str(uuid.uuid4())),
                "event_type": payload.event_type(),
                "subject": payload.subject_suffix(),
                "restricted": payload.restricted,
                "body": envelope_json(payload, event_id=event_id, time=stamp, trace=trace).decode(),
                "created_at": now,
                "attempts": 0,
                "traceparent": traceparent,
            }
            for payload in payloads
        ]
        return rows

    async def add_rows(self, session: AsyncSession, rows: list[dict[str, Any]]) -> int:
        """Write rows built by `rows` (through the driver's executemany), in the caller's
        transaction, as `add_bulk` does: how many were written."""
        if rows:
            await insert_rows(session, self.table, rows)
            session.info[PENDING_FLAG] = True
            self._hand_over(session, rows)
        return len(rows)

    async def _insert(
        self, session: AsyncSession, payloads: Sequence[EventPayload]
    ) -> list[dict[str, Any]]:
        rows = self.rows(payloads)
        if rows:
            # Nothing reads the INSERT's answer: on SQLite it goes with the next statement.
            await session.execute(self._insert_statement, rows, execution_options=DEFERRED_WRITE)
            session.info[PENDING_FLAG] = True
            self._hand_over(session, rows)
        return rows

    def _hand_over(self, session: AsyncSession, rows: list[dict[str, Any]]) -> None:
        """Keep the rows for the relay to publish after the commit (see `HANDED_ROWS`). A
        savepoint may still be rolled back without the transaction, so its rows are not kept:
        the relay then reads what committed."""
        info = session.info
        handed = info.setdefault(HANDED_ROWS, [])
        if (
            info.get(HANDED_NOT)
            or session.in_nested_transaction()
            or len(handed) + len(rows) > HANDED_MAX
        ):
            info[HANDED_NOT] = True
            handed.clear()
            return
        handed.extend(
            HandedRow(
                row["event_id"], row["subject"], row["restricted"], row["body"], row["traceparent"]
            )
            for row in rows
        )

    async def remember(self, session: AsyncSession, event: CloudEvent, consumer: str) -> bool:
        """Record an event as handled; False when it was handled before (a duplicate)."""
        return event.id in await self.claim(session, [event], consumer)

    async def claim(
        self, session: AsyncSession, events: Sequence[CloudEvent], consumer: str
    ) -> set[str]:
        """Record events as handled in one statement; the ids of those not handled before.

        `INSERT … ON CONFLICT DO NOTHING RETURNING event_id` (SQLite ≥ 3.35, PostgreSQL):
        an id already in the inbox, or twice in `events`, is claimed at most once.
        """
        rows: dict[str, dict[str, object]] = {}
        now = utcnow()
        for event in events:
            rows.setdefault(
                event.id,
                {
                    "event_id": event.id,
                    "event_type": event.type,
                    "consumer": consumer,
                    "processed_at": now,
                },
            )
        if not rows:
            return set()
        dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
        stmt = (
            (
                postgresql.insert(self.inbox)
                if dialect == "postgresql"
                else sqlite.insert(self.inbox)
            )
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(self.inbox.c.event_id)
        )
        # Executed with a list of rows: SQLAlchemy sends them as multi-row VALUES batches of a
        # cached statement ("insertmanyvalues"), far cheaper than compiling one big VALUES.
        result = await session.execute(stmt, list(rows.values()))
        return set(result.scalars())


async def insert_rows(session: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> None:
    """`session.execute(insert(table), rows)` for thousands of rows with the same keys, through
    the driver's own executemany: each value goes through its column type's bind processor as
    SQLAlchemy would send it (a value repeated from the row before is converted once), without
    SQLAlchemy's per-row parameter handling. A column left out gets its scalar Python default,
    or what the database gives it; one with any other Python default left out goes through
    SQLAlchemy."""
    if not rows:
        return
    names = list(rows[0])
    fills: list[Any] = []
    for column in table.columns:
        if column.name in rows[0] or column.default is None:
            continue
        if not getattr(column.default, "is_scalar", False):
            await session.execute(insert(table), rows)
            return
        names.append(column.name)
        fills.append(column.default.arg)  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect
    processors = [
        (i, process)
        for i, name in enumerate(names)
        if (process := table.c[name].type._cached_bind_processor(dialect)) is not None
    ]
    given = len(names) - len(fills)
    lasts: dict[int, tuple[Any, Any]] = {}
    params: list[tuple[Any, ...]] = []
    for row in rows:
        values = [row[name] for name in names[:given]] + fills
        for i, process in processors:
            value = values[i]
            last = lasts.get(i)
            if last is not None and last[0] is value:
                values[i] = last[1]
            else:
                values[i] = converted = process(value)
                lasts[i] = (value, converted)
        params.append(tuple(values))
    width = len(names)
    if dialect.paramstyle == "qmark":
        marks = ", ".join("?" * width)
    else:  # asyncpg: numeric_dollar
        marks = ", ".join(f"${n}" for n in range(1, width + 1))
    quote = dialect.identifier_preparer.quote
    columns = ", ".join(quote(name) for name in names)
    connection = await session.connection()
    await connection.exec_driver_sql(
        f"INSERT INTO {quote(table.name)} ({columns}) VALUES ({marks})", params
    )
