"""Versions of modules and tracks: reading them as the ownership rules allow, listing and
searching the newest of each, comparing two, and the drafting steps both kinds share (a new
numbered draft, the open-version rule, editing a draft). Functions never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.auth import Principal
from wps_common.errors import Conflict, NotFound
from wps_common.paging import Listing, keyset_page
from wps_curriculum.kinds import MODULES, Kind, V, content_hash, fill
from wps_curriculum.models import Module, ModuleVersion, Track, TrackVersion
from wps_curriculum.ownership import (
    NATIONAL,
    PUBLIC,
    readable_statuses,
    sees_drafts_clause,
)
from wps_curriculum.schemas import STATUSES, DiffOut, FieldChange, Status
from wps_curriculum.trail import record

OPEN: tuple[Status, ...] = ("draft", "in_review", "approved")
SORTS = ("code", "title", "created_at", "published_at")


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
    session: AsyncSession,
    kind: Kind[V],
    *,
    code: str,
    who: Principal,
    limit: int = 100,
    offset: int = 0,
    cursor: str | None = None,
) -> Listing:
    """One page of the versions `who` may read, oldest first (the `(code, version)` unique
    index gives the order)."""
    cls = kind.version
    statuses = await readable_statuses(session, kind, code=code, who=who)
    stmt = select(cls).where(cls.code == code, cls.status.in_(statuses))
    found = await keyset_page(
        session, stmt, order=[cls.version], limit=limit, offset=offset, cursor=cursor
    )
    if found.total == 0:
        raise NotFound(f"There is no {kind.name} {code}.")
    return found


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
    cursor: str | None = None,
) -> Listing:
    """The newest version of each module/track that `who` may read and that matches every
    filter, one page of them. `owner` is an academy reference, or `national`."""
    cls = kind.version
    filters = _search_filters(
        kind, who=who, statuses=statuses, owner=owner, tag=tag, language=language, q=q
    )
    if module and cls is TrackVersion:
        filters.append(TrackVersion.module_index.contains(f"|{module}|", autoescape=True))
    newest = (
        select(cls.code.label("code"), func.max(cls.version).label("version"))
        .where(*filters)
        .group_by(cls.code)
        .subquery()
    )
    stmt = select(cls).join(
        newest, and_(cls.code == newest.c.code, cls.version == newest.c.version)
    )
    # The newest of each code is a grouping over the visible versions, which no order index can
    # skip; the catalogue holds hundreds of codes, not millions, so the cursor is for clients
    # that page, not for speed.
    return await keyset_page(
        session, stmt, order=_order(kind, sort), limit=limit, offset=offset, cursor=cursor
    )


def _search_filters(
    kind: Kind[V],
    *,
    who: Principal,
    statuses: Sequence[str],
    owner: str | None,
    tag: str | None,
    language: str | None,
    q: str | None,
) -> list[ColumnElement[bool]]:
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
    return filters


# Where the never-published sort by publication date: last in either direction. A value, not
# NULLS LAST, because a cursor carries the last row's values and a NULL is not one.
_NEVER_AFTER = datetime(9999, 12, 31, tzinfo=UTC)
_NEVER_BEFORE = datetime(1900, 1, 1, tzinfo=UTC)


def _order(kind: Kind[V], sort: str) -> list[ColumnElement[Any]]:
    cls = kind.version
    descending = sort.startswith("-")
    name = sort.lstrip("-")
    key: Any  # a column, or the labelled date with its stand-in for never
    if name == "published_at":
        never = literal(_NEVER_BEFORE if descending else _NEVER_AFTER, cls.published_at.type)
        key = func.coalesce(cls.published_at, never).label("published_at")
    else:
        key = {"code": cls.code, "title": cls.sort_title, "created_at": cls.created_at}[name]
    order: list[ColumnElement[Any]] = [key.desc() if descending else key.asc()]
    if name != "code":
        order.append(cls.code.asc())  # one row per code, so the code makes the order stable
    return order


async def compare(
    session: AsyncSession,
    kind: Kind[V],
    *,
    code: str,
    from_version: int,
    to_version: int,
    who: Principal,
) -> DiffOut:
    """What changed between two versions `who` may read, field by field."""
    before = await read_version(session, kind, code=code, version=from_version, who=who)
    after = await read_version(session, kind, code=code, version=to_version, who=who)
    return DiffOut(
        code=code,
        from_version=from_version,
        to_version=to_version,
        from_hash=before.content_hash,
        to_hash=after.content_hash,
        changes=diff(before, after),
    )


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


# --- drafting, for both kinds ------------------------------------------------------------------


async def add_version(
    session: AsyncSession,
    kind: Kind[V],
    *,
    root: Module | Track,
    number: int,
    content: dict[str, Any],
    by: Principal,
    now: datetime,
) -> V:
    """Version `number` of the module or track, as a draft, with its `created` entry."""
    version = kind.version(
        code=root.code,
        root=root,
        version=number,
        status="draft",
        author=by.subject,
        created_at=now,
    )
    fill(version, kind.name, content)
    session.add(version)
    record(
        session,
        entity=kind.name,
        code=root.code,
        version=number,
        action="created",
        actor=by.subject,
        at=now,
        to_status="draft",
    )
    await session.flush()
    return version


async def no_open_version(session: AsyncSession, kind: Kind[V], *, code: str) -> V:
    """The newest version, locked, when none is still open (a new one may start)."""
    latest = await get_version(session, kind, code=code, lock=True)
    if latest.status in OPEN:
        raise Conflict(
            f"{kind.title} {code} version {latest.version} is still {latest.status}; finish or "
            "edit it before starting another version.",
            version=latest.version,
            current_status=latest.status,
        )
    return latest


async def draft(session: AsyncSession, kind: Kind[V], *, code: str, version: int) -> V:
    """The version, locked, if it is a draft (the only status whose content may change)."""
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


def edit(
    session: AsyncSession,
    kind: Kind[V],
    found: V,
    *,
    content: dict[str, Any],
    by: str,
    now: datetime,
) -> V:
    """Replace a draft's content; recorded only when it changed."""
    if content_hash(content) == found.content_hash:
        return found  # nothing changed, nothing to record
    fill(found, kind.name, content)
    found.updated_at = now
    record(
        session,
        entity=kind.name,
        code=found.code,
        version=found.version,
        action="updated",
        actor=by,
        at=now,
    )
    return found
