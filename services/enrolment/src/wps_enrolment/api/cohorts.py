"""Routes of /v1/cohorts: opening cohorts, their seats, and finding them."""

from __future__ import annotations

from fastapi import APIRouter

from wps_common.app import DbSession
from wps_common.fields import Code, Day, Id, Limit, Offset
from wps_common.paging import Cursor, Page
from wps_enrolment import cohorts
from wps_enrolment.api.deps import OTHER_ACADEMY, Overseeing, Settings, Staff
from wps_enrolment.schemas import CohortCreate, CohortDetail, CohortOut

router = APIRouter(tags=["cohorts"])


@router.post("/cohorts", status_code=201, responses=OTHER_ACADEMY)
async def create_cohort(
    body: CohortCreate, session: DbSession, who: Staff, settings: Settings
) -> CohortOut:
    """Open a cohort for the latest published version of a track (or of a single module)."""
    return CohortOut.model_validate(
        await cohorts.create_cohort(session, data=body, who=who, max_attempts=settings.max_attempts)
    )


@router.get("/cohorts", responses=OTHER_ACADEMY)
async def list_cohorts(
    session: DbSession,
    who: Overseeing,
    academy_id: Id | None = None,
    track_code: Code | None = None,
    starts_from: Day | None = None,
    starts_to: Day | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
    cursor: Cursor = None,
) -> Page[CohortOut]:
    """Cohorts, latest start first."""
    listing = await cohorts.list_cohorts(
        session,
        who=who,
        academy_id=academy_id,
        track_code=track_code,
        starts_from=starts_from,
        starts_to=starts_to,
        limit=limit,
        offset=offset,
        cursor=cursor,
    )
    return Page.of(
        listing, [CohortOut.model_validate(c) for c in listing.items], limit=limit, offset=offset
    )


@router.get("/cohorts/{cohort_id}")
async def get_cohort(cohort_id: Id, session: DbSession, who: Overseeing) -> CohortDetail:
    """One cohort with its seats taken, free and waitlisted."""
    cohort, seats = await cohorts.cohort_seats(session, cohort_id=cohort_id, who=who)
    return CohortDetail.model_validate({**CohortOut.model_validate(cohort).model_dump(), **seats})
