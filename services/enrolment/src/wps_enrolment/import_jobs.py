"""Running an import job: claiming a queued (or abandoned) job under a lease, reading its file,
writing its valid rows a chunk at a time (`import_chunks`) with progress and lease renewal per
chunk, and the outcome a client polls. The compliance changes an import causes are counted in
the job's row with each chunk and announced once, as one compliance.summarised, by the
transaction that finishes the job (ADR 0030)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.db import Database, utcnow
from wps_common.errors import InvalidInput
from wps_common.events.contracts import ComplianceCount, ComplianceSummarised
from wps_enrolment.compliance import Counts
from wps_enrolment.import_chunks import upsert_chunk
from wps_enrolment.models import Academy, ImportJob, outbox
from wps_enrolment.trainee_csv import Parsed, read

log = logging.getLogger("wps.enrolment.imports")

MAX_REPORTED_ERRORS = 1000
LEASE = timedelta(minutes=2)  # renewed with every chunk


class LeaseLost(Exception):
    """Another runner took the job over: this one's lease had lapsed (it stalled longer than
    `LEASE`). What this runner was writing is rolled back, and it leaves the job alone."""


@dataclass(frozen=True)
class _Held:
    """A job as one runner holds it: a claim sets `started_at`, so a later claim by another
    runner (after this one's lease lapsed) changes it, and this runner's writes find no row."""

    id: str
    since: datetime

    def update(self) -> Any:
        return update(ImportJob).where(ImportJob.id == self.id, ImportJob.started_at == self.since)


async def _update_held(session: AsyncSession, held: _Held, **values: Any) -> None:
    """Update the job if this runner still holds it; else LeaseLost (the transaction with what
    it wrote is rolled back by the caller's session)."""
    result = cast(CursorResult[Any], await session.execute(held.update().values(**values)))
    if result.rowcount == 0:
        raise LeaseLost(f"import {held.id} was taken over by another runner")


async def _claim(db: Database, job_id: str) -> tuple[_Held, str, str, str, str] | None:
    """Take a queued job (or one whose runner's lease lapsed): the hold on it, its file,
    academy, mode and actor."""
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
        return _Held(job.id, now), job.content or "", job.academy_id, job.mode, job.created_by


async def run(
    db: Database, job_id: str, *, chunk_rows: int, clock: Callable[[], datetime] = utcnow
) -> None:
    """Execute a queued import. Partial mode commits a chunk at a time (progress is real),
    starting on the first rows while the rest of the file is read; all-or-nothing reads the
    whole file first and writes everything in one transaction, and nothing when a row is bad."""
    claimed = await _claim(db, job_id)
    if claimed is None:
        return
    job, text, academy_id, mode, actor = claimed
    reading = _Reading(text)
    try:
        if mode == "all_or_nothing":
            parsed = await reading.whole()
            async with db.session() as session:
                await _report(session, job, parsed, written=0)
            if parsed.errors:
                bad = len(parsed.errors)
                message = f"{bad} bad row(s); nothing was imported (mode all_or_nothing)."
                await _finish(db, job, status="failed", message=message)
                return
            counts = await _write_all(db, job, parsed, academy_id, actor, chunk_rows, clock)
        else:
            counts = await _write_chunks(db, job, reading, academy_id, actor, chunk_rows, clock)
    except LeaseLost:
        log.warning("import %s: taken over by another runner; this one stops", job_id)
        return
    except InvalidInput as exc:  # the file cannot be read as an import
        await _finish(db, job, status="failed", message=exc.detail)
        return
    except Exception as exc:  # the job must end in a state a client can read
        log.exception("import %s failed", job_id)
        await _finish(db, job, status="failed", message=f"The import stopped: {exc!r}"[:2000])
        return
    finally:
        reading.stop()
    message = (
        f"{counts['created']} created, {counts['updated']} updated, {counts['unchanged']} unchanged"
    )
    if reading.parsed is not None and reading.parsed.errors:
        message += f"; {len(reading.parsed.errors)} bad row(s) skipped"
    await _finish(db, job, status="succeeded", message=message + ".")


async def _write_all(
    db: Database,
    job: _Held,
    parsed: Parsed,
    academy_id: str,
    actor: str,
    chunk_rows: int,
    clock: Callable[[], datetime],
) -> dict[str, int]:
    """Upsert every row chunk by chunk in one transaction (all-or-nothing)."""
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    chunks = [parsed.rows[i : i + chunk_rows] for i in range(0, len(parsed.rows), chunk_rows)]
    statistics = _Statistics(db.is_postgresql)
    texts: dict[int, str] = {}  # search texts computed ahead (see `upsert_chunk`)
    nexts = [*chunks[1:], []][: len(chunks)]  # each chunk's successor (none for the last)
    changes: Counts = {}
    async with db.session() as session:
        academy = await session.get(Academy, academy_id)
        assert academy is not None
        for chunk, ahead in zip(chunks, nexts, strict=True):
            await statistics.refresh(session, counts["created"])
            _add(
                counts,
                await upsert_chunk(
                    session,
                    academy,
                    chunk,
                    parsed.columns,
                    actor,
                    clock(),
                    (texts, ahead),
                    compliance_counts=changes,
                ),
            )
        await _progress(session, job, len(parsed.rows) + len(parsed.errors), counts, changes)
    return counts


async def _write_chunks(
    db: Database,
    job: _Held,
    reading: _Reading,
    academy_id: str,
    actor: str,
    chunk_rows: int,
    clock: Callable[[], datetime],
) -> dict[str, int]:
    """Upsert the valid rows a chunk at a time, one transaction each, as they are read. The
    file's rows and errors are reported once it has been read to its end; until then the job
    shows no total and no rows processed, as while a whole file was read first."""
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    statistics = _Statistics(db.is_postgresql)
    texts: dict[int, str] = {}  # search texts computed ahead (see `upsert_chunk`)
    written, reported = 0, False
    while chunk := await reading.rows(written, chunk_rows):
        ahead = reading.read_so_far(written + len(chunk), chunk_rows)
        async with db.session() as session:
            await statistics.refresh(session, counts["created"])
            academy = await session.get(Academy, academy_id)
            assert academy is not None
            columns = reading.columns
            changes: Counts = {}  # this chunk's, added to the job's in its transaction
            at = clock()
            _add(
                counts,
                await upsert_chunk(
                    session,
                    academy,
                    chunk,
                    columns,
                    actor,
                    at,
                    (texts, ahead),
                    compliance_counts=changes,
                ),
            )
            written += len(chunk)
            parsed = reading.parsed if reading.finished else None
            if parsed is not None and not reported:
                await _report(session, job, parsed, written=written)
                reported = True
            await _progress(session, job, _processed(parsed, written), counts, changes)
    if not reported:  # nothing valid to write (or the last chunk ended the file)
        assert reading.parsed is not None
        async with db.session() as session:
            await _report(session, job, reading.parsed, written=written)
    return counts


def _processed(parsed: Parsed | None, written: int) -> int:
    return 0 if parsed is None else len(parsed.errors) + written


async def _report(session: AsyncSession, job: _Held, parsed: Parsed, *, written: int) -> None:
    """The file's rows and row-level errors, once it has been read to its end."""
    errors = [e.as_dict() for e in parsed.errors]
    await _update_held(
        session,
        job,
        total_rows=parsed.total,
        error_count=len(errors),
        errors=errors[:MAX_REPORTED_ERRORS],
        processed_rows=len(errors) + written,
    )


class _Reading:
    """The file read in a worker thread (`trainee_csv.read`) while the rows read so far are
    written: a chunk is written as soon as it has been read, beside the reading of the rest."""

    def __init__(self, text: str) -> None:
        self.parsed: Parsed | None = None  # grows while the file is read
        self._more = asyncio.Event()
        self._stopping = False
        loop = asyncio.get_running_loop()
        self._task = asyncio.ensure_future(asyncio.to_thread(self._read, text, loop))

    def _read(self, text: str, loop: asyncio.AbstractEventLoop) -> None:
        for parsed in read(text):
            self.parsed = parsed
            loop.call_soon_threadsafe(self._more.set)
            if self._stopping:
                return

    @property
    def finished(self) -> bool:
        return self._task.done() and self._task.exception() is None

    @property
    def columns(self) -> list[str]:
        return self.parsed.columns if self.parsed is not None else []

    async def whole(self) -> Parsed:
        await self._task  # raises InvalidInput for a file that cannot be imported
        assert self.parsed is not None
        return self.parsed

    async def rows(self, start: int, count: int) -> list[tuple[int, dict[str, Any]]]:
        """The valid rows from `start`, `count` of them (fewer at the end, none past it)."""
        while not self._task.done():
            if self.parsed is not None and len(self.parsed.rows) >= start + count:
                break
            self._more.clear()
            more = asyncio.ensure_future(self._more.wait())
            await asyncio.wait((self._task, more), return_when=asyncio.FIRST_COMPLETED)
            more.cancel()
        if self._task.done():
            self._task.result()  # the reading's error, e.g. a header without rows
        return self.read_so_far(start, count)

    def read_so_far(self, start: int, count: int) -> list[tuple[int, dict[str, Any]]]:
        return [] if self.parsed is None else self.parsed.rows[start : start + count]

    def stop(self) -> None:
        """Stop reading after the piece under way (the job ended or was cancelled)."""
        self._stopping = True


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
    session: AsyncSession,
    job: _Held,
    processed: int,
    counts: dict[str, int],
    changes: Counts | None = None,
) -> None:
    """Progress, and the lease renewed, in the chunk's transaction (LeaseLost undoes it); the
    chunk's compliance changes are added to the job's, so a job taken up again after a crash
    (whose written rows are then unchanged, and not evaluated again) counts each change once."""
    values: dict[str, Any] = {}
    if changes:
        stored = await session.scalar(
            select(ImportJob.compliance_changes).where(ImportJob.id == job.id)
        )
        values["compliance_changes"] = _merged(stored or {}, changes)
    await _update_held(
        session,
        job,
        processed_rows=processed,
        created_count=counts["created"],
        updated_count=counts["updated"],
        unchanged_count=counts["unchanged"],
        lease_until=utcnow() + LEASE,
        **values,
    )


def _merged(stored: Counts, more: Counts) -> Counts:
    merged = {code: dict(by_status) for code, by_status in stored.items()}
    for code, by_status in more.items():
        into = merged.setdefault(code, {})
        for status, n in by_status.items():
            into[status] = into.get(status, 0) + n
    return merged


async def _announce(session: AsyncSession, job: _Held) -> None:
    """One compliance.summarised for the job's compliance changes, if it made any, in the
    transaction that finishes it (so exactly once: a job is finished once)."""
    row = (
        await session.execute(
            select(ImportJob.academy_id, ImportJob.created_at, ImportJob.compliance_changes).where(
                ImportJob.id == job.id
            )
        )
    ).one()
    changes = [
        ComplianceCount(requirement_code=code, status=status, count=n)
        for code, by_status in sorted((row.compliance_changes or {}).items())
        for status, n in sorted(by_status.items())
        if n > 0
    ]
    if changes:
        await outbox.add(
            session,
            ComplianceSummarised(
                import_job_id=job.id,
                academy_id=row.academy_id,
                changes=changes,
                transitions=sum(c.count for c in changes),
                changed_since=row.created_at,
                summarised_at=utcnow(),
            ),
        )


async def _finish(db: Database, job: _Held, *, status: str, message: str) -> None:
    """The outcome, unless another runner holds the job by now (then it reports its own)."""
    try:
        async with db.session() as session:
            await _update_held(
                session,
                job,
                status=status,
                message=message,
                finished_at=utcnow(),
                content=None,
                lease_until=None,
            )
            await _announce(session, job)
    except LeaseLost:
        log.warning("import %s: taken over by another runner before it ended here", job.id)
