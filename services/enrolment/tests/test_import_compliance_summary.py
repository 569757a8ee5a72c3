"""A trainee import announces its compliance changes once, as one compliance.summarised with
the counts per requirement and status, even when the job is stopped and taken up again; the
trainees it changed are not announced one by one, and the compliance API lists them by
`changed_since`."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import select, update

from wps_common.db import Database, utcnow
from wps_common.events.contracts import ComplianceChanged, ComplianceSummarised
from wps_common.events.envelope import CloudEvent
from wps_common.testing import wait_until
from wps_enrolment.imports import run
from wps_enrolment.models import ImportJob, Requirement, outbox

from .conftest import Academy
from .test_imports import HEADER, hold_reading_after, run_partial_job

ROWS = 250  # three chunks of 100


def people(prefix: str, count: int) -> str:
    # Lieutenants fall under the requirement, the one Major in every ten does not.
    return HEADER + "".join(
        f"{prefix}{i:04d},Family{i},Given{i},F,{'Major' if i % 10 == 0 else 'Lieutenant'},"
        f"HQ,{'2020-01-01' if i % 2 else '2026-11-01'},ru\n"
        for i in range(count)
    )


async def add_requirement(db: Database) -> None:
    async with db.session() as session:
        session.add(
            Requirement(
                code="REQ-GHR",
                revision=1,
                active=True,
                track_code="GHR-FOUND",
                selector={"ranks": ["Lieutenant"]},
                grace_period_days=90,
                renewal_months=None,
                reminder_days=[30],
                title={"en": "Gender and human rights foundation"},
                created_on=date(2026, 1, 1),
                changed_at=datetime(2026, 1, 1, tzinfo=UTC),
            )
        )


async def events(db: Database, payload: type[Any]) -> list[CloudEvent]:
    async with db.reading() as session:
        bodies = await session.scalars(
            select(outbox.table.c.body)
            .where(outbox.table.c.event_type == payload.event_type())
            .order_by(outbox.table.c.id)
        )
        return [CloudEvent.model_validate_json(body) for body in bodies]


@pytest.fixture
async def db(academy: Academy) -> Any:
    database = Database(academy.database_url)
    await add_requirement(database)
    yield database
    await database.dispose()


async def test_an_import_announces_one_summary_and_no_change_per_trainee(
    academy: Academy, db: Database
) -> None:
    job = await academy.import_csv(people("A-", ROWS))
    assert (job["status"], job["created_count"]) == ("succeeded", ROWS), job

    [summary] = await events(db, ComplianceSummarised)
    assert summary.subject == f"import/{job['id']}"
    data = summary.data
    # Started in 2020: overdue after 90 days; started in November 2026: still in grace.
    assert (data["import_job_id"], data["academy_id"]) == (job["id"], academy.academy_id)
    assert data["changes"] == [
        {"requirement_code": "REQ-GHR", "status": "due", "count": 100},
        {"requirement_code": "REQ-GHR", "status": "overdue", "count": 125},
    ]
    assert data["transitions"] == 225
    assert await events(db, ComplianceChanged) == []

    # Who changed: the compliance API, from the summary's `changed_since`.
    since = quote(data["changed_since"])
    listed = await academy.client.get(
        f"/v1/compliance?changed_since={since}&limit=1", headers=academy.staff
    )
    assert listed.status_code == 200, listed.text
    assert listed.json()["total"] == 225
    later = quote((datetime.now(UTC) + timedelta(minutes=1)).isoformat())
    none = await academy.client.get(f"/v1/compliance?changed_since={later}", headers=academy.staff)
    assert none.json()["total"] == 0
    naive = await academy.client.get(
        "/v1/compliance?changed_since=2026-11-01T00:00:00", headers=academy.staff
    )
    assert naive.status_code == 422 and "changed_since" in naive.text

    # The same file again changes nobody: no second summary.
    again = await academy.import_csv(people("A-", ROWS))
    assert again["unchanged_count"] == ROWS
    assert len(await events(db, ComplianceSummarised)) == 1

    # A trainee changed one at a time is still announced one at a time.
    created = await academy.trainee("B-1", rank="Lieutenant", start_date="2020-01-01")
    [changed] = await events(db, ComplianceChanged)
    assert changed.data["trainee_id"] == created["id"]


async def test_a_job_stopped_and_taken_up_again_announces_its_changes_once(
    academy: Academy, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The file is read 500 lines at a time: four chunks of 100 (or more) are written, then the
    # reading waits at line 700 while the process stops.
    held = hold_reading_after(monkeypatch, 700)
    task = await run_partial_job(db, academy, "resumed-job", people("R-", 1200))

    async def first_chunk_written() -> bool:
        async with db.reading() as session:
            job = await session.get(ImportJob, "resumed-job")
            return job is not None and job.created_count >= 400

    await wait_until(first_chunk_written, timeout=30, what="the first chunks committed")
    task.cancel()  # the process stops mid-job: its lease lapses, the job stays `running`
    held.set()
    with pytest.raises(BaseException):  # noqa: B017 (cancelled)
        await task
    async with db.session() as session:
        job = await session.get(ImportJob, "resumed-job")
        assert job is not None and job.status == "running"
        # The chunks written so far (the reading thread may have gone on up to line 700):
        # of their first n people half started in 2020, and a tenth are Majors.
        n = job.created_count
        assert n % 100 == 0 and 400 <= n < 700
        assert job.compliance_changes == {"REQ-GHR": {"due": n // 2 - n // 10, "overdue": n // 2}}
        await session.execute(
            update(ImportJob)
            .where(ImportJob.id == "resumed-job")
            .values(lease_until=utcnow() - timedelta(seconds=1))
        )
    assert await events(db, ComplianceSummarised) == []  # nothing announced before the end

    await run(db, "resumed-job", chunk_rows=100)  # another replica takes it up

    async with db.reading() as session:
        job = await session.get(ImportJob, "resumed-job")
        assert job is not None and job.status == "succeeded"
    [summary] = await events(db, ComplianceSummarised)
    assert summary.data["changes"] == [
        {"requirement_code": "REQ-GHR", "status": "due", "count": 480},
        {"requirement_code": "REQ-GHR", "status": "overdue", "count": 600},
    ]
    assert await events(db, ComplianceChanged) == []
    await run(db, "resumed-job", chunk_rows=100)  # a finished job is not run again
    assert len(await events(db, ComplianceSummarised)) == 1
