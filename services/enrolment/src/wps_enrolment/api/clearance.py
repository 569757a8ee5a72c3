"""Route of deployment clearance: does a person meet a clearance profile until a day."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from wps_common.app import DbSession
from wps_common.clock import Now
from wps_common.fields import Day, SingleLine
from wps_enrolment import clearance
from wps_enrolment.api.deps import Analysts
from wps_enrolment.schemas import ClearanceOut

router = APIRouter(tags=["clearance"])

PROFILE_PATTERN = r"^[A-Z][A-Z0-9]{1,9}(-[A-Z0-9]{2,12}){0,4}$"


@router.get(
    "/clearance",
    responses={
        404: {
            "description": "No such profile (type …/clearance/unknown-profile), a retired one "
            "(…/clearance/retired-profile), no such person among the academies the caller "
            "sees (…/clearance/unknown-person) or academy (…/clearance/unknown-academy)."
        },
        409: {
            "description": "The employee number is in several academies: name one "
            "(…/clearance/several-academies, `academies` lists their codes)."
        },
        422: {
            "description": "A malformed value, or a mission end date before today in the "
            "person's academy (…/clearance/past-end-date)."
        },
    },
)
async def get_clearance(
    session: DbSession,
    who: Analysts,
    now: Now,
    employee_number: Annotated[
        str, SingleLine(64, min_length=1), Query(description="the HR system's employee number")
    ],
    profile: Annotated[
        str,
        Query(
            pattern=PROFILE_PATTERN,
            max_length=40,
            description="a clearance profile's code, e.g. UN-PKO-PREDEPLOY",
        ),
    ],
    until: Annotated[
        Day | None,
        Query(
            description="YYYY-MM-DD, the mission's end date: everything must be valid until "
            "then; not before today in the person's academy (the default)"
        ),
    ] = None,
    academy: Annotated[
        str | None,
        SingleLine(100, min_length=1),
        Query(description="the academy (code or id), when the number is in several"),
    ] = None,
) -> ClearanceOut:
    """Whether a person meets a clearance profile until a day, item by item: met, expires
    before that day (with the date) or missing, and the certificate that meets it."""
    return await clearance.answer(
        session,
        who=who,
        employee_number=employee_number,
        profile_code=profile,
        until=until,
        academy=academy,
        now=now,
    )
