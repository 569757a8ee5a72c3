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
    # A sentence with an example, not the validator's wording.
    assert "2026-11-24T00:00:00Z" in naive.json()["detail"]
    assert "timezone info" not in naive.text
    # A bare day is the start of that day in UTC.
    today = datetime.now(UTC).date().isoformat()
    by_day = await academy.client.get(
        f"/v1/compliance?changed_since={today}&limit=1", headers=academy.staff
    )
    assert by_day.status_code == 200, by_day.text
    assert by_day.json()["total"] == 225

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


async def test_a_requirement_that_stops_applying_is_announced_counted_and_listed(
    academy: Academy, db: Database
) -> None:
    """HR hears when a requirement stops applying to someone (deactivated, or no longer of
    its ranks): `not_applicable`, counted in the import's summary, listed by `changed_since`,
    and announced one at a time when a trainee is changed on their own."""
    first = await academy.import_csv(people("W-", 20))  # 18 Lieutenants, 2 Majors
    assert first["created_count"] == 20
    # The second file: W-0001..W-0003 leave (active false), W-0004 becomes a Major.
    rows = HEADER.rstrip("\n") + ",Active\n"
    for i in range(20):
        rank = "Major" if i % 10 == 0 or i == 4 else "Lieutenant"
        start = "2020-01-01" if i % 2 else "2026-11-01"
        active = "false" if i in (1, 2, 3) else "true"
        rows += f"W-{i:04d},Family{i},Given{i},F,{rank},HQ,{start},ru,{active}\n"
    second = await academy.import_csv(rows)
    assert second["updated_count"] == 4, second
    summaries = await events(db, ComplianceSummarised)
    assert len(summaries) == 2
    data = summaries[-1].data
    assert data["changes"] == [
        {"requirement_code": "REQ-GHR", "status": "not_applicable", "count": 4}
    ]
    assert data["transitions"] == 4
    since = quote(data["changed_since"])
    listed = await academy.client.get(
        f"/v1/compliance?changed_since={since}&limit=2", headers=academy.staff
    )
    assert listed.status_code == 200, listed.text
    page = listed.json()
    items = list(page["items"])
    while page["next_cursor"]:
        page = (
            await academy.client.get(
                f"/v1/compliance?changed_since={since}&limit=2&cursor={page['next_cursor']}",
                headers=academy.staff,
            )
        ).json()
        items += page["items"]
    assert len(items) == 4
    assert {(i["employee_number"], i["status"], i["due_on"]) for i in items} == {
        (f"W-{n:04d}", "not_applicable", None) for n in (1, 2, 3, 4)
    }
    only = await academy.client.get(
        f"/v1/compliance?changed_since={since}&status=not_applicable", headers=academy.staff
    )
    assert only.json()["total"] == 4
    others = await academy.client.get(
        f"/v1/compliance?changed_since={since}&status=overdue", headers=academy.staff
    )
    assert others.json()["total"] == 0
    # Without changed_since the list holds the records that apply, as before.
    assert (await academy.client.get("/v1/compliance", headers=academy.staff)).json()["total"] == 14

    # One trainee changed on their own: one compliance.changed saying so.
    [five] = (await academy.client.get("/v1/trainees?q=W-0005", headers=academy.staff)).json()[
        "items"
    ]
    patched = await academy.client.patch(
        f"/v1/trainees/{five['id']}", json={"rank": "Major"}, headers=academy.staff
    )
    assert patched.status_code == 200, patched.text
    [changed] = await events(db, ComplianceChanged)
    assert (changed.data["status"], changed.data["previous_status"]) == (
        "not_applicable",
        "overdue",
    )
    assert changed.data["due_on"] is None
