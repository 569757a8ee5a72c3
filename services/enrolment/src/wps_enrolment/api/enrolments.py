"""Routes of enrolments: enrolling in a cohort, a cohort's enrolments, one enrolment, and
withdrawal."""

from __future__ import annotations

from fastapi import APIRouter

from wps_common.app import DbSession
from wps_common.fields import Id, Limit, Offset
from wps_common.paging import Cursor, Page
from wps_enrolment import enrolling, enrolments
from wps_enrolment.api.deps import Overseeing, Reader, Staff
from wps_enrolment.schemas import (
    BulkEnrolled,
    BulkEnrolmentCreate,
    EnrolmentCreate,
    EnrolmentOut,
    EnrolmentStatus,
    Withdrawal,
    Withdrawn,
)

router = APIRouter(tags=["enrolments"])

# The enrol routes name the caller before the session: dependencies are resolved in that order,
# and on SQLite the session takes the database's turn, which every write of the process waits
# for, so the caller is known (and a refused one turned away) before it is taken.


@router.post("/cohorts/{cohort_id}/enrolments", status_code=201)
async def enrol(
    cohort_id: Id, body: EnrolmentCreate, who: Staff, session: DbSession
) -> EnrolmentOut:
    """Enrol a trainee: a seat if one is free, else the waitlist (emits trainee.enrolled)."""
    [enrolment] = await enrolling.enrol_many(
        session, cohort_id=cohort_id, trainee_ids=[body.trainee_id], who=who
    )
    return EnrolmentOut.model_validate(enrolment)


@router.post("/cohorts/{cohort_id}/enrolments/bulk", status_code=201)
async def enrol_many(
    cohort_id: Id, body: BulkEnrolmentCreate, who: Staff, session: DbSession
) -> BulkEnrolled:
    """Enrol many trainees in the order given (seats first, then the waitlist); all or none."""
    enrolled = await enrolling.enrol_many(
        session, cohort_id=cohort_id, trainee_ids=body.trainee_ids, who=who
    )
    out = [EnrolmentOut.model_validate(e) for e in enrolled]
    return BulkEnrolled(
        enrolled=[e for e in out if e.status == "enrolled"],
        waitlisted=[e for e in out if e.status == "waitlisted"],
    )


@router.get("/cohorts/{cohort_id}/enrolments")
async def list_cohort_enrolments(
    cohort_id: Id,
    session: DbSession,
    who: Overseeing,
    status: EnrolmentStatus | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
    cursor: Cursor = None,
) -> Page[EnrolmentOut]:
    """A cohort's enrolments: seats first, then the waitlist in promotion order."""
    listing = await enrolments.list_enrolments(
        session,
        who=who,
        cohort_id=cohort_id,
        status=status,
        limit=limit,
        offset=offset,
        cursor=cursor,
    )
    return Page.of(
        listing, [EnrolmentOut.model_validate(e) for e in listing.items], limit=limit, offset=offset
    )


@router.get("/enrolments/{enrolment_id}")
async def get_enrolment(enrolment_id: Id, session: DbSession, who: Reader) -> EnrolmentOut:
    """One enrolment (trainees see only their own)."""
    return EnrolmentOut.model_validate(
        await enrolments.get_enrolment(session, enrolment_id=enrolment_id, who=who)
    )


@router.post("/enrolments/{enrolment_id}/withdraw")
async def withdraw(enrolment_id: Id, body: Withdrawal, session: DbSession, who: Staff) -> Withdrawn:
    """Withdraw with a reason; the seat goes to the first on the waitlist."""
    enrolment, promoted = await enrolments.withdraw(
        session, enrolment_id=enrolment_id, reason_code=body.reason_code, note=body.note, who=who
    )
    return Withdrawn(
        enrolment=EnrolmentOut.model_validate(enrolment),
        promoted=EnrolmentOut.model_validate(promoted) if promoted else None,
    )
