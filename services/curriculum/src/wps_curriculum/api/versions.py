"""The routes modules and tracks share for reading their versions, registered once per kind,
and how a version is given out (whole, or in one language with a fallback where a text is
missing)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic

from fastapi import APIRouter

from wps_common.app import DbSession
from wps_common.paging import Cursor, Page
from wps_curriculum import versions
from wps_curriculum.api.parameters import CodePath, Lang, Limit, Offset, Reader, VersionPath
from wps_curriculum.kinds import Kind, V, complete_languages
from wps_curriculum.models import ModuleVersion, TrackVersion
from wps_curriculum.schemas import FALLBACK_LANGUAGE


@dataclass(frozen=True)
class Resource(Generic[V]):
    """Modules or tracks over HTTP: their kind and how their versions are given out."""

    kind: Kind[V]
    full: Callable[[V], Any]  # the whole version, every language
    localised: Callable[[V, str | None], Any]  # one language when asked for one
    full_model: Any
    out_model: Any
    act_description: str

    @property
    def plural(self) -> str:
        return f"{self.kind.name}s"


def version_routes(
    router: APIRouter,
    resource: Resource[Any],
    *,
    new_version: Callable[..., Any],
    edit_draft: Callable[..., Any],
) -> None:
    """The newest version, every version and one version of a module or track, with the routes
    that write drafts (their bodies differ by kind) in between, as the paths are ordered."""
    plural, entity = resource.plural, resource.kind.name
    at = f"/{plural}/{{code}}"
    tags: list[str | Enum] = [plural]  # FastAPI's parameter type
    router.add_api_route(
        at,
        _current(resource),
        methods=["GET"],
        tags=tags,
        name=f"get_{entity}",
        response_model=resource.out_model,
        description=f"The {entity}'s newest version (the newest published one for those who do "
        "not see its\ndrafts).",
    )
    router.add_api_route(
        f"{at}/versions",
        _every_version(resource),
        methods=["GET"],
        tags=tags,
        name=f"list_{entity}_versions",
        response_model=Page[resource.out_model],  # type: ignore[name-defined]
        description=f"Every version of a {entity} you may read, oldest first; pages by offset "
        "or by cursor.",
    )
    router.add_api_route(
        f"{at}/versions", new_version, methods=["POST"], status_code=201, tags=tags
    )
    router.add_api_route(
        f"{at}/versions/{{version}}",
        _one_version(resource),
        methods=["GET"],
        tags=tags,
        name=f"get_{entity}_version",
        response_model=resource.out_model,
        description=f"One version of a {entity}.",
    )
    router.add_api_route(f"{at}/versions/{{version}}", edit_draft, methods=["PUT"], tags=tags)


def _current(resource: Resource[Any]) -> Callable[..., Awaitable[Any]]:
    async def current(code: CodePath, session: DbSession, who: Reader, lang: Lang = None) -> Any:
        found = await versions.read_current(session, resource.kind, code=code, who=who)
        return resource.localised(found, lang)

    return current


def _every_version(resource: Resource[Any]) -> Callable[..., Awaitable[Any]]:
    async def every_version(
        code: CodePath,
        session: DbSession,
        who: Reader,
        lang: Lang = None,
        limit: Limit = 100,
        offset: Offset = 0,
        cursor: Cursor = None,
    ) -> Any:
        listing = await versions.read_versions(
            session, resource.kind, code=code, who=who, limit=limit, offset=offset, cursor=cursor
        )
        items = [resource.localised(row, lang) for row in listing.items]
        return Page.of(listing, items, limit=limit, offset=offset)

    return every_version


def _one_version(resource: Resource[Any]) -> Callable[..., Awaitable[Any]]:
    async def one_version(
        code: CodePath, version: VersionPath, session: DbSession, who: Reader, lang: Lang = None
    ) -> Any:
        found = await versions.read_version(
            session, resource.kind, code=code, version=version, who=who
        )
        return resource.localised(found, lang)

    return one_version


def meta(version: ModuleVersion | TrackVersion, kind: str) -> dict[str, Any]:
    """What every version says about itself besides its content."""
    return {
        "code": version.code,
        "owner_academy": version.owner_academy,
        "version": version.version,
        "status": version.status,
        "content_hash": version.content_hash,
        "author": version.author,
        "languages": complete_languages(kind, version.content),
        "created_at": version.created_at,
        "updated_at": version.updated_at,
        "submitted_at": version.submitted_at,
        "approved_at": version.approved_at,
        "approved_by": version.approved_by,
        "published_at": version.published_at,
        "retired_at": version.retired_at,
    }


def in_language(language: str, value: dict[str, Any], field: str, fallbacks: dict[str, str]) -> Any:
    """A localised field in `language`, else in English when there is English, else in the
    first language it has (the one given is noted in `fallbacks`)."""
    if not value or language in value:
        return value.get(language)
    given = next((code for code in (FALLBACK_LANGUAGE, *value) if value.get(code)), None)
    if given is None:
        return None
    fallbacks[field] = given
    return value[given]
