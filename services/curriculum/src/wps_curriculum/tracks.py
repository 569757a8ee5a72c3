"""Tracks: creating one and its next versions from pinned, published module versions, editing
drafts, and what publishing or retiring a track version checks and announces
(track.published, track.retired). Functions never commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.auth import Principal
from wps_common.errors import Conflict, InvalidInput, NotFound
from wps_common.events.contracts import ModuleFacts, TrackFacts, TrackPublished, TrackRetired
from wps_curriculum.kinds import MODULES, TRACKS
from wps_curriculum.models import Requirement, Track, TrackVersion, outbox
from wps_curriculum.modules import module_facts
from wps_curriculum.ownership import owned, owner_of_new
from wps_curriculum.schemas import PinnedModule, TrackContent, TrackCreate
from wps_curriculum.versions import (
    add_version,
    draft,
    edit,
    get_module_version,
    get_version,
    no_open_version,
    read_version,
)


async def create_track(
    session: AsyncSession, *, data: TrackCreate, who: Principal, now: datetime
) -> TrackVersion:
    """A new track of published module versions (any academy's or national), owned like a
    module; its first version is a draft."""
    given = "owner_academy" in data.model_fields_set
    owner = owner_of_new(who, data.owner_academy, given=given, what="track")
    if await session.get(Track, data.code) is not None:
        raise Conflict(f"A track with code {data.code} already exists.", code=data.code)
    content = await _track_content(session, data, who)
    root = Track(code=data.code, owner_academy=owner, created_at=now, created_by=who.subject)
    session.add(root)
    return await add_version(session, TRACKS, root=root, number=1, content=content, by=who, now=now)


async def new_track_version(
    session: AsyncSession, *, code: str, data: TrackContent, who: Principal, now: datetime
) -> TrackVersion:
    """Start the next version of a track as a draft (published versions never change)."""
    root = await owned(session, TRACKS, code=code, who=who)
    latest = await no_open_version(session, TRACKS, code=code)
    content = await _track_content(session, data, who)
    return await add_version(
        session, TRACKS, root=root, number=latest.version + 1, content=content, by=who, now=now
    )


async def edit_track_draft(
    session: AsyncSession,
    *,
    code: str,
    version: int,
    data: TrackContent,
    who: Principal,
    now: datetime,
) -> TrackVersion:
    await owned(session, TRACKS, code=code, who=who, version=version)
    found = await draft(session, TRACKS, code=code, version=version)
    content = await _track_content(session, data, who)
    return edit(session, TRACKS, found, content=content, by=who.subject, now=now)


async def _track_content(
    session: AsyncSession, data: TrackContent, who: Principal
) -> dict[str, Any]:
    pins = [
        await _pin(session, pinned, position, who) for position, pinned in enumerate(data.modules)
    ]
    fields = set(TrackContent.model_fields)
    content = TrackContent.model_validate(data.model_dump(include=fields)).model_dump(mode="json")
    content["modules"] = pins
    return content


async def _pin(
    session: AsyncSession, pinned: PinnedModule, position: int, who: Principal
) -> dict[str, Any]:
    """The module version a track pins: the one named, if `who` reads it and it is published;
    else the newest published one."""
    field = f"modules.{position}"
    if pinned.version is None:
        try:
            module = await get_version(session, MODULES, code=pinned.code, statuses=["published"])
        except NotFound as exc:
            raise InvalidInput(
                f"Module {pinned.code} has no published version to pin.", field=field
            ) from exc
    else:
        try:
            module = await read_version(
                session, MODULES, code=pinned.code, version=pinned.version, who=who
            )
        except NotFound as exc:
            raise InvalidInput(exc.detail, field=field) from exc
        if module.status != "published":
            raise InvalidInput(
                f"A track can only pin published module versions; {pinned.code} version "
                f"{pinned.version} is {module.status}.",
                field=field,
            )
    return {"code": module.module_code, "version": module.version}


# --- publishing and retiring -------------------------------------------------------------------


async def publish_track(session: AsyncSession, found: TrackVersion) -> None:
    """Announce a track version being published; every module it pins must be published."""
    assert found.published_at is not None
    modules = []
    for pinned in found.content["modules"]:
        module = await get_module_version(session, code=pinned["code"], version=pinned["version"])
        if module.status != "published":
            raise Conflict(
                f"Module {module.module_code} version {module.version} is {module.status}; "
                "a track can only be published with published modules."
            )
        modules.append(module_facts(module))
    await outbox.add(
        session,
        TrackPublished(track=track_facts(found, modules), published_at=found.published_at),
    )


async def retire_track(session: AsyncSession, found: TrackVersion) -> None:
    """Announce a track version being retired. Its last published version stays while a
    requirement names the track (as the one it asks for, or as its refresher)."""
    assert found.retired_at is not None
    others = await session.scalar(
        select(func.count()).where(
            TrackVersion.track_code == found.track_code,
            TrackVersion.status == "published",
            TrackVersion.version != found.version,
        )
    )
    if not others:
        required_by = list(
            await session.scalars(
                select(Requirement.code).where(
                    (Requirement.track_code == found.track_code)
                    | (Requirement.refresher_track_code == found.track_code),
                    Requirement.deleted_at.is_(None),
                )
            )
        )
        if required_by:
            raise Conflict(
                f"Track {found.track_code} is required by {', '.join(required_by)}; change or "
                "delete those requirements before retiring its last published version.",
                requirements=required_by,
            )
    await outbox.add(
        session,
        TrackRetired(
            track_code=found.track_code, version=found.version, retired_at=found.retired_at
        ),
    )


def track_facts(version: TrackVersion, modules: list[ModuleFacts]) -> TrackFacts:
    """What track.published says about a track version."""
    content = version.content
    return TrackFacts(
        code=version.track_code,
        version=version.version,
        content_hash=version.content_hash,
        title=content["title"],
        certificate_title=content["certificate_title"],
        validity_months=content["validity_months"],
        modules=modules,
        target_roles=content.get("target_roles", []),
    )
