"""Curriculum use cases: modules and tracks from draft through four-eyes review to publication
and retirement, and the audit trail. Functions never commit: the caller's unit of work does.
Every function that reads or changes a module or track takes the caller (`who`) and applies
the ownership rules of `wps_curriculum.ownership` itself, so no route can forget them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common import audit
from wps_common.auth import Principal, Role
from wps_common.db import utcnow
from wps_common.errors import Conflict, Forbidden, InvalidInput, NotFound, ProblemError
from wps_common.events.contracts import (
    ModuleFacts,
    ModulePublished,
    ModuleRetired,
    TrackFacts,
    TrackPublished,
    TrackRetired,
)
from wps_curriculum.models import (
    AuditEntry,
    Module,
    ModuleVersion,
    Requirement,
    Track,
    TrackVersion,
    outbox,
)
from wps_curriculum.ownership import (
    NATIONAL,
    PUBLIC,
    can_change,
    owner_of_new,
    sees_drafts,
    sees_drafts_clause,
)
from wps_curriculum.schemas import (
    FALLBACK_LANGUAGE,
    STATUSES,
    FieldChange,
    ModuleContent,
    ModuleCreate,
    PinnedModule,
    Status,
    TrackContent,
    TrackCreate,
)

V = TypeVar("V", ModuleVersion, TrackVersion)
Action = Literal["submit", "approve", "reject", "publish", "retire"]
OPEN: tuple[Status, ...] = ("draft", "in_review", "approved")
SYSTEM_AUTHOR = "catalogue"  # the starter catalogue's author (docs/adr/0010-starter-catalogue.md)
# The starter catalogue writes as a platform admin: its curriculum is national.
SYSTEM = Principal(subject=SYSTEM_AUTHOR, roles=frozenset({Role.ADMIN, Role.REVIEWER}))

# action: (statuses it starts from, status it leads to, past tense for messages)
TRANSITIONS: dict[Action, tuple[tuple[Status, ...], Status, str]] = {
    "submit": (("draft",), "in_review", "submitted for review"),
    "approve": (("in_review",), "approved", "approved"),
    "reject": (("in_review", "approved"), "draft", "rejected"),
    "publish": (("approved",), "published", "published"),
    "retire": (("published",), "retired", "retired"),
}


@dataclass(frozen=True)
class Kind(Generic[V]):
    """Modules and tracks share one review workflow; this says which one is meant."""

    name: str
    root: type[Module] | type[Track]
    version: type[V]

    @property
    def title(self) -> str:
        return self.name.capitalize()


MODULES = Kind("module", Module, ModuleVersion)
TRACKS = Kind("track", Track, TrackVersion)


def content_hash(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


# --- derived index columns ---------------------------------------------------------------------

LOCALISED_FIELDS = {
    "module": ("title", "summary", "objectives"),
    "track": ("title", "certificate_title", "description"),
}


def complete_languages(kind: str, content: dict[str, Any]) -> list[str]:
    """Languages every non-empty localised field of the content is available in."""
    languages: set[str] | None = None
    for field in LOCALISED_FIELDS[kind]:
        value = content.get(field) or {}
        if value:
            languages = set(value) if languages is None else languages & set(value)
    return sorted(languages or set())


def _piped(values: Iterable[str]) -> str:
    items = list(values)
    return f"|{'|'.join(items)}|" if items else ""


def index_columns(kind: str, code: str, content: dict[str, Any]) -> dict[str, str]:
    """Columns lists filter, search and sort on, derived from a version's content."""
    words: list[str] = [code]
    for field in LOCALISED_FIELDS[kind]:
        for text in (content.get(field) or {}).values():
            words.extend(text if isinstance(text, list) else [text])
    words.extend(content.get("tags", []))
    words.extend(content.get("references", []))
    columns = {
        "sort_title": content["title"][FALLBACK_LANGUAGE].casefold()[:300],
        "search_text": "\n".join(words).casefold(),
        "languages": _piped(complete_languages(kind, content)),
        "tag_index": _piped(content.get("tags", content.get("target_roles", []))),
    }
    if kind == "track":
        columns["module_index"] = _piped(m["code"] for m in content["modules"])
    return columns


def _fill(version: ModuleVersion | TrackVersion, kind: str, content: dict[str, Any]) -> None:
    version.content = content
    version.content_hash = content_hash(content)
    for column, value in index_columns(kind, version.code, content).items():
        setattr(version, column, value)


# --- audit trail -------------------------------------------------------------------------------


def record(
    session: AsyncSession,
    *,
    entity: str,
    code: str,
    version: int | None,
    action: str,
    actor: str,
    from_status: str | None = None,
    to_status: str | None = None,
    comment: str | None = None,
) -> AuditEntry:
    said = {"from_status": from_status, "to_status": to_status, "comment": comment}
    return audit.record(
        session,
        AuditEntry,
        entity=entity,
        entity_id=code,
        action=action,
        actor=actor,
        changes={key: value for key, value in said.items() if value is not None},
        version=version,
    )


async def history(
    session: AsyncSession,
    *,
    entity: str,
    code: str,
    version: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[AuditEntry], int]:
    where = [] if version is None else [AuditEntry.version == version]
    rows, total = await audit.history(
        session, AuditEntry, entity=entity, entity_id=code, where=where, limit=limit, offset=offset
    )
    if total == 0 and not await _exists(session, entity, code):
        raise NotFound(f"There is no {entity} {code}.")
    return rows, total


async def _exists(session: AsyncSession, entity: str, code: str) -> bool:
    root = {"module": Module, "track": Track, "requirement": Requirement}[entity]
    return await session.get(root, code) is not None


async def review_trail(
    session: AsyncSession,
    *,
    kind: Kind[V],
    code: str,
    who: Principal,
    version: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[AuditEntry], int]:
    """The audit trail of a module or track with its review discussion: for those who see its
    drafts (another academy's admins do not)."""
    root = await _root(session, kind, code)
    if root is None or not sees_drafts(who, root.owner_academy):
        raise await _refusal(
            session,
            kind,
            root,
            code=code,
            who=who,
            doing="read the history of",
            allowed="its academy admins, reviewers and platform admins",
        )
    return await history(
        session, entity=kind.name, code=code, version=version, limit=limit, offset=offset
    )


async def add_comment(
    session: AsyncSession, *, kind: Kind[V], code: str, version: int, who: Principal, comment: str
) -> AuditEntry:
    """A review comment: by a reviewer, or by someone who may change the module or track."""
    if not who.has(Role.REVIEWER):
        await owned(session, kind, code=code, who=who, version=version, doing="comment on")
    found = await get_version(session, kind, code=code, version=version)
    entry = record(
        session,
        entity=kind.name,
        code=code,
        version=found.version,
        action="commented",
        actor=who.subject,
        comment=comment.strip(),
    )
    await session.flush()
    return entry


# --- ownership -----------------------------------------------------------------------------------


async def owned(
    session: AsyncSession,
    kind: Kind[V],
    *,
    code: str,
    who: Principal,
    version: int | None = None,
    doing: str = "change",
) -> Module | Track:
    """The module or track `who` is about to change, if they may: the check every write makes.
    Another academy's curriculum answers 404, like every tenant boundary; national curriculum
    answers 403 to academy admins (they see it, but only platform admins change it)."""
    root = await _root(session, kind, code)
    if root is None or not can_change(who, root.owner_academy):
        raise await _refusal(session, kind, root, code=code, who=who, version=version, doing=doing)
    return root


async def _refusal(
    session: AsyncSession,
    kind: Kind[V],
    root: Module | Track | None,
    *,
    code: str,
    who: Principal,
    doing: str,
    version: int | None = None,
    allowed: str = "its academy admins and platform admins",
) -> ProblemError:
    missing = NotFound(
        f"There is no {kind.name} {code}" + (f" version {version}" if version else "") + "."
    )
    if root is None:
        return missing
    owner = root.owner_academy
    rule = (
        f"{kind.title} {code} is national curriculum: only platform admins {doing} it."
        if owner is None
        else f"{kind.title} {code} belongs to academy {owner}: only {allowed} {doing} it."
    )
    if sees_drafts(who, owner):
        return Forbidden(rule)
    # Another academy's: what this caller can read of it anyway decides what the answer may say.
    # A module that exists only as drafts answers exactly as one that does not exist.
    if await _has_public_version(session, kind, code):
        return NotFound(rule)
    return missing


async def _root(session: AsyncSession, kind: Kind[V], code: str) -> Module | Track | None:
    if kind.root is Module:
        return await session.get(Module, code)
    return await session.get(Track, code)


async def _has_public_version(session: AsyncSession, kind: Kind[V], code: str) -> bool:
    cls = kind.version
    found = await session.scalar(
        select(cls.id).where(cls.code == code, cls.status.in_(PUBLIC)).limit(1)
    )
    return found is not None


# --- reading -------------------------------------------------------------------------------------


async def get_version(
    session: AsyncSession,
    kind: Kind[V],
    *,
    code: str,
    version: int | None = None,
    statuses: Sequence[str] = STATUSES,
    lock: bool = False,
) -> V:
    """One version, or the newest one in `statuses` when `version` is None. `lock` holds the
    row until commit (PostgreSQL; SQLite writers are serialised anyway), so two concurrent
    transitions of one version cannot both succeed."""
    cls = kind.version
    stmt = select(cls).where(cls.code == code, cls.status.in_(statuses))
    if lock:
        stmt = stmt.with_for_update(of=cls)
    stmt = (
        stmt.where(cls.version == version)
        if version is not None
        else stmt.order_by(cls.version.desc()).limit(1)
    )
    found = await session.scalar(stmt)
    if found is None:
        what = f"{kind.name} {code}" + (f" version {version}" if version is not None else "")
        raise NotFound(f"There is no {what}.")
    return found


async def get_module_version(
    session: AsyncSession, *, code: str, version: int | None = None
) -> ModuleVersion:
    return await get_version(session, MODULES, code=code, version=version)


async def readable_statuses(
    session: AsyncSession, kind: Kind[V], *, code: str, who: Principal
) -> Sequence[Status]:
    """Which versions of this module or track `who` reads: all, or the public ones."""
    root = await _root(session, kind, code)
    if root is None:
        raise NotFound(f"There is no {kind.name} {code}.")
    return STATUSES if sees_drafts(who, root.owner_academy) else PUBLIC


async def read_version(
    session: AsyncSession, kind: Kind[V], *, code: str, version: int, who: Principal
) -> V:
    """One version, if `who` may read it (another academy's draft does not exist for them)."""
    statuses = await readable_statuses(session, kind, code=code, who=who)
    return await get_version(session, kind, code=code, version=version, statuses=statuses)


async def read_current(session: AsyncSession, kind: Kind[V], *, code: str, who: Principal) -> V:
    """The newest version for those who see drafts; for others the newest published one (else
    the newest retired)."""
    statuses = await readable_statuses(session, kind, code=code, who=who)
    if statuses == STATUSES:
        return await get_version(session, kind, code=code)
    try:
        return await get_version(session, kind, code=code, statuses=["published"])
    except NotFound:
        return await get_version(session, kind, code=code, statuses=["retired"])


async def read_versions(
    session: AsyncSession, kind: Kind[V], *, code: str, who: Principal
) -> list[V]:
    """Every version `who` may read, oldest first."""
    statuses = await readable_statuses(session, kind, code=code, who=who)
    return await list_versions(session, kind=kind, code=code, statuses=statuses)


async def list_versions(
    session: AsyncSession, *, kind: Kind[V], code: str, statuses: Sequence[str] = STATUSES
) -> list[V]:
    cls = kind.version
    rows = list(
        await session.scalars(
            select(cls).where(cls.code == code, cls.status.in_(statuses)).order_by(cls.version)
        )
    )
    if not rows:
        raise NotFound(f"There is no {kind.name} {code}.")
    return rows


SORTS = ("code", "title", "created_at", "published_at")


async def search(
    session: AsyncSession,
    *,
    kind: Kind[V],
    who: Principal,
    statuses: Sequence[str],
    owner: str | None = None,
    tag: str | None = None,
    language: str | None = None,
    q: str | None = None,
    module: str | None = None,
    sort: str = "code",
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[V], int]:
    """The newest version of each module/track that `who` may read and that matches every
    filter, one page of them. `owner` is an academy reference, or `national`."""
    cls, root = kind.version, kind.root
    filters: list[ColumnElement[bool]] = [cls.status.in_(statuses)]
    drafts = sees_drafts_clause(who, root.owner_academy)
    if drafts is not None:
        filters.append(cls.status.in_(PUBLIC) | cls.code.in_(select(root.code).where(drafts)))
    if owner is not None:
        owned_by = (
            root.owner_academy.is_(None) if owner == NATIONAL else root.owner_academy == owner
        )
        filters.append(cls.code.in_(select(root.code).where(owned_by)))
    if tag:
        filters.append(cls.tag_index.contains(f"|{tag}|", autoescape=True))
    if language:
        filters.append(cls.languages.contains(f"|{language}|", autoescape=True))
    for word in (q or "").casefold().split():
        filters.append(cls.search_text.contains(word, autoescape=True))
    if module and cls is TrackVersion:
        filters.append(TrackVersion.module_index.contains(f"|{module}|", autoescape=True))
    newest = (
        select(cls.code.label("code"), func.max(cls.version).label("version"))
        .where(*filters)
        .group_by(cls.code)
        .subquery()
    )
    total = int(await session.scalar(select(func.count()).select_from(newest)) or 0)
    descending = sort.startswith("-")
    key = {
        "code": cls.code,
        "title": cls.sort_title,
        "created_at": cls.created_at,
        "published_at": cls.published_at,
    }[sort.lstrip("-")]
    order: list[ColumnElement[Any]] = [
        key.desc().nulls_last() if descending else key.asc().nulls_last()
    ]
    if sort.lstrip("-") != "code":
        order.append(cls.code.asc())  # one row per code, so the code makes the order stable
    stmt = (
        select(cls)
        .join(newest, and_(cls.code == newest.c.code, cls.version == newest.c.version))
        .order_by(*order)
        .limit(limit)
        .offset(offset)
    )
    return list(await session.scalars(stmt)), total


def diff(before: V, after: V) -> list[FieldChange]:
    """Field-by-field differences of two versions' content (lists compare as a whole)."""
    old, new = _flatten(before.content), _flatten(after.content)
    return [
        FieldChange(field=path, before=old.get(path), after=new.get(path))
        for path in sorted(set(old) | set(new))
        if old.get(path) != new.get(path)
    ]


def _flatten(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, item in value.items():
        path = f"{prefix}{key}"
        if isinstance(item, dict) and item:
            flat.update(_flatten(item, f"{path}."))
        else:
            flat[path] = item
    return flat


# --- writing modules ---------------------------------------------------------------------------


def _module_content(data: ModuleContent) -> dict[str, Any]:
    fields = set(ModuleContent.model_fields)
    return ModuleContent.model_validate(data.model_dump(include=fields)).model_dump(mode="json")


async def create_module(
    session: AsyncSession, *, data: ModuleCreate, who: Principal
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
    root = Module(code=data.code, owner_academy=owner, created_by=who.subject)
    session.add(root)
    return await _add_version(session, MODULES, root=root, number=1, content=content, by=who)


async def new_module_version(
    session: AsyncSession, *, code: str, data: ModuleContent, who: Principal
) -> ModuleVersion:
    """Start the next version of a module as a draft (published versions never change)."""
    root = await owned(session, MODULES, code=code, who=who)
    latest = await _no_open_version(session, MODULES, code=code)
    number = latest.version + 1
    content = _module_content(data)
    await _check_prerequisites(
        session, code=code, version=number, prerequisites=data.prerequisites, who=who
    )
    return await _add_version(session, MODULES, root=root, number=number, content=content, by=who)


async def edit_module_draft(
    session: AsyncSession, *, code: str, version: int, data: ModuleContent, who: Principal
) -> ModuleVersion:
    await owned(session, MODULES, code=code, who=who, version=version)
    found = await _draft(session, MODULES, code=code, version=version)
    content = _module_content(data)
    await _check_prerequisites(
        session, code=code, version=version, prerequisites=data.prerequisites, who=who
    )
    return _edit(session, MODULES, found, content=content, by=who.subject)


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


# --- writing tracks ----------------------------------------------------------------------------


async def create_track(session: AsyncSession, *, data: TrackCreate, who: Principal) -> TrackVersion:
    """A new track of published module versions (any academy's or national), owned like a
    module; its first version is a draft."""
    given = "owner_academy" in data.model_fields_set
    owner = owner_of_new(who, data.owner_academy, given=given, what="track")
    if await session.get(Track, data.code) is not None:
        raise Conflict(f"A track with code {data.code} already exists.", code=data.code)
    content = await _track_content(session, data, who)
    root = Track(code=data.code, owner_academy=owner, created_by=who.subject)
    session.add(root)
    return await _add_version(session, TRACKS, root=root, number=1, content=content, by=who)


async def new_track_version(
    session: AsyncSession, *, code: str, data: TrackContent, who: Principal
) -> TrackVersion:
    root = await owned(session, TRACKS, code=code, who=who)
    latest = await _no_open_version(session, TRACKS, code=code)
    content = await _track_content(session, data, who)
    return await _add_version(
        session, TRACKS, root=root, number=latest.version + 1, content=content, by=who
    )


async def edit_track_draft(
    session: AsyncSession, *, code: str, version: int, data: TrackContent, who: Principal
) -> TrackVersion:
    await owned(session, TRACKS, code=code, who=who, version=version)
    found = await _draft(session, TRACKS, code=code, version=version)
    content = await _track_content(session, data, who)
    return _edit(session, TRACKS, found, content=content, by=who.subject)


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


# --- versions, shared --------------------------------------------------------------------------


async def _add_version(
    session: AsyncSession,
    kind: Kind[V],
    *,
    root: Module | Track,
    number: int,
    content: dict[str, Any],
    by: Principal,
) -> V:
    version = kind.version(
        code=root.code, root=root, version=number, status="draft", author=by.subject
    )
    _fill(version, kind.name, content)
    session.add(version)
    record(
        session,
        entity=kind.name,
        code=root.code,
        version=number,
        action="created",
        actor=by.subject,
        to_status="draft",
    )
    await session.flush()
    return version


async def _no_open_version(session: AsyncSession, kind: Kind[V], *, code: str) -> V:
    latest = await get_version(session, kind, code=code, lock=True)
    if latest.status in OPEN:
        raise Conflict(
            f"{kind.title} {code} version {latest.version} is still {latest.status}; finish or "
            "edit it before starting another version.",
            version=latest.version,
            current_status=latest.status,
        )
    return latest


async def _draft(session: AsyncSession, kind: Kind[V], *, code: str, version: int) -> V:
    found = await get_version(session, kind, code=code, version=version, lock=True)
    if found.status != "draft":
        hint = (
            f"Published versions never change: POST /v1/{kind.name}s/{code}/versions starts a "
            "new draft."
            if found.status in ("published", "retired")
            else "Only drafts can be edited; a reviewer can send it back (reject)."
        )
        raise Conflict(
            f"{kind.title} {code} version {version} is {found.status}. {hint}",
            current_status=found.status,
        )
    return found


def _edit(session: AsyncSession, kind: Kind[V], found: V, *, content: dict[str, Any], by: str) -> V:
    if content_hash(content) == found.content_hash:
        return found  # nothing changed, nothing to record
    _fill(found, kind.name, content)
    found.updated_at = utcnow()
    record(
        session,
        entity=kind.name,
        code=found.code,
        version=found.version,
        action="updated",
        actor=by,
    )
    return found


async def transition(
    session: AsyncSession,
    *,
    kind: Kind[V],
    code: str,
    version: int,
    action: Action,
    who: Principal,
    comment: str | None = None,
    four_eyes: bool = True,
) -> V:
    """Move a version along draft → in_review → approved → published → retired (or back to
    draft on rejection). Reviewers approve and reject any submitted version; its owners (and
    platform admins) do the rest. Repeating a publish or retire is a no-op, never a second
    event. `four_eyes=False` is for the starter catalogue only, reviewed in the repository."""
    reviewing = action in ("approve", "reject")
    needed = (Role.REVIEWER,) if reviewing else (Role.ADMIN, Role.ACADEMY_ADMIN)
    if not who.has(*needed):
        names = ", ".join(sorted(needed))
        raise Forbidden(f"To {action} a version you need one of the roles: {names}.")
    if not reviewing:
        await owned(session, kind, code=code, who=who, version=version, doing=action)
    actor = who.subject
    found = await get_version(session, kind, code=code, version=version, lock=True)
    sources, target, done = TRANSITIONS[action]
    if found.status == target and action in ("publish", "retire"):
        return found
    if found.status not in sources:
        allowed = " or ".join(sources)
        raise Conflict(
            f"{kind.title} {code} version {version} is {found.status}; only a version that is "
            f"{allowed} can be {done}.",
            current_status=found.status,
        )
    comment = (comment or "").strip() or None
    if action == "reject" and comment is None:
        raise InvalidInput("Say what must change: a rejection needs a comment.", field="comment")
    now = utcnow()
    if action == "approve":
        if four_eyes:
            await _check_four_eyes(session, kind, found, reviewer=actor)
        found.approved_at, found.approved_by = now, actor
    elif action == "reject":
        found.approved_at = found.approved_by = None
    elif action == "submit":
        found.submitted_at = now
    elif action == "publish":
        found.published_at = now
        await _publish(session, found)
    elif action == "retire":
        found.retired_at = now
        await _retire(session, found)
    record(
        session,
        entity=kind.name,
        code=code,
        version=version,
        action=done.split()[0],
        actor=actor,
        from_status=found.status,
        to_status=target,
        comment=comment,
    )
    found.status = target
    await session.flush()
    return found


async def _check_four_eyes(
    session: AsyncSession, kind: Kind[V], found: V, *, reviewer: str
) -> None:
    writers = set(
        await session.scalars(
            select(AuditEntry.actor).where(
                AuditEntry.entity == kind.name,
                AuditEntry.entity_id == found.code,
                AuditEntry.version == found.version,
                AuditEntry.action.in_(["created", "updated"]),
            )
        )
    )
    if reviewer == found.author or reviewer in writers:
        raise Forbidden(
            f"Four eyes: you wrote or edited {kind.name} {found.code} version {found.version}, "
            "so another reviewer must approve it."
        )


async def _publish(session: AsyncSession, found: ModuleVersion | TrackVersion) -> None:
    assert found.published_at is not None
    if isinstance(found, ModuleVersion):
        await _check_prerequisites_published(session, found)
        await outbox.add(
            session, ModulePublished(module=module_facts(found), published_at=found.published_at)
        )
        return
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


async def _check_prerequisites_published(session: AsyncSession, found: ModuleVersion) -> None:
    prerequisites = found.content.get("prerequisites", [])
    if not prerequisites:
        return
    published = set(
        await session.scalars(
            select(ModuleVersion.module_code).where(
                ModuleVersion.module_code.in_(prerequisites), ModuleVersion.status == "published"
            )
        )
    )
    missing = [p for p in prerequisites if p not in published]
    if missing:
        raise Conflict(
            f"Publish the prerequisite module(s) {', '.join(missing)} first: module "
            f"{found.module_code} needs them and they have no published version."
        )


async def _retire(session: AsyncSession, found: ModuleVersion | TrackVersion) -> None:
    assert found.retired_at is not None
    if isinstance(found, ModuleVersion):
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
        return
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
                    Requirement.track_code == found.track_code, Requirement.deleted_at.is_(None)
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


# --- event facts -------------------------------------------------------------------------------


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
        delivery_mode=content.get("delivery_mode"),
        prerequisites=content.get("prerequisites", []),
    )


def track_facts(version: TrackVersion, modules: list[ModuleFacts]) -> TrackFacts:
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
