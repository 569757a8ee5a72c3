"""The outbox relay: publishes committed outbox rows to JetStream, exactly once per event id."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from nats.js import JetStreamContext
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common import tracing
from wps_common.db import Database, utcnow
from wps_common.events.consumer import raise_if_cancelled
from wps_common.events.outbox import (
    HANDED_NOT,
    HANDED_ROWS,
    PENDING_FLAG,
    EventRouting,
    HandedRow,
    Outbox,
)

log = logging.getLogger("wps.relay")


class OutboxRelay:
    """Claims pending rows in id order, publishes them with `Nats-Msg-Id = event id`, marks them.

    A publish whose ack was lost is simply retried: JetStream's dedupe window drops the second
    copy. On PostgreSQL rows are claimed with FOR UPDATE SKIP LOCKED, so replicas never publish
    the same row at the same time; on SQLite (one process) the read and the marking are two
    short transactions so the write lock is never held across network I/O.

    Rows committed in this process are handed over by the committing session (`HANDED_ROWS`)
    and published at once, without reading them back; their marks are written together a
    moment later (`mark_delay_seconds`), off the path from commit to consumer. The poll stays
    for rows of other processes and whatever a hand-over could not carry: a backlog, a failed
    publish, rows from a savepoint or a bulk write are read from the table in id order.
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
        mark_delay_seconds: float = 0.05,
        heal: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.db, self.outbox, self.js, self.routing = db, outbox, js, routing
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.publish_timeout_seconds = publish_timeout_seconds
        self.mark_delay_seconds = mark_delay_seconds
        self.heal = heal
        self.published = 0
        self.published_by_subject: Counter[str] = Counter()  # for the metrics
        self.failures = 0
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        # Rows committed here, in commit order, waiting to be published without a read; only
        # used while the relay has nothing older pending (`_caught_up`), so none overtakes.
        self._handed: list[HandedRow] = []
        self._caught_up = False
        # Event ids published from a hand-over and not yet marked sent, and since when.
        self._unmarked: list[str] = []
        self._unmarked_since = 0.0
        db.on_commit(self._after_commit)
        db.on_rollback(self._after_rollback)

    def _after_commit(self, session: Any) -> None:
        if self._stopping.is_set() or not session.info.pop(PENDING_FLAG, False):
            return  # a stopped relay leaves the rows to its successor on this database
        rows = session.info.pop(HANDED_ROWS, None)
        if session.info.pop(HANDED_NOT, False) or not rows:
            self._caught_up = False  # read from the table, in id order
        elif len(self._handed) + len(rows) > self.batch_size:
            self._caught_up = False  # nobody is publishing them (or a burst): read instead
        if self._caught_up:
            self._handed.extend(rows)
        else:
            self._handed.clear()
        self._wake.set()

    @staticmethod
    def _after_rollback(session: Any) -> None:
        # Rows of a rolled-back transaction (or savepoint) must never be handed over.
        if session.info.pop(HANDED_ROWS, None):
            session.info[HANDED_NOT] = True

    def wake(self) -> None:
        """Read the table now (rows of another process, say), not only what was handed over."""
        self._caught_up = False
        self._wake.set()

    def stop(self) -> None:
        """Finish the batch under way and claim no other: what is left waits in the outbox for
        the next relay (another replica's, or this one's after the restart)."""
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        try:
            await self._run()
        finally:
            if self._unmarked and self._stopping.is_set():
                with contextlib.suppress(Exception):  # left pending: the next relay re-sends
                    await self.mark_published()

    async def _run(self) -> None:
        backoff = 0.2
        read = True  # the first round, like every poll, reads the table
        while not self._stopping.is_set():
            # Cleared before the work, so a commit during it is not missed.
            self._wake.clear()
            try:
                if read or not self._caught_up:
                    sent = await self.publish_pending()
                    self._caught_up = sent < self.batch_size
                else:
                    sent = await self.publish_handed()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS down, timeouts, database hiccups: retry later
                raise_if_cancelled()
                self._caught_up = False
                self.failures += 1
                log.warning("outbox relay: publish failed (%s); retrying in %.1fs", exc, backoff)
                if self.heal is not None and self.failures % 5 == 0:
                    with contextlib.suppress(Exception):
                        await self.heal()  # e.g. a stream that was deleted: create it again
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=backoff)
                backoff = min(backoff * 2, self.max_backoff_seconds)
                read = True
                continue
            backoff = 0.2
            read = not self._caught_up or await self._idle()

    async def _idle(self) -> bool:
        """Wait for a commit (False: publish what it handed over) or the poll (True: read the
        table); meanwhile, write the marks that are due."""
        deadline = time.monotonic() + self.poll_seconds
        while not self._wake.is_set():
            now = time.monotonic()
            if now >= deadline:
                return True
            timeout = deadline - now
            if self._unmarked:
                due = self._unmarked_since + self.mark_delay_seconds - now
                if due <= 0:
                    try:
                        await self.mark_published()
                    except Exception as exc:  # they stay pending: a later read re-sends them
                        raise_if_cancelled()
                        log.warning("outbox relay: marking sent rows failed (%s)", exc)
                        return True
                    continue
                timeout = min(timeout, due)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)
        return self._stopping.is_set() or not self._handed

    async def publish_handed(self) -> int:
        """Publish the rows committed in this process since the last round, as handed over;
        their marks wait for `mark_published` (a moment later, or the next claim)."""
        rows, self._handed = self._handed, []
        sent, errors = await self._publish(rows)
        if sent and not self._unmarked:
            self._unmarked_since = time.monotonic()
        self._unmarked.extend(sent)
        if errors:
            # Left pending: the next round reads them from the table and records the errors.
            first = next(iter(errors.values()))
            raise ConnectionError(f"{len(errors)} of {len(rows)} events not acknowledged: {first}")
        return len(sent)

    async def mark_published(self) -> None:
        """Mark the handed-over rows published so far as sent, in one statement."""
        if not self._unmarked:
            return
        async with self.db.session() as session:
            await self._mark_unmarked(session)

    async def _mark_unmarked(self, session: AsyncSession) -> None:
        unmarked, self._unmarked = self._unmarked, []
        try:
            await self._mark(session, unmarked, {})
        except BaseException:
            self._unmarked = unmarked + self._unmarked
            raise

    async def publish_pending(self) -> int:
        """Publish one batch read from the table; returns how many rows were marked sent."""
        if self.db.is_postgresql:
            async with self.db.session() as session:
                await self._mark_unmarked(session)
                rows = await self._claim(session, lock=True)
                self._forget_handed(rows)
                sent, errors = await self._publish(rows)
                await self._mark(session, sent, errors, ids=_row_ids(rows))
        else:
            async with self.db.session() as session:
                await self._mark_unmarked(session)
                rows = await self._claim(session, lock=False)
            self._forget_handed(rows)
            sent, errors = await self._publish(rows)
            async with self.db.session() as session:
                await self._mark(session, sent, errors, ids=_row_ids(rows))
        if errors:
            first = next(iter(errors.values()))
            raise ConnectionError(f"{len(errors)} of {len(rows)} events not acknowledged: {first}")
        return len(sent)

    def _forget_handed(self, rows: list[Any]) -> None:
        """Rows committed during the claim may be handed over as well: publish them once."""
        if self._handed:
            claimed = {row.event_id for row in rows}
            self._handed = [row for row in self._handed if row.event_id not in claimed]

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

    async def _publish(self, rows: list[Any]) -> tuple[list[str], dict[str, str]]:
        """Send the rows in order on one connection without awaiting each ack in turn (so the
        stream keeps the outbox order), then await their acks, `publish_timeout_seconds` at
        most; returns the acknowledged event ids and the errors of the others."""
        acks: dict[str, asyncio.Future[Any]] = {}
        errors: dict[str, str] = {}
        parents: dict[str | None, Context] = {}  # a batch's rows mostly share one trace
        try:
            for row in rows:
                try:
                    acks[row.event_id] = await self._send(row, parents)
                except Exception as exc:  # e.g. the connection closed: this row stays pending
                    raise_if_cancelled()
                    errors[row.event_id] = repr(exc)[:2000]
            if acks:
                await asyncio.wait(acks.values(), timeout=self.publish_timeout_seconds)
        finally:
            for ack in acks.values():
                ack.cancel()  # not acknowledged in time (or the relay stops): left pending
        sent: list[str] = []
        for event_id, ack in acks.items():
            if ack.cancelled():
                errors[event_id] = repr(TimeoutError("no acknowledgement in time"))
            elif (failure := ack.exception()) is not None:
                errors[event_id] = repr(failure)[:2000]
            else:
                sent.append(event_id)
        return sent, errors

    async def _send(self, row: Any, parents: dict[str | None, Context]) -> asyncio.Future[Any]:
        """Hand one message to the connection, in a span of the trace that wrote the row; the
        message carries its `traceparent` as a header too, for readers that do not open the
        CloudEvent. The future resolves with JetStream's acknowledgement."""
        subject = self.routing.full_subject(row.subject, row.restricted)
        parent = parents.get(row.traceparent)
        if parent is None:
            parent = parents[row.traceparent] = tracing.context_of({"traceparent": row.traceparent})
        with tracing.span(
            f"publish {row.subject}",
            kind=SpanKind.PRODUCER,
            parent=parent,
            attributes={"messaging.system": "nats", "messaging.message.id": row.event_id},
        ):
            body = row.body.encode()
            refusal = self._refusal(body)
            if refusal is not None:
                raise refusal
            # The stall limit: should places still be lost (the connection lost between the
            # check and the publish), the relay fails the row rather than wait for ever.
            return await self.js.publish_async(
                subject,
                body,
                wait_stall=self.publish_timeout_seconds,
                headers={"Nats-Msg-Id": row.event_id, **tracing.current_carrier()},
            )

    def _refusal(self, body: bytes) -> Exception | None:
        """Why the connection would refuse this message, found before it is handed over.

        nats-py takes one of its `publish_async_max_pending` places for each publish and gives
        it back when the acknowledgement's future resolves; a publish the connection refuses
        (over the server's maximum payload; closed, draining or reconnecting, its buffer full)
        gets no future, and its place is lost for the life of the JetStream context. Once all
        are lost, every publish fails until the process restarts. `JetStreamContext` keeps its
        connection as `_nc` (nats-py 2.x); without it the checks are skipped."""
        nc = getattr(self.js, "_nc", None)
        if nc is None:
            return None
        if not nc.is_connected:
            return ConnectionError("NATS is not connected; the event stays pending")
        if len(body) > nc.max_payload:
            return ValueError(
                f"the event is {len(body):,} bytes, over the NATS server's maximum payload of "
                f"{nc.max_payload:,}; it stays pending"
            )
        return None

    async def _mark(
        self,
        session: AsyncSession,
        sent: list[str],
        errors: dict[str, str],
        *,
        ids: dict[str, int] | None = None,
    ) -> None:
        """Mark rows sent (and record the errors of the others). Rows read from the table are
        marked by primary key (`ids`: event id → row id): the primary key and the pending index
        are both keyed by id, so the plan is an index lookup whatever the statistics say. By
        event id, PostgreSQL without fresh statistics (a bulk import's first minutes) chose the
        pending index and filtered every pending row against the list, batch after batch."""
        table = self.outbox.table
        if sent:
            which = table.c.id.in_([ids[e] for e in sent]) if ids else table.c.event_id.in_(sent)
            marked = await session.execute(
                update(table)
                .where(which, table.c.sent_at.is_(None))
                .values(sent_at=utcnow(), attempts=table.c.attempts + 1, last_error=None)
                .returning(table.c.subject)
            )
            # Counted as they are marked, each row once: a row another replica (or an earlier
            # try that timed out) published as well, JetStream's dedupe stored once and the
            # first mark claims. Should this transaction then fail, the row is sent and counted
            # again, which the metrics tolerate.
            subjects = list(marked.scalars())
            self.published += len(subjects)
            self.published_by_subject.update(subjects)
        for event_id, error in errors.items():
            await session.execute(
                update(table)
                .where(table.c.event_id == event_id)
                .values(attempts=table.c.attempts + 1, last_error=error)
            )


def _row_ids(rows: list[Any]) -> dict[str, int]:
    return {row.event_id: row.id for row in rows}
