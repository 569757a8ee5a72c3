"""Bulk trainee import from an HR export (CSV) as a pollable job, and the CSV export: what the
API asks of imports. Reading the file is `trainee_csv`'s, running the job `import_jobs`' (a chunk's
writing `import_chunks`', the in-process runner `import_runner`')."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from wps_common.auth import Principal
from wps_common.errors import NotFound
from wps_common.tenancy import in_academy
from wps_enrolment.academies import get_academy
from wps_enrolment.import_jobs import run
from wps_enrolment.import_runner import ImportRunner
from wps_enrolment.models import Academy, ImportJob, Trainee
from wps_enrolment.trainee_csv import COLUMNS, Parsed, check_text, parse, write_csv

# The runner and the file's reader stay importable from here, where imports are asked for.
__all__ = ["ImportRunner", "Parsed", "export", "get_job", "parse", "run", "submit"]


async def submit(
    session: AsyncSession, *, academy_id: str, text: str, mode: str, who: Principal
) -> ImportJob:
    """Check the header now (a file that cannot be imported is a 422 at once), queue the job."""
    await get_academy(session, academy_id=academy_id, who=who)
    check_text(text)
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
    """A job as a client polls it: without its file (a 100,000-row file is 2.4 MB, which
    PostgreSQL would read and decompress for every poll while the job runs)."""
    job = await session.get(ImportJob, job_id, options=[defer(ImportJob.content, raiseload=True)])
    if job is None:
        raise NotFound("No such import.")
    who.check_academy(job.academy_id, "import")
    return job


async def export(session: AsyncSession, *, academy_id: str, who: Principal) -> str:
    """Every trainee of the academy in the import's own shape (a file that re-imports as is)."""
    who.check_academy(academy_id, "academy")
    if await session.get(Academy, academy_id) is None:
        raise NotFound("No such academy.")
    stmt = select(*(getattr(Trainee, c) for c in COLUMNS))
    stmt = in_academy(stmt, Trainee.academy_id, academy_id).order_by(
        Trainee.employee_number, Trainee.id
    )
    rows = (await session.execute(stmt)).all()
    return await asyncio.to_thread(write_csv, rows)
