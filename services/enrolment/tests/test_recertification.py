"""Recertification through events: a requirement naming a refresher track, certificates of
the track and of the refresher arriving as certification announces them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from wps_common.db import Database
from wps_common.events.contracts import CertificateIssued, RequirementChanged, Selector
from wps_common.testing import publish_event, wait_until
from wps_common.validity import add_months
from wps_enrolment.models import CertificateRecord

from .conftest import Academy


class Clock:
    def __init__(self, day: date) -> None:
        self.now = datetime(day.year, day.month, day.day, 6, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


REQUIREMENT = RequirementChanged(
    requirement_code="REQ-GHR",
    revision=1,
    change="created",
    title={"en": "Gender and human rights foundation"},
    selector=Selector(),
    track_code="GHR-FOUND",
    refresher_track_code="GHR-REFRESH",
    grace_period_days=90,
    renewal_months=24,
    reminder_days=[60, 30],
    changed_at=datetime(2025, 12, 1, tzinfo=UTC),
)


def issued(trainee: dict[str, Any], academy: Academy, track: str, on: date) -> CertificateIssued:
    return CertificateIssued(
        certificate_id=f"cert-{track}-{trainee['employee_number']}-{on:%Y%m%d}",
        number=f"GE-TBS-{on:%Y%m%d}",
        enrolment_id="enr-1",
        trainee_id=trainee["id"],
        employee_number=trainee["employee_number"],
        academy_id=academy.academy_id,
        track_code=track,
        track_version=1,
        issued_on=on,
        expires_on=add_months(on, 24),
    )


async def standing(academy: Academy, trainee_id: str) -> list[dict[str, Any]]:
    response = await academy.client.get(
        f"/v1/trainees/{trainee_id}/compliance", headers=academy.staff
    )
    assert response.status_code == 200, response.text
    return [
        {k: row[k] for k in ("status", "due_on", "certificate_id", "recognition_id", "basis")}
        for row in response.json()
    ]


async def becomes(academy: Academy, trainee_id: str, **expected: Any) -> None:
    async def reached() -> bool:
        rows = await standing(academy, trainee_id)
        return len(rows) == 1 and all(rows[0][k] == v for k, v in expected.items())

    await wait_until(reached, what=f"{trainee_id} to be {expected}")


async def test_a_refresher_renews_only_what_was_held(academy: Academy) -> None:
    academy.app.state.runtime.clock = Clock(date(2028, 2, 1))
    held = await academy.trainee("H-1", start_date="2025-12-01")
    newcomer = await academy.trainee("N-1", start_date="2025-12-01")
    bus = academy.bus
    await publish_event(bus, REQUIREMENT)
    await becomes(academy, held["id"], status="overdue", due_on="2026-03-01")

    # The foundation in March 2026, renewed until March 2028 (inside the window: due).
    foundation = issued(held, academy, "GHR-FOUND", date(2026, 3, 1))
    await publish_event(bus, foundation)
    await becomes(
        academy,
        held["id"],
        status="due",
        due_on="2028-03-01",
        certificate_id=foundation.certificate_id,
    )
    # The refresher in January 2028 renews it for 24 months from its own date.
    refresher = issued(held, academy, "GHR-REFRESH", date(2028, 1, 15))
    await publish_event(bus, refresher)
    await becomes(
        academy,
        held["id"],
        status="compliant",
        due_on="2030-01-15",
        certificate_id=refresher.certificate_id,
        basis="certificate",
    )

    # Someone who never held the foundation gains nothing from the refresher alone.
    alone = issued(newcomer, academy, "GHR-REFRESH", date(2028, 1, 20))
    await publish_event(bus, alone)
    await wait_until(
        lambda: recorded(academy.database_url, alone.certificate_id),
        what="the refresher certificate to reach the read model",
    )
    assert await standing(academy, newcomer["id"]) == [
        {
            "status": "overdue",
            "due_on": "2026-03-01",
            "certificate_id": None,
            "recognition_id": None,
            "basis": None,
        }
    ]


async def recorded(database_url: str, certificate_id: str) -> bool:
    db = Database(database_url)
    try:
        async with db.session() as session:
            return await session.get(CertificateRecord, certificate_id) is not None
    finally:
        await db.dispose()
