"""Enrolments: enrolling trainees in a cohort (seats first, then the waitlist), prerequisites,
withdrawal and promotion from the waitlist, and finding enrolments."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from wps_common.auth import Principal
from wps_common.db import new_id, utcnow
from wps_common.errors import Conflict, InvalidInput, NotFound
from wps_common.events.contracts import (
    EnrolmentWithdrawn,
    ModuleFacts,
    TrackFacts,
    TraineeEnrolled,
)
from wps_common.paging import page
from wps_common.tenancy import in_academy
from wps_enrolment.audit import audit
from wps_enrolment.cohorts import SEATED, cohort_counts, get_cohort, seats_taken
from wps_enrolment.models import (
    Cohort,
    CurriculumModule,
    CurriculumTrack,
    Enrolment,
    ModuleResult,
    Trainee,
    outbox,
)
from wps_enrolment.trainees import get_trainee


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


async def _locked_cohort(
    session: AsyncSession, *, cohort_id: str, who: Principal
) -> tuple[Cohort, list[ModuleFacts]]:
    """The cohort under its row lock, with the modules it teaches (as pinned when it was
    opened), in one statement."""
    stmt = (
        select(Cohort, CurriculumTrack.facts, CurriculumModule.facts)
        .outerjoin(
            CurriculumTrack,
            and_(
                CurriculumTrack.code == Cohort.track_code,
                CurriculumTrack.version == Cohort.track_version,
            ),
        )
        .outerjoin(
            CurriculumModule,
            and_(
                CurriculumModule.code == Cohort.module_code,
                CurriculumModule.version == Cohort.module_version,
            ),
        )
        .where(Cohort.id == cohort_id)
        .with_for_update(of=Cohort)
    )
    row = (await session.execute(stmt)).one_or_none()
    if row is None:
        raise NotFound("No such cohort.")
    cohort, track_facts, module_facts = row
    who.check_academy(cohort.academy_id, "cohort")
    if cohort.track_code is not None:
        assert track_facts is not None  # a cohort is only opened for a known track version
        return cohort, list(TrackFacts.model_validate(track_facts).modules)
    assert module_facts is not None
    return cohort, [ModuleFacts.model_validate(module_facts)]


@dataclass
class _Standing:
    """What enrolling these trainees in the cohort depends on, read in one statement."""

    trainees: dict[str, Trainee]
    earlier: dict[str, Enrolment]  # their earlier enrolments in the cohort
    seats_taken: int


async def _standing(session: AsyncSession, cohort: Cohort, trainee_ids: Sequence[str]) -> _Standing:
    # Read after the cohort's lock is held, so the seat count is current (PostgreSQL takes a
    # statement's snapshot when the statement starts).
    seated = aliased(Enrolment)
    taken = (
        select(func.count())
        .where(seated.cohort_id == cohort.id, seated.status.in_(SEATED))
        .scalar_subquery()
    )
    stmt = (
        select(Trainee, Enrolment, taken)
        .outerjoin(
            Enrolment, and_(Enrolment.trainee_id == Trainee.id, Enrolment.cohort_id == cohort.id)
        )
        .where(Trainee.id.in_(list(trainee_ids)))
    )
    rows = (await session.execute(in_academy(stmt, Trainee.academy_id, cohort.academy_id))).all()
    return _Standing(
        trainees={t.id: t for t, _, _ in rows},
        earlier={e.trainee_id: e for _, e, _ in rows if e is not None},
        seats_taken=int(rows[0][2]) if rows else 0,
    )


def _check_enrollable(standing: _Standing, trainee_ids: Sequence[str]) -> None:
    """Each trainee known in the cohort's academy, active, and not in the cohort already (only
    a withdrawn enrolment may be renewed)."""
    trainees = standing.trainees
    unknown = [t for t in trainee_ids if t not in trainees]
    if unknown:
        raise InvalidInput(
            "There is no such trainee in this cohort's academy: " + ", ".join(unknown) + ".",
            field="trainee_id" if len(trainee_ids) == 1 else "trainee_ids",
        )
    inactive = [t for t in trainee_ids if not trainees[t].active]
    if inactive:
        raise Conflict(
            "Deactivated trainees cannot be enrolled: " + ", ".join(inactive) + ".",
            trainee_ids=inactive,
        )
    again = [e for e in standing.earlier.values() if e.status != "withdrawn"]
    if again:
        raise Conflict(
            "The trainee is already enrolled in this cohort."
            if len(trainee_ids) == 1
            else "Already in this cohort: " + ", ".join(e.trainee_id for e in again) + ".",
            enrolment_id=again[0].id,
            trainee_ids=[e.trainee_id for e in again],
        )


async def _check_prerequisites(
    session: AsyncSession, modules: list[ModuleFacts], trainee_ids: Sequence[str]
) -> None:
    needed = _prerequisites(modules)
    if not needed:
        return
    done = await completed_modules(session, list(trainee_ids))
    missing = {t: sorted(needed - done[t]) for t in trainee_ids if needed - done[t]}
    if missing:
        raise Conflict(
            "Prerequisites not completed: "
            + "; ".join(f"{t} lacks {', '.join(m)}" for t, m in missing.items())
            + ".",
            missing_prerequisites=missing,
        )


async def enrol_many(
    session: AsyncSession, *, cohort_id: str, trainee_ids: Sequence[str], who: Principal
) -> list[Enrolment]:
    """Enrol trainees in order: seats first, then the waitlist. All or nothing: any unknown,
    inactive, duplicate or unqualified trainee refuses the whole request. Two reads (the
    locked cohort with its curriculum; the trainees with their standing and the seat count),
    a third only when the cohort has prerequisites, then one INSERT per table."""
    if len(set(trainee_ids)) != len(trainee_ids):
        raise InvalidInput("A trainee is listed twice.", field="trainee_ids")
    # The cohort row lock (PostgreSQL) or the write lock (SQLite) serialises enrolments of one
    # cohort, so the seat count below cannot be raced past the capacity.
    cohort, modules = await _locked_cohort(session, cohort_id=cohort_id, who=who)
    standing = await _standing(session, cohort, trainee_ids)
    _check_enrollable(standing, trainee_ids)
    await _check_prerequisites(session, modules, trainee_ids)
    free = cohort.capacity - standing.seats_taken
    now = utcnow()
    enrolments = []
    for trainee_id in trainee_ids:
        status = "enrolled" if free > 0 else "waitlisted"
        free -= status == "enrolled"
        enrolment = standing.earlier.get(trainee_id)
        if enrolment is None:
            enrolment = Enrolment(
                id=new_id(),
                cohort_id=cohort.id,
                trainee_id=trainee_id,
                academy_id=cohort.academy_id,
            )
            session.add(enrolment)
        enrolment.status = status
        enrolment.enrolled_at = now
        enrolment.requested_at = now
        enrolment.withdrawn_at = enrolment.withdrawal_reason = enrolment.withdrawal_note = None
        enrolments.append(enrolment)
    await session.flush()
    trainees = standing.trainees
    await outbox.add_many(
        session, [enrolled_event(e, cohort, trainees[e.trainee_id]) for e in enrolments]
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


def enrolled_event(enrolment: Enrolment, cohort: Cohort, trainee: Trainee) -> TraineeEnrolled:
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
    """A cohort's enrolments (seats first, then the waitlist in the order it will be promoted,
    then the withdrawn) or a trainee's (newest first)."""
    stmt = select(Enrolment)
    order: tuple[object, ...] = ()
    if cohort_id is not None:
        await get_cohort(session, cohort_id=cohort_id, who=who)
        stmt = stmt.where(Enrolment.cohort_id == cohort_id)
        place = case(
            (Enrolment.status.in_(SEATED), 0), (Enrolment.status == "waitlisted", 1), else_=2
        )
        order += (place, Enrolment.requested_at, Enrolment.id)
    if trainee_id is not None:
        await get_trainee(session, trainee_id=trainee_id, who=who)
        stmt = stmt.where(Enrolment.trainee_id == trainee_id)
        order += (Enrolment.enrolled_at.desc(), Enrolment.id)
    if status is not None:
        stmt = stmt.where(Enrolment.status == status)
    return await page(session, stmt, order=order, limit=limit, offset=offset)


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
    await outbox.add(session, _withdrawn_event(enrolment, cohort, trainee))
    audit(
        session,
        academy_id=cohort.academy_id,
        entity="enrolment",
        entity_id=enrolment.id,
        action="withdrawn",
        actor=who.subject,
        changes={"reason_code": reason_code, "note": note},
    )
    promoted = await _promote(session, cohort, freed_by=enrolment, who=who) if held_seat else None
    return enrolment, promoted


def _withdrawn_event(enrolment: Enrolment, cohort: Cohort, trainee: Trainee) -> EnrolmentWithdrawn:
    assert enrolment.withdrawal_reason is not None and enrolment.withdrawn_at is not None
    return EnrolmentWithdrawn(
        enrolment_id=enrolment.id,
        cohort_id=cohort.id,
        trainee_id=trainee.id,
        employee_number=trainee.employee_number,
        academy_id=cohort.academy_id,
        reason_code=EnrolmentWithdrawn.public_reason(enrolment.withdrawal_reason),
        withdrawn_at=enrolment.withdrawn_at,
    )


async def _promote(
    session: AsyncSession, cohort: Cohort, *, freed_by: Enrolment, who: Principal
) -> Enrolment | None:
    """The first on the waitlist takes a freed seat, if the cohort has one."""
    await session.flush()
    if seats_taken(await cohort_counts(session, cohort.id)) >= cohort.capacity:
        return None
    promoted = await session.scalar(
        select(Enrolment)
        .where(Enrolment.cohort_id == cohort.id, Enrolment.status == "waitlisted")
        .order_by(Enrolment.requested_at, Enrolment.id)
        .limit(1)
    )
    if promoted is None:
        return None
    promoted.status = "enrolled"
    promoted.enrolled_at = utcnow()
    promoted_trainee = await session.get(Trainee, promoted.trainee_id)
    assert promoted_trainee is not None
    await outbox.add(session, enrolled_event(promoted, cohort, promoted_trainee))
    audit(
        session,
        academy_id=cohort.academy_id,
        entity="enrolment",
        entity_id=promoted.id,
        action="promoted",
        actor=who.subject,
        changes={"from": "waitlisted", "freed_by": freed_by.id},
    )
    return promoted
