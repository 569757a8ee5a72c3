"""Enrolment on a real nats-server and a fresh database, fed curriculum events as curriculum
itself would publish them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from wps_common.db import Database
from wps_common.events.contracts import ModuleFacts, TrackFacts, TrackPublished
from wps_common.natsserver import NatsServer
from wps_common.testing import auth, bus_settings, publish_event, running_app, wait_until
from wps_enrolment.main import create_app
from wps_enrolment.models import CurriculumTrack
from wps_enrolment.settings import EnrolmentSettings

TRACK = TrackFacts(
    code="GHR-FOUND",
    version=1,
    content_hash="c" * 64,
    title={"en": "Gender and human rights foundation"},
    certificate_title={"en": "Gender and Human Rights Foundation"},
    validity_months=24,
    modules=[
        ModuleFacts(
            code="WPS-101",
            version=1,
            content_hash="a" * 64,
            title={"en": "WPS agenda"},
            duration_hours=6,
            assessment="quiz",
            pass_mark=70,
            min_attendance_pct=80,
        ),
        ModuleFacts(
            code="HR-102",
            version=2,
            content_hash="b" * 64,
            title={"en": "Human rights"},
            duration_hours=4,
            assessment="none",
            pass_mark=0,
            min_attendance_pct=100,
        ),
    ],
)
ADMIN = auth("admin")


@dataclass
class Academy:
    client: httpx.AsyncClient
    bus: dict[str, Any]
    academy_id: str
    staff: dict[str, str]
    instructor: dict[str, str]
    database_url: str
    app: Any = None  # the FastAPI app, for its runtime (clock, jobs) in tests that need it

    async def trainee(self, number: str = "E-1", **fields: Any) -> dict[str, Any]:
        body = {
            "academy_id": self.academy_id,
            "employee_number": number,
            "given_name": "Ana",
            "family_name": "Petrova",
            **fields,
        }
        response = await self.client.post("/v1/trainees", json=body, headers=self.staff)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def cohort(self, capacity: int = 20) -> dict[str, Any]:
        body = {
            "academy_id": self.academy_id,
            "track_code": "GHR-FOUND",
            "title": "November",
            "starts_on": "2026-11-02",
            "ends_on": "2026-11-06",
            "capacity": capacity,
        }
        response = await self.client.post("/v1/cohorts", json=body, headers=self.staff)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def trainees(self, count: int, prefix: str = "P-") -> list[dict[str, Any]]:
        return [await self.trainee(f"{prefix}{i:03d}") for i in range(count)]

    async def enrol(self, cohort_id: str, trainee_id: str, status: int = 201) -> dict[str, Any]:
        response = await self.client.post(
            f"/v1/cohorts/{cohort_id}/enrolments",
            json={"trainee_id": trainee_id},
            headers=self.staff,
        )
        assert response.status_code == status, response.text
        return dict(response.json())

    async def result(
        self,
        enrolment_id: str,
        module: str,
        attendance: float,
        score: float | None = None,
        status: int = 201,
        **extra: Any,
    ) -> dict[str, Any]:
        body = {"module_code": module, "attendance_pct": attendance, "score": score, **extra}
        response = await self.client.post(
            f"/v1/enrolments/{enrolment_id}/results", json=body, headers=self.instructor
        )
        assert response.status_code == status, response.text
        return dict(response.json())

    async def import_csv(
        self, text: str, mode: str = "partial", *, done: bool = True
    ) -> dict[str, Any]:
        response = await self.client.post(
            f"/v1/academies/{self.academy_id}/imports?mode={mode}",
            content=text.encode(),
            headers={**self.staff, "Content-Type": "text/csv"},
        )
        assert response.status_code == 202, response.text
        job = dict(response.json())
        return await self.import_done(job["id"]) if done else job

    async def import_done(self, job_id: str) -> dict[str, Any]:
        async def finished() -> dict[str, Any] | None:
            response = await self.client.get(f"/v1/imports/{job_id}", headers=self.staff)
            assert response.status_code == 200, response.text
            job = dict(response.json())
            return job if job["status"] in ("succeeded", "failed") else None

        result: dict[str, Any] = await wait_until(finished, timeout=60, what=f"import {job_id}")
        return result


@pytest.fixture
def bus(nats_server: NatsServer) -> dict[str, Any]:
    return bus_settings(nats_server.url)


async def open_academy(
    client: httpx.AsyncClient, bus: dict[str, Any], database_url: str, code: str = "GE-TBS"
) -> Academy:
    response = await client.post(
        "/v1/academies",
        json={"code": code, "name": f"Academy {code}", "country": "GE"},
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text
    academy_id = response.json()["id"]
    return Academy(
        client,
        bus,
        academy_id,
        auth("academy_admin", academy_id=academy_id),
        auth("instructor", academy_id=academy_id),
        database_url,
    )


@pytest.fixture
async def academy(bus: dict[str, Any], database_url: str) -> AsyncIterator[Academy]:
    settings = EnrolmentSettings(database_url=database_url, **bus)
    app = create_app(settings)
    async with running_app(app) as client:
        await publish_event(bus, TrackPublished(track=TRACK, published_at=datetime.now(UTC)))
        academy = await open_academy(client, bus, database_url)
        academy.app = app

        await wait_until(
            lambda: known(database_url, CurriculumTrack, "GHR-FOUND"),
            what="track.published to reach the read model",
        )
        yield academy


async def known(database_url: str, model: Any, code: str) -> bool:
    """Whether a curriculum fact has reached the read model."""
    db = Database(database_url)
    try:
        async with db.session() as session:
            return bool(await session.scalar(select(model.id).where(model.code == code)))
    finally:
        await db.dispose()
