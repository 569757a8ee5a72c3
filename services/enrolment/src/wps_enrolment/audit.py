"""The enrolment audit trail, in the shape and through the writer every service shares
(`wps_common.audit`): who changed which record, when, and what they sent."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.audit import history_page, record
from wps_common.paging import Page
from wps_enrolment.models import AuditEntry
from wps_enrolment.schemas import AuditOut


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


async def history(
    session: AsyncSession,
    *,
    entity: str,
    entity_id: str,
    limit: int,
    offset: int,
    cursor: str | None = None,
) -> Page[AuditOut]:
    """One page of a record's trail, oldest first."""
    return await history_page(
        session,
        AuditEntry,
        entity=entity,
        entity_id=entity_id,
        item=AuditOut.model_validate,
        limit=limit,
        offset=offset,
        cursor=cursor,
    )
