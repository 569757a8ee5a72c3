"""Who may change and who may read which curriculum: a module or track belongs to one academy or
is national (no owner). The rules are here once; every write and every read applies them
(docs/adr/0017-curriculum-ownership.md)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.auth import Principal, Role
from wps_common.errors import Forbidden, NotFound, ProblemError
from wps_curriculum.kinds import Kind, V
from wps_curriculum.models import Module, Track
from wps_curriculum.schemas import OWNER_MAX_LENGTH, STATUSES, Status

# What every signed-in role reads, whoever owns it: academies teach national modules and each
# other's published ones.
PUBLIC: tuple[Status, ...] = ("published", "retired")
NATIONAL = "national"  # the `?owner=` value that selects curriculum without an owning academy


def can_change(who: Principal, owner: str | None) -> bool:
    """Platform admins change any curriculum; an academy admin changes their academy's. The
    owner is the academy reference of the creator's token, compared as given (codes are stable;
    curriculum has no academies table to translate one into the other)."""
    if who.has(Role.ADMIN):
        return True
    return who.has(Role.ACADEMY_ADMIN) and owner is not None and owner == who.academy_id


def sees_drafts(who: Principal, owner: str | None) -> bool:
    """Drafts and versions under review: platform admins and reviewers see every one; an academy
    admin sees national ones and their own academy's, never another academy's."""
    if who.has(Role.ADMIN, Role.REVIEWER):
        return True
    return who.has(Role.ACADEMY_ADMIN) and (owner is None or owner == who.academy_id)


def sees_drafts_clause(who: Principal, owner_column: Any) -> ColumnElement[bool] | None:
    """`sees_drafts` over the owner column of a query: None when the caller sees every draft."""
    if who.has(Role.ADMIN, Role.REVIEWER):
        return None
    if who.has(Role.ACADEMY_ADMIN) and who.academy_id is not None:
        clause: ColumnElement[bool] = or_(owner_column.is_(None), owner_column == who.academy_id)
        return clause
    return false()


def owner_of_new(who: Principal, requested: str | None, *, given: bool, what: str) -> str | None:
    """The owner of a module or track `who` creates: an academy admin's own academy; for a
    platform admin national, unless the request names an academy (`owner_academy`)."""
    if who.has(Role.ADMIN):
        return requested
    if not who.has(Role.ACADEMY_ADMIN):
        raise Forbidden(f"Creating a {what} needs one of the roles: academy_admin, admin.")
    if who.academy_id is None:
        raise Forbidden(f"Your sign-in names no academy, so there is no academy to own the {what}.")
    if given and requested != who.academy_id:
        raise Forbidden(
            f"An academy admin creates curriculum for their own academy ({who.academy_id}); "
            "leave owner_academy out. National curriculum is created by platform admins."
        )
    if len(who.academy_id) > OWNER_MAX_LENGTH:
        raise Forbidden(
            f"Your sign-in's academy reference is longer than {OWNER_MAX_LENGTH} characters; "
            "ask your identity provider's administrator to use the academy code."
        )
    return who.academy_id


# --- applied to the database -----------------------------------------------------------------


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
    root = await find_root(session, kind, code)
    if root is None or not can_change(who, root.owner_academy):
        raise await refusal(session, kind, root, code=code, who=who, version=version, doing=doing)
    return root


async def readable_statuses(
    session: AsyncSession, kind: Kind[V], *, code: str, who: Principal
) -> tuple[Status, ...]:
    """Which versions of this module or track `who` reads: all, or the public ones."""
    root = await find_root(session, kind, code)
    if root is None:
        raise NotFound(f"There is no {kind.name} {code}.")
    return STATUSES if sees_drafts(who, root.owner_academy) else PUBLIC


async def refusal(
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
    """What to answer someone who may not do `doing` to this module or track."""
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


async def find_root(session: AsyncSession, kind: Kind[V], code: str) -> Module | Track | None:
    if kind.root is Module:
        return await session.get(Module, code)
    return await session.get(Track, code)


async def _has_public_version(session: AsyncSession, kind: Kind[V], code: str) -> bool:
    cls = kind.version
    found = await session.scalar(
        select(cls.id).where(cls.code == code, cls.status.in_(PUBLIC)).limit(1)
    )
    return found is not None
