"""Requirement routes (/v1/requirements): mandatory-training rules and their history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from wps_common.app import DbSession
from wps_common.clock import Now
from wps_common.paging import Cursor, Page
from wps_curriculum import requirements, trail
from wps_curriculum.api.parameters import (
    Admin,
    Commenter,
    Limit,
    Offset,
    Reader,
    RequirementPath,
)
from wps_curriculum.models import Requirement
from wps_curriculum.schemas import (
    CODE_PATTERN,
    AuditEntryOut,
    RequirementContent,
    RequirementCreate,
    RequirementOut,
)

router = APIRouter(tags=["requirements"])


def requirement_out(requirement: Requirement) -> RequirementOut:
    return RequirementOut.model_validate(
        {
            "code": requirement.code,
            "revision": requirement.revision,
            "title": requirement.title,
            "selector": requirement.selector,
            "track_code": requirement.track_code,
            "refresher_track_code": requirement.refresher_track_code,
            "grace_period_days": requirement.grace_period_days,
            "renewal_months": requirement.renewal_months,
            "reminder_days": requirement.reminder_days,
            "created_at": requirement.created_at,
            "created_by": requirement.created_by,
            "updated_at": requirement.updated_at,
            "updated_by": requirement.updated_by,
            "deleted_at": requirement.deleted_at,
        }
    )


@router.get("/requirements")
async def list_requirements(
    session: DbSession,
    who: Reader,
    track_code: Annotated[str | None, Query(pattern=CODE_PATTERN)] = None,
    include_deleted: bool = False,
    limit: Limit = 50,
    offset: Offset = 0,
    cursor: Cursor = None,
) -> Page[RequirementOut]:
    """Mandatory-training rules, by code; withdrawn ones only when asked for."""
    listing = await requirements.list_requirements(
        session,
        track_code=track_code,
        include_deleted=include_deleted,
        limit=limit,
        offset=offset,
        cursor=cursor,
    )
    return Page[RequirementOut].of(
        listing, [requirement_out(row) for row in listing.items], limit=limit, offset=offset
    )


@router.post("/requirements", status_code=201)
async def create_requirement(
    body: RequirementCreate, session: DbSession, who: Admin, now: Now
) -> RequirementOut:
    """Create a rule (emits requirement.changed, change = created)."""
    found = await requirements.create_requirement(session, data=body, actor=who.subject, now=now)
    return requirement_out(found)


@router.get("/requirements/{code}")
async def get_requirement(code: RequirementPath, session: DbSession, who: Reader) -> RequirementOut:
    """One rule."""
    return requirement_out(await requirements.get_requirement(session, code=code))


@router.put("/requirements/{code}")
async def update_requirement(
    code: RequirementPath, body: RequirementContent, session: DbSession, who: Admin, now: Now
) -> RequirementOut:
    """Replace a rule (emits requirement.changed, change = updated, when anything changed)."""
    found = await requirements.update_requirement(
        session, code=code, data=body, actor=who.subject, now=now
    )
    return requirement_out(found)


@router.delete("/requirements/{code}", status_code=204)
async def delete_requirement(
    code: RequirementPath, session: DbSession, who: Admin, now: Now
) -> Response:
    """Withdraw a rule (emits requirement.changed, change = deleted)."""
    await requirements.delete_requirement(session, code=code, actor=who.subject, now=now)
    return Response(status_code=204)


@router.get("/requirements/{code}/history")
async def requirement_history(
    code: RequirementPath,
    session: DbSession,
    who: Commenter,
    limit: Limit = 100,
    offset: Offset = 0,
    cursor: Cursor = None,
) -> Page[AuditEntryOut]:
    """Who changed a rule when; `version` is the revision."""
    return await trail.history(
        session, entity="requirement", code=code, limit=limit, offset=offset, cursor=cursor
    )
