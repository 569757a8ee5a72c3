"""Curriculum REST API (/v1/modules, /v1/tracks)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from wps_common.app import DbSession
from wps_common.auth import Principal, Role, require
from wps_curriculum import service
from wps_curriculum.models import ModuleVersion, TrackVersion
from wps_curriculum.schemas import (
    CODE_PATTERN,
    ModuleCreate,
    ModuleVersionOut,
    TrackCreate,
    TrackVersionOut,
)

router = APIRouter(prefix="/v1")

Author = Annotated[Principal, Depends(require(Role.ADMIN, Role.ACADEMY_ADMIN))]
Publisher = Annotated[Principal, Depends(require(Role.ADMIN))]
Reader = Annotated[Principal, Depends(require(*Role))]
CodePath = Annotated[str, Path(pattern=CODE_PATTERN)]
VersionPath = Annotated[int, Path(ge=1, le=10_000)]


def _module_out(version: ModuleVersion) -> ModuleVersionOut:
    return ModuleVersionOut.model_validate(_flatten(version, version.module_code))


def _track_out(version: TrackVersion) -> TrackVersionOut:
    return TrackVersionOut.model_validate(_flatten(version, version.track_code))


def _flatten(version: ModuleVersion | TrackVersion, code: str) -> dict[str, Any]:
    return {
        **version.content,
        "code": code,
        "version": version.version,
        "status": version.status,
        "content_hash": version.content_hash,
        "author": version.author,
        "created_at": version.created_at,
        "published_at": version.published_at,
    }


@router.post("/modules", status_code=201, tags=["modules"])
async def create_module(body: ModuleCreate, session: DbSession, who: Author) -> ModuleVersionOut:
    """Create a module; its first version is a draft."""
    return _module_out(await service.create_module(session, data=body, author=who.subject))


@router.get("/modules/{code}", tags=["modules"])
async def get_module(code: CodePath, session: DbSession, who: Reader) -> ModuleVersionOut:
    """The module's latest version."""
    return _module_out(await service.get_module_version(session, code=code))


@router.get("/modules/{code}/versions/{version}", tags=["modules"])
async def get_module_version(
    code: CodePath, version: VersionPath, session: DbSession, who: Reader
) -> ModuleVersionOut:
    """One version of a module."""
    return _module_out(await service.get_module_version(session, code=code, version=version))


@router.post("/modules/{code}/versions/{version}/publish", tags=["modules"])
async def publish_module(
    code: CodePath, version: VersionPath, session: DbSession, who: Publisher
) -> ModuleVersionOut:
    """Publish a module version (emits module.published)."""
    return _module_out(await service.publish_module(session, code=code, version=version))


@router.post("/tracks", status_code=201, tags=["tracks"])
async def create_track(body: TrackCreate, session: DbSession, who: Author) -> TrackVersionOut:
    """Create a track of published module versions; its first version is a draft."""
    return _track_out(await service.create_track(session, data=body, author=who.subject))


@router.get("/tracks/{code}", tags=["tracks"])
async def get_track(code: CodePath, session: DbSession, who: Reader) -> TrackVersionOut:
    """The track's latest version."""
    return _track_out(await service.get_track_version(session, code=code))


@router.get("/tracks/{code}/versions/{version}", tags=["tracks"])
async def get_track_version(
    code: CodePath, version: VersionPath, session: DbSession, who: Reader
) -> TrackVersionOut:
    """One version of a track."""
    return _track_out(await service.get_track_version(session, code=code, version=version))


@router.post("/tracks/{code}/versions/{version}/publish", tags=["tracks"])
async def publish_track(
    code: CodePath, version: VersionPath, session: DbSession, who: Publisher
) -> TrackVersionOut:
    """Publish a track version (emits track.published with its modules' facts)."""
    return _track_out(await service.publish_track(session, code=code, version=version))
