"""The curriculum's audit trail on the shared shape (`wps_common.audit`): who did what to a
module, track, requirement or clearance profile, with the status it left and reached and any
review comment."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from wps_common import audit
from wps_common.errors import NotFound
from wps_common.paging import Page
from wps_curriculum.models import AuditEntry, ClearanceProfile, Module, Requirement, Track
from wps_curriculum.schemas import AuditEntryOut


def record(
    session: AsyncSession,
    *,
    entity: str,
    code: str,
    version: int | None,
    action: str,
    actor: str,
    at: datetime,
    from_status: str | None = None,
    to_status: str | None = None,
    comment: str | None = None,
) -> AuditEntry:
    said = {"from_status": from_status, "to_status": to_status, "comment": comment}
    return audit.record(
        session,
        AuditEntry,
        entity=entity,
        entity_id=code,
        action=action,
        actor=actor,
        at=at,
        changes={key: value for key, value in said.items() if value is not None},
        version=version,
    )


async def history(
    session: AsyncSession,
    *,
    entity: str,
    code: str,
    version: int | None = None,
    limit: int = 100,
    offset: int = 0,
    cursor: str | None = None,
) -> Page[AuditEntryOut]:
    """One page of the trail of a module, track, requirement or clearance profile (or one
    version of it)."""
    where = [] if version is None else [AuditEntry.version == version]
    found = await audit.history_page(
        session,
        AuditEntry,
        entity=entity,
        entity_id=code,
        item=AuditEntryOut.model_validate,
        where=where,
        limit=limit,
        offset=offset,
        cursor=cursor,
    )
    if found.total == 0 and not await _exists(session, entity, code):
        raise NotFound(f"There is no {entity.replace('_', ' ')} {code}.")
    return found


async def _exists(session: AsyncSession, entity: str, code: str) -> bool:
    root = {
        "module": Module,
        "track": Track,
        "requirement": Requirement,
        "clearance_profile": ClearanceProfile,
    }[entity]
    return await session.get(root, code) is not None
