"""Mandatory-training rules: who must hold which track, with grace period, renewal and
reminders. Every change is a `requirement.changed` event with a growing revision."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.errors import Conflict, InvalidInput, NotFound
from wps_common.events.contracts import RequirementChanged, Selector
from wps_common.paging import Listing, keyset_page
from wps_curriculum.kinds import TRACKS
from wps_curriculum.models import Requirement, TrackVersion, outbox
from wps_curriculum.schemas import RequirementContent, RequirementCreate
from wps_curriculum.trail import record
from wps_curriculum.versions import get_version

Change = Literal["created", "updated", "deleted"]


async def create_requirement(
    session: AsyncSession, *, data: RequirementCreate, actor: str, now: datetime
) -> Requirement:
    """A new rule; a code withdrawn earlier may be used again (its revision keeps growing)."""
    existing = await session.get(Requirement, data.code, with_for_update=True)
    if existing is not None and existing.deleted_at is None:
        raise Conflict(f"A requirement with code {data.code} already exists.", code=data.code)
    renewal = await _renewal_months(session, data)
    await _check_refresher(session, data)
    if existing is None:
        requirement = Requirement(code=data.code, revision=1, created_at=now, created_by=actor)
        session.add(requirement)
    else:
        requirement = existing
        requirement.revision += 1
        requirement.deleted_at = None
        requirement.created_at, requirement.created_by = now, actor
    _apply(requirement, data, renewal)
    requirement.updated_at, requirement.updated_by = now, actor
    await _changed(session, requirement, "created", actor, now)
    return requirement


async def update_requirement(
    session: AsyncSession, *, code: str, data: RequirementContent, actor: str, now: datetime
) -> Requirement:
    """Replace a rule; an identical body changes nothing and emits nothing."""
    requirement = await get_requirement(session, code=code, lock=True)
    renewal = await _renewal_months(session, data)
    await _check_refresher(session, data)
    before = _snapshot(requirement)
    _apply(requirement, data, renewal)
    if _snapshot(requirement) == before:
        return requirement
    requirement.revision += 1
    requirement.updated_at, requirement.updated_by = now, actor
    await _changed(session, requirement, "updated", actor, now)
    return requirement


async def delete_requirement(
    session: AsyncSession, *, code: str, actor: str, now: datetime
) -> None:
    """Withdraw a rule (kept for the record; enrolment learns it no longer applies)."""
    requirement = await get_requirement(session, code=code, lock=True)
    requirement.revision += 1
    requirement.deleted_at = requirement.updated_at = now
    requirement.updated_by = actor
    await _changed(session, requirement, "deleted", actor, now)


async def get_requirement(session: AsyncSession, *, code: str, lock: bool = False) -> Requirement:
    requirement = await session.get(Requirement, code, with_for_update=lock)
    if requirement is None:
        raise NotFound(f"There is no requirement {code}.")
    if requirement.deleted_at is not None:
        raise NotFound(
            f"Requirement {code} was withdrawn on {requirement.deleted_at:%Y-%m-%d}.",
            withdrawn_at=requirement.deleted_at.isoformat(),
        )
    return requirement


async def list_requirements(
    session: AsyncSession,
    *,
    track_code: str | None = None,
    include_deleted: bool = False,
    limit: int = 50,
    offset: int = 0,
    cursor: str | None = None,
) -> Listing:
    filters = []
    if track_code:
        filters.append(Requirement.track_code == track_code)
    if not include_deleted:
        filters.append(Requirement.deleted_at.is_(None))
    stmt = select(Requirement).where(*filters)
    # The code is the key: its index gives the order.
    return await keyset_page(
        session, stmt, order=[Requirement.code], limit=limit, offset=offset, cursor=cursor
    )


async def _renewal_months(session: AsyncSession, data: RequirementContent) -> int | None:
    """The renewal interval, checked against the certificate validity of the track's newest
    published version: renewing less often than certificates last would leave people expired."""
    try:
        track: TrackVersion = await get_version(
            session, TRACKS, code=data.track_code, statuses=["published"]
        )
    except NotFound as exc:
        raise InvalidInput(
            f"Track {data.track_code} has no published version; publish it before requiring it.",
            field="track_code",
        ) from exc
    validity: int | None = track.content.get("validity_months")
    if data.renewal_months is None:
        return validity
    if validity is not None and data.renewal_months > validity:
        raise InvalidInput(
            f"renewal_months ({data.renewal_months}) exceeds the {validity} months a certificate "
            f"of track {data.track_code} stays valid.",
            field="renewal_months",
        )
    return data.renewal_months


async def _check_refresher(session: AsyncSession, data: RequirementContent) -> None:
    """A refresher is another track with a published version, like the requirement's own."""
    code = data.refresher_track_code
    if code is None:
        return
    if code == data.track_code:
        raise InvalidInput(
            f"The refresher must be a track other than {data.track_code}, which the "
            "requirement already asks for.",
            field="refresher_track_code",
        )
    try:
        await get_version(session, TRACKS, code=code, statuses=["published"])
    except NotFound as exc:
        raise InvalidInput(
            f"Track {code} has no published version; publish it before naming it as the refresher.",
            field="refresher_track_code",
        ) from exc


def _apply(requirement: Requirement, data: RequirementContent, renewal: int | None) -> None:
    requirement.title = data.title
    requirement.selector = data.selector.model_dump(mode="json")
    requirement.track_code = data.track_code
    requirement.refresher_track_code = data.refresher_track_code
    requirement.grace_period_days = data.grace_period_days
    requirement.renewal_months = renewal
    requirement.reminder_days = list(data.reminder_days)


def _snapshot(requirement: Requirement) -> tuple[object, ...]:
    return (
        requirement.title,
        requirement.selector,
        requirement.track_code,
        requirement.refresher_track_code,
        requirement.grace_period_days,
        requirement.renewal_months,
        requirement.reminder_days,
    )


async def _changed(
    session: AsyncSession, requirement: Requirement, change: Change, actor: str, now: datetime
) -> None:
    record(
        session,
        entity="requirement",
        code=requirement.code,
        version=requirement.revision,
        action=change,
        actor=actor,
        at=now,
    )
    await session.flush()
    await outbox.add(
        session,
        RequirementChanged(
            requirement_code=requirement.code,
            revision=requirement.revision,
            change=change,
            title=requirement.title,
            selector=Selector.model_validate(requirement.selector),
            track_code=requirement.track_code,
            refresher_track_code=requirement.refresher_track_code,
            grace_period_days=requirement.grace_period_days,
            renewal_months=requirement.renewal_months,
            reminder_days=requirement.reminder_days,
            changed_at=requirement.updated_at,
        ),
    )
