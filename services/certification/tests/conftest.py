"""Certification on a real nats-server and a fresh database, fed enrolment events."""

from __future__ import annotations

import pathlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from wps_certification.main import create_app
from wps_certification.models import Certificate
from wps_certification.settings import CertificationSettings
from wps_common.db import Database
from wps_common.events.contracts import (
    ModuleFacts,
    TrackCompleted,
    TrackFacts,
    TraineeProfileChanged,
)
from wps_common.natsserver import NatsServer
from wps_common.testing import EventTap, bus_settings, publish_event, running_app, wait_until

TRACK = TrackFacts(
    code="GHR-FOUND",
    version=3,
    content_hash="c" * 64,
    title={"en": "Gender and human rights foundation", "ru": "Основы: гендер и права человека"},
    certificate_title={"en": "Gender and Human Rights Foundation", "ru": "Гендер и права человека"},
    validity_months=24,
    modules=[
        ModuleFacts(
            code="WPS-101",
            version=1,
            content_hash="a" * 64,
            title={"en": "The WPS agenda", "ru": "Повестка ЖМБ"},
            duration_hours=6,
            assessment="quiz",
            pass_mark=70,
            min_attendance_pct=80,
        )
    ],
)
ACADEMY_ID = "academy-1"


def profile(trainee_id: str, **changes: Any) -> TraineeProfileChanged:
    values: dict[str, Any] = {
        "trainee_id": trainee_id,
        "academy_id": ACADEMY_ID,
        "academy_code": "UA-KYIV",
        "academy_name": "Kyiv Police Academy",
        "employee_number": "UA-5521",
        "given_name": "Олена",
        "family_name": "Коваленко",
        "preferred_language": "ru",
        "active": True,
        "changed_at": datetime.now(UTC),
    }
    return TraineeProfileChanged(**{**values, **changes})


def completion(
    trainee_id: str,
    enrolment_id: str | None = None,
    *,
    track: TrackFacts = TRACK,
    completed_on: date = date(2026, 11, 20),
    academy_id: str = ACADEMY_ID,
) -> TrackCompleted:
    return TrackCompleted(
        enrolment_id=enrolment_id or str(uuid.uuid4()),
        cohort_id="cohort-1",
        trainee_id=trainee_id,
        employee_number="UA-5521",
        academy_id=academy_id,
        track=track,
        completed_on=completed_on,
    )


@pytest.fixture
def bus(nats_server: NatsServer) -> dict[str, Any]:
    return bus_settings(nats_server.url)


@pytest.fixture
def settings(
    bus: dict[str, Any], database_url: str, tmp_path: pathlib.Path
) -> CertificationSettings:
    return CertificationSettings(
        database_url=database_url, render_workers=0, var_dir=tmp_path / "var", **bus
    )


@pytest.fixture
async def client(settings: CertificationSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(create_app(settings)) as client:
        yield client


async def stored_certificates(database_url: str, **where: Any) -> list[Certificate]:
    """Certificates in the service's database (optionally filtered by column values)."""
    db = Database(database_url)
    try:
        async with db.session() as session:
            stmt = select(Certificate).order_by(Certificate.created_at)
            for column, value in where.items():
                stmt = stmt.where(getattr(Certificate, column) == value)
            return list((await session.scalars(stmt)).all())
    finally:
        await db.dispose()


async def issue(
    bus: dict[str, Any],
    database_url: str,
    trainee_id: str,
    done: TrackCompleted | None = None,
    **profile_changes: Any,
) -> Certificate:
    """Feed a profile and a completion; wait for and return the stored certificate."""
    await publish_event(bus, profile(trainee_id, **profile_changes))
    fact = done or completion(trainee_id)
    await publish_event(bus, fact)

    async def issued() -> list[Certificate]:
        return await stored_certificates(database_url, enrolment_id=fact.enrolment_id)

    [certificate] = await wait_until(issued, what="the certificate")
    return certificate


class FakeClock:
    """The runtime's clock, moved by tests."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def tap_for(bus: dict[str, Any]) -> EventTap:
    return EventTap(bus["nats_url"], bus["stream_name"], [f"{bus['subject_root']}.>"])
