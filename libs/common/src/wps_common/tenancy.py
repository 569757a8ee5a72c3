"""Tenancy: academies are tenants, and every academy-scoped query goes through here, so a list
that forgets the caller's academy cannot be written by accident. Another academy's records do
not exist for an academy-scoped caller: 404, never 403 (`Principal.check_academy`)."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import BindParameter, Select, false

from wps_common.auth import Principal

__all__ = ["academy_scope", "in_academy", "scoped"]

# Any select, of one entity or of several columns.
S = TypeVar("S", bound=Select[*tuple[Any, ...]])


def academy_scope(who: Principal, academy_id: str | None = None) -> str | None:
    """The academy a query is limited to: the caller's own, or the one a caller who sees all
    academies asked for (`None`: every academy). Naming another academy is a 404."""
    if who.sees_all_academies:
        return academy_id
    if academy_id is not None:
        who.check_academy(academy_id, "academy")
    return who.academy_id


def scoped(stmt: S, column: Any, who: Principal, academy_id: str | None = None) -> S:
    """`stmt` limited to the academies `who` may see (and to `academy_id` if one is asked
    for); `column` is the academy id column of the queried table."""
    if who.sees_all_academies:
        return stmt if academy_id is None else in_academy(stmt, column, academy_id)
    if academy_id is not None:
        who.check_academy(academy_id, "academy")
    if who.academy_id is None:
        # Bound to no academy and not seeing all of them: no academy's records at all.
        limited: S = stmt.where(false())
        return limited
    return in_academy(stmt, column, who.academy_id)


def in_academy(stmt: S, column: Any, academy_id: str | BindParameter[str]) -> S:
    """`stmt` limited to one academy already checked against the caller (e.g. the academy of a
    cohort the caller has loaded); a bound parameter for a statement built once and run with
    that academy's id."""
    limited: S = stmt.where(column == academy_id)
    return limited
