"""Enrolment use cases. Functions never commit: the caller's unit of work does."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.auth import Principal, Role
from wps_common.db import utcnow
from wps_common.errors import Conflict, InvalidInput, NotFound
from wps_common.events.contracts import (
    ModuleCompleted,
    TrackCompleted,
    TrackFacts,
    TraineeEnrolled,
    TraineeProfileChanged,
)
from wps_enrolment.models import (
    Academy,
    Cohort,
    CurriculumTrack,
    Enrolment,
    ModuleResult,
    Trainee,
    outbox,
)
from wps_enrolment.schemas import AcademyCreate, CohortCreate, ResultCreate, TraineeCreate


async def create_academy(session: AsyncSession, *, data: AcademyCreate) -> Academy:
    if await session.scalar(select(Academy.id).where(Academy.code == data.code)):
        raise Conflict(f"An academy with code {data.code} already exists.")
    academy = Academy(**data.model_dump())
    session.add(academy)
    await session.flush()
    return academy


async def get_academy(session: AsyncSession, *, academy_id: str, who: Principal) -> Academy:
    who.check_academy(academy_id, "academy")
    academy = await session.get(Academy, academy_id)
    if academy is None:
        raise NotFound("No such academy.")
    return academy


async def create_trainee(session: AsyncSession, *, data: TraineeCreate, who: Principal) -> Trainee:
    academy = await _academy_for_write(session, data.academy_id, who)
    duplicate = await session.scalar(
        select(Trainee.id).where(
            Trainee.academy_id == academy.id, Trainee.employee_number == data.employee_number
        )
    )
    if duplicate:
        raise Conflict(
            f"Employee number {data.employee_number} is already registered in this academy.",
            trainee_id=duplicate,
        )
    trainee = Trainee(**data.model_dump(), active=True)
    session.add(trainee)
    await session.flush()
    await _announce_profile(session, trainee, academy)
    return trainee


async def _announce_profile(session: AsyncSession, trainee: Trainee, academy: Academy) -> None:
    # Restricted stream only: certification prints these details; HR never receives them.
    await outbox.add(
        session,
        TraineeProfileChanged(
            trainee_id=trainee.id,
            academy_id=academy.id,
            academy_code=academy.code,
            academy_name=academy.name,
            employee_number=trainee.employee_number,
            given_name=trainee.given_name,
            family_name=trainee.family_name,
            preferred_language=trainee.preferred_language,
            active=trainee.active,
            changed_at=utcnow(),
        ),
    )


async def _academy_for_write(session: AsyncSession, academy_id: str, who: Principal) -> Academy:
    who.check_academy(academy_id, "academy")
    academy = await session.get(Academy, academy_id)
    if academy is None:
        raise InvalidInput(f"There is no academy {academy_id}.", field="academy_id")
    return academy


async def get_trainee(session: AsyncSession, *, trainee_id: str, who: Principal) -> Trainee:
    trainee = await session.get(Trainee, trainee_id)
    if trainee is None or (who.is_trainee_only() and who.subject != trainee_id):
        raise NotFound("No such trainee.")
    who.check_academy(trainee.academy_id, "trainee")
    return trainee


async def published_track(session: AsyncSession, code: str) -> CurriculumTrack | None:
    return await session.scalar(
        select(CurriculumTrack)
        .where(CurriculumTrack.code == code, CurriculumTrack.status == "published")
        .order_by(CurriculumTrack.version.desc())
        .limit(1)
    )


async def create_cohort(session: AsyncSession, *, data: CohortCreate, who: Principal) -> Cohort:
    await _academy_for_write(session, data.academy_id, who)
    track = await published_track(session, data.track_code)
    if track is None:
        raise InvalidInput(
            f"Track {data.track_code} is not published (or its publication has not reached "
            "this service yet).",
            field="track_code",
        )
    cohort = Cohort(**data.model_dump(), track_version=track.version)
    session.add(cohort)
    await session.flush()
    return cohort


async def get_cohort(
    session: AsyncSession, *, cohort_id: str, who: Principal, lock: bool = False
) -> Cohort:
    stmt = select(Cohort).where(Cohort.id == cohort_id)
    cohort = await session.scalar(stmt.with_for_update() if lock else stmt)
    if cohort is None:
        raise NotFound("No such cohort.")
    who.check_academy(cohort.academy_id, "cohort")
    return cohort


async def enrol(
    session: AsyncSession, *, cohort_id: str, trainee_id: str, who: Principal
) -> Enrolment:
    cohort = await get_cohort(session, cohort_id=cohort_id, who=who, lock=True)
    trainee = await session.get(Trainee, trainee_id)
    if trainee is None or trainee.academy_id != cohort.academy_id:
        raise InvalidInput("There is no such trainee in this cohort's academy.", field="trainee_id")
    if not trainee.active:
        raise Conflict("The trainee is deactivated and cannot be enrolled.")
    existing = await session.scalar(
        select(Enrolment.id).where(
            Enrolment.cohort_id == cohort.id, Enrolment.trainee_id == trainee.id
        )
    )
    if existing:
        raise Conflict("The trainee is already enrolled in this cohort.", enrolment_id=existing)
    taken = await session.scalar(
        select(func.count())
        .select_from(Enrolment)
        .where(Enrolment.cohort_id == cohort.id, Enrolment.status.in_(["enrolled", "completed"]))
    )
    if (taken or 0) >= cohort.capacity:
        raise Conflict(f"The cohort is full ({cohort.capacity} seats).")
    enrolment = Enrolment(
        cohort_id=cohort.id, trainee_id=trainee.id, academy_id=cohort.academy_id, status="enrolled"
    )
    session.add(enrolment)
    await session.flush()
    await outbox.add(
        session,
        TraineeEnrolled(
            enrolment_id=enrolment.id,
            cohort_id=cohort.id,
            trainee_id=trainee.id,
            employee_number=trainee.employee_number,
            academy_id=cohort.academy_id,
            track_code=cohort.track_code,
            track_version=cohort.track_version,
            status="enrolled",
            enrolled_at=enrolment.enrolled_at,
        ),
    )
    return enrolment


async def get_enrolment(
    session: AsyncSession, *, enrolment_id: str, who: Principal, lock: bool = False
) -> Enrolment:
    stmt = select(Enrolment).where(Enrolment.id == enrolment_id)
    enrolment = await session.scalar(stmt.with_for_update() if lock else stmt)
    if enrolment is None or (who.is_trainee_only() and who.subject != enrolment.trainee_id):
        raise NotFound("No such enrolment.")
    who.check_academy(enrolment.academy_id, "enrolment")
    return enrolment


async def record_result(
    session: AsyncSession, *, enrolment_id: str, data: ResultCreate, who: Principal, today: date
) -> tuple[ModuleResult, Enrolment]:
    """Record a module result; passing the last module completes the track (one event each)."""
    enrolment = await get_enrolment(session, enrolment_id=enrolment_id, who=who, lock=True)
    if enrolment.status != "enrolled":
        raise Conflict(f"The enrolment is {enrolment.status}; results can no longer be recorded.")
    cohort = await session.get(Cohort, enrolment.cohort_id)
    assert cohort is not None
    track_row = await session.scalar(
        select(CurriculumTrack).where(
            CurriculumTrack.code == cohort.track_code,
            CurriculumTrack.version == cohort.track_version,
        )
    )
    assert track_row is not None  # a cohort is only created for a known track version
    track = TrackFacts.model_validate(track_row.facts)
    module = next((m for m in track.modules if m.code == data.module_code), None)
    if module is None:
        codes = ", ".join(m.code for m in track.modules)
        raise InvalidInput(
            f"Module {data.module_code} is not part of track {track.code} (modules: {codes}).",
            field="module_code",
        )
    if module.assessment != "none" and data.score is None:
        raise InvalidInput(f"Module {module.code} is assessed: a score is required.", field="score")
    passed = data.attendance_pct >= module.min_attendance_pct and (
        module.assessment == "none" or (data.score or 0) >= module.pass_mark
    )
    already_passed = await _passed_modules(session, enrolment.id)
    result = ModuleResult(
        enrolment_id=enrolment.id,
        module_code=module.code,
        module_version=module.version,
        attendance_pct=data.attendance_pct,
        score=data.score,
        passed=passed,
        recorded_by=who.subject,
    )
    session.add(result)
    await session.flush()
    trainee = await session.get(Trainee, enrolment.trainee_id)
    assert trainee is not None
    if passed and module.code not in already_passed:
        await outbox.add(
            session,
            ModuleCompleted(
                enrolment_id=enrolment.id,
                trainee_id=trainee.id,
                employee_number=trainee.employee_number,
                academy_id=enrolment.academy_id,
                module_code=module.code,
                module_version=module.version,
                attendance_pct=data.attendance_pct,
                score=data.score,
                completed_on=today,
                module=module,
            ),
        )
    if {m.code for m in track.modules} <= await _passed_modules(session, enrolment.id):
        enrolment.status = "completed"
        enrolment.completed_on = today
        await outbox.add(
            session,
            TrackCompleted(
                enrolment_id=enrolment.id,
                cohort_id=cohort.id,
                trainee_id=trainee.id,
                employee_number=trainee.employee_number,
                academy_id=enrolment.academy_id,
                track=track,
                completed_on=today,
            ),
        )
    return result, enrolment


async def _passed_modules(session: AsyncSession, enrolment_id: str) -> set[str]:
    """Modules whose latest result is a pass (a correction to a fail withdraws the pass)."""
    rows = (
        await session.execute(
            select(ModuleResult.module_code, ModuleResult.passed)
            .where(ModuleResult.enrolment_id == enrolment_id)
            .order_by(ModuleResult.recorded_at, ModuleResult.id)
        )
    ).all()
    latest: dict[str, bool] = {}
    for code, passed in rows:
        latest[code] = passed
    return {code for code, passed in latest.items() if passed}


def can_record_results(who: Principal) -> bool:
    return who.has(Role.ADMIN, Role.ACADEMY_ADMIN, Role.INSTRUCTOR)
