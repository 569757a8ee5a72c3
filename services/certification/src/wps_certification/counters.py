"""Counters handed out in batches: certificate numbers per academy and year, status-list entries
per academy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


async def advance(
    session: AsyncSession,
    model: type[Any],
    keys: Sequence[str],
    counted: str,
    needed: Mapping[tuple[Any, ...], int],
) -> dict[tuple[Any, ...], int]:
    """Each key's counter row (of the mapped class `model`) inserted, or advanced by the count
    `needed` names, in one statement; the counters' new values (the last one each hands out).

    Unique across replicas: the rows stay locked until the caller's transaction ends (a
    concurrent transaction waits, then sees the new value; a rollback gives the values back).
    Rows are taken in key order, so two transactions cannot lock them crosswise.
    """
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = insert(model).values(
        [{**dict(zip(keys, key, strict=True)), counted: n} for key, n in sorted(needed.items())]
    )
    column = getattr(model, counted)
    stmt = values.on_conflict_do_update(
        index_elements=[getattr(model, key) for key in keys],
        set_={counted: column + values.excluded[counted]},
    ).returning(*(getattr(model, key) for key in keys), column)
    return {tuple(row[:-1]): row[-1] for row in await session.execute(stmt)}
