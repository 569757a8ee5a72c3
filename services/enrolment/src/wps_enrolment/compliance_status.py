"""Compliance as staff see it: a trainee's standing against each requirement, an academy's list
and summary, exemptions and personal due dates (setting and removing either re-evaluates at
once). The rules and their evaluation are in `compliance`."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import String, exists, func, literal, null, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from wps_common.auth import Principal
from wps_common.errors import InvalidInput, NotFound
from wps_common.paging import Listing, keyset_page
from wps_common.tenancy import academy_scope, scoped
from wps_enrolment import compliance
from wps_enrolment.audit import audit
from wps_enrolment.models import (
    ComplianceChange,
    ComplianceRecord,
    Exemption,
    PersonalDueDate,
    Requirement,
    Trainee,
)
from wps_enrolment.trainees import get_trainee

STATUSES = ("compliant", "due", "overdue", "expired", "exempt")


async def trainee_compliance(
    session: AsyncSession, *, trainee_id: str, who: Principal
) -> list[tuple[ComplianceRecord, str | None, PersonalDueDate | None]]:
    """Each record with the exemption's reason and the personal due date, where there is one."""
    trainee = await get_trainee(session, trainee_id=trainee_id, who=who)
    rows = await session.execute(
        select(ComplianceRecord, Exemption.reason, PersonalDueDate)
        .outerjoin(
            Exemption,
            (Exemption.trainee_id == ComplianceRecord.trainee_id)
            & (Exemption.requirement_code == ComplianceRecord.requirement_code),
        )
        .outerjoin(
            PersonalDueDate,
            (PersonalDueDate.trainee_id == ComplianceRecord.trainee_id)
            & (PersonalDueDate.requirement_code == ComplianceRecord.requirement_code),
        )
        .where(ComplianceRecord.trainee_id == trainee.id)
        .order_by(ComplianceRecord.requirement_code)
    )
    return [(record, reason, due) for record, reason, due in rows.all()]


async def academy_compliance(
    session: AsyncSession,
    *,
    who: Principal,
    academy_id: str | None,
    status: str | None,
    unit: str | None,
    rank: str | None,
    requirement_code: str | None,
    limit: int,
    offset: int,
    cursor: str | None = None,
    changed_since: datetime | None = None,
) -> Listing:
    """An academy's compliance records with their trainees (row tuples), by name; with
    `changed_since`, only those whose status changed at or after it (what a bulk import's
    compliance.summarised stands for), and those a requirement stopped applying to since then
    (status `not_applicable`, from the history), as dicts of `ComplianceRow`'s fields."""
    if changed_since is not None:
        return await _changes(
            session,
            who=who,
            academy_id=academy_id,
            status=status,
            unit=unit,
            rank=rank,
            requirement_code=requirement_code,
            limit=limit,
            offset=offset,
            cursor=cursor,
            changed_since=changed_since,
        )
    stmt = select(ComplianceRecord, Trainee).join(
        Trainee, Trainee.id == ComplianceRecord.trainee_id
    )
    stmt = scoped(stmt, ComplianceRecord.academy_id, who, academy_id)
    for column, value in (
        (ComplianceRecord.status, status),
        (Trainee.unit, unit),
        (Trainee.rank, rank),
        (ComplianceRecord.requirement_code, requirement_code),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    # The order spans the join, so no one index yields it: the matching records of the academy
    # are read by its index and the database keeps the page's top rows (a bounded sort); a
    # cursor's condition drops the rows before it, so a late page costs what the first does.
    order = (Trainee.family_name, Trainee.given_name, ComplianceRecord.id)
    # The cursor carries the ids only: the names are read again (not in URLs and logs).
    listing = await keyset_page(
        session, stmt, order=order, limit=limit, offset=offset, cursor=cursor, reread=2
    )
    return listing._replace(items=[_row(record, trainee) for record, trainee in listing.items])


_TRAINEE_FIELDS = ("employee_number", "family_name", "given_name", "rank", "unit")


def _row(record: ComplianceRecord, trainee: Trainee) -> dict[str, Any]:
    return {
        **{name: getattr(record, name) for name in _RECORD_FIELDS},
        **{name: getattr(trainee, name) for name in _TRAINEE_FIELDS},
    }


_RECORD_FIELDS = (
    "trainee_id",
    "academy_id",
    "requirement_code",
    "status",
    "due_on",
    "certificate_id",
    "recognition_id",
    "since",
    "evaluated_on",
)


async def _changes(
    session: AsyncSession,
    *,
    who: Principal,
    academy_id: str | None,
    status: str | None,
    unit: str | None,
    rank: str | None,
    requirement_code: str | None,
    limit: int,
    offset: int,
    cursor: str | None,
    changed_since: datetime,
) -> Listing:
    """The changes since a moment: current statuses reached since then, and the requirements
    that stopped applying since then and do not apply again (the latest null status of the
    history per trainee and requirement), one list in one order."""
    current = select(
        *(getattr(ComplianceRecord, name).label(name) for name in _RECORD_FIELDS),
        *(getattr(Trainee, name).label(name) for name in _TRAINEE_FIELDS),
    ).join(Trainee, Trainee.id == ComplianceRecord.trainee_id)
    current = scoped(current, ComplianceRecord.academy_id, who, academy_id).where(
        ComplianceRecord.since >= changed_since
    )
    later = aliased(ComplianceChange)
    gone = (
        select(
            ComplianceChange.trainee_id.label("trainee_id"),
            ComplianceChange.academy_id.label("academy_id"),
            ComplianceChange.requirement_code.label("requirement_code"),
            literal(compliance.NOT_APPLICABLE, String()).label("status"),
            null().label("due_on"),
            null().label("certificate_id"),
            null().label("recognition_id"),
            ComplianceChange.changed_at.label("since"),
            ComplianceChange.changed_on.label("evaluated_on"),
            *(getattr(Trainee, name).label(name) for name in _TRAINEE_FIELDS),
        )
        .join(Trainee, Trainee.id == ComplianceChange.trainee_id)
        .where(
            ComplianceChange.status.is_(None),
            ComplianceChange.changed_at >= changed_since,
            ~exists().where(
                ComplianceRecord.trainee_id == ComplianceChange.trainee_id,
                ComplianceRecord.requirement_code == ComplianceChange.requirement_code,
            ),
            ~exists().where(
                later.trainee_id == ComplianceChange.trainee_id,
                later.requirement_code == ComplianceChange.requirement_code,
                later.id > ComplianceChange.id,
            ),
        )
    )
    gone = scoped(gone, ComplianceChange.academy_id, who, academy_id)
    parts = []
    if status is None or status != compliance.NOT_APPLICABLE:
        if status is not None:
            current = current.where(ComplianceRecord.status == status)
        parts.append(current)
    if status is None or status == compliance.NOT_APPLICABLE:
        parts.append(gone)
    filtered = []
    for part in parts:
        for column, value in (
            (Trainee.unit, unit),
            (Trainee.rank, rank),
        ):
            if value is not None:
                part = part.where(column == value)
        filtered.append(part)
    both = union_all(*filtered).subquery("changes")
    if requirement_code is not None:
        stmt = select(both).where(both.c.requirement_code == requirement_code)
    else:
        stmt = select(both)
    # A trainee has one row per requirement here (a record, or else its latest withdrawal).
    order = (both.c.family_name, both.c.given_name, both.c.trainee_id, both.c.requirement_code)
    # The cursor carries the ids only: the names are read again (not in URLs and logs).
    listing = await keyset_page(
        session, stmt, order=order, limit=limit, offset=offset, cursor=cursor, reread=2
    )
    names = [*_RECORD_FIELDS, *_TRAINEE_FIELDS]
    return listing._replace(items=[dict(zip(names, row, strict=True)) for row in listing.items])


async def compliance_summary(
    session: AsyncSession, *, who: Principal, academy_id: str | None
) -> dict[str, Any]:
    stmt = select(
        ComplianceRecord.requirement_code, ComplianceRecord.status, func.count()
    ).group_by(ComplianceRecord.requirement_code, ComplianceRecord.status)
    stmt = scoped(stmt, ComplianceRecord.academy_id, who, academy_id)
    by_status: dict[str, int] = dict.fromkeys(STATUSES, 0)
    by_requirement: dict[str, dict[str, int]] = {}
    for code, status, n in (await session.execute(stmt)).all():
        by_status[status] = by_status.get(status, 0) + int(n)
        by_requirement.setdefault(code, {})[status] = int(n)
    return {
        "academy_id": academy_scope(who, academy_id),
        "total": sum(by_status.values()),
        "by_status": by_status,
        "by_requirement": by_requirement,
    }


async def exempt(
    session: AsyncSession,
    *,
    trainee_id: str,
    requirement_code: str,
    reason: str,
    who: Principal,
    now: datetime,
) -> None:
    trainee = await get_trainee(session, trainee_id=trainee_id, who=who)
    if await session.get(Requirement, requirement_code) is None:
        raise NotFound(f"No requirement {requirement_code}.")
    exemption = await session.get(Exemption, (trainee.id, requirement_code))
    if exemption is None:
        session.add(
            Exemption(
                trainee_id=trainee.id,
                requirement_code=requirement_code,
                reason=reason,
                granted_by=who.subject,
            )
        )
    else:
        exemption.reason, exemption.granted_by = reason, who.subject
    await _recorded(
        session,
        trainee,
        "exempted",
        {"requirement_code": requirement_code, "reason": reason},
        who=who,
        now=now,
    )


async def lift_exemption(
    session: AsyncSession, *, trainee_id: str, requirement_code: str, who: Principal, now: datetime
) -> None:
    trainee = await get_trainee(session, trainee_id=trainee_id, who=who)
    exemption = await session.get(Exemption, (trainee.id, requirement_code))
    if exemption is None:
        raise NotFound("The trainee has no exemption from this requirement.")
    await session.delete(exemption)
    await _recorded(
        session,
        trainee,
        "exemption_lifted",
        {"requirement_code": requirement_code},
        who=who,
        now=now,
    )


async def set_due_date(
    session: AsyncSession,
    *,
    trainee_id: str,
    requirement_code: str,
    due_on: date,
    reason: str,
    who: Principal,
    now: datetime,
) -> None:
    """Give a trainee their own deadline for a requirement (replacing any earlier one); a day
    already past in the academy's zone is refused."""
    trainee = await get_trainee(session, trainee_id=trainee_id, who=who)
    if await session.get(Requirement, requirement_code) is None:
        raise NotFound(f"No requirement {requirement_code}.")
    today = await compliance.academy_today(session, trainee.academy_id, now)
    if due_on < today:
        raise InvalidInput(
            f"The due date {due_on.isoformat()} has passed: choose today "
            f"({today.isoformat()}) or a later day.",
            field="due_on",
        )
    due = await session.get(PersonalDueDate, (trainee.id, requirement_code))
    if due is None:
        session.add(
            PersonalDueDate(
                trainee_id=trainee.id,
                requirement_code=requirement_code,
                due_on=due_on,
                reason=reason,
                set_by=who.subject,
                set_at=now,
            )
        )
    else:
        due.due_on, due.reason, due.set_by, due.set_at = due_on, reason, who.subject, now
    await _recorded(
        session,
        trainee,
        "due_date_set",
        {
            "requirement_code": requirement_code,
            "due_on": due_on.isoformat(),
            "reason": reason,
        },
        who=who,
        now=now,
    )


async def remove_due_date(
    session: AsyncSession, *, trainee_id: str, requirement_code: str, who: Principal, now: datetime
) -> None:
    """The requirement's own deadlines apply again."""
    trainee = await get_trainee(session, trainee_id=trainee_id, who=who)
    due = await session.get(PersonalDueDate, (trainee.id, requirement_code))
    if due is None:
        raise NotFound("The trainee has no personal due date for this requirement.")
    await session.delete(due)
    await _recorded(
        session,
        trainee,
        "due_date_removed",
        {"requirement_code": requirement_code},
        who=who,
        now=now,
    )


async def _recorded(
    session: AsyncSession,
    trainee: Trainee,
    action: str,
    changes: dict[str, Any],
    *,
    who: Principal,
    now: datetime,
) -> None:
    """An exemption's or due date's change goes into the trainee's audit trail and takes effect
    on their compliance at once."""
    audit(
        session,
        academy_id=trainee.academy_id,
        entity="trainee",
        entity_id=trainee.id,
        action=action,
        actor=who.subject,
        changes=changes,
    )
    await session.flush()
    await compliance.evaluate(session, now=now, trainee_ids=[trainee.id])
