"""Periodic jobs (expiry scans, compliance sweeps) that run once per period across replicas.

Every replica runs the same loop; a row per job in `job_runs` decides who works: a replica
claims the job with a time-limited lease (row lock on PostgreSQL, the write lock on SQLite), and
the period it completed is recorded, so a period is done once however many replicas there are.
A replica that dies mid-run lets its lease lapse and another one takes over; one that is told to
stop finishes the run it is in and starts no other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, Integer, MetaData, String, Table, Text, insert, select, update
from sqlalchemy.exc import IntegrityError

from wps_common.db import Database, UTCDateTime

log = logging.getLogger("wps.jobs")

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


class JobRuns:
    """The service's `job_runs` table."""

    def __init__(self, metadata: MetaData) -> None:
        self.table = Table(
            "job_runs",
            metadata,
            Column("name", String(100), primary_key=True),
            Column("holder", String(120), nullable=True),
            Column("lease_until", UTCDateTime, nullable=True),
            Column("last_period", String(40), nullable=True),
            Column("last_started_at", UTCDateTime, nullable=True),
            Column("last_finished_at", UTCDateTime, nullable=True),
            Column("runs", Integer, nullable=False, default=0),
            Column("last_error", Text, nullable=True),
        )


@dataclass(frozen=True)
class PeriodicJob:
    """`run(now)` once per `every` (periods are aligned to the Unix epoch, in UTC)."""

    name: str
    every: timedelta
    run: Callable[[datetime], Awaitable[object]]
    lease: timedelta = timedelta(minutes=10)

    def period_of(self, now: datetime) -> str:
        return str(int(now.timestamp() // self.every.total_seconds()))


def holder_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class JobScheduler:
    def __init__(self, db: Database, runs: JobRuns, *, clock: Clock = system_clock) -> None:
        self.db, self.runs, self.clock = db, runs, clock
        self.holder = holder_id()
        self._stopping = asyncio.Event()

    async def loop(self, job: PeriodicJob, check_every: float = 30.0) -> None:
        """Run the job whenever it is due, until `stop()`; a run under way is finished."""
        while not self._stopping.is_set():
            await self.run_if_due(job)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._stopping.wait(), timeout=min(check_every, job.every.total_seconds())
                )

    def stop(self) -> None:
        self._stopping.set()

    async def run_if_due(self, job: PeriodicJob) -> bool:
        """Run the job if this period has not been done and nobody holds it; True if it ran."""
        now = self.clock()
        period = job.period_of(now)
        if not await self._claim(job, period, now):
            return False
        try:
            await job.run(now)
        except Exception as exc:
            log.exception("job %s failed", job.name)
            await self._finish(job, period=None, error=repr(exc)[:2000])
            raise
        await self._finish(job, period=period, error=None)
        return True

    async def _claim(self, job: PeriodicJob, period: str, now: datetime) -> bool:
        table = self.runs.table
        try:
            async with self.db.session() as session:
                row = (
                    await session.execute(
                        select(table).where(table.c.name == job.name).with_for_update()
                    )
                ).first()
                if row is None:
                    await session.execute(
                        insert(table).values(
                            name=job.name,
                            holder=self.holder,
                            lease_until=now + job.lease,
                            last_started_at=now,
                            runs=0,
                        )
                    )
                    return True
                if row.last_period == period:
                    return False
                if row.lease_until and row.lease_until > now and row.holder != self.holder:
                    return False
                await session.execute(
                    update(table)
                    .where(table.c.name == job.name)
                    .values(holder=self.holder, lease_until=now + job.lease, last_started_at=now)
                )
                return True
        except IntegrityError:
            return False  # another replica inserted the row first: it holds the lease

    async def _finish(self, job: PeriodicJob, *, period: str | None, error: str | None) -> None:
        table = self.runs.table
        values: dict[str, object] = {
            "lease_until": None,
            "last_finished_at": self.clock(),
            "last_error": error,
            "runs": table.c.runs + 1,
        }
        if period is not None:
            values["last_period"] = period
        async with self.db.session() as session:
            await session.execute(
                update(table)
                .where(table.c.name == job.name, table.c.holder == self.holder)
                .values(**values)
            )
