"""Enrolment use cases: academies, trainees, cohorts, enrolments and results.
Functions never commit: the caller's unit of work does."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.auth import Principal, Role, actor_name
from wps_common.db import utcnow
from wps_common.errors import Conflict, Forbidden, InvalidInput, NotFound
from wps_common.events.contracts import (
    EnrolmentFailed,
    EnrolmentWithdrawn,
    ModuleCompleted,
    ModuleFacts,
    TrackCompleted,
    TrackFacts,
    TraineeEnrolled,
    TraineeProfileChanged,
)
from wps_enrolment import compliance
from wps_enrolment.models import (
    Academy,
    AuditEntry,
    Cohort,
    ComplianceRecord,
    CurriculumModule,
    CurriculumTrack,
    Enrolment,
    Exemption,
    ModuleResult,
    Requirement,
    Trainee,
    outbox,
)
from wps_enrolment.schemas import (
    AcademyCreate,
    AcademyUpdate,
    BulkResultEntry,
    CohortCreate,
    ResultCreate,
    TraineeCreate,
    TraineeUpdate,
)

SEATED = ("enrolled", "completed", "failed")  # statuses that hold a seat
TRAINEE_FIELDS = (
    "employee_number",
    "given_name",
    "family_name",
    "preferred_language",
    "gender",
    "rank",
    "role",
    "unit",
    "agency",
    "start_date",
    "active",
)
TRAINEE_SORTS = {
    "family_name": (Trainee.family_name, Trainee.given_name, Trainee.id),
    "employee_number": (Trainee.employee_number, Trainee.id),
    "created_at": (Trainee.created_at, Trainee.id),
}


async def page(session: AsyncSession, stmt: Select[Any], *, limit: int, offset: int) -> Any:
    """`(items, total)` of a select whose order_by ends in a unique column (stable pages)."""
    total = await session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    items = (await session.scalars(stmt.limit(limit).offset(offset))).all()
    return list(items), int(total or 0)


def audit(
    session: AsyncSession,
    *,
    academy_id: str,
    entity: str,
    entity_id: str,
    action: str,
    actor: str,
    changes: dict[str, Any],
) -> None:
    session.add(
        AuditEntry(
            academy_id=academy_id,
            entity=entity,
            entity_id=entity_id,
            action=action,
            actor=actor,
            actor_name=actor_name(actor),
            changes=_jsonable(changes),
        )
    )


def _jsonable(changes: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date | datetime) else v for k, v in changes.items()}


# --- academies -------------------------------------------------------------------------------


async def create_academy(session: AsyncSession, *, data: AcademyCreate, who: Principal) -> Academy:
    if await session.scalar(select(Academy.id).where(Academy.code == data.code)):
        raise Conflict(f"An academy with code {data.code} already exists.")
    academy = Academy(**data.model_dump())
    session.add(academy)
    await session.flush()
    audit(
        session,
        academy_id=academy.id,
        entity="academy",
        entity_id=academy.id,
        action="created",
        actor=who.subject,
        changes=data.model_dump(),
    )
    return academy


async def get_academy(session: AsyncSession, *, academy_id: str, who: Principal) -> Academy:
    who.check_academy(academy_id, "academy")
    academy = await session.get(Academy, academy_id)
    if academy is None:
        raise NotFound("No such academy.")
    return academy


async def list_academies(
    session: AsyncSession, *, who: Principal, limit: int, offset: int
) -> tuple[list[Academy], int]:
    stmt = select(Academy).order_by(Academy.code, Academy.id)
    if not who.sees_all_academies:
        stmt = stmt.where(Academy.id == who.academy_id)
    result: tuple[list[Academy], int] = await page(session, stmt, limit=limit, offset=offset)
    return result


async def update_academy(
    session: AsyncSession, *, academy_id: str, data: AcademyUpdate, who: Principal
) -> Academy:
    academy = await get_academy(session, academy_id=academy_id, who=who)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    for name, value in changes.items():
        setattr(academy, name, value)
    if changes:
        audit(
            session,
            academy_id=academy.id,
            entity="academy",
            entity_id=academy.id,
            action="updated",
            actor=who.subject,
            changes=changes,
        )
        # Certificates print the academy's name: holders' details must follow.
        trainees = (
            await session.scalars(select(Trainee).where(Trainee.academy_id == academy.id))
        ).all()
        await outbox.add_many(session, [profile_event(t, academy) for t in trainees])
    return academy


async def academy_for_write(session: AsyncSession, academy_id: str, who: Principal) -> Academy:
    who.check_academy(academy_id, "academy")
    academy = await session.get(Academy, academy_id)
    if academy is None:
        raise InvalidInput(f"There is no academy {academy_id}.", field="academy_id")
    return academy


# --- trainees --------------------------------------------------------------------------------


def profile_event(trainee: Trainee, academy: Academy) -> TraineeProfileChanged:
    # Restricted stream only: certification prints these details; HR never receives them.
    return TraineeProfileChanged(
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
    )


async def create_trainee(
    session: AsyncSession, *, data: TraineeCreate, who: Principal, today: date
) -> Trainee:
    academy = await academy_for_write(session, data.academy_id, who)
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
    audit(
        session,
        academy_id=academy.id,
        entity="trainee",
        entity_id=trainee.id,
        action="created",
        actor=who.subject,
        changes=data.model_dump(exclude={"academy_id"}),
    )
    await outbox.add(session, profile_event(trainee, academy))
    await compliance.evaluate(session, today=today, trainee_ids=[trainee.id])
    return trainee


async def get_trainee(session: AsyncSession, *, trainee_id: str, who: Principal) -> Trainee:
    trainee = await session.get(Trainee, trainee_id)
    if trainee is None or (who.is_trainee_only() and not who.is_trainee(trainee_id)):
        raise NotFound("No such trainee.")
    who.check_academy(trainee.academy_id, "trainee")
    return trainee


async def update_trainee(
    session: AsyncSession, *, trainee_id: str, data: TraineeUpdate, who: Principal, today: date
) -> Trainee:
    trainee = await get_trainee(session, trainee_id=trainee_id, who=who)
    sent = data.model_dump(exclude_unset=True)
    if "employee_number" in sent and sent["employee_number"] != trainee.employee_number:
        taken = await session.scalar(
            select(Trainee.id).where(
                Trainee.academy_id == trainee.academy_id,
                Trainee.employee_number == sent["employee_number"],
            )
        )
        if taken:
            raise Conflict(
                f"Employee number {sent['employee_number']} is already registered in this academy.",
                trainee_id=taken,
            )
    changes = {k: v for k, v in sent.items() if getattr(trainee, k) != v}
    if not changes:
        return trainee
    for name, value in changes.items():
        setattr(trainee, name, value)
    trainee.updated_at = utcnow()
    action = "updated"
    if set(changes) == {"active"}:
        action = "reactivated" if trainee.active else "deactivated"
    audit(
        session,
        academy_id=trainee.academy_id,
        entity="trainee",
        entity_id=trainee.id,
        action=action,
        actor=who.subject,
        changes=changes,
    )
    academy = await session.get(Academy, trainee.academy_id)
    assert academy is not None
    await session.flush()
    await outbox.add(session, profile_event(trainee, academy))
    await compliance.evaluate(session, today=today, trainee_ids=[trainee.id])
    return trainee


async def list_trainees(
    session: AsyncSession,
    *,
    who: Principal,
    academy_id: str | None,
    q: str | None,
    unit: str | None,
    rank: str | None,
    role: str | None,
    agency: str | None,
    gender: str | None,
    active: bool | None,
    sort: str,
    limit: int,
    offset: int,
) -> tuple[list[Trainee], int]:
    stmt = select(Trainee).order_by(*TRAINEE_SORTS[sort])
    scope = scoped_academy(who, academy_id)
    if scope is not None:
        stmt = stmt.where(Trainee.academy_id == scope)
    if q:
        # SQLite folds case for ASCII only: also try the usual spellings of the word.
        spellings = {q, q.lower(), q.upper(), q.capitalize(), q.title()}
        stmt = stmt.where(
            or_(
                *(
                    column.ilike(f"%{word}%")
                    for column in (Trainee.family_name, Trainee.given_name, Trainee.employee_number)
                    for word in spellings
                )
            )
        )
    for column, value in (
        (Trainee.unit, unit),
        (Trainee.rank, rank),
        (Trainee.role, role),
        (Trainee.agency, agency),
        (Trainee.gender, gender),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if active is not None:
        stmt = stmt.where(Trainee.active.is_(active))
    result: tuple[list[Trainee], int] = await page(session, stmt, limit=limit, offset=offset)
    return result


def scoped_academy(who: Principal, academy_id: str | None) -> str | None:
    """The academy a list is limited to: the caller's own, unless they see all academies."""
    if who.sees_all_academies:
        return academy_id
    if academy_id is not None:
        who.check_academy(academy_id, "academy")
    return who.academy_id


async def trainee_history(
    session: AsyncSession, *, trainee_id: str, who: Principal
) -> list[AuditEntry]:
    trainee = await get_trainee(session, trainee_id=trainee_id, who=who)
    return list(
        (
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.entity == "trainee", AuditEntry.entity_id == trainee.id)
                .order_by(AuditEntry.id)
            )
        ).all()
    )


# --- curriculum read model -------------------------------------------------------------------


async def published_track(session: AsyncSession, code: str) -> CurriculumTrack | None:
    return await session.scalar(
        select(CurriculumTrack)
        .where(CurriculumTrack.code == code, CurriculumTrack.status == "published")
        .order_by(CurriculumTrack.version.desc())
        .limit(1)
    )


async def published_module(session: AsyncSession, code: str) -> CurriculumModule | None:
    return await session.scalar(
        select(CurriculumModule)
        .where(CurriculumModule.code == code, CurriculumModule.status == "published")
        .order_by(CurriculumModule.version.desc())
        .limit(1)
    )


async def cohort_modules(
    session: AsyncSession, cohort: Cohort
) -> tuple[TrackFacts | None, list[ModuleFacts]]:
    """The curriculum a cohort teaches, as pinned when it was opened."""
    if cohort.track_code is not None:
        row = await session.scalar(
            select(CurriculumTrack).where(
                CurriculumTrack.code == cohort.track_code,
                CurriculumTrack.version == cohort.track_version,
            )
        )
        assert row is not None  # a cohort is only opened for a known track version
        track = TrackFacts.model_validate(row.facts)
        return track, list(track.modules)
    module = await session.scalar(
        select(CurriculumModule).where(
            CurriculumModule.code == cohort.module_code,
            CurriculumModule.version == cohort.module_version,
        )
    )
    assert module is not None
    return None, [ModuleFacts.model_validate(module.facts)]


# --- cohorts ---------------------------------------------------------------------------------


async def create_cohort(
    session: AsyncSession, *, data: CohortCreate, who: Principal, max_attempts: int
) -> Cohort:
    await academy_for_write(session, data.academy_id, who)
    values = data.model_dump(exclude={"track_code", "module_code", "max_attempts"})
    if data.track_code is not None:
        track = await published_track(session, data.track_code)
        if track is None:
            raise InvalidInput(
                f"Track {data.track_code} is not published (or its publication has not reached "
                "this service yet).",
                field="track_code",
            )
        values.update(track_code=track.code, track_version=track.version)
    else:
        assert data.module_code is not None
        module = await published_module(session, data.module_code)
        if module is None:
            raise InvalidInput(
                f"Module {data.module_code} is not published (or its publication has not "
                "reached this service yet).",
                field="module_code",
            )
        values.update(module_code=module.code, module_version=module.version)
    cohort = Cohort(**values, max_attempts=data.max_attempts or max_attempts)
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


async def cohort_counts(session: AsyncSession, cohort_id: str) -> dict[str, int]:
    rows = await session.execute(
        select(Enrolment.status, func.count())
        .where(Enrolment.cohort_id == cohort_id)
        .group_by(Enrolment.status)
    )
    return {status: int(n) for status, n in rows.all()}


async def list_cohorts(
    session: AsyncSession,
    *,
    who: Principal,
    academy_id: str | None,
    track_code: str | None,
    starts_from: date | None,
    starts_to: date | None,
    limit: int,
    offset: int,
) -> tuple[list[Cohort], int]:
    stmt = select(Cohort).order_by(Cohort.starts_on.desc(), Cohort.id)
    scope = scoped_academy(who, academy_id)
    if scope is not None:
        stmt = stmt.where(Cohort.academy_id == scope)
    if track_code:
        stmt = stmt.where(or_(Cohort.track_code == track_code, Cohort.module_code == track_code))
    if starts_from:
        stmt = stmt.where(Cohort.starts_on >= starts_from)
    if starts_to:
        stmt = stmt.where(Cohort.starts_on <= starts_to)
    result: tuple[list[Cohort], int] = await page(session, stmt, limit=limit, offset=offset)
    return result


# --- enrolments ------------------------------------------------------------------------------


async def completed_modules(
    session: AsyncSession, trainee_ids: Sequence[str]
) -> dict[str, set[str]]:
    """Per trainee, the modules whose latest result (in any enrolment) is a pass."""
    rows = (
        await session.execute(
            select(
                Enrolment.trainee_id,
                ModuleResult.enrolment_id,
                ModuleResult.module_code,
                ModuleResult.passed,
            )
            .join(Enrolment, Enrolment.id == ModuleResult.enrolment_id)
            .where(Enrolment.trainee_id.in_(list(trainee_ids)))
            .order_by(ModuleResult.recorded_at, ModuleResult.id)
        )
    ).all()
    latest: dict[tuple[str, str, str], bool] = {}
    for trainee_id, enrolment_id, code, passed in rows:
        latest[(trainee_id, enrolment_id, code)] = passed
    done: dict[str, set[str]] = {t: set() for t in trainee_ids}
    for (trainee_id, _, code), passed in latest.items():
        if passed:
            done[trainee_id].add(code)
    return done


def _prerequisites(modules: list[ModuleFacts]) -> set[str]:
    """Modules the cohort's modules require that the cohort itself does not teach."""
    taught = {m.code for m in modules}
    return {code for m in modules for code in m.prerequisites} - taught


async def enrol_many(
    session: AsyncSession, *, cohort_id: str, trainee_ids: Sequence[str], who: Principal
) -> list[Enrolment]:
    """Enrol trainees in order: seats first, then the waitlist. All or nothing: any unknown,
    inactive, duplicate or unqualified trainee refuses the whole request."""
    if len(set(trainee_ids)) != len(trainee_ids):
        raise InvalidInput("A trainee is listed twice.", field="trainee_ids")
    # The cohort row lock (PostgreSQL) or the write lock (SQLite) serialises enrolments of one
    # cohort, so the seat count below cannot be raced past the capacity.
    cohort = await get_cohort(session, cohort_id=cohort_id, who=who, lock=True)
    trainees = {
        t.id: t
        for t in (
            await session.scalars(
                select(Trainee).where(
                    Trainee.id.in_(list(trainee_ids)), Trainee.academy_id == cohort.academy_id
                )
            )
        ).all()
    }
    field = "trainee_id" if len(trainee_ids) == 1 else "trainee_ids"
    unknown = [t for t in trainee_ids if t not in trainees]
    if unknown:
        raise InvalidInput(
            "There is no such trainee in this cohort's academy: " + ", ".join(unknown) + ".",
            field=field,
        )
    inactive = [t for t in trainee_ids if not trainees[t].active]
    if inactive:
        raise Conflict(
            "Deactivated trainees cannot be enrolled: " + ", ".join(inactive) + ".",
            trainee_ids=inactive,
        )
    existing = {
        e.trainee_id: e
        for e in (
            await session.scalars(
                select(Enrolment).where(
                    Enrolment.cohort_id == cohort.id, Enrolment.trainee_id.in_(list(trainee_ids))
                )
            )
        ).all()
    }
    again = [e for e in existing.values() if e.status != "withdrawn"]
    if again:
        first = again[0]
        raise Conflict(
            "The trainee is already enrolled in this cohort."
            if len(trainee_ids) == 1
            else "Already in this cohort: " + ", ".join(e.trainee_id for e in again) + ".",
            enrolment_id=first.id,
            trainee_ids=[e.trainee_id for e in again],
        )
    _, modules = await cohort_modules(session, cohort)
    needed = _prerequisites(modules)
    if needed:
        done = await completed_modules(session, list(trainee_ids))
        missing = {t: sorted(needed - done[t]) for t in trainee_ids if needed - done[t]}
        if missing:
            raise Conflict(
                "Prerequisites not completed: "
                + "; ".join(f"{t} lacks {', '.join(m)}" for t, m in missing.items())
                + ".",
                missing_prerequisites=missing,
            )
    counts = await cohort_counts(session, cohort.id)
    free = cohort.capacity - sum(counts.get(s, 0) for s in SEATED)
    now = utcnow()
    enrolments = []
    for trainee_id in trainee_ids:
        status = "enrolled" if free > 0 else "waitlisted"
        free -= status == "enrolled"
        enrolment = existing.get(trainee_id)
        if enrolment is None:
            enrolment = Enrolment(
                cohort_id=cohort.id, trainee_id=trainee_id, academy_id=cohort.academy_id
            )
            session.add(enrolment)
        enrolment.status = status
        enrolment.enrolled_at = now
        enrolment.requested_at = now
        enrolment.withdrawn_at = enrolment.withdrawal_reason = enrolment.withdrawal_note = None
        enrolments.append(enrolment)
    await session.flush()
    await outbox.add_many(
        session, [_enrolled_event(e, cohort, trainees[e.trainee_id]) for e in enrolments]
    )
    for enrolment in enrolments:
        audit(
            session,
            academy_id=cohort.academy_id,
            entity="enrolment",
            entity_id=enrolment.id,
            action=enrolment.status,
            actor=who.subject,
            changes={"cohort_id": cohort.id, "trainee_id": enrolment.trainee_id},
        )
    return enrolments


def _enrolled_event(enrolment: Enrolment, cohort: Cohort, trainee: Trainee) -> TraineeEnrolled:
    return TraineeEnrolled(
        enrolment_id=enrolment.id,
        cohort_id=cohort.id,
        trainee_id=trainee.id,
        employee_number=trainee.employee_number,
        academy_id=cohort.academy_id,
        track_code=cohort.curriculum_code,
        track_version=cohort.curriculum_version,
        status="enrolled" if enrolment.status == "enrolled" else "waitlisted",
        enrolled_at=enrolment.enrolled_at,
        curriculum="track" if cohort.track_code else "module",
    )


async def get_enrolment(
    session: AsyncSession, *, enrolment_id: str, who: Principal, lock: bool = False
) -> Enrolment:
    stmt = select(Enrolment).where(Enrolment.id == enrolment_id)
    enrolment = await session.scalar(stmt.with_for_update() if lock else stmt)
    if enrolment is None or (who.is_trainee_only() and not who.is_trainee(enrolment.trainee_id)):
        raise NotFound("No such enrolment.")
    who.check_academy(enrolment.academy_id, "enrolment")
    return enrolment


async def list_enrolments(
    session: AsyncSession,
    *,
    who: Principal,
    cohort_id: str | None = None,
    trainee_id: str | None = None,
    status: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Enrolment], int]:
    stmt = select(Enrolment)
    if cohort_id is not None:
        await get_cohort(session, cohort_id=cohort_id, who=who)
        stmt = stmt.where(Enrolment.cohort_id == cohort_id)
        # Seats first, then the waitlist in the order it will be promoted, then the withdrawn.
        place = case(
            (Enrolment.status.in_(SEATED), 0), (Enrolment.status == "waitlisted", 1), else_=2
        )
        stmt = stmt.order_by(place, Enrolment.requested_at, Enrolment.id)
    if trainee_id is not None:
        await get_trainee(session, trainee_id=trainee_id, who=who)
        stmt = stmt.where(Enrolment.trainee_id == trainee_id).order_by(
            Enrolment.enrolled_at.desc(), Enrolment.id
        )
    if status is not None:
        stmt = stmt.where(Enrolment.status == status)
    result: tuple[list[Enrolment], int] = await page(session, stmt, limit=limit, offset=offset)
    return result


async def withdraw(
    session: AsyncSession, *, enrolment_id: str, reason_code: str, note: str | None, who: Principal
) -> tuple[Enrolment, Enrolment | None]:
    """Withdraw; a freed seat goes to the first trainee on the waitlist (announced again as
    `trainee.enrolled` with status `enrolled`)."""
    found = await get_enrolment(session, enrolment_id=enrolment_id, who=who)
    cohort = await get_cohort(session, cohort_id=found.cohort_id, who=who, lock=True)
    enrolment = await get_enrolment(session, enrolment_id=enrolment_id, who=who, lock=True)
    if enrolment.status not in ("enrolled", "waitlisted"):
        raise Conflict(f"The enrolment is {enrolment.status}; it can no longer be withdrawn.")
    held_seat = enrolment.status == "enrolled"
    enrolment.status = "withdrawn"
    enrolment.withdrawn_at = utcnow()
    enrolment.withdrawal_reason = reason_code
    enrolment.withdrawal_note = note
    trainee = await session.get(Trainee, enrolment.trainee_id)
    assert trainee is not None
    await outbox.add(
        session,
        EnrolmentWithdrawn(
            enrolment_id=enrolment.id,
            cohort_id=cohort.id,
            trainee_id=trainee.id,
            employee_number=trainee.employee_number,
            academy_id=cohort.academy_id,
            reason_code=EnrolmentWithdrawn.public_reason(reason_code),
            withdrawn_at=enrolment.withdrawn_at,
        ),
    )
    audit(
        session,
        academy_id=cohort.academy_id,
        entity="enrolment",
        entity_id=enrolment.id,
        action="withdrawn",
        actor=who.subject,
        changes={"reason_code": reason_code, "note": note},
    )
    promoted = None
    if held_seat:
        await session.flush()
        counts = await cohort_counts(session, cohort.id)
        if sum(counts.get(s, 0) for s in SEATED) < cohort.capacity:
            promoted = await session.scalar(
                select(Enrolment)
                .where(Enrolment.cohort_id == cohort.id, Enrolment.status == "waitlisted")
                .order_by(Enrolment.requested_at, Enrolment.id)
                .limit(1)
            )
    if promoted is not None:
        promoted.status = "enrolled"
        promoted.enrolled_at = utcnow()
        promoted_trainee = await session.get(Trainee, promoted.trainee_id)
        assert promoted_trainee is not None
        await outbox.add(session, _enrolled_event(promoted, cohort, promoted_trainee))
        audit(
            session,
            academy_id=cohort.academy_id,
            entity="enrolment",
            entity_id=promoted.id,
            action="promoted",
            actor=who.subject,
            changes={"from": "waitlisted", "freed_by": enrolment.id},
        )
    return enrolment, promoted


# --- results ---------------------------------------------------------------------------------


def may_enter_results(who: Principal, cohort: Cohort) -> None:
    if who.has(Role.ADMIN, Role.ACADEMY_ADMIN):
        return
    if cohort.instructors and who.subject not in cohort.instructors:
        raise Forbidden("Only the cohort's instructors may enter its results.")


async def record_result(
    session: AsyncSession, *, enrolment_id: str, data: ResultCreate, who: Principal, today: date
) -> tuple[ModuleResult, Enrolment]:
    """Record an attempt (or correct the latest one). A pass emits module.completed once;
    passing every module of a track emits track.completed; failing the last allowed attempt
    fails the enrolment (enrolment.failed)."""
    enrolment = await get_enrolment(session, enrolment_id=enrolment_id, who=who, lock=True)
    cohort = await session.get(Cohort, enrolment.cohort_id)
    assert cohort is not None
    may_enter_results(who, cohort)
    if enrolment.status != "enrolled":
        raise Conflict(f"The enrolment is {enrolment.status}; results can no longer be recorded.")
    track, modules = await cohort_modules(session, cohort)
    module = next((m for m in modules if m.code == data.module_code), None)
    if module is None:
        codes = ", ".join(m.code for m in modules)
        raise InvalidInput(
            f"Module {data.module_code} is not taught in this cohort (modules: {codes}).",
            field="module_code",
        )
    if module.assessment != "none" and data.score is None:
        raise InvalidInput(f"Module {module.code} is assessed: a score is required.", field="score")
    history = list(
        (
            await session.scalars(
                select(ModuleResult)
                .where(
                    ModuleResult.enrolment_id == enrolment.id,
                    ModuleResult.module_code == module.code,
                )
                .order_by(ModuleResult.recorded_at, ModuleResult.id)
            )
        ).all()
    )
    latest = history[-1] if history else None
    if data.corrects is not None:
        if latest is None or latest.id != data.corrects:
            raise InvalidInput(
                "Only the latest entry of this module can be corrected"
                + (f" ({latest.id})." if latest else "; there is none yet."),
                field="corrects",
            )
        attempt = latest.attempt
    else:
        if latest is not None and latest.passed:
            raise Conflict(
                f"Module {module.code} is already passed; to fix that entry send a correction "
                f"with corrects={latest.id}.",
                result_id=latest.id,
            )
        attempt = (latest.attempt + 1) if latest else 1
        if attempt > cohort.max_attempts:
            raise Conflict(f"All {cohort.max_attempts} attempts at {module.code} are used.")
    passed = data.attendance_pct >= module.min_attendance_pct and (
        module.assessment == "none" or (data.score or 0) >= module.pass_mark
    )
    # module.completed is announced once per enrolment and module: v1 has no retraction, so a
    # later correction is kept in the history (and counts for the track) but not re-announced.
    announced = any(r.passed for r in history)
    result = ModuleResult(
        enrolment_id=enrolment.id,
        module_code=module.code,
        module_version=module.version,
        attendance_pct=data.attendance_pct,
        score=data.score,
        passed=passed,
        attempt=attempt,
        corrects=data.corrects,
        recorded_by=who.subject,
        recorded_at=utcnow(),
    )
    session.add(result)
    await session.flush()
    trainee = await session.get(Trainee, enrolment.trainee_id)
    assert trainee is not None
    if passed and not announced:
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
    if not passed and attempt >= cohort.max_attempts:
        enrolment.status = "failed"
        enrolment.failed_on = today
        await outbox.add(
            session,
            EnrolmentFailed(
                enrolment_id=enrolment.id,
                cohort_id=cohort.id,
                trainee_id=trainee.id,
                employee_number=trainee.employee_number,
                academy_id=enrolment.academy_id,
                track_code=cohort.curriculum_code,
                module_code=module.code,
                attempts=attempt,
                failed_on=today,
                curriculum="track" if track else "module",
            ),
        )
    elif {m.code for m in modules} <= await _passed_modules(session, enrolment.id):
        enrolment.status = "completed"
        enrolment.completed_on = today
        if track is not None:
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


async def record_results_bulk(
    session: AsyncSession,
    *,
    cohort_id: str,
    entries: Sequence[BulkResultEntry],
    who: Principal,
    today: date,
) -> list[tuple[ModuleResult, Enrolment]]:
    """A whole cohort's results at once; all or nothing, with every bad entry reported."""
    cohort = await get_cohort(session, cohort_id=cohort_id, who=who)
    enrolments = {
        e.trainee_id: e.id
        for e in (
            await session.scalars(select(Enrolment).where(Enrolment.cohort_id == cohort.id))
        ).all()
    }
    errors: list[dict[str, Any]] = []
    recorded = []
    for index, entry in enumerate(entries):
        enrolment_id = enrolments.get(entry.trainee_id)
        if enrolment_id is None:
            errors.append(
                {
                    "field": f"entries.{index}.trainee_id",
                    "message": "this trainee is not enrolled in the cohort",
                }
            )
            continue
        try:
            recorded.append(
                await record_result(
                    session, enrolment_id=enrolment_id, data=entry, who=who, today=today
                )
            )
        except (InvalidInput, Conflict) as exc:
            field = exc.extensions.get("errors", [{}])[0].get("field", "")
            errors.append(
                {
                    "field": f"entries.{index}" + (f".{field}" if field else ""),
                    "message": exc.detail,
                }
            )
    if errors:
        # Raising rolls the whole request back: nothing of a bad batch is kept.
        raise InvalidInput(
            f"{len(errors)} of {len(entries)} entries cannot be recorded; nothing was saved.",
            errors=errors,
        )
    return recorded


async def result_history(
    session: AsyncSession, *, enrolment_id: str, who: Principal
) -> list[ModuleResult]:
    enrolment = await get_enrolment(session, enrolment_id=enrolment_id, who=who)
    return list(
        (
            await session.scalars(
                select(ModuleResult)
                .where(ModuleResult.enrolment_id == enrolment.id)
                .order_by(ModuleResult.module_code, ModuleResult.recorded_at, ModuleResult.id)
            )
        ).all()
    )


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


# --- compliance ------------------------------------------------------------------------------


async def trainee_compliance(
    session: AsyncSession, *, trainee_id: str, who: Principal
) -> list[tuple[ComplianceRecord, str | None]]:
    trainee = await get_trainee(session, trainee_id=trainee_id, who=who)
    rows = await session.execute(
        select(ComplianceRecord, Exemption.reason)
        .outerjoin(
            Exemption,
            (Exemption.trainee_id == ComplianceRecord.trainee_id)
            & (Exemption.requirement_code == ComplianceRecord.requirement_code),
        )
        .where(ComplianceRecord.trainee_id == trainee.id)
        .order_by(ComplianceRecord.requirement_code)
    )
    return [(record, reason) for record, reason in rows.all()]


async def academy_compliance(
    session: AsyncSession,
    *,
    who: Principal,
    academy_id: str | None,
    status: str | None,
    unit: str | None,
    rank: str | None,
    requirement_code: str | None,
    limit: int,
    offset: int,
) -> tuple[list[tuple[ComplianceRecord, Trainee]], int]:
    stmt = (
        select(ComplianceRecord, Trainee)
        .join(Trainee, Trainee.id == ComplianceRecord.trainee_id)
        .order_by(Trainee.family_name, Trainee.given_name, ComplianceRecord.id)
    )
    scope = scoped_academy(who, academy_id)
    if scope is not None:
        stmt = stmt.where(ComplianceRecord.academy_id == scope)
    for column, value in (
        (ComplianceRecord.status, status),
        (Trainee.unit, unit),
        (Trainee.rank, rank),
        (ComplianceRecord.requirement_code, requirement_code),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    total = await session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = (await session.execute(stmt.limit(limit).offset(offset))).all()
    return [(record, trainee) for record, trainee in rows], int(total or 0)


async def compliance_summary(
    session: AsyncSession, *, who: Principal, academy_id: str | None
) -> dict[str, Any]:
    scope = scoped_academy(who, academy_id)
    stmt = select(
        ComplianceRecord.requirement_code, ComplianceRecord.status, func.count()
    ).group_by(ComplianceRecord.requirement_code, ComplianceRecord.status)
    if scope is not None:
        stmt = stmt.where(ComplianceRecord.academy_id == scope)
    by_status: dict[str, int] = dict.fromkeys(
        ("compliant", "due", "overdue", "expired", "exempt"), 0
    )
    by_requirement: dict[str, dict[str, int]] = {}
    for code, status, n in (await session.execute(stmt)).all():
        by_status[status] = by_status.get(status, 0) + int(n)
        by_requirement.setdefault(code, {})[status] = int(n)
    return {
        "academy_id": scope,
        "total": sum(by_status.values()),
        "by_status": by_status,
        "by_requirement": by_requirement,
    }


async def exempt(
    session: AsyncSession,
    *,
    trainee_id: str,
    requirement_code: str,
    reason: str,
    who: Principal,
    today: date,
) -> None:
    trainee = await get_trainee(session, trainee_id=trainee_id, who=who)
    if await session.get(Requirement, requirement_code) is None:
        raise NotFound(f"No requirement {requirement_code}.")
    exemption = await session.get(Exemption, (trainee.id, requirement_code))
    if exemption is None:
        session.add(
            Exemption(
                trainee_id=trainee.id,
                requirement_code=requirement_code,
                reason=reason,
                granted_by=who.subject,
            )
        )
    else:
        exemption.reason, exemption.granted_by = reason, who.subject
    audit(
        session,
        academy_id=trainee.academy_id,
        entity="trainee",
        entity_id=trainee.id,
        action="exempted",
        actor=who.subject,
        changes={"requirement_code": requirement_code, "reason": reason},
    )
    await session.flush()
    await compliance.evaluate(session, today=today, trainee_ids=[trainee.id])


async def lift_exemption(
    session: AsyncSession, *, trainee_id: str, requirement_code: str, who: Principal, today: date
) -> None:
    trainee = await get_trainee(session, trainee_id=trainee_id, who=who)
    exemption = await session.get(Exemption, (trainee.id, requirement_code))
    if exemption is None:
        raise NotFound("The trainee has no exemption from this requirement.")
    await session.delete(exemption)
    audit(
        session,
        academy_id=trainee.academy_id,
        entity="trainee",
        entity_id=trainee.id,
        action="exemption_lifted",
        actor=who.subject,
        changes={"requirement_code": requirement_code},
    )
    await session.flush()
    await compliance.evaluate(session, today=today, trainee_ids=[trainee.id])
