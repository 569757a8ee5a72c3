"""The in-process runner of imports: a job starts after the request that queued it committed,
jobs left queued or abandoned (their runner's lease lapsed) are taken up again after a restart,
and a stopping service waits for the job under way to let go of the database."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select

from wps_common.db import Database, utcnow
from wps_common.metrics import ServiceMetrics
from wps_common.runtime import ServiceRuntime
from wps_enrolment.import_jobs import run
from wps_enrolment.models import ImportJob

RECOVERY_SECONDS = 30.0
STOP_SECONDS = 10.0  # for a cancelled job to roll back its chunk


class ImportRunner:
    """Runs submitted imports in this process, after the request that queued them committed."""

    def __init__(
        self,
        db: Callable[[], Database],
        clock: Callable[[], datetime],
        chunk_rows: int,
        metrics: ServiceMetrics | None = None,
    ):
        self.db, self.clock, self.chunk_rows = db, clock, chunk_rows
        self.metrics = metrics
        if metrics is not None:
            metrics.import_started()
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self, job_id: str) -> None:
        task = asyncio.create_task(self.run_job(job_id), name=f"import {job_id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def stop(self) -> None:
        """Cancel the jobs under way and wait until they have let go of the database, which
        closes next. An interrupted job keeps its file and its lapsing lease: `recover` takes it
        up again."""
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_SECONDS)

    async def recover(self, runtime: ServiceRuntime | None = None) -> None:
        """Worker loop: run jobs left queued or abandoned (their runner's lease lapsed), e.g.
        after a crash or a restart, on whichever replica gets there first; it returns once the
        service drains (the job under way is finished first)."""
        draining = runtime.draining if runtime is not None else asyncio.Event()
        while not draining.is_set():
            for job_id in await self.abandoned():
                if draining.is_set():
                    break
                await self.run_job(job_id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(draining.wait(), timeout=RECOVERY_SECONDS)

    async def run_job(self, job_id: str) -> None:
        began, clock = utcnow(), time.perf_counter()
        await run(self.db(), job_id, chunk_rows=self.chunk_rows, clock=self.clock)
        if self.metrics is not None:
            await self._observe(job_id, began, time.perf_counter() - clock)

    async def _observe(self, job_id: str, began: datetime, seconds: float) -> None:
        """Count the rows of a job this call ran to its end (not one found done already)."""
        async with self.db().reading() as session:
            job = (
                await session.execute(
                    select(
                        ImportJob.status,
                        ImportJob.started_at,
                        ImportJob.finished_at,
                        ImportJob.created_count,
                        ImportJob.updated_count,
                        ImportJob.unchanged_count,
                        ImportJob.error_count,
                    ).where(ImportJob.id == job_id)
                )
            ).one_or_none()
        if job is None or job.finished_at is None or job.started_at is None:
            return
        if job.started_at < began:
            return
        assert self.metrics is not None
        rows = {
            "created": job.created_count,
            "updated": job.updated_count,
            "unchanged": job.unchanged_count,
            "rejected": job.error_count,
        }
        self.metrics.import_finished(job.status, seconds, {k: v or 0 for k, v in rows.items()})

    async def abandoned(self) -> list[str]:
        now = utcnow()
        async with self.db().session() as session:
            rows = await session.scalars(
                select(ImportJob.id)
                .where(
                    or_(
                        and_(
                            ImportJob.status == "queued",
                            ImportJob.created_at < now - timedelta(seconds=RECOVERY_SECONDS),
                        ),
                        and_(ImportJob.status == "running", ImportJob.lease_until < now),
                    )
                )
                .order_by(ImportJob.created_at)
            )
            return list(rows)
