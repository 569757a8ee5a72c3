"""Event retention: sent outbox rows and inbox ids older than the horizon are deleted in batches.

Each batch is its own short transaction (`DELETE … WHERE key IN (SELECT key … LIMIT n)`), so the
prune never holds a long lock: requests, the relay and consumers write between two batches. Why
the horizon is safe, and what it must exceed, is in docs/adr/0024-event-retention.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Table, delete, select

from wps_common.db import Database
from wps_common.events.outbox import Outbox
from wps_common.jobs import PeriodicJob

log = logging.getLogger("wps.retention")

RETENTION_JOB = "event-retention"
PRUNE_EVERY = timedelta(hours=1)
PRUNE_BATCH = 1000


@dataclass(frozen=True)
class PruneReport:
    outbox: int = 0
    inbox: int = 0


class EventRetention:
    """Prunes a service's outbox (sent rows only: an unsent event is never lost) and inbox."""

    def __init__(
        self,
        *,
        db: Callable[[], Database],
        outbox: Outbox,
        retention: timedelta,
        batch_size: int = PRUNE_BATCH,
        on_pruned: Callable[[str, int], None] | None = None,
    ) -> None:
        # The database is read when the job runs: the runtime creates it at start.
        self.db, self.outbox, self.retention = db, outbox, retention
        self.batch_size = batch_size
        self.on_pruned = on_pruned

    def horizon(self, now: datetime) -> datetime:
        return now - self.retention

    def job(self, every: timedelta = PRUNE_EVERY) -> PeriodicJob:
        return PeriodicJob(RETENTION_JOB, every, self.prune)

    async def prune(self, now: datetime) -> PruneReport:
        cutoff = self.horizon(now)
        table, inbox = self.outbox.table, self.outbox.inbox
        # created_at <= sent_at, so the created_at bound only lets ix_outbox_created_at find them.
        sent = await self._prune(
            table,
            table.c.id,
            (table.c.created_at < cutoff) & (table.c.sent_at < cutoff),
        )
        handled = await self._prune(inbox, inbox.c.event_id, inbox.c.processed_at < cutoff)
        if sent or handled:
            log.info(
                "pruned %d sent outbox rows and %d inbox ids older than %s",
                sent,
                handled,
                cutoff.isoformat(),
            )
        return PruneReport(outbox=sent, inbox=handled)

    async def _prune(
        self, table: Table, key: ColumnElement[object], old: ColumnElement[bool]
    ) -> int:
        total = 0
        while True:
            batch = select(key).where(old).limit(self.batch_size).scalar_subquery()
            async with self.db().session() as session:
                result = await session.execute(
                    delete(table).where(key.in_(batch)).execution_options(synchronize_session=False)
                )
            count = int(result.rowcount)  # type: ignore[attr-defined]
            total += count
            if self.on_pruned is not None and count:
                self.on_pruned(table.name, count)
            if count < self.batch_size:
                return total
