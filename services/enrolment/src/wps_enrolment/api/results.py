"""Routes of results: recording attempts (one or a whole cohort's) and an enrolment's history."""

from __future__ import annotations

from fastapi import APIRouter

from wps_common.app import DbSession
from wps_common.clock import Now
from wps_common.fields import Id, Limit, Offset
from wps_common.paging import Cursor, Page
from wps_enrolment import results
from wps_enrolment.api.deps import Reader, Teaching
from wps_enrolment.schemas import (
    BulkResultsCreate,
    BulkResultsRecorded,
    EnrolmentOut,
    ResultCreate,
    ResultOut,
    ResultRecorded,
)

router = APIRouter(tags=["enrolments"])


@router.post("/cohorts/{cohort_id}/results", status_code=201)
async def record_cohort_results(
    cohort_id: Id, body: BulkResultsCreate, session: DbSession, who: Teaching, now: Now
) -> BulkResultsRecorded:
    """Results for a whole cohort at once, by trainee; all or nothing."""
    recorded = await results.record_results_bulk(
        session, cohort_id=cohort_id, entries=body.entries, who=who, now=now
    )
    return BulkResultsRecorded(
        results=[
            ResultRecorded(
                result=ResultOut.model_validate(r), enrolment=EnrolmentOut.model_validate(e)
            )
            for r, e in recorded
        ]
    )


@router.post("/enrolments/{enrolment_id}/results", status_code=201)
async def record_result(
    enrolment_id: Id, body: ResultCreate, session: DbSession, who: Teaching, now: Now
) -> ResultRecorded:
    """Record a module attempt (or correct the latest); completion follows the pinned rules."""
    result, enrolment = await results.record_result(
        session, enrolment_id=enrolment_id, data=body, who=who, now=now
    )
    return ResultRecorded(
        result=ResultOut.model_validate(result), enrolment=EnrolmentOut.model_validate(enrolment)
    )


@router.get("/enrolments/{enrolment_id}/results")
async def result_history(
    enrolment_id: Id,
    session: DbSession,
    who: Reader,
    limit: Limit = 100,
    offset: Offset = 0,
    cursor: Cursor = None,
) -> Page[ResultOut]:
    """Every entry of every module, corrections included, oldest first (the last entry of a
    module is the one that counts)."""
    listing = await results.result_history(
        session, enrolment_id=enrolment_id, who=who, limit=limit, offset=offset, cursor=cursor
    )
    return Page.of(
        listing, [ResultOut.model_validate(r) for r in listing.items], limit=limit, offset=offset
    )
