"""Deployment clearance profiles: named sets of modules and tracks a person must hold valid
certificates of (e.g. before a peacekeeping mission). Curriculum owns what is required;
enrolment answers who meets it. Every change is a `clearance_profile.changed` event with a
growing revision."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.errors import Conflict, InvalidInput, NotFound
from wps_common.events.contracts import ClearanceItem, ClearanceProfileChanged
from wps_common.paging import Listing, keyset_page
from wps_curriculum.kinds import MODULES, TRACKS
from wps_curriculum.models import ClearanceProfile, outbox
from wps_curriculum.schemas import (
    ClearanceItemIn,
    ClearanceProfileContent,
    ClearanceProfileCreate,
)
from wps_curriculum.trail import record
from wps_curriculum.versions import get_version

Change = Literal["created", "updated", "retired"]


async def create_profile(
    session: AsyncSession, *, data: ClearanceProfileCreate, actor: str, now: datetime
) -> ClearanceProfile:
    """A new profile; the code of a retired one is taken: change that one instead."""
    if await session.get(ClearanceProfile, data.code) is not None:
        raise Conflict(
            f"A clearance profile with code {data.code} already exists; change it with PUT "
            f"/v1/clearance-profiles/{data.code} (also to make a retired one active again).",
            code=data.code,
        )
    await _check_items(session, data.items)
    profile = ClearanceProfile(code=data.code, revision=1, created_at=now, created_by=actor)
    _apply(profile, data)
    profile.updated_at, profile.updated_by = now, actor
    session.add(profile)
    await _changed(session, profile, "created", actor, now)
    return profile


async def update_profile(
    session: AsyncSession,
    *,
    code: str,
    data: ClearanceProfileContent,
    actor: str,
    now: datetime,
) -> ClearanceProfile:
    """Replace a profile (also retire it, or make it active again); an identical body changes
    nothing and emits nothing."""
    profile = await get_profile(session, code=code, lock=True)
    await _check_items(session, data.items)
    before = _snapshot(profile)
    _apply(profile, data)
    if _snapshot(profile) == before:
        return profile
    change: Change = "retired" if before[2] and not profile.active else "updated"
    await _bump(session, profile, change, actor, now)
    return profile


async def retire_profile(
    session: AsyncSession, *, code: str, actor: str, now: datetime
) -> ClearanceProfile:
    """No longer offered or answered (kept for the record); retiring twice changes nothing."""
    profile = await get_profile(session, code=code, lock=True)
    if profile.active:
        profile.active = False
        await _bump(session, profile, "retired", actor, now)
    return profile


async def get_profile(session: AsyncSession, *, code: str, lock: bool = False) -> ClearanceProfile:
    profile = await session.get(ClearanceProfile, code, with_for_update=lock)
    if profile is None:
        raise NotFound(f"There is no clearance profile {code}.")
    return profile


async def list_profiles(
    session: AsyncSession,
    *,
    include_retired: bool = False,
    limit: int = 50,
    offset: int = 0,
    cursor: str | None = None,
) -> Listing:
    stmt = select(ClearanceProfile)
    if not include_retired:
        stmt = stmt.where(ClearanceProfile.active.is_(True))
    return await keyset_page(
        session, stmt, order=[ClearanceProfile.code], limit=limit, offset=offset, cursor=cursor
    )


async def _check_items(session: AsyncSession, items: list[ClearanceItemIn]) -> None:
    """Every module and track named has a published version."""
    for index, item in enumerate(items):
        try:
            if item.kind == "module":
                await get_version(session, MODULES, code=item.code, statuses=["published"])
            else:
                await get_version(session, TRACKS, code=item.code, statuses=["published"])
        except NotFound as exc:
            raise InvalidInput(
                f"There is no published {item.kind} {item.code}; a clearance profile can ask "
                "only for published modules and tracks.",
                field=f"items.{index}.code",
            ) from exc


def _apply(profile: ClearanceProfile, data: ClearanceProfileContent) -> None:
    profile.title = data.title
    profile.items = [{"kind": item.kind, "code": item.code} for item in data.items]
    profile.active = data.active


def _snapshot(profile: ClearanceProfile) -> tuple[object, ...]:
    return (profile.title, profile.items, profile.active)


async def _bump(
    session: AsyncSession, profile: ClearanceProfile, change: Change, actor: str, now: datetime
) -> None:
    profile.revision += 1
    profile.updated_at, profile.updated_by = now, actor
    await _changed(session, profile, change, actor, now)


async def _changed(
    session: AsyncSession, profile: ClearanceProfile, change: Change, actor: str, now: datetime
) -> None:
    record(
        session,
        entity="clearance_profile",
        code=profile.code,
        version=profile.revision,
        action=change,
        actor=actor,
        at=now,
    )
    await session.flush()
    await outbox.add(
        session,
        ClearanceProfileChanged(
            profile_code=profile.code,
            revision=profile.revision,
            change=change,
            title=profile.title,
            items=[ClearanceItem.model_validate(item) for item in profile.items],
            active=profile.active,
            changed_at=profile.updated_at,
        ),
    )
