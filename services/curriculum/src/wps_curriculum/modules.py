"""Modules: creating one and its next versions, editing drafts with their prerequisites (known
to the author, no cycles), and what publishing or retiring a module version checks and
announces (module.published, module.retired). Functions never commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.auth import Principal
from wps_common.errors import Conflict, InvalidInput
from wps_common.events.contracts import ModuleFacts, ModulePublished, ModuleRetired
from wps_curriculum.kinds import MODULES
from wps_curriculum.models import Module, ModuleVersion, TrackVersion, outbox
from wps_curriculum.ownership import PUBLIC, owned, owner_of_new, sees_drafts_clause
from wps_curriculum.schemas import ModuleContent, ModuleCreate
from wps_curriculum.versions import add_version, draft, edit, no_open_version


def _module_content(data: ModuleContent) -> dict[str, Any]:
    fields = set(ModuleContent.model_fields)
    return ModuleContent.model_validate(data.model_dump(include=fields)).model_dump(mode="json")


async def create_module(
    session: AsyncSession, *, data: ModuleCreate, who: Principal, now: datetime
) -> ModuleVersion:
    """A new module, owned by the creator's academy (national when a platform admin creates
    it without naming one); its first version is a draft."""
    given = "owner_academy" in data.model_fields_set
    owner = owner_of_new(who, data.owner_academy, given=given, what="module")
    if await session.get(Module, data.code) is not None:
        raise Conflict(f"A module with code {data.code} already exists.", code=data.code)
    content = _module_content(data)
    await _check_prerequisites(
        session, code=data.code, version=1, prerequisites=data.prerequisites, who=who
    )
    root = Module(code=data.code, owner_academy=owner, created_at=now, created_by=who.subject)
    session.add(root)
    return await add_version(
        session, MODULES, root=root, number=1, content=content, by=who, now=now
    )


async def new_module_version(
    session: AsyncSession, *, code: str, data: ModuleContent, who: Principal, now: datetime
) -> ModuleVersion:
    """Start the next version of a module as a draft (published versions never change)."""
    root = await owned(session, MODULES, code=code, who=who)
    latest = await no_open_version(session, MODULES, code=code)
    number = latest.version + 1
    content = _module_content(data)
    await _check_prerequisites(
        session, code=code, version=number, prerequisites=data.prerequisites, who=who
    )
    return await add_version(
        session, MODULES, root=root, number=number, content=content, by=who, now=now
    )


async def edit_module_draft(
    session: AsyncSession,
    *,
    code: str,
    version: int,
    data: ModuleContent,
    who: Principal,
    now: datetime,
) -> ModuleVersion:
    await owned(session, MODULES, code=code, who=who, version=version)
    found = await draft(session, MODULES, code=code, version=version)
    content = _module_content(data)
    await _check_prerequisites(
        session, code=code, version=version, prerequisites=data.prerequisites, who=who
    )
    return edit(session, MODULES, found, content=content, by=who.subject, now=now)


async def _check_prerequisites(
    session: AsyncSession, *, code: str, version: int, prerequisites: list[str], who: Principal
) -> None:
    """Prerequisites must be modules the author can read (another academy's drafts are not
    known to them) and, with every other non-retired version's prerequisites, must not form a
    cycle."""
    if code in prerequisites:
        raise InvalidInput(f"{code} cannot be its own prerequisite.", field="prerequisites")
    if not prerequisites:
        return
    readable: ColumnElement[bool] = Module.code.in_(prerequisites)
    drafts = sees_drafts_clause(who, Module.owner_academy)
    if drafts is not None:
        public = select(ModuleVersion.module_code).where(ModuleVersion.status.in_(PUBLIC))
        readable = readable & (drafts | Module.code.in_(public))
    known = set((await session.scalars(select(Module.code).where(readable))).all())
    missing = [p for p in prerequisites if p not in known]
    if missing:
        raise InvalidInput(
            f"Unknown prerequisite module(s): {', '.join(missing)}.", field="prerequisites"
        )
    await _check_no_cycle(session, code=code, version=version, prerequisites=prerequisites)


async def _check_no_cycle(
    session: AsyncSession, *, code: str, version: int, prerequisites: list[str]
) -> None:
    rows = await session.execute(
        select(ModuleVersion.module_code, ModuleVersion.version, ModuleVersion.content).where(
            ModuleVersion.status != "retired"
        )
    )
    graph: dict[str, set[str]] = {}
    for other, number, content in rows:
        if (other, number) != (code, version):
            graph.setdefault(other, set()).update(content.get("prerequisites", []))
    graph.setdefault(code, set()).update(prerequisites)
    cycle = _path(graph, start=code, goal=code)
    if cycle:
        raise InvalidInput(
            f"These prerequisites would make a cycle: {' → '.join(cycle)}.",
            field="prerequisites",
        )


def _path(graph: dict[str, set[str]], *, start: str, goal: str) -> list[str] | None:
    """A path from `start` back to `goal` through the graph, if there is one."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for successor in sorted(graph.get(node, ())):
            if successor == goal:
                return [*path, goal]
            if successor not in seen:
                seen.add(successor)
                stack.append((successor, [*path, successor]))
    return None


# --- publishing and retiring -------------------------------------------------------------------


async def publish_module(session: AsyncSession, found: ModuleVersion) -> None:
    """Announce a module version being published; its prerequisites must be published."""
    assert found.published_at is not None
    prerequisites = found.content.get("prerequisites", [])
    if prerequisites:
        published = set(
            await session.scalars(
                select(ModuleVersion.module_code).where(
                    ModuleVersion.module_code.in_(prerequisites),
                    ModuleVersion.status == "published",
                )
            )
        )
        missing = [p for p in prerequisites if p not in published]
        if missing:
            raise Conflict(
                f"Publish the prerequisite module(s) {', '.join(missing)} first: module "
                f"{found.module_code} needs them and they have no published version."
            )
    await outbox.add(
        session, ModulePublished(module=module_facts(found), published_at=found.published_at)
    )


async def retire_module(session: AsyncSession, found: ModuleVersion) -> None:
    """Announce a module version being retired, unless a published track still pins it."""
    assert found.retired_at is not None
    pinning = await session.scalars(
        select(TrackVersion).where(
            TrackVersion.status == "published",
            TrackVersion.module_index.contains(f"|{found.module_code}|", autoescape=True),
        )
    )
    users = [
        f"{track.track_code} v{track.version}"
        for track in pinning
        if {"code": found.module_code, "version": found.version} in track.content["modules"]
    ]
    if users:
        raise Conflict(
            f"Module {found.module_code} version {found.version} is part of published "
            f"track(s) {', '.join(users)}; retire those first.",
            tracks=users,
        )
    await outbox.add(
        session,
        ModuleRetired(
            module_code=found.module_code, version=found.version, retired_at=found.retired_at
        ),
    )


def module_facts(version: ModuleVersion) -> ModuleFacts:
    """What module.published and track.published say about a module version."""
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
        delivery_mode=content.get("delivery_mode"),
        prerequisites=content.get("prerequisites", []),
    )
