"""Curriculum REST API (/v1/modules, /v1/tracks, /v1/requirements)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response

from wps_common import fields
from wps_common.app import DbSession
from wps_common.auth import Principal, Role, require
from wps_curriculum import requirements, service
from wps_curriculum.models import AuditEntry, ModuleVersion, Requirement, TrackVersion
from wps_curriculum.schemas import (
    CODE_PATTERN,
    FALLBACK_LANGUAGE,
    LANGUAGE_PATTERN,
    REQUIREMENT_CODE_PATTERN,
    SLUG_PATTERN,
    AuditEntryOut,
    CommentIn,
    DiffOut,
    LocalisedModuleOut,
    LocalisedTrackOut,
    ModuleContent,
    ModuleCreate,
    ModuleVersionOut,
    OwnerAcademy,
    Page,
    RequirementContent,
    RequirementCreate,
    RequirementOut,
    ReviewNote,
    Status,
    TrackContent,
    TrackCreate,
    TrackVersionOut,
)
from wps_curriculum.service import V

router = APIRouter(prefix="/v1")

# Authors write and publish; reviewers (gender and human-rights experts) approve or reject.
Author = Annotated[Principal, Depends(require(Role.ADMIN, Role.ACADEMY_ADMIN))]
Commenter = Annotated[Principal, Depends(require(Role.ADMIN, Role.ACADEMY_ADMIN, Role.REVIEWER))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
Reader = Annotated[Principal, Depends(require(*Role))]
CodePath = Annotated[str, Path(pattern=CODE_PATTERN)]
RequirementPath = Annotated[str, Path(pattern=REQUIREMENT_CODE_PATTERN)]
VersionPath = Annotated[fields.Version, Path()]
ActionPath = Annotated[service.Action, Path(description="submit, approve, reject, publish, retire")]
Lang = Annotated[
    str | None,
    Query(
        pattern=LANGUAGE_PATTERN,
        description="give texts in this language only; English where a text is missing",
    ),
]
Limit = Annotated[fields.Limit, Query()]
Offset = Annotated[fields.Offset, Query()]
Words = Annotated[fields.Search | None, Query(description="words, searched in every language")]
Owner = Annotated[
    OwnerAcademy | None,
    Query(description="an owning academy (as tokens name it), or `national`"),
]
SortKey = Annotated[
    str,
    Query(
        pattern=r"^-?(code|title|created_at|published_at)$",
        description="code, title (English), created_at or published_at; '-' for descending",
    ),
]
ModuleOut = ModuleVersionOut | LocalisedModuleOut
TrackOut = TrackVersionOut | LocalisedTrackOut
STAFF = (Role.ADMIN, Role.ACADEMY_ADMIN, Role.REVIEWER)


def _statuses(who: Principal, asked: list[Status] | None) -> list[Status]:
    """What a list shows by default: every status to staff (the service leaves out what the
    caller may not read, e.g. another academy's drafts), the published curriculum to others."""
    if asked:
        return asked
    return list(service.STATUSES) if who.has(*STAFF) else ["published"]


def _meta(version: ModuleVersion | TrackVersion, kind: str) -> dict[str, Any]:
    return {
        "code": version.code,
        "owner_academy": version.owner_academy,
        "version": version.version,
        "status": version.status,
        "content_hash": version.content_hash,
        "author": version.author,
        "languages": service.complete_languages(kind, version.content),
        "created_at": version.created_at,
        "updated_at": version.updated_at,
        "submitted_at": version.submitted_at,
        "approved_at": version.approved_at,
        "approved_by": version.approved_by,
        "published_at": version.published_at,
        "retired_at": version.retired_at,
    }


def _in(language: str, value: dict[str, Any], field: str, fallbacks: dict[str, str]) -> Any:
    if not value or language in value:
        return value.get(language)
    fallbacks[field] = FALLBACK_LANGUAGE
    return value.get(FALLBACK_LANGUAGE)


def _module_full(version: ModuleVersion) -> ModuleVersionOut:
    return ModuleVersionOut.model_validate({**version.content, **_meta(version, "module")})


def _module_out(version: ModuleVersion, lang: str | None = None) -> ModuleOut:
    if lang is None:
        return _module_full(version)
    data = {**version.content, **_meta(version, "module")}
    fallbacks: dict[str, str] = {}
    for field in service.LOCALISED_FIELDS["module"]:
        data[field] = _in(lang, version.content.get(field) or {}, field, fallbacks)
    data["objectives"] = data["objectives"] or []
    return LocalisedModuleOut.model_validate(
        {**data, "language": lang, "fallback_languages": fallbacks}
    )


def _track_full(version: TrackVersion) -> TrackVersionOut:
    return TrackVersionOut.model_validate({**version.content, **_meta(version, "track")})


def _track_out(version: TrackVersion, lang: str | None = None) -> TrackOut:
    if lang is None:
        return _track_full(version)
    data = {**version.content, **_meta(version, "track")}
    fallbacks: dict[str, str] = {}
    for field in service.LOCALISED_FIELDS["track"]:
        data[field] = _in(lang, version.content.get(field) or {}, field, fallbacks)
    return LocalisedTrackOut.model_validate(
        {**data, "language": lang, "fallback_languages": fallbacks}
    )


def _audit_page(rows: tuple[list[AuditEntry], int], limit: int, offset: int) -> Page[AuditEntryOut]:
    entries, total = rows
    items = [AuditEntryOut.model_validate(entry) for entry in entries]
    return Page[AuditEntryOut](items=items, total=total, limit=limit, offset=offset)


def _requirement_out(requirement: Requirement) -> RequirementOut:
    return RequirementOut.model_validate(
        {
            "code": requirement.code,
            "revision": requirement.revision,
            "title": requirement.title,
            "selector": requirement.selector,
            "track_code": requirement.track_code,
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


# --- modules -------------------------------------------------------------------------------------


def _review_trail_routes(plural: str, entity: str, kind: service.Kind[Any]) -> None:
    """Diff, history and review comments: the same for modules and tracks. Registered before
    the `{action}` route of the same resource, which would otherwise take `comments`."""

    async def diff(
        code: CodePath,
        session: DbSession,
        who: Reader,
        from_version: Annotated[fields.Version, Query(alias="from")],
        to_version: Annotated[fields.Version, Query(alias="to")],
    ) -> DiffOut:
        return await _diff(session, kind, code, from_version, to_version, who)

    async def history(
        code: CodePath,
        session: DbSession,
        who: Commenter,
        version: Annotated[fields.Version | None, Query()] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Page[AuditEntryOut]:
        rows = await service.review_trail(
            session, kind=kind, code=code, who=who, version=version, limit=limit, offset=offset
        )
        return _audit_page(rows, limit, offset)

    async def comment(
        code: CodePath, version: VersionPath, body: CommentIn, session: DbSession, who: Commenter
    ) -> AuditEntryOut:
        entry = await service.add_comment(
            session, kind=kind, code=code, version=version, who=who, comment=body.comment
        )
        return AuditEntryOut.model_validate(entry)

    router.add_api_route(
        f"/{plural}/{{code}}/diff",
        diff,
        methods=["GET"],
        tags=[plural],
        name=f"diff_{plural}",
        description=f"What changed between two versions of a {entity}, field by field.",
    )
    router.add_api_route(
        f"/{plural}/{{code}}/history",
        history,
        methods=["GET"],
        tags=[plural],
        name=f"{entity}_history",
        description=f"Who did what when to a {entity} (or one version): the audit trail with "
        "review comments.",
    )
    router.add_api_route(
        f"/{plural}/{{code}}/versions/{{version}}/comments",
        comment,
        methods=["POST"],
        status_code=201,
        tags=[plural],
        name=f"comment_{entity}",
        description=f"Add a review comment to a {entity} version.",
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
) -> Page[ModuleOut]:
    """Modules, newest readable matching version of each: filter by status, owner, tag,
    complete language and words (searched in every language), sort, page."""
    rows, total = await service.search(
        session,
        kind=service.MODULES,
        who=who,
        statuses=_statuses(who, status),
        owner=owner,
        tag=tag,
        language=language,
        q=q,
        sort=sort,
        limit=limit,
        offset=offset,
    )
    items = [_module_out(row, lang) for row in rows]
    return Page[ModuleOut](items=items, total=total, limit=limit, offset=offset)


@router.post("/modules", status_code=201, tags=["modules"])
async def create_module(body: ModuleCreate, session: DbSession, who: Author) -> ModuleVersionOut:
    """Create a module, owned by your academy (platform admins: national, or the academy named
    in `owner_academy`); its first version is a draft."""
    version = await service.create_module(session, data=body, who=who)
    return _module_full(version)


@router.get("/modules/{code}", tags=["modules"])
async def get_module(
    code: CodePath, session: DbSession, who: Reader, lang: Lang = None
) -> ModuleOut:
    """The module's newest version (the newest published one for those who do not see its
    drafts)."""
    found = await service.read_current(session, service.MODULES, code=code, who=who)
    return _module_out(found, lang)


@router.get("/modules/{code}/versions", tags=["modules"])
async def list_module_versions(
    code: CodePath, session: DbSession, who: Reader, lang: Lang = None
) -> list[ModuleOut]:
    """Every version of a module you may read, oldest first."""
    rows = await service.read_versions(session, service.MODULES, code=code, who=who)
    return [_module_out(row, lang) for row in rows]


@router.post("/modules/{code}/versions", status_code=201, tags=["modules"])
async def new_module_version(
    code: CodePath, body: ModuleContent, session: DbSession, who: Author
) -> ModuleVersionOut:
    """Start the next version of a module as a draft, with this content."""
    version = await service.new_module_version(session, code=code, data=body, who=who)
    return _module_full(version)


@router.get("/modules/{code}/versions/{version}", tags=["modules"])
async def get_module_version(
    code: CodePath, version: VersionPath, session: DbSession, who: Reader, lang: Lang = None
) -> ModuleOut:
    """One version of a module."""
    found = await service.read_version(
        session, service.MODULES, code=code, version=version, who=who
    )
    return _module_out(found, lang)


@router.put("/modules/{code}/versions/{version}", tags=["modules"])
async def edit_module_draft(
    code: CodePath, version: VersionPath, body: ModuleContent, session: DbSession, who: Author
) -> ModuleVersionOut:
    """Replace the content of a draft (published versions never change)."""
    found = await service.edit_module_draft(session, code=code, version=version, data=body, who=who)
    return _module_full(found)


_review_trail_routes("modules", "module", service.MODULES)


@router.post("/modules/{code}/versions/{version}/{action}", tags=["modules"])
async def act_on_module(
    code: CodePath,
    version: VersionPath,
    action: ActionPath,
    session: DbSession,
    who: Commenter,
    note: ReviewNote | None = None,
) -> ModuleVersionOut:
    """Move a module version through review: `submit` a draft, `approve` or `reject` it (a
    reviewer who did not write it; a rejection needs a comment), `publish` an approved version
    (emits module.published), `retire` a published one (emits module.retired)."""
    return _module_full(await _act(session, service.MODULES, code, version, action, who, note))


# --- tracks --------------------------------------------------------------------------------------


@router.get("/tracks", tags=["tracks"])
async def list_tracks(
    session: DbSession,
    who: Reader,
    status: Annotated[list[Status] | None, Query()] = None,
    role: Annotated[str | None, Query(pattern=SLUG_PATTERN, description="a target role")] = None,
    module: Annotated[str | None, Query(pattern=CODE_PATTERN, description="contains it")] = None,
    language: Annotated[str | None, Query(pattern=LANGUAGE_PATTERN)] = None,
    q: Words = None,
    owner: Owner = None,
    lang: Lang = None,
    sort: SortKey = "code",
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[TrackOut]:
    """Tracks, newest readable matching version of each: filter by status, owner, target role,
    module, complete language and words (searched in every language), sort, page."""
    rows, total = await service.search(
        session,
        kind=service.TRACKS,
        who=who,
        statuses=_statuses(who, status),
        owner=owner,
        tag=role,
        module=module,
        language=language,
        q=q,
        sort=sort,
        limit=limit,
        offset=offset,
    )
    items = [_track_out(row, lang) for row in rows]
    return Page[TrackOut](items=items, total=total, limit=limit, offset=offset)


@router.post("/tracks", status_code=201, tags=["tracks"])
async def create_track(body: TrackCreate, session: DbSession, who: Author) -> TrackVersionOut:
    """Create a track of published module versions, owned like a module; its first version is
    a draft."""
    version = await service.create_track(session, data=body, who=who)
    return _track_full(version)


@router.get("/tracks/{code}", tags=["tracks"])
async def get_track(code: CodePath, session: DbSession, who: Reader, lang: Lang = None) -> TrackOut:
    """The track's newest version (the newest published one for those who do not see its
    drafts)."""
    found = await service.read_current(session, service.TRACKS, code=code, who=who)
    return _track_out(found, lang)


@router.get("/tracks/{code}/versions", tags=["tracks"])
async def list_track_versions(
    code: CodePath, session: DbSession, who: Reader, lang: Lang = None
) -> list[TrackOut]:
    """Every version of a track you may read, oldest first."""
    rows = await service.read_versions(session, service.TRACKS, code=code, who=who)
    return [_track_out(row, lang) for row in rows]


@router.post("/tracks/{code}/versions", status_code=201, tags=["tracks"])
async def new_track_version(
    code: CodePath, body: TrackContent, session: DbSession, who: Author
) -> TrackVersionOut:
    """Start the next version of a track as a draft, with this content."""
    version = await service.new_track_version(session, code=code, data=body, who=who)
    return _track_full(version)


@router.get("/tracks/{code}/versions/{version}", tags=["tracks"])
async def get_track_version(
    code: CodePath, version: VersionPath, session: DbSession, who: Reader, lang: Lang = None
) -> TrackOut:
    """One version of a track."""
    found = await service.read_version(session, service.TRACKS, code=code, version=version, who=who)
    return _track_out(found, lang)


@router.put("/tracks/{code}/versions/{version}", tags=["tracks"])
async def edit_track_draft(
    code: CodePath, version: VersionPath, body: TrackContent, session: DbSession, who: Author
) -> TrackVersionOut:
    """Replace the content of a draft (published versions never change)."""
    found = await service.edit_track_draft(session, code=code, version=version, data=body, who=who)
    return _track_full(found)


_review_trail_routes("tracks", "track", service.TRACKS)


@router.post("/tracks/{code}/versions/{version}/{action}", tags=["tracks"])
async def act_on_track(
    code: CodePath,
    version: VersionPath,
    action: ActionPath,
    session: DbSession,
    who: Commenter,
    note: ReviewNote | None = None,
) -> TrackVersionOut:
    """Move a track version through review, as for modules (emits track.published and
    track.retired)."""
    return _track_full(await _act(session, service.TRACKS, code, version, action, who, note))


async def _act(
    session: DbSession,
    kind: service.Kind[V],
    code: str,
    version: int,
    action: service.Action,
    who: Principal,
    note: ReviewNote | None,
) -> V:
    return await service.transition(
        session,
        kind=kind,
        code=code,
        version=version,
        action=action,
        who=who,
        comment=note.comment if note else None,
    )


async def _diff(
    session: DbSession,
    kind: service.Kind[Any],
    code: str,
    from_version: int,
    to_version: int,
    who: Principal,
) -> DiffOut:
    before = await service.read_version(session, kind, code=code, version=from_version, who=who)
    after = await service.read_version(session, kind, code=code, version=to_version, who=who)
    return DiffOut(
        code=code,
        from_version=from_version,
        to_version=to_version,
        from_hash=before.content_hash,
        to_hash=after.content_hash,
        changes=service.diff(before, after),
    )


# --- requirements --------------------------------------------------------------------------------


@router.get("/requirements", tags=["requirements"])
async def list_requirements(
    session: DbSession,
    who: Reader,
    track_code: Annotated[str | None, Query(pattern=CODE_PATTERN)] = None,
    include_deleted: bool = False,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[RequirementOut]:
    """Mandatory-training rules, by code; withdrawn ones only when asked for."""
    rows, total = await requirements.list_requirements(
        session,
        track_code=track_code,
        include_deleted=include_deleted,
        limit=limit,
        offset=offset,
    )
    items = [_requirement_out(row) for row in rows]
    return Page[RequirementOut](items=items, total=total, limit=limit, offset=offset)


@router.post("/requirements", status_code=201, tags=["requirements"])
async def create_requirement(
    body: RequirementCreate, session: DbSession, who: Admin
) -> RequirementOut:
    """Create a rule (emits requirement.changed, change = created)."""
    found = await requirements.create_requirement(session, data=body, actor=who.subject)
    return _requirement_out(found)


@router.get("/requirements/{code}", tags=["requirements"])
async def get_requirement(code: RequirementPath, session: DbSession, who: Reader) -> RequirementOut:
    """One rule."""
    return _requirement_out(await requirements.get_requirement(session, code=code))


@router.put("/requirements/{code}", tags=["requirements"])
async def update_requirement(
    code: RequirementPath, body: RequirementContent, session: DbSession, who: Admin
) -> RequirementOut:
    """Replace a rule (emits requirement.changed, change = updated, when anything changed)."""
    found = await requirements.update_requirement(session, code=code, data=body, actor=who.subject)
    return _requirement_out(found)


@router.delete("/requirements/{code}", status_code=204, tags=["requirements"])
async def delete_requirement(code: RequirementPath, session: DbSession, who: Admin) -> Response:
    """Withdraw a rule (emits requirement.changed, change = deleted)."""
    await requirements.delete_requirement(session, code=code, actor=who.subject)
    return Response(status_code=204)


@router.get("/requirements/{code}/history", tags=["requirements"])
async def requirement_history(
    code: RequirementPath,
    session: DbSession,
    who: Commenter,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[AuditEntryOut]:
    """Who changed a rule when; `version` is the revision."""
    rows = await service.history(
        session, entity="requirement", code=code, limit=limit, offset=offset
    )
    return _audit_page(rows, limit, offset)
