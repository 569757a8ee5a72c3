"""Compliance days are the academy's own: at 20:00 UTC on 31 March it is already 1 April in
Almaty (UTC+5), so a certificate that counts until 31 March has expired there while it still
counts in an academy on UTC; the hourly sweep takes each academy once its midnight has passed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import MetaData, select

from wps_common.db import Database
from wps_common.testing.support import create_tables
from wps_enrolment import compliance
from wps_enrolment.models import (
    Academy,
    Base,
    CertificateRecord,
    ComplianceChange,
    ComplianceRecord,
    Requirement,
    Trainee,
)

# 20:00 UTC on 31 March 2026: 1 April, 01:00 in Almaty.
EVENING = datetime(2026, 3, 31, 20, tzinfo=UTC)


@pytest.fixture
def service_metadata() -> MetaData:
    return Base.metadata


def academies_and_people() -> list[Any]:
    """Two academies, a trainee each, a requirement for both, and each trainee's certificate
    that counts until 31 March (it expires on 1 April)."""
    rows: list[Any] = [
        Requirement(
            code="REQ-GHR",
            revision=1,
            active=True,
            track_code="GHR-FOUND",
            selector={},
            grace_period_days=90,
            renewal_months=None,
            reminder_days=[],
            title={"en": "Gender and human rights foundation"},
            created_on=date(2024, 1, 1),
            changed_at=datetime(2024, 1, 1, tzinfo=UTC),
        )
    ]
    for code, zone in (("KZ-ALM", "Asia/Almaty"), ("UN-HQ", "UTC")):
        rows += [
            Academy(
                id=code,
                code=code,
                name=code,
                country="KZ",
                time_zone=zone,
                languages=["en"],
            ),
            Trainee(
                id=f"t-{code}",
                academy_id=code,
                employee_number="E-1",
                given_name="Aigerim",
                family_name="Sadykova",
                preferred_language="kk",
                active=True,
                start_date=date(2024, 1, 1),
            ),
            CertificateRecord(
                certificate_id=f"cert-{code}",
                trainee_id=f"t-{code}",
                academy_id=code,
                enrolment_id="enr-1",
                track_code="GHR-FOUND",
                issued_on=date(2024, 4, 1),
                expires_on=date(2026, 4, 1),
                status="valid",
            ),
        ]
    return rows


async def statuses(session: Any) -> dict[str, tuple[str, date]]:
    rows = await session.execute(
        select(ComplianceRecord.academy_id, ComplianceRecord.status, ComplianceRecord.evaluated_on)
    )
    return {academy: (status, on) for academy, status, on in rows}


async def test_each_academy_is_judged_on_its_own_date(service_session: Any) -> None:
    service_session.add_all(academies_and_people())
    await service_session.flush()

    await compliance.evaluate(service_session, now=EVENING)

    assert await statuses(service_session) == {
        "KZ-ALM": ("expired", date(2026, 4, 1)),
        "UN-HQ": ("compliant", date(2026, 3, 31)),
    }
    history = await service_session.execute(
        select(ComplianceChange.academy_id, ComplianceChange.status, ComplianceChange.changed_on)
    )
    assert sorted(history) == [
        ("KZ-ALM", "expired", date(2026, 4, 1)),
        ("UN-HQ", "compliant", date(2026, 3, 31)),
    ]


def test_an_unknown_zone_counts_as_utc() -> None:
    assert compliance.local_date("Asia/Almaty", EVENING) == date(2026, 4, 1)
    assert compliance.local_date("Mars/Olympus", EVENING) == date(2026, 3, 31)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await create_tables(database_url, Base.metadata)
    database = Database(database_url)
    yield database
    await database.engine.dispose()


async def test_the_sweep_takes_each_academy_after_its_own_midnight(db: Database) -> None:
    async with db.session() as session:
        session.add_all(academies_and_people())
    # 18:00 UTC: 31 March everywhere; both compliant.
    assert await compliance.sweep(db, EVENING - timedelta(hours=2)) == 2
    # 20:00 UTC: Almaty's midnight has passed (it is swept again and expires); the UTC academy
    # was swept on 31 March already and is left alone.
    assert await compliance.sweep(db, EVENING) == 1
    assert await compliance.sweep(db, EVENING + timedelta(hours=1)) == 0
    async with db.reading() as session:
        assert await statuses(session) == {
            "KZ-ALM": ("expired", date(2026, 4, 1)),
            "UN-HQ": ("compliant", date(2026, 3, 31)),
        }
        swept = dict((await session.execute(select(Academy.id, Academy.compliance_swept_on))).all())
        assert swept == {"KZ-ALM": date(2026, 4, 1), "UN-HQ": date(2026, 3, 31)}
    # Midnight UTC: the UTC academy's turn; its certificate no longer counts either.
    assert await compliance.sweep(db, datetime(2026, 4, 1, 0, 5, tzinfo=UTC)) == 1
    async with db.reading() as session:
        assert (await statuses(session))["UN-HQ"] == ("expired", date(2026, 4, 1))
