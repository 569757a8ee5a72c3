"""Personal due dates through the API: setting one re-evaluates the trainee at once (status,
due date, compliance.changed in the outbox when the status moves), removing it restores the
requirement's own deadlines, and bad input is a clear 4xx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select

from wps_common.db import Database
from wps_common.events.contracts import CertificateExpired, ComplianceChanged
from wps_common.events.envelope import CloudEvent
from wps_common.testing import publish_event, wait_until
from wps_enrolment.models import PersonalDueDate, outbox

from .conftest import Academy, open_academy
from .test_compliance import Clock, certificate, requirement

DUE = "/v1/trainees/{}/due-dates/REQ-GHR"


async def changes(db: Database, trainee_id: str) -> list[tuple[str | None, str, str | None]]:
    """The compliance.changed events of a trainee in the outbox, oldest first."""
    async with db.reading() as session:
        bodies = await session.scalars(
            select(outbox.table.c.body)
            .where(outbox.table.c.event_type == ComplianceChanged.event_type())
            .order_by(outbox.table.c.id)
        )
        found = [CloudEvent.model_validate_json(body).data for body in bodies]
    return [
        (e["previous_status"], e["status"], e["due_on"])
        for e in found
        if e["trainee_id"] == trainee_id
    ]


async def rows(academy: Academy, trainee_id: str) -> list[dict[str, Any]]:
    response = await academy.client.get(
        f"/v1/trainees/{trainee_id}/compliance", headers=academy.staff
    )
    assert response.status_code == 200, response.text
    return list(response.json())


async def record(academy: Academy, trainee_id: str) -> dict[str, Any]:
    [row] = await rows(academy, trainee_id)
    return dict(row)


async def reaches(academy: Academy, trainee_id: str, status: str) -> None:
    async def reached() -> bool:
        return [r["status"] for r in await rows(academy, trainee_id)] == [status]

    await wait_until(reached, what=f"{trainee_id} to be {status}")


@pytest.fixture
async def world(academy: Academy) -> AsyncIterator[tuple[Academy, Clock, Database]]:
    """An academy on 1 May 2026 whose lieutenants must hold GHR-FOUND within 90 days."""
    clock = Clock(date(2026, 5, 1))
    academy.app.state.runtime.clock = clock
    await publish_event(academy.bus, requirement())
    db = Database(academy.database_url)
    yield academy, clock, db
    await db.dispose()


async def test_a_personal_due_date_replaces_the_grace_period_at_once(
    world: tuple[Academy, Clock, Database],
) -> None:
    academy, _, db = world
    officer = await academy.trainee("O-1", rank="Lieutenant", start_date="2026-01-01")
    await reaches(academy, officer["id"], "overdue")
    set_ = await academy.client.put(
        DUE.format(officer["id"]),
        json={"due_on": "2026-11-30", "reason": "Back from six months' sick leave."},
        headers={**academy.staff, "Idempotency-Key": "due-1"},
    )
    assert set_.status_code == 204, set_.text
    # No waiting: the request itself re-evaluated the officer.
    row = await record(academy, officer["id"])
    assert (row["status"], row["due_on"], row["personal_due_on"], row["due_date_reason"]) == (
        "due",
        "2026-11-30",
        "2026-11-30",
        "Back from six months' sick leave.",
    )
    assert await changes(db, officer["id"]) == [
        (None, "overdue", "2026-04-01"),
        ("overdue", "due", "2026-11-30"),
    ]
    # A retry with the same key answers as the first time and sets nothing twice.
    again = await academy.client.put(
        DUE.format(officer["id"]),
        json={"due_on": "2026-11-30", "reason": "Back from six months' sick leave."},
        headers={**academy.staff, "Idempotency-Key": "due-1"},
    )
    assert again.status_code == 204
    history = await academy.client.get(
        f"/v1/trainees/{officer['id']}/history", headers=academy.staff
    )
    assert [e["action"] for e in history.json()["items"]].count("due_date_set") == 1

    # A later day under the same status is written quietly: no second announcement.
    later = await academy.client.put(
        DUE.format(officer["id"]),
        json={"due_on": "2026-12-31", "reason": "The leave was extended."},
        headers=academy.staff,
    )
    assert later.status_code == 204, later.text
    assert (await record(academy, officer["id"]))["due_on"] == "2026-12-31"
    assert len(await changes(db, officer["id"])) == 2

    removed = await academy.client.delete(DUE.format(officer["id"]), headers=academy.staff)
    assert removed.status_code == 204, removed.text
    row = await record(academy, officer["id"])
    assert (row["status"], row["due_on"], row["personal_due_on"], row["due_date_reason"]) == (
        "overdue",
        "2026-04-01",
        None,
        None,
    )
    assert (await changes(db, officer["id"]))[-1] == ("due", "overdue", "2026-04-01")
    gone = await academy.client.delete(DUE.format(officer["id"]), headers=academy.staff)
    assert gone.status_code == 404
    assert "no personal due date" in gone.json()["detail"]


async def test_a_lapsed_certificate_is_due_until_the_personal_day(
    world: tuple[Academy, Clock, Database],
) -> None:
    academy, clock, db = world
    officer = await academy.trainee("O-2", rank="Lieutenant", start_date="2026-01-01")
    issued = certificate(officer, academy, date(2026, 2, 1))
    await publish_event(academy.bus, issued)
    clock.set(date(2028, 3, 1))
    await publish_event(
        academy.bus,
        CertificateExpired(
            certificate_id=issued.certificate_id,
            trainee_id=officer["id"],
            employee_number="O-2",
            academy_id=academy.academy_id,
            track_code="GHR-FOUND",
            expired_on=date(2028, 2, 1),
        ),
    )
    await reaches(academy, officer["id"], "expired")
    set_ = await academy.client.put(
        DUE.format(officer["id"]),
        json={"due_on": "2028-09-01", "reason": "On a UN mission until August."},
        headers=academy.staff,
    )
    assert set_.status_code == 204, set_.text
    row = await record(academy, officer["id"])
    assert (row["status"], row["due_on"]) == ("due", "2028-09-01")
    assert (await changes(db, officer["id"]))[-1] == ("expired", "due", "2028-09-01")


async def test_bad_input_is_a_clear_4xx(world: tuple[Academy, Clock, Database]) -> None:
    academy, _, db = world
    officer = await academy.trainee("O-3", rank="Lieutenant", start_date="2026-01-01")
    path = DUE.format(officer["id"])
    body = {"due_on": "2026-11-30", "reason": "Back from leave."}

    past = await academy.client.put(
        path, json={**body, "due_on": "2026-04-30"}, headers=academy.staff
    )
    assert past.status_code == 422
    assert past.json()["errors"][0]["field"] == "due_on"
    assert "2026-04-30 has passed" in past.json()["detail"]
    # Today (the academy's date) is still allowed.
    today = await academy.client.put(
        path, json={**body, "due_on": "2026-05-01"}, headers=academy.staff
    )
    assert today.status_code == 204, today.text

    for reason in ("", "   "):
        empty = await academy.client.put(
            path, json={**body, "reason": reason}, headers=academy.staff
        )
        assert empty.status_code == 422, (reason, empty.text)
        assert empty.json()["errors"][0]["field"] == "reason"
    missing = await academy.client.put(path, json={"reason": "x" * 10}, headers=academy.staff)
    assert missing.status_code == 422
    not_a_day = await academy.client.put(
        path, json={**body, "due_on": "30.11.2026"}, headers=academy.staff
    )
    assert not_a_day.status_code == 422

    unknown = await academy.client.put(
        f"/v1/trainees/{officer['id']}/due-dates/REQ-NONE", json=body, headers=academy.staff
    )
    assert unknown.status_code == 404
    assert "REQ-NONE" in unknown.json()["detail"]
    nobody = await academy.client.put(
        DUE.format("00000000-0000-0000-0000-000000000000"), json=body, headers=academy.staff
    )
    assert nobody.status_code == 404

    # Instructors may not; another academy's admins do not see the trainee.
    assert (
        await academy.client.put(path, json=body, headers=academy.instructor)
    ).status_code == 403
    other = await open_academy(academy.client, academy.bus, academy.database_url, code="AM-YER")
    assert (await academy.client.put(path, json=body, headers=other.staff)).status_code == 404
    assert (await academy.client.delete(path, headers=other.staff)).status_code == 404

    async with db.reading() as session:
        kept = (
            await session.execute(
                select(PersonalDueDate.due_on, PersonalDueDate.reason, PersonalDueDate.set_at)
            )
        ).all()
    assert [(on, reason) for on, reason, _ in kept] == [(date(2026, 5, 1), "Back from leave.")]
    assert kept[0][2] == datetime(2026, 5, 1, 6, tzinfo=UTC)  # the service's clock
