"""The audit trail every service keeps: one table shape, one writer and one history query."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import JSON, ColumnElement, Index, String, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from wps_common.auth import actor_name
from wps_common.db import BigIntPK, UTCDateTime, utcnow

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
    """The columns of one audit entry (also for bulk inserts). The actor's display name is
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
        academy_id=academy_id,
    )
    entry = model(**values, **columns)
    session.add(entry)
    return entry


async def history(
    session: AsyncSession,
    model: type[A],
    *,
    entity: str,
    entity_id: str,
    where: Iterable[ColumnElement[bool]] = (),
    limit: int,
    offset: int,
) -> tuple[list[A], int]:
    """One page of an entity's trail, oldest first, and how many entries it has in all."""
    filters = [model.entity == entity, model.entity_id == entity_id, *where]
    total = int(await session.scalar(select(func.count()).select_from(model).where(*filters)) or 0)
    rows = await session.scalars(
        select(model).where(*filters).order_by(model.id).limit(limit).offset(offset)
    )
    return list(rows), total


def _jsonable(changes: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date | datetime) else v for k, v in changes.items()}
