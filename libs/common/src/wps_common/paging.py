"""Pagination, once for every service: the page model a list answers with, the one cap on a
page's size, and the query helpers every list goes through (offset pages, and keyset pages that
continue after a cursor)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Annotated, Any, Generic, NamedTuple, Self, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select, TypeDecorator, and_, func, literal, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import ColumnElement, UnaryExpression

from wps_common.errors import InvalidInput

__all__ = [
    "MAX_LIMIT",
    "TOTAL_CAP",
    "Cursor",
    "Listing",
    "Page",
    "cursor_after",
    "keyset_page",
    "page",
    "page_rows",
]

MAX_LIMIT = 500
"""The most items one page may hold (`wps_common.fields.Limit` enforces it on every list)."""

TOTAL_CAP = 10_000
"""A keyset list counts its matches up to this many: beyond it, `total` stops at the cap and
`total_exact` is false, so a page costs the same at a million rows as at ten thousand."""

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list: `items` from `offset` (or after the request's `cursor`), `total` the
    matches (exact unless `total_exact` is false: then at least that many), `next_cursor` the
    cursor of the page after this one (none on the last page)."""

    items: list[T]
    total: int
    limit: int
    offset: int
    total_exact: bool = True
    next_cursor: str | None = None

    @classmethod
    def of(cls, listing: Listing, items: list[T], *, limit: int, offset: int) -> Self:
        """The page a route answers with: `items` (the listing's rows, as the route shows
        them) with the listing's total and cursor."""
        return cls(
            items=items,
            total=listing.total,
            total_exact=listing.total_exact,
            next_cursor=listing.next_cursor,
            limit=limit,
            offset=offset,
        )


Cursor = Annotated[
    str | None,
    Query(
        max_length=1024,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="continue after the page that returned this `next_cursor` (ignores offset)",
    ),
]
"""The query parameter of a keyset list: an opaque `next_cursor` from the previous page."""


class Listing(NamedTuple):
    """What a keyset list returns to its route."""

    items: list[Any]
    total: int
    total_exact: bool
    next_cursor: str | None


Order = Sequence[ColumnElement[Any] | Any]
AnySelect = Select[*tuple[Any, ...]]


async def _count(session: AsyncSession, stmt: AnySelect) -> int:
    total = await session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    return int(total or 0)


def _ordered(stmt: AnySelect, order: Order, limit: int, offset: int) -> AnySelect:
    # The helper, not the caller, applies the order: a keyset page (after the last row's values
    # of these columns) replaces the offset without touching the lists.
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


# Keyset pages ------------------------------------------------------------------------------


def _keys(order: Order) -> list[tuple[Any, bool]]:
    """Each order column with whether it descends."""
    keys = []
    for term in order:
        if isinstance(term, UnaryExpression) and term.modifier in (
            operators.desc_op,
            operators.asc_op,
        ):
            keys.append((term.element, term.modifier is operators.desc_op))
        else:
            keys.append((term, False))
    return keys


def _names(columns: list[Any]) -> list[str]:
    # A column's name, or the label of an expression (a computed order names its terms).
    names = [getattr(column, "key", None) for column in columns]
    if not all(isinstance(name, str) for name in names):
        raise ValueError("Label each computed term of a keyset order (expression.label(name)).")
    return names  # type: ignore[return-value]


def _encode(columns: list[Any], values: Sequence[Any]) -> str:
    plain = [value.isoformat() if isinstance(value, date | datetime) else value for value in values]
    raw = json.dumps({"k": _names(columns), "v": plain}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def cursor_after(order: Order, row: Any) -> str:
    """The cursor of the page that follows `row` (an entity) in `order` (what `next_cursor`
    carries)."""
    columns = [column for column, _ in _keys(order)]
    return _encode(columns, [getattr(row, name) for name in _names(columns)])


def _python_type(column: Any) -> type:
    kind = column.type
    while isinstance(kind, TypeDecorator):
        kind = kind.impl_instance
    try:
        return kind.python_type
    except NotImplementedError:
        return str


def _decode(cursor: str, columns: list[Any]) -> list[Any]:
    invalid = InvalidInput("The cursor is not one this list returned.", field="cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        if data["k"] != _names(columns) or len(data["v"]) != len(columns):
            raise invalid
        values: list[Any] = []
        for column, value in zip(columns, data["v"], strict=True):
            kind = _python_type(column)
            if value is None:
                raise invalid
            if kind is datetime:
                values.append(datetime.fromisoformat(value))
            elif kind is date:
                values.append(date.fromisoformat(value))
            elif kind is int and not isinstance(value, bool):
                values.append(int(value))
            elif kind is bool:
                values.append(bool(value))
            else:
                values.append(str(value))
        return values
    except (binascii.Error, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise invalid from exc


def _after(keys: list[tuple[Any, bool]], values: list[Any]) -> ColumnElement[bool]:
    """Rows strictly after `values` in the order. One direction throughout: a row-value
    comparison, which both databases answer with an index range scan."""
    # Bound with each column's type, so a UTC datetime is compared as one on both databases.
    bound_values = [
        literal(value, column.type) for (column, _), value in zip(keys, values, strict=True)
    ]
    if len({descending for _, descending in keys}) == 1:
        columns = tuple_(*(column for column, _ in keys))
        bound = tuple_(*bound_values)
        return columns < bound if keys[0][1] else columns > bound
    terms = []
    for i, (column, descending) in enumerate(keys):
        equal = [keys[j][0] == bound_values[j] for j in range(i)]
        beyond = column < bound_values[i] if descending else column > bound_values[i]
        terms.append(and_(*equal, beyond))
    return or_(*terms)


async def keyset_page(
    session: AsyncSession,
    stmt: AnySelect,
    *,
    order: Order,
    limit: int,
    offset: int,
    cursor: str | None,
    reread: int = 0,
) -> Listing:
    """A page of `stmt` in `order` (non-null columns or labelled expressions, the last one
    unique): after `cursor` when given (then `offset` is ignored), else from `offset`; the total
    counted up to `TOTAL_CAP`. The items are the entities of a one-entity select, else row
    tuples. The cost of a cursor page does not grow with the rows before it.

    `reread`: the first so many order columns stay out of the cursor (personal data such as a
    name, which would otherwise sit base64-encoded in URLs and logs); the cursor carries the
    others (ids), and the left-out values are read again from the row those name."""
    if not order:
        raise ValueError("A page needs an order that ends in a unique column.")
    keys = _keys(order)
    columns = [column for column, _ in keys]
    if not 0 <= reread < len(columns):
        raise ValueError("A cursor must carry at least the order's last (unique) column.")
    carried = columns[reread:]
    width = len(stmt.column_descriptions)  # entities and columns the caller selected
    counting = stmt
    start = offset
    if cursor is not None:
        values = _decode(cursor, carried)
        if reread:
            values = [*await _reread(session, stmt, columns[:reread], carried, values), *values]
        stmt = stmt.where(_after(keys, values))
        offset = 0
    # The order's values ride along each row (labelled apart from the row's own columns), so a
    # cursor can follow any order, a joined table's columns or a computed term included.
    keyed = stmt.add_columns(*(column.label(f"_key{i}") for i, column in enumerate(columns)))
    rows = (await session.execute(_ordered(keyed, order, limit + 1, offset))).all()
    following = _encode(carried, rows[limit - 1][width + reread :]) if len(rows) > limit else None
    items = [row[0] if width == 1 else tuple(row[:width]) for row in rows[:limit]]
    if cursor is None and start == 0 and len(rows) <= limit:
        counted: int | None = len(rows)  # the whole list is on this page: no count needed
    else:
        # Counted over a constant, not the entity's columns, so an index can answer it alone.
        matches = counting.order_by(None).with_only_columns(literal(1), maintain_column_froms=True)
        counted = await session.scalar(
            select(func.count()).select_from(matches.limit(TOTAL_CAP + 1).subquery())
        )
    total = min(int(counted or 0), TOTAL_CAP)
    return Listing(items, total, int(counted or 0) <= TOTAL_CAP, following)


async def _reread(
    session: AsyncSession,
    stmt: AnySelect,
    left_out: list[Any],
    carried: list[Any],
    values: list[Any],
) -> list[Any]:
    """The order values a cursor leaves out, read from the row its carried values name."""
    found = (
        await session.execute(
            stmt.order_by(None)
            .with_only_columns(*left_out, maintain_column_froms=True)
            .where(*(c == literal(v, c.type) for c, v in zip(carried, values, strict=True)))
            .limit(1)
        )
    ).first()
    if found is None:
        raise InvalidInput(
            "The row this cursor continues after is no longer in the list: start it again.",
            field="cursor",
        )
    return list(found)
