"""The audit trail every service keeps: one table shape, one writer and one helper for the
page a history endpoint answers with."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import JSON, ColumnElement, Index, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from wps_common.auth import actor_name
from wps_common.db import BigIntPK, UTCDateTime, utcnow
from wps_common.paging import Page, keyset_page

TABLE = "audit_log"


class AuditColumns:
    """Mixed into a service's `AuditEntry(AuditColumns, Base)`: who did what to which entity,
    when. `entity_id` is the entity's key (an id or a code); `academy_id` scopes the entry to
    an academy where the entity belongs to one (NULL otherwise); `changes` holds what the
    action changed or said, as JSON. A service may add columns it filters on."""

    __tablename__ = TABLE

    @declared_attr.directive
    @classmethod
    def __table_args__(cls) -> tuple[Any, ...]:
        # One entity's trail in order of writing: the history query and keyset paging.
        return (Index(f"ix_{TABLE}_entity", "entity", "entity_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    academy_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    entity: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(30))
    actor: Mapped[str] = mapped_column(String(100))
    actor_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


A = TypeVar("A", bound=AuditColumns)
T = TypeVar("T")


def entry_values(
    *,
    entity: str,
    entity_id: str,
    action: str,
    actor: str,
    changes: dict[str, Any] | None = None,
    academy_id: str | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """The columns of one audit entry (also for bulk inserts). `at` is the caller's clock (a
    request's `Now`); the wall clock only where none is passed. The actor's display name is
    taken from the request's token when the actor is its caller."""
    return {
        "academy_id": academy_id,
        "entity": entity,
        "entity_id": entity_id,
        "action": action,
        "actor": actor,
        "actor_name": actor_name(actor),
        "changes": _jsonable(changes or {}),
        "at": at or utcnow(),
    }


def record(
    session: AsyncSession,
    model: type[A],
    *,
    entity: str,
    entity_id: str,
    action: str,
    actor: str,
    changes: dict[str, Any] | None = None,
    academy_id: str | None = None,
    at: datetime | None = None,
    **columns: Any,
) -> A:
    """Add one audit entry to the caller's unit of work (never commits). `columns` fill the
    columns the service's model adds to the shape."""
    values = entry_values(
        entity=entity,
        entity_id=entity_id,
        action=action,
        actor=actor,
        changes=changes,
        at=at,
        academy_id=academy_id,
    )
    entry = model(**values, **columns)
    session.add(entry)
    return entry


async def history_page(
    session: AsyncSession,
    model: type[A],
    *,
    entity: str,
    entity_id: str,
    item: Callable[[A], T],
    where: Iterable[ColumnElement[bool]] = (),
    limit: int,
    offset: int,
    cursor: str | None = None,
) -> Page[T]:
    """A history endpoint's page: an entity's trail (narrowed by `where`), oldest first, each
    entry given out as `item` makes it; after `cursor` when given. The entity index
    (`entity, entity_id, id`) gives the order."""
    stmt = select(model).where(model.entity == entity, model.entity_id == entity_id, *where)
    found = await keyset_page(
        session, stmt, order=[model.id], limit=limit, offset=offset, cursor=cursor
    )
    return Page(
        items=[item(row) for row in found.items],
        total=found.total,
        total_exact=found.total_exact,
        next_cursor=found.next_cursor,
        limit=limit,
        offset=offset,
    )


def _jsonable(changes: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date | datetime) else v for k, v in changes.items()}
