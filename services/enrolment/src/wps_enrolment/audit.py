"""The enrolment audit trail: who changed which record, when, and what they sent."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.auth import actor_name
from wps_enrolment.models import AuditEntry


def audit(
    session: AsyncSession,
    *,
    academy_id: str,
    entity: str,
    entity_id: str,
    action: str,
    actor: str,
    changes: dict[str, Any],
) -> None:
    """Add one entry to the caller's transaction (never commits)."""
    session.add(
        AuditEntry(
            academy_id=academy_id,
            entity=entity,
            entity_id=entity_id,
            action=action,
            actor=actor,
            actor_name=actor_name(actor),
            changes=_jsonable(changes),
        )
    )


def _jsonable(changes: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date | datetime) else v for k, v in changes.items()}


async def history(session: AsyncSession, *, entity: str, entity_id: str) -> list[AuditEntry]:
    """Every entry of one record, oldest first."""
    stmt = (
        select(AuditEntry)
        .where(AuditEntry.entity == entity, AuditEntry.entity_id == entity_id)
        .order_by(AuditEntry.id)
    )
    return list((await session.scalars(stmt)).all())
