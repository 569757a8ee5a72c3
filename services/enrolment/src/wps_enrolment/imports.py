"""Bulk trainee import from an HR export (CSV) as a pollable job, and the CSV export.

Parsing and validation are pure and run in a worker thread; the database work is batched
(one lookup, one insert and one update statement per chunk of rows), never a query per row.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.auth import Principal
from wps_common.db import Database, new_id, utcnow
from wps_common.errors import InvalidInput, NotFound
from wps_common.fields import from_spreadsheet, spreadsheet_safe
from wps_common.metrics import ServiceMetrics
from wps_common.runtime import ServiceRuntime
from wps_enrolment import compliance
from wps_enrolment.models import Academy, AuditEntry, ImportJob, Trainee, outbox
from wps_enrolment.schemas import TraineeCreate
from wps_enrolment.service import get_academy, profile_event

log = logging.getLogger("wps.enrolment.imports")

# The columns of the file, in export order. Header names are matched case-insensitively,
# spaces and dashes count as underscores, and a few common HR spellings are understood.
COLUMNS = (
    "employee_number",
    "family_name",
    "given_name",
    "preferred_language",
    "gender",
    "rank",
    "role",
    "unit",
    "agency",
    "start_date",
    "active",
)
REQUIRED = ("employee_number", "family_name", "given_name")
ALIASES = {
    "service_number": "employee_number",
    "personnel_number": "employee_number",
    "employee_id": "employee_number",
    "surname": "family_name",
    "last_name": "family_name",
    "first_name": "given_name",
    "forename": "given_name",
    "language": "preferred_language",
    "sex": "gender",
    "position": "role",
    "department": "unit",
    "organisation": "agency",
    "organization": "agency",
    "hire_date": "start_date",
    "start": "start_date",
}
GENDERS = {
    "f": "female",
    "female": "female",
    "m": "male",
    "male": "male",
    "o": "other",
    "other": "other",
    "u": "undisclosed",
    "x": "undisclosed",
    "undisclosed": "undisclosed",
}
BOOLEANS = {
    "true": True,
    "yes": True,
    "1": True,
    "y": True,
    "false": False,
    "no": False,
    "0": False,
    "n": False,
}
MAX_REPORTED_ERRORS = 1000
LEASE = timedelta(minutes=2)  # renewed with every chunk
RECOVERY_SECONDS = 30.0
_trainee = TypeAdapter(TraineeCreate)
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def header_map(header: Sequence[str]) -> dict[int, str]:
    """Column index → field; raises InvalidInput when the header cannot be used at all."""
    found: dict[int, str] = {}
    seen: set[str] = set()
    for index, raw in enumerate(header):
        name = raw.strip().lstrip("\ufeff").lower().replace(" ", "_").replace("-", "_")
        name = ALIASES.get(name, name)
        if name in COLUMNS:
            if name in seen:
                raise InvalidInput(f"Column {name} appears twice in the header.", field="file")
            seen.add(name)
            found[index] = name
    missing = [c for c in REQUIRED if c not in seen]
    if missing:
        raise InvalidInput(
            "The CSV header lacks the required column(s) "
            + ", ".join(missing)
            + f"; found: {', '.join(h.strip() for h in header) or 'nothing'}.",
            field="file",
        )
    return found


def _parse_date(text: str) -> date:
    for fmt in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not a date (use YYYY-MM-DD or DD.MM.YYYY)")


@dataclass
class RowError:
    row: int
    column: str | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "reason": self.reason}


@dataclass
class Parsed:
    """Valid rows (line number, field values present in the file) and row-level errors."""

    columns: list[str]
    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    total: int = 0


def _reader(text: str) -> Any:
    # newline="": a bare CR (old Mac files) ends a line as CRLF and LF do, instead of being a
    # character inside a field that the csv module refuses.
    return csv.reader(io.StringIO(text, newline=""))


def parse(text: str) -> Parsed:
    """Read and validate the whole file; CPU only (run it in a thread)."""
    reader = _reader(text)
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidInput("The CSV file is empty.", field="file") from None
    except csv.Error as exc:
        raise InvalidInput(f"The CSV header cannot be read: {exc}.", field="file") from None
    columns = header_map(header)
    parsed = Parsed(columns=list(columns.values()))
    first_seen: dict[str, int] = {}
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            parsed.total += 1
            parsed.errors.append(RowError(reader.line_num, None, f"unreadable CSV: {exc}"))
            continue
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue  # blank lines are not rows
        parsed.total += 1
        if len(cells) > len(header):
            parsed.errors.append(
                RowError(line, None, f"{len(cells)} cells but the header has {len(header)}")
            )
            continue
        raw = {
            name: from_spreadsheet(cells[i].strip()) if i < len(cells) else ""
            for i, name in columns.items()
        }
        row_errors, values = _row(raw, line)
        if not row_errors:
            number = values["employee_number"]
            if number in first_seen:
                row_errors.append(
                    RowError(
                        line,
                        "employee_number",
                        f"{number} already appears on row {first_seen[number]}",
                    )
                )
            else:
                first_seen[number] = line
        if row_errors:
            parsed.errors.extend(row_errors)
        else:
            parsed.rows.append((line, values))
    if parsed.total == 0:
        raise InvalidInput("The CSV file has a header but no rows.", field="file")
    return parsed


def _row(raw: dict[str, str], line: int) -> tuple[list[RowError], dict[str, Any]]:
    errors: list[RowError] = []
    values: dict[str, Any] = {}
    for name, text in raw.items():
        if name == "gender":
            if text:
                gender = GENDERS.get(text.lower())
                if gender is None:
                    errors.append(
                        RowError(
                            line, name, f"{text!r} is not one of female, male, other, undisclosed"
                        )
                    )
                values[name] = gender
            else:
                values[name] = None
        elif name == "start_date":
            try:
                values[name] = _parse_date(text) if text else None
            except ValueError as exc:
                errors.append(RowError(line, name, str(exc)))
        elif name == "active":
            if text and text.lower() not in BOOLEANS:
                errors.append(RowError(line, name, f"{text!r} is not true/false"))
            values[name] = BOOLEANS.get(text.lower(), True)
        elif name == "preferred_language":
            values[name] = text.lower() or "en"
        else:
            values[name] = text or None
    if errors:
        return errors, values
    try:
        _trainee.validate_python(
            {
                "academy_id": "-",
                **{k: v for k, v in values.items() if k != "active" and v is not None},
            }
        )
    except ValidationError as exc:
        for problem in exc.errors():
            column = str(problem["loc"][0]) if problem["loc"] else None
            reason = "required" if problem["type"] == "missing" else problem["msg"]
            errors.append(RowError(line, column, reason))
    return errors, values


async def submit(
    session: AsyncSession, *, academy_id: str, text: str, mode: str, who: Principal
) -> ImportJob:
    """Check the header now (a file that cannot be imported is a 422 at once), queue the job."""
    await get_academy(session, academy_id=academy_id, who=who)
    unstorable = _UNSTORABLE.search(text)
    if unstorable:
        # No database keeps these in text; a file full of NULs is usually UTF-16 sent as UTF-8.
        line = text.count("\n", 0, unstorable.start()) + 1
        what = "a NUL character" if unstorable.group() == "\x00" else "an unpaired surrogate"
        raise InvalidInput(
            f"The file contains {what} on line {line}, so it is not a text CSV (is it UTF-16 "
            "or a spreadsheet? Save it as CSV in UTF-8, or name its charset in the "
            "Content-Type).",
            field="file",
        )
    try:
        header = next(_reader(text), None)
    except csv.Error as exc:
        raise InvalidInput(f"The CSV header cannot be read: {exc}.", field="file") from None
    if not header:
        raise InvalidInput("The CSV file is empty.", field="file")
    header_map(header)
    job = ImportJob(
        academy_id=academy_id,
        mode=mode,
        status="queued",
        content=text,
        errors=[],
        created_by=who.subject,
    )
    session.add(job)
    await session.flush()
    return job


async def get_job(session: AsyncSession, *, job_id: str, who: Principal) -> ImportJob:
    job = await session.get(ImportJob, job_id)
    if job is None:
        raise NotFound("No such import.")
    who.check_academy(job.academy_id, "import")
    return job


async def run(db: Database, job_id: str, *, chunk_rows: int, today: date) -> None:
    """Execute a queued import. Partial mode commits a chunk at a time (progress is real);
    all-or-nothing writes everything in one transaction, and nothing when a row is bad."""
    async with db.session() as session:
        job = await session.scalar(
            select(ImportJob).where(ImportJob.id == job_id).with_for_update(skip_locked=True)
        )
        now = utcnow()
        if job is None or not (
            job.status == "queued"
            or (job.status == "running" and job.lease_until is not None and job.lease_until < now)
        ):
            return  # done, or running under a live lease elsewhere
        job.status, job.started_at, job.lease_until = "running", now, now + LEASE
        text, academy_id, mode, actor = job.content or "", job.academy_id, job.mode, job.created_by
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
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    chunks = [parsed.rows[i : i + chunk_rows] for i in range(0, len(parsed.rows), chunk_rows)]
    try:
        if mode == "all_or_nothing":
            async with db.session() as session:
                academy = await session.get(Academy, academy_id)
                assert academy is not None
                for chunk in chunks:
                    _add(
                        counts, await _upsert(session, academy, chunk, parsed.columns, actor, today)
                    )
                await _progress(session, job_id, len(parsed.rows) + len(errors), counts)
        else:
            done = len(errors)
            for chunk in chunks:
                async with db.session() as session:
                    academy = await session.get(Academy, academy_id)
                    assert academy is not None
                    _add(
                        counts, await _upsert(session, academy, chunk, parsed.columns, actor, today)
                    )
                    done += len(chunk)
                    await _progress(session, job_id, done, counts)
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
) -> dict[str, int]:
    """Insert new employee numbers, update changed ones: one statement of each per chunk."""
    numbers = [values["employee_number"] for _, values in rows]
    existing = {
        t.employee_number: t
        for t in (
            await session.scalars(
                select(Trainee).where(
                    Trainee.academy_id == academy.id, Trainee.employee_number.in_(numbers)
                )
            )
        ).all()
    }
    now = utcnow()
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    audits: list[dict[str, Any]] = []
    touched: list[Trainee] = []
    unchanged = 0
    for _, values in rows:
        current = existing.get(values["employee_number"])
        if current is None:
            record: dict[str, Any] = dict.fromkeys(COLUMNS)
            record |= {"preferred_language": "en", "active": True}
            record |= values
            record |= {
                "id": new_id(),
                "academy_id": academy.id,
                "created_at": now,
                "updated_at": now,
            }
            inserts.append(record)
            audits.append(_audit(academy.id, record["id"], "created", actor, values, now))
            continue
        changes = {c: values[c] for c in columns if values[c] != getattr(current, c)}
        if not changes:
            unchanged += 1
            continue
        updates.append({"id": current.id, "updated_at": now, **changes})
        audits.append(_audit(academy.id, current.id, "imported", actor, changes, now))
    if inserts:
        await session.execute(insert(Trainee), inserts)
    for change in _same_keys(updates):
        await session.execute(update(Trainee), change)
    if audits:
        await session.execute(insert(AuditEntry), audits)
    changed_ids = [r["id"] for r in inserts] + [u["id"] for u in updates]
    if changed_ids:
        # populate_existing: the bulk updates above went around the identity map.
        touched = list(
            (
                await session.scalars(
                    select(Trainee)
                    .where(Trainee.id.in_(changed_ids))
                    .execution_options(populate_existing=True)
                )
            ).all()
        )
        await outbox.add_many(session, [profile_event(t, academy) for t in touched])
        await compliance.evaluate(session, today=today, trainee_ids=changed_ids)
    return {"created": len(inserts), "updated": len(updates), "unchanged": unchanged}


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

    def stop(self) -> None:
        # An interrupted job keeps its file and its lapsing lease: `recover` takes it up again.
        for task in self.tasks:
            task.cancel()

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
    return {
        "academy_id": academy_id,
        "entity": "trainee",
        "entity_id": trainee_id,
        "action": action,
        "actor": actor,
        "changes": {k: v.isoformat() if isinstance(v, date) else v for k, v in changes.items()},
        "at": at,
    }


async def export(session: AsyncSession, *, academy_id: str, who: Principal) -> str:
    """Every trainee of the academy in the import's own shape (a file that re-imports as is)."""
    who.check_academy(academy_id, "academy")
    if await session.get(Academy, academy_id) is None:
        raise NotFound("No such academy.")
    rows = (
        await session.execute(
            select(*(getattr(Trainee, c) for c in COLUMNS))
            .where(Trainee.academy_id == academy_id)
            .order_by(Trainee.employee_number, Trainee.id)
        )
    ).all()
    return await asyncio.to_thread(_write_csv, rows)


def _write_csv(rows: Sequence[Any]) -> str:
    """Text cells that a spreadsheet would run as formulas get a leading `'` (`parse` drops it
    again, so the file still re-imports as it was)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(
            [
                ("true" if v else "false")
                if isinstance(v, bool)
                else v.isoformat()
                if isinstance(v, date)
                else ("" if v is None else spreadsheet_safe(v))
                for v in row
            ]
        )
    return out.getvalue()
