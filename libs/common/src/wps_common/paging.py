"""Pagination, once for every service: the page model a list answers with, the one cap on a
page's size, and the query helper every list goes through."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

__all__ = ["MAX_LIMIT", "Page", "page", "page_rows"]

MAX_LIMIT = 500
"""The most items one page may hold (`wps_common.fields.Limit` enforces it on every list)."""

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list: `total` counts every match, `items` those from `offset`."""

    items: list[T]
    total: int
    limit: int
    offset: int


Order = Sequence[ColumnElement[Any] | Any]
AnySelect = Select[*tuple[Any, ...]]


async def _count(session: AsyncSession, stmt: AnySelect) -> int:
    total = await session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    return int(total or 0)


def _ordered(stmt: AnySelect, order: Order, limit: int, offset: int) -> AnySelect:
    # The helper, not the caller, applies the order: a keyset page (after the last row's values
    # of these columns) can then replace the offset without touching the lists.
    if not order:
        raise ValueError("A page needs an order that ends in a unique column.")
    return stmt.order_by(None).order_by(*order).limit(limit).offset(offset)


async def page(
    session: AsyncSession, stmt: AnySelect, *, order: Order, limit: int, offset: int
) -> tuple[list[Any], int]:
    """`(items, total)` of a one-entity select, in `order` (whose last column is unique, so
    pages are stable)."""
    total = await _count(session, stmt)
    items = (await session.scalars(_ordered(stmt, order, limit, offset))).all()
    return list(items), total


async def page_rows(
    session: AsyncSession, stmt: AnySelect, *, order: Order, limit: int, offset: int
) -> tuple[list[tuple[Any, ...]], int]:
    """`page()` for a select of several entities or columns: the items are row tuples."""
    total = await _count(session, stmt)
    rows = (await session.execute(_ordered(stmt, order, limit, offset))).all()
    return [tuple(row) for row in rows], total
