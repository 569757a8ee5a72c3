"""The enrolment audit trail, in the shape and through the writer every service shares
(`wps_common.audit`): who changed which record, when, and what they sent."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.audit import record
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
    record(
        session,
        AuditEntry,
        academy_id=academy_id,
        entity=entity,
        entity_id=entity_id,
        action=action,
        actor=actor,
        changes=changes,
    )


async def history(session: AsyncSession, *, entity: str, entity_id: str) -> list[AuditEntry]:
    """Every entry of one record, oldest first (enrolment's history endpoints answer the whole
    trail, not a page of it)."""
    stmt = (
        select(AuditEntry)
        .where(AuditEntry.entity == entity, AuditEntry.entity_id == entity_id)
        .order_by(AuditEntry.id)
    )
    return list((await session.scalars(stmt)).all())
