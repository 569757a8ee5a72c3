"""Enrolling trainees in a cohort: seats first, then the waitlist, after the trainees' standing
and the cohort's prerequisites are checked under the cohort's lock."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import String, Table, and_, bindparam, func, insert, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from wps_common.audit import entry_values
from wps_common.auth import Principal
from wps_common.db import DEFERRED_WRITE, new_id, utcnow
from wps_common.errors import Conflict, InvalidInput, NotFound
from wps_common.events.contracts import ModuleFacts, TrackFacts, TraineeEnrolled
from wps_common.tenancy import in_academy
from wps_enrolment.cohorts import SEATED
from wps_enrolment.models import (
    AuditEntry,
    Cohort,
    CurriculumModule,
    CurriculumTrack,
    Enrolment,
    ModuleResult,
    Trainee,
    outbox,
)


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


# The enrol path runs on every request of an academy's busiest day, so its statements are built
# once (SQLAlchemy memoises a statement's cache key, so each call only binds its values) and
# read plain rows rather than ORM entities.
_cohorts, _trainees = cast(Table, Cohort.__table__), cast(Table, Trainee.__table__)
_enrolments, _audit = cast(Table, Enrolment.__table__), cast(Table, AuditEntry.__table__)
_tracks, _modules = cast(Table, CurriculumTrack.__table__), cast(Table, CurriculumModule.__table__)
_seated = _enrolments.alias("seated")

# The cohort, with the curriculum it teaches as pinned when it was opened.
_COHORT_COLUMNS = (
    _cohorts.c.id.label("cohort_id"),
    _cohorts.c.academy_id,
    _cohorts.c.capacity,
    _cohorts.c.track_code,
    _cohorts.c.track_version,
    _cohorts.c.module_code,
    _cohorts.c.module_version,
    _tracks.c.facts.label("track_facts"),
    _modules.c.facts.label("module_facts"),
)
# Each trainee with their earlier enrolment in the cohort, and the cohort's seats taken.
_STANDING_COLUMNS = (
    _trainees.c.id,
    _trainees.c.employee_number,
    _trainees.c.active,
    _enrolments.c.id.label("enrolment_id"),
    _enrolments.c.status,
    select(func.count())
    .where(_seated.c.cohort_id == bindparam("cohort_id"), _seated.c.status.in_(SEATED))
    .scalar_subquery()
    .label("seats_taken"),
)
_CURRICULUM_OF_COHORT = (
    and_(_tracks.c.code == _cohorts.c.track_code, _tracks.c.version == _cohorts.c.track_version),
    and_(
        _modules.c.code == _cohorts.c.module_code,
        _modules.c.version == _cohorts.c.module_version,
    ),
)
_THEIR_ENROLMENT = and_(
    _enrolments.c.trainee_id == _trainees.c.id,
    _enrolments.c.cohort_id == bindparam("cohort_id"),
)
_TRAINEES_ASKED = _trainees.c.id.in_(bindparam("trainee_ids", expanding=True))

# PostgreSQL: the cohort under its row lock first; then the standing, in a statement of its
# own, because a statement reads the snapshot taken when it started, before the lock was
# granted: the seat count must be read after.
_LOCKED_COHORT = (
    select(*_COHORT_COLUMNS)
    .outerjoin(_tracks, _CURRICULUM_OF_COHORT[0])
    .outerjoin(_modules, _CURRICULUM_OF_COHORT[1])
    .where(_cohorts.c.id == bindparam("cohort_id"))
    .with_for_update(of=_cohorts)
)
_STANDING = in_academy(
    select(*_STANDING_COLUMNS).outerjoin(_enrolments, _THEIR_ENROLMENT).where(_TRAINEES_ASKED),
    _trainees.c.academy_id,
    bindparam("academy_id", type_=String),
)
# SQLite: the transaction holds the database's write lock from its start (BEGIN IMMEDIATE),
# so one statement reads the cohort and the standing, current, together: one row per trainee
# found, or a single row of the cohort alone. Trainees count only in the cohort's academy.
_COHORT_WITH_STANDING = (
    select(*_COHORT_COLUMNS, *_STANDING_COLUMNS)
    .select_from(_cohorts)
    .outerjoin(_tracks, _CURRICULUM_OF_COHORT[0])
    .outerjoin(_modules, _CURRICULUM_OF_COHORT[1])
    .outerjoin(_trainees, and_(_TRAINEES_ASKED, _trainees.c.academy_id == _cohorts.c.academy_id))
    .outerjoin(_enrolments, _THEIR_ENROLMENT)
    .where(_cohorts.c.id == bindparam("cohort_id"))
)
_INSERT_ENROLMENTS = insert(_enrolments)
_INSERT_AUDIT = insert(_audit)


@dataclass(frozen=True)
class _LockedCohort:
    """What enrolling depends on of a cohort: its academy, its seats and its curriculum."""

    id: str
    academy_id: str
    capacity: int
    track_code: str | None
    curriculum_code: str
    curriculum_version: int
    modules: list[ModuleFacts]


class _CohortFacts(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def academy_id(self) -> str: ...
    @property
    def track_code(self) -> str | None: ...
    @property
    def curriculum_code(self) -> str: ...
    @property
    def curriculum_version(self) -> int: ...


class _TraineeFacts(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def employee_number(self) -> str: ...


def _cohort_of(row: Any, who: Principal) -> _LockedCohort:
    """The cohort a row of `_LOCKED_COHORT` or `_COHORT_WITH_STANDING` names, if the caller
    sees its academy."""
    who.check_academy(row.academy_id, "cohort")
    if row.track_code is not None:
        assert row.track_facts is not None  # a cohort is only opened for a known track version
        modules = list(TrackFacts.model_validate(row.track_facts).modules)
        code, version = row.track_code, row.track_version
    else:
        assert row.module_facts is not None
        modules = [ModuleFacts.model_validate(row.module_facts)]
        code, version = row.module_code, row.module_version
    return _LockedCohort(
        id=row.cohort_id,
        academy_id=row.academy_id,
        capacity=row.capacity,
        track_code=row.track_code,
        curriculum_code=code,
        curriculum_version=version,
        modules=modules,
    )


async def _cohort_and_standing(
    session: AsyncSession, *, cohort_id: str, trainee_ids: Sequence[str], who: Principal
) -> tuple[_LockedCohort, list[Any]]:
    """The cohort, locked against other enrolments in it, and the standing of the trainees
    asked for: one statement on SQLite, two on PostgreSQL."""
    values = {"cohort_id": cohort_id, "trainee_ids": list(trainee_ids)}
    assert session.bind is not None
    if session.bind.dialect.name == "sqlite":
        rows = (await session.execute(_COHORT_WITH_STANDING, values)).all()
        if not rows:
            raise NotFound("No such cohort.")
        return _cohort_of(rows[0], who), [row for row in rows if row.id is not None]
    row = (await session.execute(_LOCKED_COHORT, values)).one_or_none()
    if row is None:
        raise NotFound("No such cohort.")
    cohort = _cohort_of(row, who)
    standing = await session.execute(_STANDING, values | {"academy_id": cohort.academy_id})
    return cohort, list(standing.all())


def _check_enrollable(rows: Sequence[Any], trainee_ids: Sequence[str]) -> None:
    """Each trainee known in the cohort's academy, active, and not in the cohort already (only
    a withdrawn enrolment may be renewed)."""
    trainees = {row.id: row for row in rows}
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
    again = [row for row in rows if row.enrolment_id is not None and row.status != "withdrawn"]
    if again:
        raise Conflict(
            "The trainee is already enrolled in this cohort."
            if len(trainee_ids) == 1
            else "Already in this cohort: " + ", ".join(row.id for row in again) + ".",
            enrolment_id=again[0].enrolment_id,
            trainee_ids=[row.id for row in again],
        )


async def _check_prerequisites(
    session: AsyncSession,
    modules: list[ModuleFacts],
    trainee_ids: Sequence[str],
    standing: Sequence[Any],
) -> None:
    """Each trainee has completed what the cohort's modules require; the refusal names them by
    employee number (a person reads it) and keys `missing_prerequisites` by trainee id."""
    needed = _prerequisites(modules)
    if not needed:
        return
    numbers = {row.id: row.employee_number for row in standing}
    done = await completed_modules(session, list(trainee_ids))
    missing = {t: sorted(needed - done[t]) for t in trainee_ids if needed - done[t]}
    if missing:
        raise Conflict(
            "Prerequisites not completed: "
            + "; ".join(
                f"employee number {numbers[t]} has not completed {', '.join(m)}"
                for t, m in missing.items()
            )
            + ".",
            missing_prerequisites=missing,
            employee_numbers={t: numbers[t] for t in missing},
        )


async def enrol_many(
    session: AsyncSession, *, cohort_id: str, trainee_ids: Sequence[str], who: Principal
) -> list[Enrolment]:
    """Enrol trainees in order: seats first, then the waitlist. All or nothing: any unknown,
    inactive, duplicate or unqualified trainee refuses the whole request. The locked cohort
    with its curriculum and the trainees with their standing and the seat count are read in
    one statement on SQLite, two on PostgreSQL; the completed modules only when the cohort
    has prerequisites; then one INSERT per table, deferred: nothing reads their answers, so on
    SQLite they reach the connection's thread with the commit, in one call."""
    if len(set(trainee_ids)) != len(trainee_ids):
        raise InvalidInput("A trainee is listed twice.", field="trainee_ids")
    # The reads below are plain statements, which do not flush the caller's pending objects.
    await session.flush()
    # The cohort row lock (PostgreSQL) or the write lock (SQLite) serialises enrolments of one
    # cohort, so the seat count below cannot be raced past the capacity.
    cohort, standing = await _cohort_and_standing(
        session, cohort_id=cohort_id, trainee_ids=trainee_ids, who=who
    )
    _check_enrollable(standing, trainee_ids)
    await _check_prerequisites(session, cohort.modules, trainee_ids, standing)
    now = utcnow()
    enrolments = await _seat_or_waitlist(
        session, cohort=cohort, standing=standing, trainee_ids=trainee_ids, now=now
    )
    trainees = {row.id: row for row in standing}
    await outbox.add_many(
        session, [enrolled_event(e, cohort, trainees[e.trainee_id]) for e in enrolments]
    )
    await _audit_enrolled(session, cohort=cohort, enrolments=enrolments, who=who, now=now)
    return enrolments


async def _seat_or_waitlist(
    session: AsyncSession,
    *,
    cohort: _LockedCohort,
    standing: Sequence[Any],
    trainee_ids: Sequence[str],
    now: datetime,
) -> list[Enrolment]:
    """An enrolment per trainee, in order, a seat while the cohort has one free and the
    waitlist after: a new row, or the trainee's withdrawn enrolment renewed."""
    earlier = {row.id: row.enrolment_id for row in standing}
    free = cohort.capacity - (int(standing[0].seats_taken) if standing else 0)
    enrolments: list[Enrolment] = []
    new: list[dict[str, Any]] = []
    for trainee_id in trainee_ids:
        status = "enrolled" if free > 0 else "waitlisted"
        free -= status == "enrolled"
        if earlier[trainee_id] is not None:
            enrolments.append(await _renewed(session, earlier[trainee_id], status=status, now=now))
            continue
        values = _new_enrolment(cohort, trainee_id=trainee_id, status=status, now=now)
        new.append(values)
        enrolments.append(Enrolment(**values))
    if new:
        # Inserted as plain rows (no unit-of-work flush), then made part of the session as the
        # rows they are, so that a later read in this transaction finds these same objects.
        await session.execute(_INSERT_ENROLMENTS, new, execution_options=DEFERRED_WRITE)
        for enrolment in enrolments:
            if inspect(enrolment).transient:
                make_transient_to_detached(enrolment)
                session.add(enrolment)
    return enrolments


def _new_enrolment(
    cohort: _LockedCohort, *, trainee_id: str, status: str, now: datetime
) -> dict[str, Any]:
    """The row of a trainee's first enrolment in the cohort."""
    return {
        "id": new_id(),
        "cohort_id": cohort.id,
        "trainee_id": trainee_id,
        "academy_id": cohort.academy_id,
        "status": status,
        "enrolled_at": now,
        "requested_at": now,
        "completed_on": None,
        "failed_on": None,
        "withdrawn_at": None,
        "withdrawal_reason": None,
        "withdrawal_note": None,
    }


async def _renewed(
    session: AsyncSession, enrolment_id: str, *, status: str, now: datetime
) -> Enrolment:
    """A withdrawn enrolment renewed (rare): through the ORM, as any other change."""
    enrolment = await session.get_one(Enrolment, enrolment_id)
    enrolment.status = status
    enrolment.enrolled_at = enrolment.requested_at = now
    enrolment.withdrawn_at = enrolment.withdrawal_reason = None
    enrolment.withdrawal_note = None
    return enrolment


async def _audit_enrolled(
    session: AsyncSession,
    *,
    cohort: _LockedCohort,
    enrolments: list[Enrolment],
    who: Principal,
    now: datetime,
) -> None:
    """An audit entry per enrolment, its status the action, in one INSERT."""
    await session.execute(
        _INSERT_AUDIT,
        [
            entry_values(
                academy_id=cohort.academy_id,
                entity="enrolment",
                entity_id=enrolment.id,
                action=enrolment.status,
                actor=who.subject,
                changes={"cohort_id": cohort.id, "trainee_id": enrolment.trainee_id},
                at=now,
            )
            for enrolment in enrolments
        ],
        execution_options=DEFERRED_WRITE,
    )


def enrolled_event(
    enrolment: Enrolment, cohort: _CohortFacts, trainee: _TraineeFacts
) -> TraineeEnrolled:
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
