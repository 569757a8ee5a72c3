"""Compliance: requirement and certificate events, the daily sweep on a controlled clock,
exemptions, and one compliance.changed per transition."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from wps_common.events.contracts import (
    CertificateExpired,
    CertificateIssued,
    CertificateRevoked,
    RequirementChanged,
    Selector,
)
from wps_common.jobs import JobScheduler
from wps_common.testing import EventTap, publish_event, wait_until
from wps_common.validity import add_months
from wps_enrolment.main import COMPLIANCE_SWEEP
from wps_enrolment.models import job_runs

from .conftest import Academy, open_academy


class Clock:
    def __init__(self, day: date) -> None:
        self.now = datetime(day.year, day.month, day.day, 6, tzinfo=UTC)

    def set(self, day: date) -> None:
        self.now = datetime(day.year, day.month, day.day, 6, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def requirement(revision: int = 1, **changes: Any) -> RequirementChanged:
    fields: dict[str, Any] = {
        "requirement_code": "REQ-GHR",
        "revision": revision,
        "change": "created" if revision == 1 else "updated",
        "title": {"en": "Gender and human rights foundation for officers"},
        "selector": Selector(ranks=["Lieutenant", "Captain"]),
        "track_code": "GHR-FOUND",
        "grace_period_days": 90,
        "renewal_months": 24,
        "reminder_days": [60, 30],
        "changed_at": datetime(2025, 12, 1, tzinfo=UTC),
        **changes,
    }
    return RequirementChanged(**fields)


def certificate(
    trainee: dict[str, Any], academy: Academy, issued: date, number: str = "1"
) -> CertificateIssued:
    return CertificateIssued(
        certificate_id=f"cert-{trainee['id'][:8]}-{number}",
        number=f"GE-TBS-{number}",
        enrolment_id="enr-1",
        trainee_id=trainee["id"],
        employee_number=trainee["employee_number"],
        academy_id=academy.academy_id,
        track_code="GHR-FOUND",
        track_version=1,
        issued_on=issued,
        expires_on=add_months(issued, 36),
    )


async def status_of(academy: Academy, trainee_id: str) -> list[tuple[str, str, str | None]]:
    response = await academy.client.get(
        f"/v1/trainees/{trainee_id}/compliance", headers=academy.staff
    )
    assert response.status_code == 200, response.text
    return [(r["requirement_code"], r["status"], r["due_on"]) for r in response.json()]


async def becomes(academy: Academy, trainee_id: str, status: str, due_on: str | None) -> None:
    async def reached() -> bool:
        return await status_of(academy, trainee_id) == [("REQ-GHR", status, due_on)]

    await wait_until(reached, what=f"{trainee_id} to be {status}")


async def test_compliance_follows_events_time_and_exemptions(academy: Academy) -> None:
    clock = Clock(date(2026, 1, 10))
    runtime = academy.app.state.runtime
    runtime.clock = clock
    sweeper = JobScheduler(runtime.db, job_runs, clock=clock)
    [sweep] = [job for job in runtime.jobs if job.name == COMPLIANCE_SWEEP]
    officer = await academy.trainee("O-1", rank="Lieutenant", start_date="2026-01-01")
    cadet = await academy.trainee("C-1", rank="Cadet", start_date="2026-01-01")
    bus = academy.bus
    async with EventTap(
        bus["nats_url"], bus["stream_name"], [f"{bus['subject_root']}.enrolment.compliance.>"]
    ) as tap:
        await publish_event(bus, requirement())
        # New in post: the grace period runs from the start date.
        await becomes(academy, officer["id"], "due", "2026-04-01")
        assert await status_of(academy, cadet["id"]) == []  # the selector does not match a cadet

        clock.set(date(2026, 5, 1))
        assert await sweeper.run_if_due(sweep) is True
        assert await sweeper.run_if_due(sweep) is False  # once an hour, however often asked
        await becomes(academy, officer["id"], "overdue", "2026-04-01")

        await publish_event(bus, certificate(officer, academy, date(2026, 5, 2)))
        # Valid until the renewal period (24 months) ends, before the certificate's own expiry.
        await becomes(academy, officer["id"], "compliant", "2028-05-02")

        clock.set(date(2028, 4, 1))  # inside the 60-day reminder window
        assert await sweeper.run_if_due(sweep) is True
        await becomes(academy, officer["id"], "due", "2028-05-02")

        clock.set(date(2028, 5, 3))
        await publish_event(
            bus,
            CertificateExpired(
                certificate_id=f"cert-{officer['id'][:8]}-1",
                trainee_id=officer["id"],
                employee_number="O-1",
                academy_id=academy.academy_id,
                track_code="GHR-FOUND",
                expired_on=date(2028, 5, 3),
            ),
        )
        await becomes(academy, officer["id"], "expired", "2028-05-02")

        exempt = await academy.client.put(
            f"/v1/trainees/{officer['id']}/exemptions/REQ-GHR",
            json={"reason": "Seconded to a UN mission until 2029"},
            headers=academy.staff,
        )
        assert exempt.status_code == 204, exempt.text
        [row] = (
            await academy.client.get(
                f"/v1/trainees/{officer['id']}/compliance", headers=academy.staff
            )
        ).json()
        assert (row["status"], row["exemption_reason"]) == (
            "exempt",
            "Seconded to a UN mission until 2029",
        )
        instructor = await academy.client.put(
            f"/v1/trainees/{officer['id']}/exemptions/REQ-GHR",
            json={"reason": "because"},
            headers=academy.instructor,
        )
        assert instructor.status_code == 403
        lifted = await academy.client.delete(
            f"/v1/trainees/{officer['id']}/exemptions/REQ-GHR", headers=academy.staff
        )
        assert lifted.status_code == 204
        await becomes(academy, officer["id"], "expired", "2028-05-02")

        # A promotion into the selector brings the cadet in; a new certificate that is then
        # revoked does not count.
        await academy.client.patch(
            f"/v1/trainees/{cadet['id']}", json={"rank": "Captain"}, headers=academy.staff
        )
        await becomes(academy, cadet["id"], "overdue", "2026-04-01")
        issued = certificate(cadet, academy, date(2028, 5, 3), number="2")
        await publish_event(bus, issued)
        await becomes(academy, cadet["id"], "compliant", "2030-05-03")
        await publish_event(
            bus,
            CertificateRevoked(
                certificate_id=issued.certificate_id,
                number=issued.number,
                enrolment_id="enr-1",
                trainee_id=cadet["id"],
                employee_number="C-1",
                academy_id=academy.academy_id,
                track_code="GHR-FOUND",
                revoked_on=date(2028, 5, 4),
            ),
        )
        await becomes(academy, cadet["id"], "overdue", "2026-04-01")
        events = await tap.wait_for("compliance.changed", count=10)

    transitions = [
        (e.data["previous_status"], e.data["status"])
        for e in events
        if e.data["trainee_id"] == officer["id"]
    ]
    assert transitions == [
        (None, "due"),
        ("due", "overdue"),
        ("overdue", "compliant"),
        ("compliant", "due"),
        ("due", "expired"),
        ("expired", "exempt"),
        ("exempt", "expired"),
    ]
    assert [
        (e.data["previous_status"], e.data["status"])
        for e in events
        if e.data["trainee_id"] == cadet["id"]
    ] == [
        (None, "overdue"),
        ("overdue", "compliant"),
        ("compliant", "overdue"),
    ]
    assert all(b"Seconded" not in raw and b"Lieutenant" not in raw for raw in tap.raw)

    # The academy's list and summary.
    listing = await academy.client.get("/v1/compliance?status=overdue", headers=academy.staff)
    assert [r["employee_number"] for r in listing.json()["items"]] == ["C-1"]
    by_rank = await academy.client.get("/v1/compliance?rank=Lieutenant", headers=academy.staff)
    assert [(r["employee_number"], r["status"]) for r in by_rank.json()["items"]] == [
        ("O-1", "expired")
    ]
    summary = (await academy.client.get("/v1/compliance/summary", headers=academy.staff)).json()
    assert summary["total"] == 2
    assert summary["by_status"] == {
        "compliant": 0,
        "due": 0,
        "overdue": 1,
        "expired": 1,
        "exempt": 0,
    }
    assert summary["by_requirement"] == {"REQ-GHR": {"overdue": 1, "expired": 1}}

    # Deactivation takes the officer out; withdrawing the requirement empties the list.
    await academy.client.post(f"/v1/trainees/{officer['id']}/deactivate", headers=academy.staff)
    assert await status_of(academy, officer["id"]) == []
    await publish_event(bus, requirement(revision=2, change="deleted"))

    async def emptied() -> bool:
        return await status_of(academy, cadet["id"]) == []

    await wait_until(emptied, what="the deleted requirement to be dropped")
    # A late, older revision changes nothing.
    await publish_event(bus, requirement(revision=1))
    other = await open_academy(academy.client, academy.bus, academy.database_url, code="AM-YER")
    assert (await academy.client.get("/v1/compliance/summary", headers=other.staff)).json()[
        "total"
    ] == 0
    assert await status_of(academy, cadet["id"]) == []
