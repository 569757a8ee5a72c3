"""Routes of /v1/trainees: registering, finding and changing trainees, their history and
enrolments."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from wps_common.app import DbSession
from wps_common.clock import Now
from wps_common.errors import NotFound
from wps_common.fields import Id, Limit, Offset, SingleLine
from wps_common.paging import Cursor, Page
from wps_enrolment import enrolments, trainees
from wps_enrolment.api.deps import OTHER_ACADEMY, Filter, Overseeing, Reader, Staff
from wps_enrolment.schemas import (
    AuditOut,
    EnrolledCohort,
    Gender,
    TraineeCreate,
    TraineeEnrolmentOut,
    TraineeOut,
    TraineeUpdate,
)

router = APIRouter(tags=["trainees"])


@router.post("/trainees", status_code=201, responses=OTHER_ACADEMY)
async def create_trainee(
    body: TraineeCreate, session: DbSession, who: Staff, now: Now
) -> TraineeOut:
    """Register a trainee under the HR system's employee number (unique per academy)."""
    return TraineeOut.model_validate(
        await trainees.create_trainee(session, data=body, who=who, now=now)
    )


@router.get("/trainees", responses=OTHER_ACADEMY)
async def list_trainees(
    session: DbSession,
    who: Overseeing,
    academy_id: Id | None = None,
    q: Annotated[
        Annotated[str, SingleLine(100)] | None, Query(description="name or employee number")
    ] = None,
    unit: Filter | None = None,
    rank: Filter | None = None,
    role: Filter | None = None,
    agency: Filter | None = None,
    gender: Gender | None = None,
    active: bool | None = None,
    sort: Literal["family_name", "employee_number", "created_at"] = "family_name",
    limit: Limit = 50,
    offset: Offset = 0,
    cursor: Cursor = None,
) -> Page[TraineeOut]:
    """Search and filter trainees; stable order, pages by offset or by cursor."""
    listing = await trainees.list_trainees(
        session,
        who=who,
        academy_id=academy_id,
        q=q,
        unit=unit,
        rank=rank,
        role=role,
        agency=agency,
        gender=gender,
        active=active,
        sort=sort,
        limit=limit,
        offset=offset,
        cursor=cursor,
    )
    return Page.of(
        listing, [TraineeOut.model_validate(t) for t in listing.items], limit=limit, offset=offset
    )


@router.get(
    "/trainees/me",
    responses={404: {"description": "The caller's token names no registered trainee."}},
)
async def my_trainee_record(session: DbSession, who: Reader) -> TraineeOut:
    """The caller's own trainee record, found by the employee number in their token."""
    if who.trainee_id is None:
        reason = (
            f"no trainee with employee number {who.employee_number} is registered in your academy"
            if who.employee_number
            else "your sign-in carries no employee number"
        )
        raise NotFound(f"Your account is not linked to a trainee record: {reason}.")
    return TraineeOut.model_validate(
        await trainees.get_trainee(session, trainee_id=who.trainee_id, who=who)
    )


@router.get("/trainees/{trainee_id}")
async def get_trainee(trainee_id: Id, session: DbSession, who: Reader) -> TraineeOut:
    """One trainee (trainees see only themselves)."""
    return TraineeOut.model_validate(
        await trainees.get_trainee(session, trainee_id=trainee_id, who=who)
    )


@router.patch("/trainees/{trainee_id}")
async def update_trainee(
    trainee_id: Id, body: TraineeUpdate, session: DbSession, who: Staff, now: Now
) -> TraineeOut:
    """Change a trainee's details (audited; `active: false` deactivates)."""
    return TraineeOut.model_validate(
        await trainees.update_trainee(session, trainee_id=trainee_id, data=body, who=who, now=now)
    )


@router.post("/trainees/{trainee_id}/deactivate")
async def deactivate_trainee(
    trainee_id: Id, session: DbSession, who: Staff, now: Now
) -> TraineeOut:
    """Deactivate a trainee (left the service): no new enrolments, no compliance tracking."""
    return TraineeOut.model_validate(
        await trainees.update_trainee(
            session,
            trainee_id=trainee_id,
            data=TraineeUpdate(active=False),
            who=who,
            now=now,
        )
    )


@router.get("/trainees/{trainee_id}/history")
async def trainee_history(
    trainee_id: Id,
    session: DbSession,
    who: Staff,
    limit: Limit = 100,
    offset: Offset = 0,
    cursor: Cursor = None,
) -> Page[AuditOut]:
    """Every recorded change of a trainee, oldest first: who, when, what."""
    return await trainees.trainee_history(
        session, trainee_id=trainee_id, who=who, limit=limit, offset=offset, cursor=cursor
    )


@router.get("/trainees/{trainee_id}/enrolments")
async def trainee_enrolments(
    trainee_id: Id,
    session: DbSession,
    who: Reader,
    limit: Limit = 50,
    offset: Offset = 0,
    cursor: Cursor = None,
) -> Page[TraineeEnrolmentOut]:
    """A trainee's enrolments, newest first, each with its cohort's title, training, dates and
    place (the trainee themselves may read these, not the cohort itself)."""
    listing = await enrolments.list_enrolments(
        session,
        who=who,
        trainee_id=trainee_id,
        status=None,
        limit=limit,
        offset=offset,
        cursor=cursor,
    )
    cohorts = await enrolments.cohorts_by_id(session, {e.cohort_id for e in listing.items})
    items = [
        TraineeEnrolmentOut.model_validate(e).model_copy(
            update={
                "cohort": EnrolledCohort.model_validate(cohorts[e.cohort_id])
                if e.cohort_id in cohorts
                else None
            }
        )
        for e in listing.items
    ]
    return Page.of(listing, items, limit=limit, offset=offset)
