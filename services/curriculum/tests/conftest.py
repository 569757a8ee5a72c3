"""Curriculum on a real nats-server and a fresh database (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from wps_common.db import Database
from wps_common.natsserver import NatsServer
from wps_common.testing import auth, bus_settings, running_app
from wps_curriculum.main import create_app
from wps_curriculum.models import Base
from wps_curriculum.settings import CurriculumSettings


@pytest.fixture
def bus(nats_server: NatsServer) -> dict[str, Any]:
    return bus_settings(nats_server.url)


@pytest.fixture
def settings(bus: dict[str, Any], database_url: str) -> CurriculumSettings:
    return CurriculumSettings(database_url=database_url, **bus)


@pytest.fixture
async def client(settings: CurriculumSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(create_app(settings)) as client:
        yield client


MODULE: dict[str, Any] = {
    "code": "WPS-101",
    "title": {"en": "Women, Peace and Security", "ru": "Женщины, мир и безопасность"},
    "duration_hours": 6,
    "assessment": {"kind": "quiz", "pass_mark": 70},
    "min_attendance_pct": 80,
    "references": ["UNSCR 1325 (2000)"],
}
TRACK: dict[str, Any] = {
    "code": "GHR-FOUND",
    "title": {"en": "Gender and human rights foundation"},
    "certificate_title": {"en": "Gender and Human Rights Foundation"},
    "modules": [{"code": "WPS-101", "version": 1}],
    "validity_months": 24,
}

ADMIN = auth("admin")
REVIEWER = auth("reviewer", sub="reviewer-1")


async def publish(
    client: httpx.AsyncClient, kind: str, code: str, version: int = 1, *, author: Any = None
) -> dict[str, Any]:
    """Take a version through review: submit (author), approve (a reviewer), publish."""
    author = author or ADMIN
    base = f"/v1/{kind}/{code}/versions/{version}"
    for action, headers in (("submit", author), ("approve", REVIEWER), ("publish", author)):
        response = await client.post(f"{base}/{action}", headers=headers)
        assert response.status_code == 200, f"{action}: {response.text}"
    body: dict[str, Any] = response.json()
    return body


async def table_counts(database_url: str) -> dict[str, int]:
    """Rows in every curriculum table: what a refused request must leave unchanged."""
    db = Database(database_url)
    try:
        async with db.session() as session:
            counts = {}
            for table in Base.metadata.sorted_tables:
                if table.name == "idempotency_keys":
                    continue
                counts[table.name] = int(
                    await session.scalar(select(func.count()).select_from(table)) or 0
                )
            return counts
    finally:
        await db.dispose()
