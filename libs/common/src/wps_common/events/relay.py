"""The outbox relay: publishes committed outbox rows to JetStream, exactly once per event id."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from nats.js import JetStreamContext
from opentelemetry.trace import SpanKind
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common import tracing
from wps_common.db import Database, utcnow
from wps_common.events.consumer import raise_if_cancelled
from wps_common.events.outbox import PENDING_FLAG, EventRouting, Outbox

log = logging.getLogger("wps.relay")


class OutboxRelay:
    """Claims pending rows in id order, publishes them with `Nats-Msg-Id = event id`, marks them.

    A publish whose ack was lost is simply retried: JetStream's dedupe window drops the second
    copy. On PostgreSQL rows are claimed with FOR UPDATE SKIP LOCKED, so replicas never publish
    the same row at the same time; on SQLite (one process) the read and the marking are two
    short transactions so the write lock is never held across network I/O.
    """

    def __init__(
        self,
        *,
        db: Database,
        outbox: Outbox,
        js: JetStreamContext,
        routing: EventRouting,
        batch_size: int = 200,
        poll_seconds: float = 0.5,
        max_backoff_seconds: float = 30.0,
        publish_timeout_seconds: float = 5.0,
        heal: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.db, self.outbox, self.js, self.routing = db, outbox, js, routing
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.publish_timeout_seconds = publish_timeout_seconds
        self.heal = heal
        self.published = 0
        self.published_by_subject: Counter[str] = Counter()  # for the metrics
        self.failures = 0
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        db.on_commit(self._after_commit)

    def _after_commit(self, session: Any) -> None:
        if session.info.pop(PENDING_FLAG, False):
            self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Finish the batch under way and claim no other: what is left waits in the outbox for
        the next relay (another replica's, or this one's after the restart)."""
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        backoff = 0.2
        while not self._stopping.is_set():
            try:
                sent = await self.publish_pending()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS down, timeouts, database hiccups: retry later
                raise_if_cancelled()
                self.failures += 1
                log.warning("outbox relay: publish failed (%s); retrying in %.1fs", exc, backoff)
                if self.heal is not None and self.failures % 5 == 0:
                    with contextlib.suppress(Exception):
                        await self.heal()  # e.g. a stream that was deleted: create it again
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=backoff)
                backoff = min(backoff * 2, self.max_backoff_seconds)
                continue
            backoff = 0.2
            if sent >= self.batch_size or self._stopping.is_set():
                continue  # more are waiting, or the loop ends here
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
            except TimeoutError:
                pass

    async def publish_pending(self) -> int:
        """Publish one batch; returns how many rows were marked sent."""
        if self.db.is_postgresql:
            async with self.db.session() as session:
                rows = await self._claim(session, lock=True)
                sent, errors = await self._publish(rows)
                await self._mark(session, sent, errors)
        else:
            async with self.db.session() as session:
                rows = await self._claim(session, lock=False)
            sent, errors = await self._publish(rows)
            async with self.db.session() as session:
                await self._mark(session, sent, errors)
        self.published += len(sent)
        acknowledged = set(sent)
        self.published_by_subject.update(row.subject for row in rows if row.id in acknowledged)
        if errors:
            first = next(iter(errors.values()))
            raise ConnectionError(f"{len(errors)} of {len(rows)} events not acknowledged: {first}")
        return len(sent)

    async def _claim(self, session: AsyncSession, *, lock: bool) -> list[Any]:
        table = self.outbox.table
        stmt = (
            select(
                table.c.id,
                table.c.event_id,
                table.c.subject,
                table.c.restricted,
                table.c.body,
                table.c.traceparent,
            )
            .where(table.c.sent_at.is_(None))
            .order_by(table.c.id)
            .limit(self.batch_size)
        )
        if lock:
            stmt = stmt.with_for_update(skip_locked=True)
        return list((await session.execute(stmt)).all())

    async def _publish(self, rows: list[Any]) -> tuple[list[int], dict[int, str]]:
        """Publish concurrently (requests leave in order on one connection, so the stream keeps
        the outbox order); returns the acknowledged row ids and the errors of the others."""
        results = await asyncio.gather(
            *(self._publish_one(row) for row in rows), return_exceptions=True
        )
        sent: list[int] = []
        errors: dict[int, str] = {}
        for row, result in zip(rows, results, strict=True):
            if isinstance(result, BaseException):
                errors[row.id] = repr(result)[:2000]
            else:
                sent.append(row.id)
        return sent, errors

    async def _publish_one(self, row: Any) -> Any:
        """One publish, in a span of the trace that wrote the row; the message carries its
        `traceparent` as a header too, for readers that do not open the CloudEvent."""
        subject = self.routing.full_subject(row.subject, row.restricted)
        with tracing.span(
            f"publish {row.subject}",
            kind=SpanKind.PRODUCER,
            parent=tracing.context_of({"traceparent": row.traceparent}),
            attributes={"messaging.system": "nats", "messaging.message.id": row.event_id},
        ):
            return await self.js.publish(
                subject,
                row.body.encode(),
                timeout=self.publish_timeout_seconds,
                headers={"Nats-Msg-Id": row.event_id, **tracing.current_carrier()},
            )

    async def _mark(self, session: AsyncSession, sent: list[int], errors: dict[int, str]) -> None:
        table = self.outbox.table
        if sent:
            await session.execute(
                update(table)
                .where(table.c.id.in_(sent))
                .values(sent_at=utcnow(), attempts=table.c.attempts + 1, last_error=None)
            )
        for row_id, error in errors.items():
            await session.execute(
                update(table)
                .where(table.c.id == row_id)
                .values(attempts=table.c.attempts + 1, last_error=error)
            )
