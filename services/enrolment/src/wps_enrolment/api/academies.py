"""Routes of /v1/academies."""

from __future__ import annotations

from fastapi import APIRouter

from wps_common.app import DbSession
from wps_common.fields import Id, Limit, Offset
from wps_common.paging import Cursor, Page
from wps_enrolment import academies
from wps_enrolment.api.deps import Admin, Reader, Staff
from wps_enrolment.schemas import AcademyCreate, AcademyOut, AcademyUpdate

router = APIRouter(tags=["academies"])


@router.post("/academies", status_code=201)
async def create_academy(body: AcademyCreate, session: DbSession, who: Admin) -> AcademyOut:
    """Register an academy (a tenant), with its languages in fallback order and its names."""
    return AcademyOut.model_validate(await academies.create_academy(session, data=body, who=who))


@router.get("/academies")
async def list_academies(
    session: DbSession,
    who: Reader,
    limit: Limit = 50,
    offset: Offset = 0,
    cursor: Cursor = None,
) -> Page[AcademyOut]:
    """Academies by code (academy-scoped callers see their own only)."""
    listing = await academies.list_academies(
        session, who=who, limit=limit, offset=offset, cursor=cursor
    )
    return Page.of(
        listing, [AcademyOut.model_validate(a) for a in listing.items], limit=limit, offset=offset
    )


@router.get("/academies/{academy_id}")
async def get_academy(academy_id: Id, session: DbSession, who: Reader) -> AcademyOut:
    """One academy (academy-scoped callers see only their own)."""
    return AcademyOut.model_validate(
        await academies.get_academy(session, academy_id=academy_id, who=who)
    )


@router.patch("/academies/{academy_id}")
async def update_academy(
    academy_id: Id, body: AcademyUpdate, session: DbSession, who: Staff
) -> AcademyOut:
    """Change an academy's official name, time zone, languages (the order its texts fall back
    through) or names per language; a change of name, names or languages announces its trainees'
    profiles again, so certificates issued afterwards print the new name."""
    return AcademyOut.model_validate(
        await academies.update_academy(session, academy_id=academy_id, data=body, who=who)
    )
