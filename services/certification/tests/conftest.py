"""Certification on a real nats-server and a fresh database, fed enrolment events."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from wps_certification.main import create_app
from wps_certification.settings import CertificationSettings
from wps_common.events.contracts import (
    ModuleFacts,
    TrackCompleted,
    TrackFacts,
    TraineeProfileChanged,
)
from wps_common.natsserver import NatsServer
from wps_common.testing import bus_settings, running_app

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


def completion(trainee_id: str, enrolment_id: str | None = None) -> TrackCompleted:
    return TrackCompleted(
        enrolment_id=enrolment_id or str(uuid.uuid4()),
        cohort_id="cohort-1",
        trainee_id=trainee_id,
        employee_number="UA-5521",
        academy_id=ACADEMY_ID,
        track=TRACK,
        completed_on=date(2026, 11, 20),
    )


@pytest.fixture
def bus(nats_server: NatsServer) -> dict[str, Any]:
    return bus_settings(nats_server.url)


@pytest.fixture
def settings(bus: dict[str, Any], database_url: str) -> CertificationSettings:
    return CertificationSettings(database_url=database_url, render_workers=0, **bus)


@pytest.fixture
async def client(settings: CertificationSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(create_app(settings)) as client:
        yield client
