"""Enrolment's service functions called directly, each test in a transaction rolled back
afterwards: the compliance evaluation (rows written, one compliance.changed per transition,
rows that no longer apply removed), registering trainees, enrolling and recording results up to
the track's completion or the enrolment's failure, and exemptions."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import MetaData, delete, event, select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.auth import Principal, Role
from wps_common.errors import Conflict, InvalidInput, NotFound
from wps_common.events.contracts import (
    ComplianceChanged,
    EnrolmentFailed,
    ModuleCompleted,
    TrackCompleted,
    TrackPublished,
    TraineeEnrolled,
    TraineeProfileChanged,
)
from wps_common.events.envelope import CloudEvent
from wps_common.testing import outbox_events
from wps_enrolment import compliance, compliance_status, curriculum, results, trainees
from wps_enrolment.academies import create_academy
from wps_enrolment.cohorts import create_cohort
from wps_enrolment.enrolments import enrol_many
from wps_enrolment.models import (
    Academy,
    AuditEntry,
    Base,
    CertificateRecord,
    ComplianceRecord,
    Enrolment,
    Exemption,
    Requirement,
    Trainee,
    outbox,
)
from wps_enrolment.schemas import AcademyCreate, CohortCreate, ResultCreate, TraineeCreate

from .conftest import TRACK

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


def noon(day: date) -> datetime:
    """Midday UTC: the same date in every academy of these tests (they are in UTC)."""
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


async def evaluate(session: AsyncSession, today: date, **scope: Any) -> int:
    transitions = await compliance.evaluate(session, now=noon(today), **scope)
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

    async def test_rows_that_no_longer_apply_are_removed_and_announced(
        self, service_session: AsyncSession
    ) -> None:
        await academy(service_session)
        person = await trainee(service_session)
        rule = await requirement(service_session)
        await requirement(service_session, "REQ-WPS")
        await evaluate(service_session, date(2026, 3, 1))
        first = await changes(service_session)
        rule.active = False
        await service_session.flush()
        assert await evaluate(service_session, date(2026, 3, 1)) == 1
        assert [s[1] for s in await statuses(service_session)] == ["REQ-WPS"]
        person.active = False
        await service_session.flush()
        await evaluate(service_session, date(2026, 3, 1))
        assert await statuses(service_session) == []
        # The two first verdicts, then each requirement that stopped applying (ADR 0030).
        later = (await changes(service_session))[len(first) :]
        assert len(first) == 2
        assert [status for _, _, status in later] == ["not_applicable", "not_applicable"]
        assert all(previous is not None for _, previous, _ in later)

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


ADMIN = Principal(subject="admin-1", roles=frozenset({Role.ADMIN}))
TODAY = date(2026, 11, 20)
NOW = noon(TODAY)


async def types(session: AsyncSession) -> list[str]:
    return [e.type for e in await outbox_events(session, outbox)]


async def registered(session: AsyncSession, employee_number: str = "E-1") -> Trainee:
    academy_id = await session.scalar(select(Academy.id).where(Academy.code == "KZ-ALM"))
    if academy_id is None:
        data = AcademyCreate(code="KZ-ALM", name="Almaty Academy", country="KZ")
        academy_id = (await create_academy(session, data=data, who=ADMIN)).id
    data = TraineeCreate(
        academy_id=academy_id,
        employee_number=employee_number,
        given_name="Aigerim",
        family_name="Sadykova",
        rank="Captain",
        start_date=date(2026, 2, 1),
    )
    return await trainees.create_trainee(session, data=data, who=ADMIN, now=NOW)


async def enrolled(session: AsyncSession, max_attempts: int = 3) -> Enrolment:
    """A trainee enrolled in a cohort of the published GHR-FOUND track (WPS-101 is a quiz with
    a pass mark of 70; HR-102 is not assessed)."""
    published = TrackPublished(track=TRACK, published_at=datetime(2026, 9, 1, tzinfo=UTC))
    await curriculum.on_track_published(session, published, CloudEvent.of(published))
    trainee = await registered(session)
    cohort = await create_cohort(
        session,
        data=CohortCreate(
            academy_id=trainee.academy_id,
            track_code="GHR-FOUND",
            title="Autumn",
            starts_on=date(2026, 10, 1),
            ends_on=date(2026, 11, 30),
            capacity=10,
        ),
        who=ADMIN,
        max_attempts=max_attempts,
    )
    [enrolment] = await enrol_many(
        session, cohort_id=cohort.id, trainee_ids=[trainee.id], who=ADMIN
    )
    return enrolment


async def result(
    session: AsyncSession,
    enrolment: Enrolment,
    module: str,
    attendance: float,
    score: float | None,
    now: datetime = NOW,
) -> Enrolment:
    _, after = await results.record_result(
        session,
        enrolment_id=enrolment.id,
        data=ResultCreate(module_code=module, attendance_pct=attendance, score=score),
        who=ADMIN,
        now=now,
    )
    return after


class TestTrainees:
    async def test_registering_writes_the_trainee_its_audit_and_profile_event(
        self, service_session: AsyncSession
    ) -> None:
        trainee = await registered(service_session)
        stored = await service_session.get(Trainee, trainee.id)
        assert stored is not None and (stored.employee_number, stored.active) == ("E-1", True)
        audit = await service_session.scalars(
            select(AuditEntry.action).where(AuditEntry.entity_id == trainee.id)
        )
        assert list(audit) == ["created"]
        [event] = await outbox_events(service_session, outbox)
        assert event.type == TraineeProfileChanged.event_type()
        assert (event.data["trainee_id"], event.data["academy_code"]) == (trainee.id, "KZ-ALM")

    async def test_an_employee_number_is_taken_once_per_academy(
        self, service_session: AsyncSession
    ) -> None:
        first = await registered(service_session)
        with pytest.raises(Conflict, match="E-1") as taken:
            await registered(service_session)
        assert taken.value.extensions["trainee_id"] == first.id
        assert len(list(await service_session.scalars(select(Trainee.id)))) == 1


class TestResults:
    async def test_a_completion_is_dated_on_the_academys_calendar(
        self, service_session: AsyncSession
    ) -> None:
        enrolment = await enrolled(service_session)
        academy = await service_session.get(Academy, enrolment.academy_id)
        assert academy is not None
        academy.time_zone = "Asia/Almaty"
        evening = datetime(2026, 3, 31, 20, tzinfo=UTC)  # 1 April, 01:00 in Almaty
        await result(service_session, enrolment, "WPS-101", 90, 85, now=evening)
        after = await result(service_session, enrolment, "HR-102", 100, None, now=evening)
        assert (after.status, after.completed_on) == ("completed", date(2026, 4, 1))
        *_, completed = await outbox_events(service_session, outbox)
        assert completed.data["completed_on"] == "2026-04-01"

    async def test_passing_every_module_completes_the_track(
        self, service_session: AsyncSession
    ) -> None:
        enrolment = await enrolled(service_session)
        assert (await result(service_session, enrolment, "WPS-101", 90, 85)).status == "enrolled"
        after = await result(service_session, enrolment, "HR-102", 100, None)
        assert (after.status, after.completed_on) == ("completed", TODAY)
        assert await types(service_session) == [
            kind.event_type()
            for kind in (
                TraineeProfileChanged,
                TraineeEnrolled,
                ModuleCompleted,
                ModuleCompleted,
                TrackCompleted,
            )
        ]
        *_, completed = await outbox_events(service_session, outbox)
        assert completed.type == TrackCompleted.event_type()
        assert completed.data["enrolment_id"] == enrolment.id
        assert completed.data["track"]["code"] == "GHR-FOUND"
        assert completed.data["completed_on"] == "2026-11-20"

    async def test_a_fail_then_a_pass_announces_the_module_once(
        self, service_session: AsyncSession
    ) -> None:
        enrolment = await enrolled(service_session)
        await result(service_session, enrolment, "WPS-101", 90, 60)
        await result(service_session, enrolment, "WPS-101", 90, 75)
        with pytest.raises(Conflict, match="already passed"):
            await result(service_session, enrolment, "WPS-101", 90, 95)
        completed = [
            e.data
            for e in await outbox_events(service_session, outbox)
            if e.type == ModuleCompleted.event_type()
        ]
        assert [(c["module_code"], c["score"]) for c in completed] == [("WPS-101", 75)]

    async def test_failing_the_last_attempt_fails_the_enrolment(
        self, service_session: AsyncSession
    ) -> None:
        enrolment = await enrolled(service_session, max_attempts=2)
        await result(service_session, enrolment, "WPS-101", 90, 50)
        after = await result(service_session, enrolment, "WPS-101", 50, 90)  # attendance short
        assert (after.status, after.failed_on) == ("failed", TODAY)
        *_, failed = await outbox_events(service_session, outbox)
        assert failed.type == EnrolmentFailed.event_type()
        assert (failed.data["module_code"], failed.data["attempts"]) == ("WPS-101", 2)
        with pytest.raises(Conflict, match="failed"):
            await result(service_session, enrolment, "HR-102", 100, None)

    @pytest.mark.parametrize(
        ("module", "score", "field"),
        [("WPS-101", None, "score"), ("XYZ-999", 80, "module_code")],
        ids=["assessed_without_score", "not_taught"],
    )
    async def test_bad_results_are_invalid_input_and_write_nothing(
        self, service_session: AsyncSession, module: str, score: float | None, field: str
    ) -> None:
        enrolment = await enrolled(service_session)
        before = await types(service_session)
        with pytest.raises(InvalidInput) as refused:
            await result(service_session, enrolment, module, 90, score)
        assert refused.value.extensions["errors"][0]["field"] == field
        assert await types(service_session) == before

    async def test_enrolling_announces_each_trainee(self, service_session: AsyncSession) -> None:
        enrolment = await enrolled(service_session)
        [event] = [
            e
            for e in await outbox_events(service_session, outbox)
            if e.type == TraineeEnrolled.event_type()
        ]
        assert (event.data["enrolment_id"], event.data["status"]) == (enrolment.id, "enrolled")


class TestExemptions:
    async def test_exempt_and_lift_recompute_compliance(
        self, service_session: AsyncSession
    ) -> None:
        trainee = await registered(service_session)
        await requirement(service_session)
        await compliance.evaluate(service_session, now=NOW, trainee_ids=[trainee.id])
        scope = {"trainee_id": trainee.id, "requirement_code": "REQ-GHR", "who": ADMIN}
        await compliance_status.exempt(
            service_session, **scope, reason="served as a trainer", now=NOW
        )
        service_session.expire_all()
        assert [s[2] for s in await statuses(service_session)] == ["exempt"]
        await compliance_status.lift_exemption(service_session, **scope, now=NOW)
        service_session.expire_all()
        assert [s[2] for s in await statuses(service_session)] == ["overdue"]
        assert [c[1:] for c in await changes(service_session)] == [
            (None, "overdue"),
            ("overdue", "exempt"),
            ("exempt", "overdue"),
        ]
        with pytest.raises(NotFound):
            await compliance_status.lift_exemption(service_session, **scope, now=NOW)

    async def test_an_unknown_requirement_cannot_be_exempted(
        self, service_session: AsyncSession
    ) -> None:
        trainee = await registered(service_session)
        with pytest.raises(NotFound, match="REQ-NONE"):
            await compliance_status.exempt(
                service_session,
                trainee_id=trainee.id,
                requirement_code="REQ-NONE",
                reason="not needed",
                who=ADMIN,
                now=NOW,
            )
        assert await service_session.scalar(select(Exemption.trainee_id)) is None


class TestEnrolStatements:
    async def test_enrolling_one_trainee_reads_once_or_twice_and_inserts_once_per_table(
        self, service_session: AsyncSession
    ) -> None:
        # The locked cohort with its curriculum and the trainee with its standing and the seat
        # count (one statement on SQLite, whose transaction holds the write lock from its
        # start; two on PostgreSQL, where the count must be read after the row lock is
        # granted); then the enrolment, its event and its audit entry: a number to keep, not
        # a timing.
        published = TrackPublished(track=TRACK, published_at=datetime(2026, 9, 1, tzinfo=UTC))
        await curriculum.on_track_published(service_session, published, CloudEvent.of(published))
        trainee = await registered(service_session)
        cohort = await create_cohort(
            service_session,
            data=CohortCreate(
                academy_id=trainee.academy_id,
                track_code="GHR-FOUND",
                title="Autumn",
                starts_on=date(2026, 10, 1),
                ends_on=date(2026, 11, 30),
                capacity=10,
            ),
            who=ADMIN,
            max_attempts=3,
        )
        await service_session.flush()
        statements: list[str] = []

        def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            statements.append(statement.split()[0].upper())

        engine = service_session.bind.sync_engine  # type: ignore[union-attr]
        event.listen(engine, "before_cursor_execute", count)
        try:
            [enrolment] = await enrol_many(
                service_session, cohort_id=cohort.id, trainee_ids=[trainee.id], who=ADMIN
            )
            await service_session.flush()
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert enrolment.status == "enrolled"
        reads = ["SELECT"] if engine.dialect.name == "sqlite" else ["SELECT", "SELECT"]
        assert statements == [*reads, "INSERT", "INSERT", "INSERT"]
