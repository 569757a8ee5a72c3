"""The starter catalogue: a YAML data file (starter.yaml, format in README.md) published through
the normal service functions, so it is validated, audited and announced as events like any
other curriculum. Loading is idempotent: a code that exists already is left alone."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.auth import Principal, Role
from wps_common.db import Database, utcnow
from wps_common.errors import ProblemError
from wps_curriculum import clearance_profiles, requirements
from wps_curriculum.kinds import MODULES, TRACKS, Kind
from wps_curriculum.models import ClearanceProfile, Module, Requirement, Track
from wps_curriculum.modules import create_module
from wps_curriculum.review import transition
from wps_curriculum.schemas import (
    ClearanceItemIn,
    ClearanceProfileCode,
    ClearanceProfileCreate,
    Code,
    ModuleCreate,
    PinnedModule,
    RequirementCode,
    RequirementCreate,
    SelectorIn,
    TrackCreate,
)
from wps_curriculum.tracks import create_track

STARTER_CATALOGUE = Path(__file__).parent / "starter.yaml"
SYSTEM_AUTHOR = "catalogue"  # the starter catalogue's author (docs/adr/0010-starter-catalogue.md)
# The starter catalogue writes as a platform admin: its curriculum is national.
SYSTEM = Principal(subject=SYSTEM_AUTHOR, roles=frozenset({Role.ADMIN, Role.REVIEWER}))
APPROVAL_NOTE = (
    "Starter catalogue: reviewed in the repository before release and published by the system "
    "author 'catalogue' (docs/adr/0010-starter-catalogue.md)."
)


class CatalogueError(Exception):
    """The catalogue file cannot be loaded; the message names the entry."""


class CatalogueTrack(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Code
    title: dict[str, str]
    certificate_title: dict[str, str]
    description: dict[str, str] = Field(default_factory=dict)
    modules: list[Code]
    validity_months: int | None = None
    target_roles: list[str] = Field(default_factory=list)


class CatalogueRequirement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: RequirementCode
    title: dict[str, str]
    selector: SelectorIn
    track: Code
    refresher: Code | None = None
    grace_period_days: int
    renewal_months: int | None = None
    reminder_days: list[int] = Field(default_factory=list)


class CatalogueClearanceProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: ClearanceProfileCode
    title: dict[str, str]
    items: list[ClearanceItemIn]


class Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    modules: list[ModuleCreate]
    tracks: list[CatalogueTrack]
    requirements: list[CatalogueRequirement]
    clearance_profiles: list[CatalogueClearanceProfile] = Field(default_factory=list)


KINDS = ("modules", "tracks", "requirements", "clearance_profiles")


@dataclass
class LoadReport:
    created: dict[str, list[str]] = field(default_factory=lambda: {kind: [] for kind in KINDS})
    present: dict[str, list[str]] = field(default_factory=lambda: {kind: [] for kind in KINDS})

    def summary(self) -> str:
        parts = [
            f"{len(self.created[kind])} {kind.replace('_', ' ')} published"
            + (f" ({len(self.present[kind])} already there)" if self.present[kind] else "")
            for kind in KINDS
        ]
        return ", ".join(parts)


def read_catalogue(path: Path = STARTER_CATALOGUE) -> Catalogue:
    """Parse and validate the file (blocking; call it in a thread from async code)."""
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Catalogue.model_validate(data)
    except OSError as exc:
        raise CatalogueError(f"cannot read {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{path} is not valid YAML: {exc}") from exc
    except ValidationError as exc:
        raise CatalogueError(f"{path} does not match the catalogue format:\n{exc}") from exc


def _prerequisites_first(modules: list[ModuleCreate]) -> list[ModuleCreate]:
    by_code = {m.code: m for m in modules}
    ordered: list[ModuleCreate] = []
    done: set[str] = set()

    def visit(module: ModuleCreate, trail: tuple[str, ...]) -> None:
        if module.code in done:
            return
        if module.code in trail:
            raise CatalogueError(f"prerequisite cycle: {' → '.join([*trail, module.code])}")
        for prerequisite in module.prerequisites:
            if prerequisite in by_code:
                visit(by_code[prerequisite], (*trail, module.code))
        done.add(module.code)
        ordered.append(module)

    for module in modules:
        visit(module, ())
    return ordered


async def load_catalogue(
    session: AsyncSession, catalogue: Catalogue, *, now: datetime
) -> LoadReport:
    """Publish what is missing, in the caller's transaction: all of it or, on error, none."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        # Replicas starting together load one after the other; the second finds it all there.
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('wps-catalogue'))"))
    report = LoadReport()
    actor = SYSTEM_AUTHOR
    try:
        for module in _prerequisites_first(catalogue.modules):
            if await session.get(Module, module.code) is not None:
                report.present["modules"].append(module.code)
                continue
            version = await create_module(session, data=module, who=SYSTEM, now=now)
            await _publish(session, MODULES, module.code, version.version, now)
            report.created["modules"].append(module.code)
        for track in catalogue.tracks:
            if await session.get(Track, track.code) is not None:
                report.present["tracks"].append(track.code)
                continue
            data = TrackCreate.model_validate(
                {
                    **track.model_dump(exclude={"modules"}),
                    "modules": [PinnedModule(code=code) for code in track.modules],
                }
            )
            created = await create_track(session, data=data, who=SYSTEM, now=now)
            await _publish(session, TRACKS, track.code, created.version, now)
            report.created["tracks"].append(track.code)
        for rule in catalogue.requirements:
            if await session.get(Requirement, rule.code) is not None:
                report.present["requirements"].append(rule.code)
                continue
            data_in = RequirementCreate.model_validate(
                {
                    **rule.model_dump(exclude={"track", "refresher"}),
                    "track_code": rule.track,
                    "refresher_track_code": rule.refresher,
                }
            )
            await requirements.create_requirement(session, data=data_in, actor=actor, now=now)
            report.created["requirements"].append(rule.code)
        for profile in catalogue.clearance_profiles:
            if await session.get(ClearanceProfile, profile.code) is not None:
                report.present["clearance_profiles"].append(profile.code)
                continue
            await clearance_profiles.create_profile(
                session,
                data=ClearanceProfileCreate.model_validate(profile.model_dump()),
                actor=actor,
                now=now,
            )
            report.created["clearance_profiles"].append(profile.code)
    except ProblemError as exc:
        raise CatalogueError(f"the catalogue was not loaded: {exc.detail}") from exc
    except ValidationError as exc:
        raise CatalogueError(f"the catalogue was not loaded:\n{exc}") from exc
    return report


async def _publish(
    session: AsyncSession, kind: Kind[Any], code: str, version: int, now: datetime
) -> None:
    who = SYSTEM
    await transition(
        session, kind=kind, code=code, version=version, action="submit", who=who, now=now
    )
    await transition(
        session,
        kind=kind,
        code=code,
        version=version,
        action="approve",
        who=who,
        now=now,
        comment=APPROVAL_NOTE,
        four_eyes=False,
    )
    await transition(
        session, kind=kind, code=code, version=version, action="publish", who=who, now=now
    )


async def load_into(
    db: Database, path: Path = STARTER_CATALOGUE, *, now: datetime | None = None
) -> LoadReport:
    """Read the file and load it in one transaction of its own, written `now` (by default the
    time it is loaded: at start-up or from the command line)."""
    catalogue = await asyncio.to_thread(read_catalogue, path)
    async with db.session() as session:
        return await load_catalogue(session, catalogue, now=now or utcnow())
