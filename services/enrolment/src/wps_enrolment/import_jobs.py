"""Running an import job: claiming a queued (or abandoned) job under a lease, reading its file,
writing its valid rows a chunk at a time (`import_chunks`) with progress and lease renewal per
chunk, and the outcome a client polls."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.db import Database, utcnow
from wps_common.errors import InvalidInput
from wps_enrolment.import_chunks import upsert_chunk
from wps_enrolment.models import Academy, ImportJob
from wps_enrolment.trainee_csv import Parsed, parse

log = logging.getLogger("wps.enrolment.imports")

MAX_REPORTED_ERRORS = 1000
LEASE = timedelta(minutes=2)  # renewed with every chunk


async def _claim(db: Database, job_id: str) -> tuple[str, str, str, str] | None:
    """Take a queued job (or one whose runner's lease lapsed): its file, academy, mode, actor."""
    async with db.session() as session:
        job = await session.scalar(
            select(ImportJob).where(ImportJob.id == job_id).with_for_update(skip_locked=True)
        )
        now = utcnow()
        if job is None or not (
            job.status == "queued"
            or (job.status == "running" and job.lease_until is not None and job.lease_until < now)
        ):
            return None  # done, or running under a live lease elsewhere
        job.status, job.started_at, job.lease_until = "running", now, now + LEASE
        return job.content or "", job.academy_id, job.mode, job.created_by


async def run(db: Database, job_id: str, *, chunk_rows: int, today: date) -> None:
    """Execute a queued import. Partial mode commits a chunk at a time (progress is real);
    all-or-nothing writes everything in one transaction, and nothing when a row is bad."""
    claimed = await _claim(db, job_id)
    if claimed is None:
        return
    text, academy_id, mode, actor = claimed
    try:
        parsed = await asyncio.to_thread(parse, text)
    except InvalidInput as exc:
        await _finish(db, job_id, status="failed", message=exc.detail)
        return
    errors = [e.as_dict() for e in parsed.errors]
    async with db.session() as session:
        await session.execute(
            update(ImportJob)
            .where(ImportJob.id == job_id)
            .values(
                total_rows=parsed.total,
                error_count=len(errors),
                errors=errors[:MAX_REPORTED_ERRORS],
                processed_rows=len(errors),
            )
        )
    if mode == "all_or_nothing" and errors:
        await _finish(
            db,
            job_id,
            status="failed",
            message=f"{len(errors)} bad row(s); nothing was imported (mode all_or_nothing).",
        )
        return
    try:
        counts = await _write(db, job_id, parsed, academy_id, mode, actor, chunk_rows, today)
    except Exception as exc:  # the job must end in a state a client can read
        log.exception("import %s failed", job_id)
        await _finish(db, job_id, status="failed", message=f"The import stopped: {exc!r}"[:2000])
        return
    message = (
        f"{counts['created']} created, {counts['updated']} updated, {counts['unchanged']} unchanged"
    )
    if errors:
        message += f"; {len(errors)} bad row(s) skipped"
    await _finish(db, job_id, status="succeeded", message=message + ".")


async def _write(
    db: Database,
    job_id: str,
    parsed: Parsed,
    academy_id: str,
    mode: str,
    actor: str,
    chunk_rows: int,
    today: date,
) -> dict[str, int]:
    """Upsert the valid rows chunk by chunk: one transaction in all, or one per chunk."""
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    chunks = [parsed.rows[i : i + chunk_rows] for i in range(0, len(parsed.rows), chunk_rows)]
    bad = len(parsed.errors)
    statistics = _Statistics(db.is_postgresql)
    texts: dict[int, str] = {}  # search texts computed ahead (see `upsert_chunk`)
    nexts = [*chunks[1:], []][: len(chunks)]  # each chunk's successor (none for the last)
    if mode == "all_or_nothing":
        async with db.session() as session:
            academy = await session.get(Academy, academy_id)
            assert academy is not None
            for chunk, ahead in zip(chunks, nexts, strict=True):
                await statistics.refresh(session, counts["created"])
                _add(
                    counts,
                    await upsert_chunk(
                        session, academy, chunk, parsed.columns, actor, today, (texts, ahead)
                    ),
                )
            await _progress(session, job_id, len(parsed.rows) + bad, counts)
        return counts
    done = bad
    for chunk, ahead in zip(chunks, nexts, strict=True):
        async with db.session() as session:
            await statistics.refresh(session, counts["created"])
            academy = await session.get(Academy, academy_id)
            assert academy is not None
            _add(
                counts,
                await upsert_chunk(
                    session, academy, chunk, parsed.columns, actor, today, (texts, ahead)
                ),
            )
            done += len(chunk)
            await _progress(session, job_id, done, counts)
    return counts


@dataclass
class _Statistics:
    """PostgreSQL plans a chunk's lookup from table statistics that autovacuum refreshes only
    minutes later. Loading thousands of trainees into a table it believes nearly empty, it
    reads all of the academy's trainees for every chunk (100,000 rows took 3.5 minutes): the
    import ANALYZEs the table whenever it has added as many rows as there were at the last
    ANALYZE (log₂ of the rows added times in all; a transaction's own rows are counted)."""

    postgresql: bool
    analysed_at: int = 0

    async def refresh(self, session: AsyncSession, created: int) -> None:
        if self.postgresql and created > 0 and created >= 2 * self.analysed_at:
            await session.execute(text("ANALYZE trainees"))
            self.analysed_at = created


def _add(counts: dict[str, int], more: dict[str, int]) -> None:
    for key, value in more.items():
        counts[key] += value


async def _progress(
    session: AsyncSession, job_id: str, processed: int, counts: dict[str, int]
) -> None:
    await session.execute(
        update(ImportJob)
        .where(ImportJob.id == job_id)
        .values(
            processed_rows=processed,
            created_count=counts["created"],
            updated_count=counts["updated"],
            unchanged_count=counts["unchanged"],
            lease_until=utcnow() + LEASE,
        )
    )


async def _finish(db: Database, job_id: str, *, status: str, message: str) -> None:
    async with db.session() as session:
        await session.execute(
            update(ImportJob)
            .where(ImportJob.id == job_id)
            .values(
                status=status,
                message=message,
                finished_at=utcnow(),
                content=None,
                lease_until=None,
            )
        )
