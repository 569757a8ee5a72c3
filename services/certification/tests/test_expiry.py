"""The expiry scanner on a controllable clock: each reminder once, expiry once, on any replica."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pypdf import PdfReader
from sqlalchemy import select

from wps_certification.main import EXPIRY_SCAN, create_app
from wps_certification.models import CertificateNotice, job_runs
from wps_certification.settings import CertificationSettings
from wps_common.db import Database
from wps_common.jobs import JobScheduler, PeriodicJob
from wps_common.testing import auth, running_app

from .conftest import FakeClock, completion, issue, stored_certificates, tap_for

ADMIN = auth("admin")


def at(day: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def expiry_job(app: Any) -> PeriodicJob:
    [job] = [job for job in app.state.runtime.jobs if job.name == EXPIRY_SCAN]
    return job


async def test_reminders_once_per_lead_time_and_expiry_once_across_replicas(
    settings: CertificationSettings, bus: dict[str, Any], database_url: str
) -> None:
    app = create_app(settings)
    runtime = app.state.runtime
    runtime.run_jobs = False  # the test drives the replicas' schedulers itself
    clock = FakeClock(at("2026-11-23"))
    runtime.clock = clock
    async with running_app(app) as client, tap_for(bus) as tap:
        certificate = await issue(bus, database_url, "t-e1")  # valid until 2028-11-20
        assert certificate.expires_on == date(2028, 11, 20)
        job = expiry_job(app)
        replicas = [JobScheduler(runtime.db, job_runs, clock=clock) for _ in range(3)]

        async def scan(moment: datetime) -> list[bool]:
            clock.now = moment
            return list(await asyncio.gather(*(r.run_if_due(job) for r in replicas)))

        timeline: list[tuple[str, list[tuple[str, int | None]]]] = [
            ("2028-09-01", []),  # 80 days ahead: nothing yet
            ("2028-09-21", [("expiring", 60)]),  # 60 days before the last valid day
            ("2028-09-22", []),
            ("2028-10-21", [("expiring", 30)]),
            ("2028-11-13", [("expiring", 7)]),
            ("2028-11-14", []),
            ("2028-11-20", []),  # the last valid day
            ("2028-11-21", [("expired", None)]),
            ("2028-11-22", []),
        ]
        expected: list[tuple[str, int | None]] = []
        for day, notices in timeline:
            outcomes = await scan(at(day))
            assert outcomes.count(True) == 1, day  # one replica scans per period
            later = await scan(at(day, 10))  # the next hour: one replica runs, and sends nothing
            assert later.count(True) == 1
            expected += notices
        await tap.wait_for("certificate.expired")
        seen = [
            ("expiring", e.data["lead_days"]) if "expiring" in e.type else ("expired", None)
            for e in tap.events
            if ".certificate.expir" in e.type
        ]
        assert seen == expected
        [expired] = tap.of_type("certificate.expired")
        assert expired.data["expired_on"] == "2028-11-21"
        assert set(expired.data) == {
            "certificate_id",
            "trainee_id",
            "employee_number",
            "academy_id",
            "track_code",
            "expired_on",
        }
        [sixty, *_] = tap.of_type("certificate.expiring")
        assert sixty.data["expires_on"] == "2028-11-20"

        # The clock moves the public answer and the PDF mark too.
        verified = (await client.get(f"/v1/verify/{certificate.verification_code}")).json()
        assert verified["status"] == "expired"
        pdf = await client.get(f"/v1/certificates/{certificate.id}.pdf?lang=en", headers=ADMIN)
        assert "EXPIRED" in PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
        listing = await client.get("/v1/certificates?status=expired", headers=ADMIN)
        assert [c["id"] for c in listing.json()["items"]] == [certificate.id]
        assert (await client.get("/v1/certificates?status=valid", headers=ADMIN)).json()[
            "total"
        ] == 0


async def test_a_late_first_scan_sends_one_reminder_and_renewed_certificates_none(
    settings: CertificationSettings, bus: dict[str, Any], database_url: str
) -> None:
    app = create_app(settings)
    runtime = app.state.runtime
    runtime.run_jobs = False
    clock = FakeClock(at("2026-11-23"))
    runtime.clock = clock
    async with running_app(app) as client:
        lapsing = await issue(bus, database_url, "t-e2")
        renewed = await issue(bus, database_url, "t-e3")
        # Passing the track again: a new certificate that names the previous one.
        again = await issue(
            bus, database_url, "t-e3", completion("t-e3", completed_on=date(2028, 10, 1))
        )
        assert again.previous_certificate_id == renewed.id
        assert again.expires_on == date(2030, 10, 1)
        record = await client.get(f"/v1/certificates/{again.id}", headers=ADMIN)
        assert record.json()["previous_certificate_id"] == renewed.id

        scheduler = JobScheduler(runtime.db, job_runs, clock=clock)
        clock.now = at("2028-11-16")  # the scanner was down for months: 4 days left now
        assert await scheduler.run_if_due(expiry_job(app))
        clock.now += timedelta(days=5)
        assert await scheduler.run_if_due(expiry_job(app))

    notices = await _notices(database_url)
    assert notices == {
        (lapsing.id, "expiring:7"),
        (lapsing.id, "expired"),
        (renewed.id, "expired"),  # a fact for HR, though the trainee holds a newer one
    }
    [still_valid] = await stored_certificates(database_url, id=again.id)
    assert still_valid.status == "valid"


async def _notices(database_url: str) -> set[tuple[str, str]]:
    db = Database(database_url)
    try:
        async with db.session() as session:
            rows = await session.execute(
                select(CertificateNotice.certificate_id, CertificateNotice.notice)
            )
            return {(row[0], row[1]) for row in rows}
    finally:
        await db.dispose()
