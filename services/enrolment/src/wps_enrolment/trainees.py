"""Trainees: registering them under the HR system's employee number, changing and finding them,
and the history of every change."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.auth import Principal
from wps_common.db import utcnow
from wps_common.errors import Conflict, NotFound
from wps_common.paging import Listing, Page, keyset_page
from wps_common.search import matches, sorted_matches, unindexed
from wps_common.tenancy import in_academy, scoped
from wps_enrolment import audit, compliance
from wps_enrolment.academies import academy_for_write
from wps_enrolment.models import TRAINEE_SEARCH, Academy, Trainee, outbox
from wps_enrolment.profiles import profile_event
from wps_enrolment.schemas import AuditOut, TraineeCreate, TraineeUpdate

TRAINEE_SORTS = {
    "family_name": (Trainee.family_name, Trainee.given_name, Trainee.id),
    "employee_number": (Trainee.employee_number, Trainee.id),
    "created_at": (Trainee.created_at, Trainee.id),
}


async def _holder_of(session: AsyncSession, academy_id: str, employee_number: str) -> str | None:
    """The trainee registered in the academy under this employee number, if any."""
    stmt = select(Trainee.id).where(Trainee.employee_number == employee_number)
    return await session.scalar(in_academy(stmt, Trainee.academy_id, academy_id))


def _taken(employee_number: str, trainee_id: str) -> Conflict:
    return Conflict(
        f"Employee number {employee_number} is already registered in this academy.",
        trainee_id=trainee_id,
    )


async def create_trainee(
    session: AsyncSession, *, data: TraineeCreate, who: Principal, now: datetime
) -> Trainee:
    academy = await academy_for_write(session, data.academy_id, who)
    duplicate = await _holder_of(session, academy.id, data.employee_number)
    if duplicate:
        raise _taken(data.employee_number, duplicate)
    trainee = Trainee(**data.model_dump(), active=True)
    session.add(trainee)
    await session.flush()
    audit.audit(
        session,
        academy_id=academy.id,
        entity="trainee",
        entity_id=trainee.id,
        action="created",
        actor=who.subject,
        changes=data.model_dump(exclude={"academy_id"}),
    )
    await outbox.add(session, profile_event(trainee, academy))
    await compliance.evaluate(session, now=now, trainee_ids=[trainee.id])
    return trainee


async def get_trainee(session: AsyncSession, *, trainee_id: str, who: Principal) -> Trainee:
    trainee = await session.get(Trainee, trainee_id)
    if trainee is None or (who.is_trainee_only() and not who.is_trainee(trainee_id)):
        raise NotFound("No such trainee.")
    who.check_academy(trainee.academy_id, "trainee")
    return trainee


async def update_trainee(
    session: AsyncSession, *, trainee_id: str, data: TraineeUpdate, who: Principal, now: datetime
) -> Trainee:
    trainee = await get_trainee(session, trainee_id=trainee_id, who=who)
    sent = data.model_dump(exclude_unset=True)
    if "employee_number" in sent and sent["employee_number"] != trainee.employee_number:
        taken = await _holder_of(session, trainee.academy_id, sent["employee_number"])
        if taken:
            raise _taken(sent["employee_number"], taken)
    changes = {k: v for k, v in sent.items() if getattr(trainee, k) != v}
    if not changes:
        return trainee
    for name, value in changes.items():
        setattr(trainee, name, value)
    trainee.updated_at = utcnow()
    action = "updated"
    if set(changes) == {"active"}:
        action = "reactivated" if trainee.active else "deactivated"
    audit.audit(
        session,
        academy_id=trainee.academy_id,
        entity="trainee",
        entity_id=trainee.id,
        action=action,
        actor=who.subject,
        changes=changes,
    )
    academy = await session.get(Academy, trainee.academy_id)
    assert academy is not None
    await session.flush()
    await outbox.add(session, profile_event(trainee, academy))
    await compliance.evaluate(session, now=now, trainee_ids=[trainee.id])
    return trainee


async def list_trainees(
    session: AsyncSession,
    *,
    who: Principal,
    academy_id: str | None,
    q: str | None,
    unit: str | None,
    rank: str | None,
    role: str | None,
    agency: str | None,
    gender: str | None,
    active: bool | None,
    sort: str,
    limit: int,
    offset: int,
    cursor: str | None = None,
) -> Listing:
    found = None
    if q:
        # Through the search index (wps_common.search): every word of `q`, folded, inside the
        # names or the employee number; a word of one or two letters at the start of one.
        found = await matches(session, Trainee.search_text, q, fts_table=TRAINEE_SEARCH)
    # A search is driven by its index, not by walking the academy's rows (see `unindexed`).
    academy = Trainee.academy_id if found is None else unindexed(session, Trainee.academy_id)
    stmt = scoped(select(Trainee), academy, who, academy_id)
    if found is not None:
        stmt = stmt.where(found)
    for column, value in (
        (Trainee.unit, unit),
        (Trainee.rank, rank),
        (Trainee.role, role),
        (Trainee.agency, agency),
        (Trainee.gender, gender),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if active is not None:
        stmt = stmt.where(Trainee.active.is_(active))
    order = TRAINEE_SORTS[sort] if found is None else sorted_matches(session, TRAINEE_SORTS[sort])
    return await keyset_page(session, stmt, order=order, limit=limit, offset=offset, cursor=cursor)


async def trainee_history(
    session: AsyncSession,
    *,
    trainee_id: str,
    who: Principal,
    limit: int,
    offset: int,
    cursor: str | None = None,
) -> Page[AuditOut]:
    trainee = await get_trainee(session, trainee_id=trainee_id, who=who)
    return await audit.history(
        session,
        entity="trainee",
        entity_id=trainee.id,
        limit=limit,
        offset=offset,
        cursor=cursor,
    )
