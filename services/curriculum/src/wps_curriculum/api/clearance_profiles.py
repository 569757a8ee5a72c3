"""Clearance profile routes (/v1/clearance-profiles): named sets of modules and tracks a person
must hold valid certificates of, e.g. before a peacekeeping mission."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from wps_common.app import DbSession
from wps_common.clock import Now
from wps_common.paging import Cursor, Page
from wps_curriculum import clearance_profiles, trail
from wps_curriculum.api.parameters import Admin, Commenter, Limit, Offset, Reader
from wps_curriculum.models import ClearanceProfile
from wps_curriculum.schemas import (
    CLEARANCE_PROFILE_CODE_PATTERN,
    AuditEntryOut,
    ClearanceProfileContent,
    ClearanceProfileCreate,
    ClearanceProfileOut,
)

router = APIRouter(tags=["clearance profiles"])
ProfilePath = Annotated[str, Path(pattern=CLEARANCE_PROFILE_CODE_PATTERN, max_length=40)]


def profile_out(profile: ClearanceProfile) -> ClearanceProfileOut:
    return ClearanceProfileOut.model_validate(
        {
            "code": profile.code,
            "revision": profile.revision,
            "title": profile.title,
            "items": profile.items,
            "active": profile.active,
            "created_at": profile.created_at,
            "created_by": profile.created_by,
            "updated_at": profile.updated_at,
            "updated_by": profile.updated_by,
        }
    )


@router.get("/clearance-profiles")
async def list_profiles(
    session: DbSession,
    who: Reader,
    include_retired: bool = False,
    limit: Limit = 50,
    offset: Offset = 0,
    cursor: Cursor = None,
) -> Page[ClearanceProfileOut]:
    """Clearance profiles, by code; retired ones only when asked for."""
    listing = await clearance_profiles.list_profiles(
        session, include_retired=include_retired, limit=limit, offset=offset, cursor=cursor
    )
    return Page[ClearanceProfileOut].of(
        listing, [profile_out(row) for row in listing.items], limit=limit, offset=offset
    )


@router.post("/clearance-profiles", status_code=201)
async def create_profile(
    body: ClearanceProfileCreate, session: DbSession, who: Admin, now: Now
) -> ClearanceProfileOut:
    """Create a profile (emits clearance_profile.changed, change = created)."""
    found = await clearance_profiles.create_profile(session, data=body, actor=who.subject, now=now)
    return profile_out(found)


@router.get("/clearance-profiles/{code}")
async def get_profile(code: ProfilePath, session: DbSession, who: Reader) -> ClearanceProfileOut:
    """One profile (retired ones too: `active` is false)."""
    return profile_out(await clearance_profiles.get_profile(session, code=code))


@router.put("/clearance-profiles/{code}")
async def update_profile(
    code: ProfilePath, body: ClearanceProfileContent, session: DbSession, who: Admin, now: Now
) -> ClearanceProfileOut:
    """Replace a profile; `active` false retires it, true makes it active again (emits
    clearance_profile.changed when anything changed)."""
    found = await clearance_profiles.update_profile(
        session, code=code, data=body, actor=who.subject, now=now
    )
    return profile_out(found)


@router.post("/clearance-profiles/{code}/retire")
async def retire_profile(
    code: ProfilePath, session: DbSession, who: Admin, now: Now
) -> ClearanceProfileOut:
    """Retire a profile: kept, no longer offered or answered (emits clearance_profile.changed,
    change = retired)."""
    found = await clearance_profiles.retire_profile(session, code=code, actor=who.subject, now=now)
    return profile_out(found)


@router.get("/clearance-profiles/{code}/history")
async def profile_history(
    code: ProfilePath,
    session: DbSession,
    who: Commenter,
    limit: Limit = 100,
    offset: Offset = 0,
    cursor: Cursor = None,
) -> Page[AuditEntryOut]:
    """Who changed a profile when; `version` is the revision."""
    return await trail.history(
        session, entity="clearance_profile", code=code, limit=limit, offset=offset, cursor=cursor
    )
