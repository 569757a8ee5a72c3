"""Enrolment API: completion emits events once; bad input is a clear 4xx and writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from wps_common.db import Database
from wps_common.events.contracts import TrackPublished
from wps_common.testing import EventTap, auth, publish_event, running_app, wait_until
from wps_enrolment.main import create_app
from wps_enrolment.models import Enrolment, Trainee, outbox
from wps_enrolment.settings import EnrolmentSettings

from .conftest import TRACK, Academy, open_academy


async def counts(database_url: str) -> dict[str, int]:
    db = Database(database_url)
    try:
        async with db.session() as session:
            result = {}
            for name, table in (
                ("trainees", Trainee.__table__),
                ("enrolments", Enrolment.__table__),
                ("events", outbox.table),
            ):
                result[name] = int(
                    await session.scalar(select(func.count()).select_from(table)) or 0
                )
            return result
    finally:
        await db.dispose()


BAD_TRAINEES = [
    ({"employee_number": ""}, "employee_number"),
    ({"given_name": ""}, "given_name"),
    ({"gender": "f"}, "gender"),
    ({"start_date": "2026-13-01"}, "start_date"),
    ({"preferred_language": "English"}, "preferred_language"),
]


@pytest.mark.parametrize(("change", "field"), BAD_TRAINEES)
async def test_invalid_trainees_are_refused(
    academy: Academy, change: dict[str, Any], field: str
) -> None:
    before = await counts(academy.database_url)
    body = {
        "academy_id": academy.academy_id,
        "employee_number": "E-9",
        "given_name": "Ana",
        "family_name": "Petrova",
        **change,
    }
    response = await academy.client.post("/v1/trainees", json=body, headers=academy.staff)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert any(e["field"] == field for e in response.json()["errors"])
    assert await counts(academy.database_url) == before


async def test_conflicts_and_cross_field_errors(academy: Academy) -> None:
    trainee = await academy.trainee("E-1")
    duplicate = await academy.client.post(
        "/v1/trainees",
        json={
            "academy_id": academy.academy_id,
            "employee_number": "E-1",
            "given_name": "B",
            "family_name": "C",
        },
        headers=academy.staff,
    )
    assert duplicate.status_code == 409 and "E-1" in duplicate.json()["detail"]
    bad_dates = await academy.client.post(
        "/v1/cohorts",
        json={
            "academy_id": academy.academy_id,
            "track_code": "GHR-FOUND",
            "title": "x",
            "starts_on": "2026-11-06",
            "ends_on": "2026-11-02",
            "capacity": 5,
        },
        headers=academy.staff,
    )
    assert bad_dates.status_code == 422 and "ends_on" in bad_dates.json()["detail"]
    unknown_track = await academy.client.post(
        "/v1/cohorts",
        json={
            "academy_id": academy.academy_id,
            "track_code": "NOPE-1",
            "title": "x",
            "starts_on": "2026-11-02",
            "ends_on": "2026-11-06",
            "capacity": 5,
        },
        headers=academy.staff,
    )
    assert unknown_track.status_code == 422 and "NOPE-1" in unknown_track.json()["detail"]
    cohort = await academy.cohort(capacity=1)
    path = f"/v1/cohorts/{cohort['id']}/enrolments"
    unknown = await academy.client.post(path, json={"trainee_id": "nobody"}, headers=academy.staff)
    assert unknown.status_code == 422
    assert (
        await academy.client.post(path, json={"trainee_id": trainee["id"]}, headers=academy.staff)
    ).status_code == 201
    twice = await academy.client.post(
        path, json={"trainee_id": trainee["id"]}, headers=academy.staff
    )
    assert twice.status_code == 409 and "already" in twice.json()["detail"]
    other = await academy.trainee("E-2")
    full = await academy.client.post(path, json={"trainee_id": other["id"]}, headers=academy.staff)
    assert full.status_code == 201 and full.json()["status"] == "waitlisted"
    enrolment_id = twice.json()["enrolment_id"]
    results = f"/v1/enrolments/{enrolment_id}/results"
    for body, field in (
        ({"module_code": "ZZZ-999", "attendance_pct": 100, "score": 90}, "module_code"),
        ({"module_code": "WPS-101", "attendance_pct": 100}, "score"),
        ({"module_code": "WPS-101", "attendance_pct": 150, "score": 90}, "attendance_pct"),
    ):
        before = await counts(academy.database_url)
        response = await academy.client.post(results, json=body, headers=academy.instructor)
        assert response.status_code == 422, response.text
        assert any(e["field"] == field for e in response.json()["errors"]), response.json()
        assert await counts(academy.database_url) == before


async def test_other_academies_see_nothing(academy: Academy) -> None:
    trainee = await academy.trainee("E-1")
    cohort = await academy.cohort()
    other = await open_academy(academy.client, academy.bus, academy.database_url, code="AM-YER")
    for path in (
        f"/v1/trainees/{trainee['id']}",
        f"/v1/cohorts/{cohort['id']}",
        f"/v1/academies/{academy.academy_id}",
    ):
        response = await academy.client.get(path, headers=other.staff)
        assert response.status_code == 404, path
    enrol = await academy.client.post(
        f"/v1/cohorts/{cohort['id']}/enrolments",
        json={"trainee_id": trainee["id"]},
        headers=other.staff,
    )
    assert enrol.status_code == 404
    write = await academy.client.post(
        "/v1/trainees",
        json={
            "academy_id": academy.academy_id,
            "employee_number": "X",
            "given_name": "A",
            "family_name": "B",
        },
        headers=other.staff,
    )
    assert write.status_code == 404


async def test_completion_emits_module_and_track_events_once(academy: Academy) -> None:
    bus = academy.bus
    async with EventTap(bus["nats_url"], bus["stream_name"], [f"{bus['subject_root']}.>"]) as tap:
        trainee = await academy.trainee("E-7", gender="female")
        cohort = await academy.cohort()
        enrolment = (
            await academy.client.post(
                f"/v1/cohorts/{cohort['id']}/enrolments",
                json={"trainee_id": trainee["id"]},
                headers=academy.staff,
            )
        ).json()
        results = f"/v1/enrolments/{enrolment['id']}/results"
        post = academy.client.post
        failed = await post(
            results,
            json={"module_code": "WPS-101", "attendance_pct": 100, "score": 50},
            headers=academy.instructor,
        )
        assert failed.json()["result"]["passed"] is False
        resit = await post(
            results,
            json={"module_code": "WPS-101", "attendance_pct": 100, "score": 75},
            headers=academy.instructor,
        )
        assert resit.json()["enrolment"]["status"] == "enrolled"
        done = await post(
            results,
            json={"module_code": "HR-102", "attendance_pct": 100},
            headers=academy.instructor,
        )
        assert done.json()["enrolment"]["status"] == "completed"
        late = await post(
            results,
            json={"module_code": "HR-102", "attendance_pct": 100},
            headers=academy.instructor,
        )
        assert late.status_code == 409
        [completed] = await tap.wait_for("track.completed")
    assert len(tap.of_type("module.completed")) == 2
    assert len(tap.of_type("trainee.enrolled")) == 1
    assert completed.data["track"]["code"] == "GHR-FOUND"
    assert [m["code"] for m in completed.data["track"]["modules"]] == ["WPS-101", "HR-102"]
    assert all(b"Petrova" not in raw and b"female" not in raw for raw in tap.raw)


async def test_an_event_committed_while_the_relay_was_down_is_published_after_restart(
    bus: dict[str, Any], database_factory: Callable[[str], str]
) -> None:
    url = database_factory("relay")  # its own database: no other relay may drain this outbox
    settings = EnrolmentSettings(database_url=url, **bus)
    app = create_app(settings)
    app.state.runtime.run_relay = False  # as if the process died right after each commit
    async with running_app(app) as client:
        await publish_event(bus, TrackPublished(track=TRACK, published_at=datetime.now(UTC)))
        academy = await open_academy(client, bus, url)
        trainee = await academy.trainee("LATE-1")

        async def enrolled() -> bool:
            cohort = await client.post(
                "/v1/cohorts",
                json={
                    "academy_id": academy.academy_id,
                    "track_code": "GHR-FOUND",
                    "title": "x",
                    "starts_on": "2026-11-02",
                    "ends_on": "2026-11-06",
                    "capacity": 5,
                },
                headers=academy.staff,
            )
            if cohort.status_code != 201:
                return False
            response = await client.post(
                f"/v1/cohorts/{cohort.json()['id']}/enrolments",
                json={"trainee_id": trainee["id"]},
                headers=academy.staff,
            )
            return response.status_code == 201

        await wait_until(enrolled, what="the track to arrive and the enrolment to succeed")
    assert (await counts(url))["events"] >= 2  # profile + enrolment, waiting in the outbox
    async with EventTap(bus["nats_url"], bus["stream_name"], [f"{bus['subject_root']}.>"]) as tap:
        assert tap.of_type("trainee.enrolled") == []
        async with running_app(create_app(settings)):
            events = await tap.wait_for("trainee.enrolled")
    assert [e.data["trainee_id"] for e in events] == [trainee["id"]]


async def test_an_unknown_time_zone_is_refused(academy: Academy) -> None:
    body = {
        "code": "XX-TZ",
        "name": "Nowhere Academy",
        "country": "XX",
        "time_zone": "Mars/Olympus",
    }
    response = await academy.client.post("/v1/academies", json=body, headers=auth("admin"))
    assert response.status_code == 422
    assert any(e["field"] == "time_zone" for e in response.json()["errors"])
    fine = await academy.client.post(
        "/v1/academies", json={**body, "time_zone": "Asia/Almaty"}, headers=auth("admin")
    )
    assert fine.status_code == 201 and fine.json()["time_zone"] == "Asia/Almaty"
