"""Running import jobs: claiming a queued (or abandoned) job under a lease, upserting its valid
rows a chunk at a time (one lookup, one insert and one update statement per chunk, never a query
per row), progress and the outcome a client polls, and the in-process runner that recovers jobs
after a restart."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Row, Table, and_, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.audit import entry_values
from wps_common.db import Database, new_id, utcnow
from wps_common.errors import InvalidInput
from wps_common.events.contracts import TraineeProfileChanged
from wps_common.events.outbox import insert_rows
from wps_common.metrics import ServiceMetrics
from wps_common.runtime import ServiceRuntime
from wps_common.tenancy import in_academy
from wps_enrolment import compliance
from wps_enrolment.models import (
    SEARCHED,
    Academy,
    AuditEntry,
    ImportJob,
    Requirement,
    Trainee,
    outbox,
    trainee_search_text,
)
from wps_enrolment.trainee_csv import COLUMNS, Parsed, parse

log = logging.getLogger("wps.enrolment.imports")

MAX_REPORTED_ERRORS = 1000
LEASE = timedelta(minutes=2)  # renewed with every chunk
RECOVERY_SECONDS = 30.0
STOP_SECONDS = 10.0  # for a cancelled job to roll back its chunk


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
    texts: dict[int, str] = {}  # search texts computed ahead (see `_upsert`)
    nexts = [*chunks[1:], []][: len(chunks)]  # each chunk's successor (none for the last)
    if mode == "all_or_nothing":
        async with db.session() as session:
            academy = await session.get(Academy, academy_id)
            assert academy is not None
            for chunk, ahead in zip(chunks, nexts, strict=True):
                await statistics.refresh(session, counts["created"])
                _add(
                    counts,
                    await _upsert(
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
                await _upsert(
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


async def _upsert(
    session: AsyncSession,
    academy: Academy,
    rows: list[tuple[int, dict[str, Any]]],
    columns: list[str],
    actor: str,
    today: date,
    ahead: tuple[dict[int, str], list[tuple[int, dict[str, Any]]]] = ({}, []),
) -> dict[str, int]:
    """Insert new employee numbers, update changed ones: one statement of each per chunk.
    Core statements on the tables, every row with every column: one multi-row INSERT per
    batch (the ORM's bulk insert splits rows into a statement per pattern of NULLs), and the
    events are built from the rows in hand, not read back."""
    numbers = [values["employee_number"] for _, values in rows]
    # Plain rows, not ORM objects: nothing stale stays in the identity map after the UPDATEs
    # below, so compliance (and anyone later in this session) reads the new values.
    stmt = select(*_TRAINEES.c).where(_TRAINEES.c.employee_number.in_(numbers))
    existing = {
        t.employee_number: t
        for t in (await session.execute(in_academy(stmt, _TRAINEES.c.academy_id, academy.id)))
    }
    texts, coming = ahead
    plan = _Plan(texts)
    now = utcnow()
    for _, values in rows:
        plan.add(academy.id, existing.get(values["employee_number"]), values, columns, actor, now)
    # The chunk's events, and the search texts of the next chunk's rows as they would be
    # inserted, are built in a thread while the database writes this chunk's trainees (the
    # driver steps SQLite and awaits PostgreSQL without holding the GIL); nothing in the thread
    # touches the session.
    facts = (academy.id, academy.code, academy.name)
    events = asyncio.ensure_future(
        asyncio.to_thread(_work_ahead, plan.profiles, facts, now, coming, texts)
    )
    try:
        if plan.inserts:
            await insert_rows(session, _TRAINEES, plan.inserts)
    except BaseException:
        events.cancel()
        raise
    events_rows = await events
    for change in _same_keys(plan.updates):
        await session.execute(update(Trainee), change)
    if plan.audits:
        await insert_rows(session, _AUDIT, plan.audits)
    if plan.profiles:
        await outbox.add_rows(session, events_rows)
        # Without a requirement there is nothing to evaluate (evaluate would read the chunk's
        # trainees back to find that out).
        if await session.scalar(select(Requirement.code).limit(1)) is not None:
            changed_ids = [p["id"] for p in plan.profiles]
            await compliance.evaluate(session, today=today, trainee_ids=changed_ids)
    return {"created": len(plan.inserts), "updated": len(plan.updates), "unchanged": plan.unchanged}


_TRAINEES = cast(Table, Trainee.__table__)
_AUDIT = cast(Table, AuditEntry.__table__)
# What a trainee.profile_changed event is built from.
_PROFILE = ("id", "employee_number", "given_name", "family_name", "preferred_language", "active")


def _work_ahead(
    profiles: list[dict[str, Any]],
    academy: tuple[str, str, str],
    now: datetime,
    coming: list[tuple[int, dict[str, Any]]],
    texts: dict[int, str],
) -> list[dict[str, Any]]:
    """This chunk's outbox rows; meanwhile the search text each row of the next chunk gets if
    it is inserted (by the identity of its values; an update computes its own)."""
    for _, values in coming:
        texts[id(values)] = trainee_search_text({k: values.get(k) for k in SEARCHED})
    return outbox.rows([_profile_event(p, academy, now) for p in profiles])


def _profile_event(
    profile: dict[str, Any], academy: tuple[str, str, str], now: datetime
) -> TraineeProfileChanged:
    # The event profiles.profile_event builds from a Trainee, built from the row in hand.
    academy_id, code, name = academy
    return TraineeProfileChanged(
        trainee_id=profile["id"],
        academy_id=academy_id,
        academy_code=code,
        academy_name=name,
        employee_number=profile["employee_number"],
        given_name=profile["given_name"],
        family_name=profile["family_name"],
        preferred_language=profile["preferred_language"],
        active=profile["active"],
        changed_at=now,
    )


@dataclass
class _Plan:
    """The statements one chunk needs: rows to insert, to update, their audit entries, and
    each changed trainee's profile as it now is (for its event)."""

    texts: dict[int, str] = field(default_factory=dict)  # search texts computed ahead
    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    audits: list[dict[str, Any]] = field(default_factory=list)
    profiles: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0

    def add(
        self,
        academy_id: str,
        current: Row[Any] | None,
        values: dict[str, Any],
        columns: list[str],
        actor: str,
        now: datetime,
    ) -> None:
        if current is None:
            record: dict[str, Any] = dict.fromkeys(COLUMNS)
            record |= {"preferred_language": "en", "active": True}
            record |= values
            record |= {
                "id": new_id(),
                "academy_id": academy_id,
                "created_at": now,
                "updated_at": now,
            }
            known = self.texts.pop(id(values), None)
            record["search_text"] = trainee_search_text(record) if known is None else known
            self.inserts.append(record)
            self.audits.append(_audit(academy_id, record["id"], "created", actor, values, now))
            self.profiles.append({k: record[k] for k in _PROFILE})
            return
        changes = {c: values[c] for c in columns if values[c] != getattr(current, c)}
        if not changes:
            self.unchanged += 1
            return
        changed = {"id": current.id, "updated_at": now, **changes}
        if any(name in changes for name in SEARCHED):  # a bulk UPDATE runs no ORM listener
            changed["search_text"] = trainee_search_text({**current._asdict(), **changes})
        self.updates.append(changed)
        self.audits.append(_audit(academy_id, current.id, "imported", actor, changes, now))
        self.profiles.append({k: changes.get(k, getattr(current, k)) for k in _PROFILE})


class ImportRunner:
    """Runs submitted imports in this process, after the request that queued them committed."""

    def __init__(
        self,
        db: Callable[[], Database],
        today: Callable[[], date],
        chunk_rows: int,
        metrics: ServiceMetrics | None = None,
    ):
        self.db, self.today, self.chunk_rows = db, today, chunk_rows
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
        await run(self.db(), job_id, chunk_rows=self.chunk_rows, today=self.today())
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


def _same_keys(rows: list[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
    """Bulk UPDATE by primary key needs the same columns in every row of one statement."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    return groups.values()


def _audit(
    academy_id: str, trainee_id: str, action: str, actor: str, changes: dict[str, Any], at: datetime
) -> dict[str, Any]:
    values = entry_values(
        academy_id=academy_id,
        entity="trainee",
        entity_id=trainee_id,
        action=action,
        actor=actor,
        changes=changes,
        at=at,
    )
    # A job may run in another process after a restart, where no token is at hand: its entries
    # name the subject only, whichever process runs it.
    return values | {"actor_name": None}
