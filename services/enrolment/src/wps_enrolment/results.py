"""Results: recording module attempts (and corrections) and deciding what follows from them —
module completion, failing the enrolment, completing the track."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.auth import Principal, Role
from wps_common.db import utcnow
from wps_common.errors import Conflict, Forbidden, InvalidInput
from wps_common.events.contracts import (
    EnrolmentFailed,
    ModuleCompleted,
    ModuleFacts,
    TrackCompleted,
    TrackFacts,
)
from wps_common.paging import Listing, keyset_page
from wps_enrolment.cohorts import get_cohort
from wps_enrolment.compliance import academy_today
from wps_enrolment.curriculum import cohort_modules
from wps_enrolment.enrolments import get_enrolment
from wps_enrolment.models import Cohort, Enrolment, ModuleResult, Trainee, outbox
from wps_enrolment.schemas import BulkResultEntry, ResultCreate


def may_enter_results(who: Principal, cohort: Cohort) -> None:
    if who.has(Role.ADMIN, Role.ACADEMY_ADMIN):
        return
    if cohort.instructors and who.subject not in cohort.instructors:
        raise Forbidden("Only the cohort's instructors may enter its results.")


def _taught(modules: list[ModuleFacts], data: ResultCreate) -> ModuleFacts:
    """The cohort's module the result is for; an assessed module needs a score."""
    module = next((m for m in modules if m.code == data.module_code), None)
    if module is None:
        codes = ", ".join(m.code for m in modules)
        raise InvalidInput(
            f"Module {data.module_code} is not taught in this cohort (modules: {codes}).",
            field="module_code",
        )
    if module.assessment != "none" and data.score is None:
        raise InvalidInput(f"Module {module.code} is assessed: a score is required.", field="score")
    return module


async def _history(
    session: AsyncSession, enrolment: Enrolment, module: ModuleFacts
) -> list[ModuleResult]:
    """The module's entries in this enrolment, oldest first."""
    stmt = (
        select(ModuleResult)
        .where(ModuleResult.enrolment_id == enrolment.id, ModuleResult.module_code == module.code)
        .order_by(ModuleResult.recorded_at, ModuleResult.id)
    )
    return list((await session.scalars(stmt)).all())


def _attempt(
    history: list[ModuleResult], module: ModuleFacts, data: ResultCreate, cohort: Cohort
) -> int:
    """The attempt this entry records: the latest one again for a correction, else the next."""
    latest = history[-1] if history else None
    if data.corrects is not None:
        if latest is None or latest.id != data.corrects:
            raise InvalidInput(
                "Only the latest entry of this module can be corrected"
                + (f" ({latest.id})." if latest else "; there is none yet."),
                field="corrects",
            )
        return latest.attempt
    if latest is not None and latest.passed:
        raise Conflict(
            f"Module {module.code} is already passed; to fix that entry send a correction "
            f"with corrects={latest.id}.",
            result_id=latest.id,
        )
    attempt = (latest.attempt + 1) if latest else 1
    if attempt > cohort.max_attempts:
        raise Conflict(f"All {cohort.max_attempts} attempts at {module.code} are used.")
    return attempt


def passes(module: ModuleFacts, attendance_pct: float, score: float | None) -> bool:
    """Attendance at least the module's minimum and, if assessed, the pass mark reached."""
    return attendance_pct >= module.min_attendance_pct and (
        module.assessment == "none" or (score or 0) >= module.pass_mark
    )


async def record_result(
    session: AsyncSession, *, enrolment_id: str, data: ResultCreate, who: Principal, now: datetime
) -> tuple[ModuleResult, Enrolment]:
    """Record an attempt (or correct the latest one). A pass emits module.completed once;
    passing every module of a track emits track.completed; failing the last allowed attempt
    fails the enrolment (enrolment.failed). Completion and failure are dated on the academy's
    own calendar (a certificate's dates, and so compliance, follow them)."""
    enrolment = await get_enrolment(session, enrolment_id=enrolment_id, who=who, lock=True)
    cohort = await session.get(Cohort, enrolment.cohort_id)
    assert cohort is not None
    today = await academy_today(session, enrolment.academy_id, now)
    may_enter_results(who, cohort)
    if enrolment.status != "enrolled":
        raise Conflict(f"The enrolment is {enrolment.status}; results can no longer be recorded.")
    track, modules = await cohort_modules(session, cohort)
    module = _taught(modules, data)
    history = await _history(session, enrolment, module)
    attempt = _attempt(history, module, data, cohort)
    passed = passes(module, data.attendance_pct, data.score)
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
        await outbox.add(session, _module_completed(enrolment, trainee, module, result, today))
    if not passed and attempt >= cohort.max_attempts:
        await _fail(session, enrolment, cohort, trainee, module, attempt=attempt, today=today)
    else:
        await complete_if_done(session, enrolment, cohort, trainee, track, modules, today=today)
    return result, enrolment


def _module_completed(
    enrolment: Enrolment, trainee: Trainee, module: ModuleFacts, result: ModuleResult, today: date
) -> ModuleCompleted:
    return ModuleCompleted(
        enrolment_id=enrolment.id,
        trainee_id=trainee.id,
        employee_number=trainee.employee_number,
        academy_id=enrolment.academy_id,
        module_code=module.code,
        module_version=module.version,
        attendance_pct=result.attendance_pct,
        score=result.score,
        completed_on=today,
        module=module,
    )


async def _fail(
    session: AsyncSession,
    enrolment: Enrolment,
    cohort: Cohort,
    trainee: Trainee,
    module: ModuleFacts,
    *,
    attempt: int,
    today: date,
) -> None:
    """The last allowed attempt failed: so does the enrolment."""
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
            curriculum="track" if cohort.track_code else "module",
        ),
    )


async def complete_if_done(
    session: AsyncSession,
    enrolment: Enrolment,
    cohort: Cohort,
    trainee: Trainee,
    track: TrackFacts | None,
    modules: list[ModuleFacts],
    *,
    today: date,
) -> bool:
    """The track-completion decision: once the latest entry of every module the cohort teaches
    is a pass, the enrolment is completed (and a track's completion announced)."""
    if not {m.code for m in modules} <= await _passed_modules(session, enrolment.id):
        return False
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
    return True


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


async def record_results_bulk(
    session: AsyncSession,
    *,
    cohort_id: str,
    entries: Sequence[BulkResultEntry],
    who: Principal,
    now: datetime,
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
                    session, enrolment_id=enrolment_id, data=entry, who=who, now=now
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
    session: AsyncSession,
    *,
    enrolment_id: str,
    who: Principal,
    limit: int,
    offset: int,
    cursor: str | None = None,
) -> Listing:
    """One page of an enrolment's entries, every module's and corrections included, oldest
    first: the order in which the latest entry of a module counts."""
    enrolment = await get_enrolment(session, enrolment_id=enrolment_id, who=who)
    stmt = select(ModuleResult).where(ModuleResult.enrolment_id == enrolment.id)
    return await keyset_page(
        session,
        stmt,
        order=[ModuleResult.recorded_at, ModuleResult.id],
        limit=limit,
        offset=offset,
        cursor=cursor,
    )
