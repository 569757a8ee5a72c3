"""Module routes (/v1/modules): lists, creating modules and drafts; reading versions and
review come from the routes modules and tracks share."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from wps_common.app import DbSession
from wps_common.clock import Now
from wps_common.paging import Cursor, Page
from wps_curriculum import modules, versions
from wps_curriculum.api.parameters import (
    Author,
    CodePath,
    Lang,
    Limit,
    Offset,
    Owner,
    Reader,
    SortKey,
    VersionPath,
    Words,
    shown_statuses,
)
from wps_curriculum.api.review import review_routes
from wps_curriculum.api.versions import Resource, in_language, meta, version_routes
from wps_curriculum.kinds import LOCALISED_FIELDS, MODULES
from wps_curriculum.models import ModuleVersion
from wps_curriculum.schemas import (
    LANGUAGE_PATTERN,
    SLUG_PATTERN,
    LocalisedModuleOut,
    ModuleContent,
    ModuleCreate,
    ModuleVersionOut,
    Status,
)

router = APIRouter()
ModuleOut = ModuleVersionOut | LocalisedModuleOut


def module_full(version: ModuleVersion) -> ModuleVersionOut:
    return ModuleVersionOut.model_validate({**version.content, **meta(version, "module")})


def module_out(version: ModuleVersion, lang: str | None = None) -> ModuleOut:
    if lang is None:
        return module_full(version)
    data = {**version.content, **meta(version, "module")}
    fallbacks: dict[str, str] = {}
    for field in LOCALISED_FIELDS["module"]:
        data[field] = in_language(lang, version.content.get(field) or {}, field, fallbacks)
    data["objectives"] = data["objectives"] or []
    return LocalisedModuleOut.model_validate(
        {**data, "language": lang, "fallback_languages": fallbacks}
    )


@router.get("/modules", tags=["modules"])
async def list_modules(
    session: DbSession,
    who: Reader,
    status: Annotated[list[Status] | None, Query()] = None,
    tag: Annotated[str | None, Query(pattern=SLUG_PATTERN)] = None,
    language: Annotated[str | None, Query(pattern=LANGUAGE_PATTERN)] = None,
    q: Words = None,
    owner: Owner = None,
    lang: Lang = None,
    sort: SortKey = "code",
    limit: Limit = 50,
    offset: Offset = 0,
    cursor: Cursor = None,
) -> Page[ModuleOut]:
    """Modules, newest readable matching version of each: filter by status, owner, tag,
    complete language and words (searched in every language), sort, page."""
    listing = await versions.search(
        session,
        kind=MODULES,
        who=who,
        statuses=shown_statuses(who, status),
        owner=owner,
        tag=tag,
        language=language,
        q=q,
        sort=sort,
        limit=limit,
        offset=offset,
        cursor=cursor,
    )
    return Page[ModuleOut].of(
        listing, [module_out(row, lang) for row in listing.items], limit=limit, offset=offset
    )


@router.post("/modules", status_code=201, tags=["modules"])
async def create_module(
    body: ModuleCreate, session: DbSession, who: Author, now: Now
) -> ModuleVersionOut:
    """Create a module, owned by your academy (platform admins: national, or the academy named
    in `owner_academy`); its first version is a draft."""
    return module_full(await modules.create_module(session, data=body, who=who, now=now))


async def new_module_version(
    code: CodePath, body: ModuleContent, session: DbSession, who: Author, now: Now
) -> ModuleVersionOut:
    """Start the next version of a module as a draft, with this content."""
    return module_full(
        await modules.new_module_version(session, code=code, data=body, who=who, now=now)
    )


async def edit_module_draft(
    code: CodePath,
    version: VersionPath,
    body: ModuleContent,
    session: DbSession,
    who: Author,
    now: Now,
) -> ModuleVersionOut:
    """Replace the content of a draft (published versions never change)."""
    found = await modules.edit_module_draft(
        session, code=code, version=version, data=body, who=who, now=now
    )
    return module_full(found)


RESOURCE = Resource(
    kind=MODULES,
    full=module_full,
    localised=module_out,
    full_model=ModuleVersionOut,
    out_model=ModuleOut,
    act_description="Move a module version through review: `submit` a draft, `approve` or "
    "`reject` it (a\nreviewer who did not write it; a rejection needs a comment), `publish` an "
    "approved version\n(emits module.published), `retire` a published one (emits "
    "module.retired).",
)
version_routes(router, RESOURCE, new_version=new_module_version, edit_draft=edit_module_draft)
review_routes(router, RESOURCE)
