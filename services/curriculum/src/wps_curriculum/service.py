"""Curriculum use cases. Functions never commit: the caller's unit of work does."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.db import utcnow
from wps_common.errors import Conflict, InvalidInput, NotFound
from wps_common.events.contracts import ModuleFacts, ModulePublished, TrackFacts, TrackPublished
from wps_curriculum.models import Module, ModuleVersion, Track, TrackVersion, outbox
from wps_curriculum.schemas import ModuleContent, ModuleCreate, TrackContent, TrackCreate


def content_hash(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def create_module(session: AsyncSession, *, data: ModuleCreate, author: str) -> ModuleVersion:
    if await session.get(Module, data.code) is not None:
        raise Conflict(f"A module with code {data.code} already exists.", code=data.code)
    content = ModuleContent.model_validate(data.model_dump(exclude={"code"})).model_dump(
        mode="json"
    )
    await _check_prerequisites(session, code=data.code, prerequisites=data.prerequisites)
    session.add(Module(code=data.code, created_by=author))
    version = ModuleVersion(
        module_code=data.code,
        version=1,
        status="draft",
        content=content,
        content_hash=content_hash(content),
        author=author,
    )
    session.add(version)
    await session.flush()
    return version


async def _check_prerequisites(
    session: AsyncSession, *, code: str, prerequisites: list[str]
) -> None:
    if code in prerequisites:
        raise InvalidInput(f"{code} cannot be its own prerequisite.", field="prerequisites")
    if not prerequisites:
        return
    known = set(
        (await session.scalars(select(Module.code).where(Module.code.in_(prerequisites)))).all()
    )
    missing = sorted(set(prerequisites) - known)
    if missing:
        raise InvalidInput(
            f"Unknown prerequisite module(s): {', '.join(missing)}.", field="prerequisites"
        )


async def get_module_version(
    session: AsyncSession, *, code: str, version: int | None = None
) -> ModuleVersion:
    stmt = select(ModuleVersion).where(ModuleVersion.module_code == code)
    stmt = (
        stmt.where(ModuleVersion.version == version)
        if version is not None
        else stmt.order_by(ModuleVersion.version.desc()).limit(1)
    )
    found = await session.scalar(stmt)
    if found is None:
        what = f"module {code}" + (f" version {version}" if version is not None else "")
        raise NotFound(f"There is no {what}.")
    return found


def module_facts(version: ModuleVersion) -> ModuleFacts:
    content = version.content
    return ModuleFacts(
        code=version.module_code,
        version=version.version,
        content_hash=version.content_hash,
        title=content["title"],
        duration_hours=content["duration_hours"],
        assessment=content["assessment"]["kind"],
        pass_mark=content["assessment"]["pass_mark"],
        min_attendance_pct=content["min_attendance_pct"],
        grants_certificate=content.get("grants_certificate", False),
    )


async def publish_module(session: AsyncSession, *, code: str, version: int) -> ModuleVersion:
    found = await get_module_version(session, code=code, version=version)
    if found.status == "published":
        return found  # publishing twice is a no-op, not a second event
    if found.status not in {"draft", "approved"}:
        raise Conflict(
            f"Module {code} version {version} is {found.status} and cannot be published."
        )
    found.status = "published"
    found.published_at = utcnow()
    await outbox.add(
        session, ModulePublished(module=module_facts(found), published_at=found.published_at)
    )
    return found


async def create_track(session: AsyncSession, *, data: TrackCreate, author: str) -> TrackVersion:
    if await session.get(Track, data.code) is not None:
        raise Conflict(f"A track with code {data.code} already exists.", code=data.code)
    for position, pinned in enumerate(data.modules):
        try:
            module = await get_module_version(session, code=pinned.code, version=pinned.version)
        except NotFound as exc:
            raise InvalidInput(exc.detail, field=f"modules.{position}") from exc
        if module.status != "published":
            raise InvalidInput(
                f"A track can only pin published module versions; {pinned.code} version "
                f"{pinned.version} is {module.status}.",
                field=f"modules.{position}",
            )
    content = TrackContent.model_validate(data.model_dump(exclude={"code"})).model_dump(mode="json")
    session.add(Track(code=data.code, created_by=author))
    version = TrackVersion(
        track_code=data.code,
        version=1,
        status="draft",
        content=content,
        content_hash=content_hash(content),
        author=author,
    )
    session.add(version)
    await session.flush()
    return version


async def get_track_version(
    session: AsyncSession, *, code: str, version: int | None = None
) -> TrackVersion:
    stmt = select(TrackVersion).where(TrackVersion.track_code == code)
    stmt = (
        stmt.where(TrackVersion.version == version)
        if version is not None
        else stmt.order_by(TrackVersion.version.desc()).limit(1)
    )
    found = await session.scalar(stmt)
    if found is None:
        what = f"track {code}" + (f" version {version}" if version is not None else "")
        raise NotFound(f"There is no {what}.")
    return found


async def publish_track(session: AsyncSession, *, code: str, version: int) -> TrackVersion:
    found = await get_track_version(session, code=code, version=version)
    if found.status == "published":
        return found
    if found.status not in {"draft", "approved"}:
        raise Conflict(f"Track {code} version {version} is {found.status} and cannot be published.")
    modules = []
    for pinned in found.content["modules"]:
        module = await get_module_version(session, code=pinned["code"], version=pinned["version"])
        if module.status != "published":
            raise Conflict(
                f"Module {module.module_code} version {module.version} is {module.status}; "
                "a track can only be published with published modules."
            )
        modules.append(module_facts(module))
    found.status = "published"
    found.published_at = utcnow()
    facts = TrackFacts(
        code=found.track_code,
        version=found.version,
        content_hash=found.content_hash,
        title=found.content["title"],
        certificate_title=found.content["certificate_title"],
        validity_months=found.content["validity_months"],
        modules=modules,
    )
    await outbox.add(session, TrackPublished(track=facts, published_at=found.published_at))
    return found
