"""Who may change and who may read which curriculum: a module or track belongs to one academy or
is national (no owner). The rules are here once; every write and every read applies them
(docs/adr/0017-curriculum-ownership.md)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, false, or_

from wps_common.auth import Principal, Role
from wps_common.errors import Forbidden
from wps_curriculum.schemas import OWNER_MAX_LENGTH, Status

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
