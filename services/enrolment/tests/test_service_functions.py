"""Enrolment's service functions called directly, each test in a transaction rolled back
afterwards: the compliance evaluation (rows written, one compliance.changed per transition,
rows that no longer apply removed)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import MetaData, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.events.contracts import ComplianceChanged
from wps_common.testing import outbox_events
from wps_enrolment import compliance
from wps_enrolment.models import (
    Academy,
    Base,
    CertificateRecord,
    ComplianceRecord,
    Exemption,
    Requirement,
    Trainee,
    outbox,
)

# Started 1 Feb 2026 under a rule with 90 days' grace: due by 2 May 2026.
DEADLINE = date(2026, 5, 2)


@pytest.fixture
def service_metadata() -> MetaData:
    return Base.metadata


async def academy(session: AsyncSession) -> Academy:
    row = Academy(
        id="academy-1",
        code="KZ-ALM",
        name="Almaty Academy",
        country="KZ",
        time_zone="Asia/Almaty",
        languages=["kk", "ru"],
    )
    session.add(row)
    await session.flush()
    return row


async def trainee(session: AsyncSession, number: int = 1, **changes: Any) -> Trainee:
    fields: dict[str, Any] = {
        "id": f"trainee-{number}",
        "academy_id": "academy-1",
        "employee_number": f"E-{number}",
        "given_name": "Aigerim",
        "family_name": "Sadykova",
        "preferred_language": "kk",
        "rank": "Captain",
        "start_date": date(2026, 2, 1),
        **changes,
    }
    row = Trainee(**fields)
    session.add(row)
    await session.flush()
    return row


async def requirement(session: AsyncSession, code: str = "REQ-GHR", **changes: Any) -> Requirement:
    fields: dict[str, Any] = {
        "code": code,
        "revision": 1,
        "active": True,
        "track_code": "GHR-FOUND",
        "selector": {"ranks": ["Captain"]},
        "grace_period_days": 90,
        "renewal_months": 24,
        "reminder_days": [60, 30],
        "title": {"en": "Gender and human rights foundation"},
        "created_on": date(2026, 1, 1),
        "changed_at": datetime(2026, 1, 1, tzinfo=UTC),
        **changes,
    }
    row = Requirement(**fields)
    session.add(row)
    await session.flush()
    return row


async def statuses(session: AsyncSession) -> list[tuple[str, str, str, date | None]]:
    rows = await session.scalars(
        select(ComplianceRecord).order_by(
            ComplianceRecord.trainee_id, ComplianceRecord.requirement_code
        )
    )
    return [(r.trainee_id, r.requirement_code, r.status, r.due_on) for r in rows]


async def changes(session: AsyncSession) -> list[tuple[str, str | None, str]]:
    return [
        (e.data["trainee_id"], e.data["previous_status"], e.data["status"])
        for e in await outbox_events(session, outbox)
        if e.type == ComplianceChanged.event_type()
    ]


async def evaluate(session: AsyncSession, today: date, **scope: Any) -> int:
    transitions = await compliance.evaluate(session, today=today, **scope)
    session.expire_all()
    return transitions


class TestEvaluateCompliance:
    async def test_first_evaluation_writes_and_announces_each_pair(
        self, service_session: AsyncSession
    ) -> None:
        await academy(service_session)
        await trainee(service_session, 1)
        await trainee(service_session, 2, rank="Major")  # the selector leaves them out
        await requirement(service_session)
        assert await evaluate(service_session, date(2026, 3, 1)) == 1
        assert await statuses(service_session) == [("trainee-1", "REQ-GHR", "due", DEADLINE)]
        [event] = await outbox_events(service_session, outbox)
        assert event.type == ComplianceChanged.event_type()
        assert event.data["requirement_code"] == "REQ-GHR"
        assert event.data["previous_status"] is None
        assert event.data["due_on"] == "2026-05-02"
        assert event.data["academy_id"] == "academy-1"

    async def test_the_same_day_again_changes_nothing(self, service_session: AsyncSession) -> None:
        await academy(service_session)
        await trainee(service_session)
        await requirement(service_session)
        await evaluate(service_session, date(2026, 3, 1))
        assert await evaluate(service_session, date(2026, 3, 1)) == 0
        assert await evaluate(service_session, date(2026, 3, 2)) == 0
        assert await changes(service_session) == [("trainee-1", None, "due")]

    async def test_grace_runs_out_renewal_window_opens_and_lapses_once_each(
        self, service_session: AsyncSession
    ) -> None:
        await academy(service_session)
        await trainee(service_session)
        await requirement(service_session)
        days = [date(2026, 3, 1), DEADLINE, date(2026, 5, 3), date(2026, 5, 4)]
        for day in days:
            await evaluate(service_session, day)
        service_session.add(
            CertificateRecord(
                certificate_id="cert-1",
                trainee_id="trainee-1",
                academy_id="academy-1",
                enrolment_id="enrolment-1",
                track_code="GHR-FOUND",
                issued_on=date(2026, 5, 10),
                expires_on=date(2029, 5, 10),
                status="valid",
            )
        )
        await service_session.flush()
        # Renewal after 24 months: counts until 10 May 2028, the window opens 60 days before.
        for day in [date(2026, 5, 10), date(2028, 3, 10), date(2028, 3, 11), date(2028, 5, 10)]:
            await evaluate(service_session, day, trainee_ids=["trainee-1"])
        assert await changes(service_session) == [
            ("trainee-1", None, "due"),
            ("trainee-1", "due", "overdue"),
            ("trainee-1", "overdue", "compliant"),
            ("trainee-1", "compliant", "due"),
            ("trainee-1", "due", "expired"),
        ]
        assert await statuses(service_session) == [
            ("trainee-1", "REQ-GHR", "expired", date(2028, 5, 10))
        ]

    async def test_an_exemption_and_its_lifting_are_transitions(
        self, service_session: AsyncSession
    ) -> None:
        await academy(service_session)
        await trainee(service_session)
        await requirement(service_session)
        await requirement(service_session, "REQ-WPS")
        await evaluate(service_session, date(2026, 6, 1))
        service_session.add(
            Exemption(
                trainee_id="trainee-1",
                requirement_code="REQ-GHR",
                reason="served as a trainer",
                granted_by="admin-1",
            )
        )
        await service_session.flush()
        assert await evaluate(service_session, date(2026, 6, 1)) == 1
        assert [s[1:3] for s in await statuses(service_session)] == [
            ("REQ-GHR", "exempt"),
            ("REQ-WPS", "overdue"),
        ]
        await service_session.execute(delete(Exemption))
        assert await evaluate(service_session, date(2026, 6, 2)) == 1
        assert [s[1:3] for s in await statuses(service_session)] == [
            ("REQ-GHR", "overdue"),
            ("REQ-WPS", "overdue"),
        ]

    async def test_rows_that_no_longer_apply_are_removed_quietly(
        self, service_session: AsyncSession
    ) -> None:
        await academy(service_session)
        person = await trainee(service_session)
        rule = await requirement(service_session)
        await requirement(service_session, "REQ-WPS")
        await evaluate(service_session, date(2026, 3, 1))
        rule.active = False
        await service_session.flush()
        assert await evaluate(service_session, date(2026, 3, 1)) == 0
        assert [s[1] for s in await statuses(service_session)] == ["REQ-WPS"]
        person.active = False
        await service_session.flush()
        await evaluate(service_session, date(2026, 3, 1))
        assert await statuses(service_session) == []
        assert len(await changes(service_session)) == 2  # the two first verdicts only

    async def test_scope_by_trainee_academy_and_requirement(
        self, service_session: AsyncSession
    ) -> None:
        await academy(service_session)
        await trainee(service_session, 1)
        await trainee(service_session, 2)
        await requirement(service_session, "REQ-GHR")
        await requirement(service_session, "REQ-WPS")
        await evaluate(service_session, date(2026, 3, 1), trainee_ids=["trainee-2"])
        await evaluate(service_session, date(2026, 3, 1), requirement_codes=["REQ-WPS"])
        assert [s[:2] for s in await statuses(service_session)] == [
            ("trainee-1", "REQ-WPS"),
            ("trainee-2", "REQ-GHR"),
            ("trainee-2", "REQ-WPS"),
        ]
        assert await evaluate(service_session, date(2026, 3, 1), academy_id="academy-1") == 1
        assert await evaluate(service_session, date(2026, 3, 1), academy_id="elsewhere") == 0
