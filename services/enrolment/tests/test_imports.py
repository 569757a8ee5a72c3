"""Bulk import from an HR CSV export: row-level errors, upsert, modes, export, and events."""

from __future__ import annotations

import asyncio
import csv
import io
import threading
import time
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy import text as sql

from wps_common.db import Database
from wps_common.testing import EventTap
from wps_enrolment.imports import parse
from wps_enrolment.models import AuditEntry, Trainee, outbox

from .conftest import Academy, open_academy

HEADER = "Employee Number,Surname,First Name,Gender,Rank,Unit,Start Date,Preferred Language\n"


async def count(database_url: str, table: object) -> int:
    db = Database(database_url)
    try:
        async with db.session() as session:
            return int(await session.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[arg-type]
    finally:
        await db.dispose()


async def test_partial_import_keeps_good_rows_and_reports_bad_ones(academy: Academy) -> None:
    text = HEADER + (
        "E-001,Petrova,Ana,F,Lieutenant,Patrol,2024-03-01,ru\n"
        "E-002,Beridze,Giorgi,male,Sergeant,Patrol,01.02.2023,ka\n"
        "E-003,,Nino,female,Captain,Border,2022-01-01,en\n"  # row 4: no surname
        "E-004,Kapanadze,Levan,x,Captain,Border,2022-13-40,en\n"  # row 5: bad date
        "E-005,Lomidze,Tamar,woman,Captain,Border,2022-01-01,en\n"  # row 6: bad gender
        "\n"
        "E-001,Petrova,Anna,F,Lieutenant,Patrol,2024-03-01,ru\n"  # row 8: duplicate number
        "E-006,Abashidze,Eka,,,,,\n"
    )
    async with EventTap(
        academy.bus["nats_url"],
        academy.bus["restricted_stream_name"],
        [f"{academy.bus['restricted_subject_root']}.>"],
    ) as tap:
        job = await academy.import_csv(text)
        await tap.wait_for("trainee.profile_changed", count=3)
    assert job["status"] == "succeeded", job
    assert (job["total_rows"], job["processed_rows"]) == (7, 7)
    assert (job["created_count"], job["updated_count"], job["error_count"]) == (3, 0, 4)
    errors = {(e["row"], e["column"]) for e in job["errors"]}
    assert errors == {
        (4, "family_name"),
        (5, "start_date"),
        (6, "gender"),
        (8, "employee_number"),
    }
    reasons = {e["row"]: e["reason"] for e in job["errors"]}
    assert "YYYY-MM-DD" in reasons[5] and "row 2" in reasons[8]
    listed = await academy.client.get(
        f"/v1/trainees?academy_id={academy.academy_id}&sort=employee_number", headers=academy.staff
    )
    body = listed.json()
    assert body["total"] == 3
    first, second, third = body["items"]
    assert (first["employee_number"], first["gender"], first["preferred_language"]) == (
        "E-001",
        "female",
        "ru",
    )
    assert second["start_date"] == "2023-02-01" and second["gender"] == "male"
    assert third["gender"] is None and third["preferred_language"] == "en"
    assert len(tap.of_type("trainee.profile_changed")) == 3

    # Upsert: the same file again changes nothing; a changed row updates that trainee only.
    again = await academy.import_csv(text)
    assert (again["created_count"], again["updated_count"], again["unchanged_count"]) == (0, 0, 3)
    changed = await academy.import_csv(
        HEADER + "E-001,Petrova,Ana,F,Captain,Border,2024-03-01,ru\nE-007,Gelashvili,Mari,F,,,,\n"
    )
    assert (changed["created_count"], changed["updated_count"]) == (1, 1)
    history = await academy.client.get(f"/v1/trainees/{first['id']}/history", headers=academy.staff)
    actions = [(h["action"], h["changes"]) for h in history.json()["items"]]
    assert actions[0][0] == "created"
    assert actions[-1] == ("imported", {"rank": "Captain", "unit": "Border"})

    # The export reads back in as it is: nothing changes.
    export = await academy.client.get(
        f"/v1/academies/{academy.academy_id}/trainees.csv", headers=academy.staff
    )
    assert export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [r["employee_number"] for r in rows] == ["E-001", "E-002", "E-006", "E-007"]
    assert rows[0]["rank"] == "Captain" and rows[0]["active"] == "true"
    round_trip = await academy.import_csv(export.text)
    assert (round_trip["unchanged_count"], round_trip["error_count"]) == (4, 0)


async def test_all_or_nothing_writes_nothing_when_a_row_is_bad(academy: Academy) -> None:
    before = await count(academy.database_url, Trainee.__table__)
    events_before = await count(academy.database_url, outbox.table)
    job = await academy.import_csv(
        HEADER + "A-1,Petrova,Ana,F,,,2024-01-01,ru\nA-2,Beridze,Giorgi,M,,,2024-02-30,ka\n",
        mode="all_or_nothing",
    )
    assert job["status"] == "failed"
    assert job["errors"] == [
        {"row": 3, "column": "start_date", "reason": job["errors"][0]["reason"]}
    ]
    assert "nothing was imported" in job["message"]
    assert await count(academy.database_url, Trainee.__table__) == before
    assert await count(academy.database_url, outbox.table) == events_before
    good = await academy.import_csv(
        HEADER + "A-1,Petrova,Ana,F,,,2024-01-01,ru\nA-2,Beridze,Giorgi,M,,,2024-02-28,ka\n",
        mode="all_or_nothing",
    )
    assert (good["status"], good["created_count"]) == ("succeeded", 2)


async def test_unusable_files_are_refused_at_once(academy: Academy) -> None:
    url = f"/v1/academies/{academy.academy_id}/imports"
    csv_headers = {**academy.staff, "Content-Type": "text/csv"}
    cases = [
        (b"", "text/csv", "empty"),
        (b"name,unit\nAna,Patrol\n", "text/csv", 'given_name; found: "name", "unit".'),
        # A charset the request names is the one tried, and the one the answer names.
        (
            "employee_number,family_name,given_name\nE-1,Петрова,Ана\n".encode("cp1251"),
            "text/csv; charset=ascii",
            "not ascii text",
        ),
    ]
    for body, content_type, words in cases:
        response = await academy.client.post(
            url, content=body, headers={**academy.staff, "Content-Type": content_type}
        )
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert words in response.json()["detail"]
    wrong_type = await academy.client.post(url, json={"rows": []}, headers=academy.staff)
    assert wrong_type.status_code == 422
    bad_mode = await academy.client.post(
        url + "?mode=some", content=HEADER.encode(), headers=csv_headers
    )
    assert bad_mode.status_code == 422
    assert await count(academy.database_url, Trainee.__table__) == 0
    # A declared charset is honoured; a multipart upload (a browser form) works too.
    cyrillic = "employee_number,family_name,given_name\nE-1,Петрова,Ана\n"
    declared = await academy.client.post(
        url,
        content=cyrillic.encode("cp1251"),
        headers={**academy.staff, "Content-Type": "text/csv; charset=windows-1251"},
    )
    assert declared.status_code == 202
    assert (await academy.import_done(declared.json()["id"]))["created_count"] == 1
    form = await academy.client.post(
        url,
        files={
            "file": ("hr.csv", b"employee_number,family_name,given_name\nE-2,B,C\n", "text/csv")
        },
        headers=academy.staff,
    )
    assert form.status_code == 202, form.text
    assert form.headers["location"] == f"/v1/imports/{form.json()['id']}"
    assert (await academy.import_done(form.json()["id"]))["created_count"] == 1
    names = await academy.client.get("/v1/trainees?q=петр", headers=academy.staff)
    assert [t["family_name"] for t in names.json()["items"]] == ["Петрова"]


async def test_other_academies_cannot_import_or_read_imports(academy: Academy) -> None:
    job = await academy.import_csv(HEADER + "E-1,Petrova,Ana,F,,,,\n")
    other = await open_academy(academy.client, academy.bus, academy.database_url, code="AM-YER")
    for method, path in (
        ("GET", f"/v1/imports/{job['id']}"),
        ("GET", f"/v1/academies/{academy.academy_id}/trainees.csv"),
        ("POST", f"/v1/academies/{academy.academy_id}/imports"),
    ):
        response = await academy.client.request(
            method,
            path,
            content=HEADER.encode() + b"E-2,B,C,,,,,\n",
            headers={**other.staff, "Content-Type": "text/csv"},
        )
        assert response.status_code == 404, (path, response.text)
    assert await count(academy.database_url, Trainee.__table__) == 1


async def test_ten_thousand_rows_in_a_few_seconds(academy: Academy) -> None:
    lines = [HEADER]
    for i in range(10_000):
        gender = ("F", "M", "", "other")[i % 4]
        lines.append(
            f"N-{i:05d},Family{i},Given{i},{gender},Rank{i % 7},Unit{i % 40},2020-01-01,en\n"
        )
    text = "".join(lines)
    started = time.monotonic()
    job = await academy.import_csv(text)
    elapsed = time.monotonic() - started
    assert (job["status"], job["created_count"], job["error_count"]) == ("succeeded", 10_000, 0)
    assert elapsed < 30, f"10,000 rows took {elapsed:.1f}s"
    assert await count(academy.database_url, Trainee.__table__) == 10_000
    assert await count(academy.database_url, AuditEntry.__table__) >= 10_000
    if academy.database_url.startswith("postgresql"):
        # The import refreshed the planner's statistics as it grew the table (ANALYZE once it
        # had added 1,000, 2,000, 4,000 and 8,000 rows), long before autovacuum would have.
        db = Database(academy.database_url)
        try:
            async with db.session() as session:
                known = await session.scalar(
                    sql("SELECT reltuples FROM pg_class WHERE relname = 'trainees'")
                )
        finally:
            await db.dispose()
        assert known is not None and known >= 8_000, known


def test_parse_is_pure_and_reports_rows_by_line_number() -> None:
    parsed = parse(
        "employee_number,family_name,given_name,active,notes\n"
        'E-1,Petrova,A,no,"Multi\nLine"\nE-2,B,,yes,\nE-3,"Two\nLines",C,yes,\n'
    )
    assert [line for line, _ in parsed.rows] == [3]  # a quoted newline: the row ends on line 3
    assert parsed.rows[0][1]["active"] is False
    errors = [(e.row, e.column) for e in parsed.errors]
    assert errors == [(4, "given_name"), (6, "family_name")]  # a name is one line
    assert parsed.errors[0].reason == "required" and "line break" in parsed.errors[1].reason


async def test_an_import_abandoned_by_a_dead_process_is_taken_up_again(academy: Academy) -> None:
    """A job left `running` by a process that died (its lease lapsed) is run again by any
    replica; one whose runner is alive (lease in the future) is left alone."""
    from datetime import timedelta

    from sqlalchemy import update

    from wps_common.db import utcnow
    from wps_enrolment.imports import ImportRunner, run
    from wps_enrolment.models import ImportJob

    db = Database(academy.database_url)
    try:
        text = HEADER + "R-001,Orlova,Vera,F,Major,HQ,2020-01-01,ru\n"
        async with db.session() as session:
            session.add(
                ImportJob(
                    id="abandoned-job",
                    academy_id=academy.academy_id,
                    mode="partial",
                    status="running",
                    content=text,
                    errors=[],
                    created_by="hr-1",
                    lease_until=utcnow() + timedelta(minutes=1),
                )
            )
        runner = ImportRunner(lambda: db, utcnow, chunk_rows=100)
        assert await runner.abandoned() == []  # its runner still holds the lease
        await run(db, "abandoned-job", chunk_rows=100)
        async with db.session() as session:
            assert (await session.get(ImportJob, "abandoned-job")).status == "running"  # type: ignore[union-attr]
            await session.execute(
                update(ImportJob)
                .where(ImportJob.id == "abandoned-job")
                .values(lease_until=utcnow() - timedelta(seconds=1))  # …and then it died
            )
        assert await runner.abandoned() == ["abandoned-job"]
        await run(db, "abandoned-job", chunk_rows=100)
        async with db.session() as session:
            job = await session.get(ImportJob, "abandoned-job")
            assert job is not None and job.status == "succeeded" and job.created_count == 1
            assert job.lease_until is None and job.content is None
        assert await runner.abandoned() == []
    finally:
        await db.dispose()


async def test_stopping_waits_for_a_cancelled_job_to_let_go_of_the_database(
    academy: Academy,
) -> None:
    """A service stopping mid-import cancels the job and waits for it before the database
    closes: the job is left `running` under its lease for `recover`, and no database call is
    left in flight when the event loop ends."""
    from datetime import timedelta

    from wps_common.db import utcnow
    from wps_enrolment.imports import ImportRunner
    from wps_enrolment.models import ImportJob

    rows = "".join(
        f"S-{i:05d},Family{i},Given{i},F,Major,HQ,2020-01-01,ru\n" for i in range(20_000)
    )
    db = Database(academy.database_url)
    try:
        async with db.session() as session:
            session.add(
                ImportJob(
                    id="stopped-job",
                    academy_id=academy.academy_id,
                    mode="partial",
                    status="queued",
                    content=HEADER + rows,
                    errors=[],
                    created_by="hr-1",
                    lease_until=utcnow() + timedelta(minutes=1),
                )
            )
        runner = ImportRunner(lambda: db, utcnow, chunk_rows=100)
        await runner.start("stopped-job")
        [task] = runner.tasks
        await runner.stop()
        assert task.done()
        assert runner.tasks == set()
        async with db.session() as session:
            job = await session.get(ImportJob, "stopped-job")
            assert job is not None and job.status in {"queued", "running"}
    finally:
        await db.dispose()


async def test_a_partial_import_whose_every_row_is_bad_succeeds_with_its_errors(
    academy: Academy,
) -> None:
    """Nothing to write is not a failure: the job succeeds, creates nothing and reports the row."""
    job = await academy.import_csv(
        "employee_number,family_name,given_name,start_date\nSCR-1,Bekmukhambetova,Gulzhan,2024-13-01\n"
    )
    assert (job["status"], job["created_count"], job["error_count"]) == ("succeeded", 0, 1), job
    assert [(e["row"], e["column"]) for e in job["errors"]] == [(2, "start_date")]


async def test_polling_an_import_leaves_its_file_unread(academy: Academy) -> None:
    """A job keeps its file until it has run; answering a progress poll does not read it."""
    from sqlalchemy import inspect

    from wps_common.auth import Principal, Role
    from wps_enrolment.imports import get_job
    from wps_enrolment.models import ImportJob

    staff = Principal(subject="hr-1", roles=frozenset({Role.ADMIN}))
    db = Database(academy.database_url)
    try:
        async with db.session() as session:
            session.add(
                ImportJob(
                    id="polled-job",
                    academy_id=academy.academy_id,
                    mode="partial",
                    status="queued",
                    content=HEADER + "P-001,Orlova,Vera,F,Major,HQ,2020-01-01,ru\n",
                    errors=[],
                    created_by="hr-1",
                )
            )
        async with db.session() as session:
            job = await get_job(session, job_id="polled-job", who=staff)
            assert job.status == "queued" and "content" in inspect(job).unloaded
    finally:
        await db.dispose()


def hold_reading_after(monkeypatch: pytest.MonkeyPatch, line: int) -> threading.Event:
    """The file's reading stops after `line` until the event returned is set."""
    from wps_enrolment import trainee_csv

    held = threading.Event()
    validate = trainee_csv._row

    def slow_tail(raw: dict[str, str], at: int) -> Any:
        if at > line:
            held.wait(timeout=30)
        return validate(raw, at)

    monkeypatch.setattr(trainee_csv, "_row", slow_tail)
    return held


async def run_partial_job(
    db: Database, academy: Academy, job_id: str, content: str
) -> asyncio.Task[None]:
    """A queued partial import of `content`, run in a task 100 rows a chunk."""
    from wps_enrolment.imports import run
    from wps_enrolment.models import ImportJob

    async with db.session() as session:
        session.add(
            ImportJob(
                id=job_id,
                academy_id=academy.academy_id,
                mode="partial",
                status="queued",
                content=content,
                errors=[],
                created_by="hr-1",
            )
        )
    return asyncio.create_task(run(db, job_id, chunk_rows=100))


async def job_once_created(db: Database, job_id: str, created: int, what: str) -> Any:
    """The job as soon as it has created `created` trainees."""
    from wps_common.testing import wait_until
    from wps_enrolment.models import ImportJob

    async def written() -> ImportJob | None:
        async with db.session() as session:
            found = await session.get(ImportJob, job_id)
            return found if found is not None and found.created_count >= created else None

    return await wait_until(written, timeout=30, what=what)


async def test_a_partial_import_writes_its_first_chunks_while_the_file_is_still_read(
    academy: Academy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Partial mode writes a chunk as soon as it has been read; the file's total and errors are
    reported once it has been read to its end, and until then the job shows no total."""
    from wps_enrolment.models import ImportJob

    # The reading stops after line 1500 until the first chunks are seen written.
    held = hold_reading_after(monkeypatch, 1500)
    rows = "".join(f"H-{i:05d},Family{i},Given{i},F,Major,HQ,2020-01-01,ru\n" for i in range(2000))
    db = Database(academy.database_url)
    try:
        content = HEADER + rows + "H-00001,Again,Twice,F,,,,\n"
        job = await run_partial_job(db, academy, "streamed-job", content)
        try:
            during = await job_once_created(db, "streamed-job", 1000, "the first chunks")
        finally:
            held.set()
        assert during is not None
        assert (during.total_rows, during.processed_rows, during.error_count) == (0, 0, 0)
        await job
        async with db.session() as session:
            done = await session.get(ImportJob, "streamed-job")
            assert done is not None and done.status == "succeeded", done and done.message
            assert (done.total_rows, done.processed_rows) == (2001, 2001)
            assert (done.created_count, done.error_count) == (2000, 1)
            assert done.errors[0]["row"] == 2002
    finally:
        await db.dispose()


async def test_a_runner_whose_job_was_taken_over_writes_nothing_more(
    academy: Academy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A runner that stalled past its lease finds, at its next chunk, that another runner has
    claimed the job: that chunk is rolled back (no trainees, no events, no progress) and it
    leaves the job to the other runner, neither finishing nor failing it."""
    from datetime import timedelta

    from sqlalchemy import update

    from wps_common.db import utcnow
    from wps_enrolment.models import ImportJob

    # The reading stops after 500 rows while the job is taken over.
    held = hold_reading_after(monkeypatch, 501)
    rows = "".join(f"T-{i:05d},Family{i},Given{i},F,Major,HQ,2020-01-01,ru\n" for i in range(800))
    db = Database(academy.database_url)
    try:
        job = await run_partial_job(db, academy, "taken-job", HEADER + rows)
        try:
            await job_once_created(db, "taken-job", 500, "the first five chunks")
            other = utcnow() + timedelta(seconds=1)
            async with db.session() as session:  # what another runner's claim writes
                await session.execute(
                    update(ImportJob)
                    .where(ImportJob.id == "taken-job")
                    .values(started_at=other, lease_until=other + timedelta(minutes=2))
                )
            events_before = await count(academy.database_url, outbox.table)
        finally:
            held.set()
        await asyncio.wait_for(job, timeout=30)
        async with db.session() as session:
            after = await session.get(ImportJob, "taken-job")
            assert after is not None
            assert (after.status, after.message, after.created_count) == ("running", None, 500)
        assert await count(academy.database_url, Trainee.__table__) == 500
        assert await count(academy.database_url, outbox.table) == events_before
    finally:
        await db.dispose()
