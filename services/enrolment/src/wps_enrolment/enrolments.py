"""Enrolments once made: finding one, a cohort's or a trainee's list, withdrawal and
promotion from the waitlist. Enrolling itself is `wps_enrolment.enrolling`."""

from __future__ import annotations

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.auth import Principal
from wps_common.db import utcnow
from wps_common.errors import Conflict, NotFound
from wps_common.events.contracts import EnrolmentWithdrawn
from wps_common.paging import Listing, keyset_page
from wps_enrolment.audit import audit
from wps_enrolment.cohorts import SEATED, cohort_counts, get_cohort, seats_taken
from wps_enrolment.enrolling import enrol_many as enrol_many
from wps_enrolment.enrolling import enrolled_event
from wps_enrolment.models import Cohort, Enrolment, Trainee, outbox
from wps_enrolment.trainees import get_trainee


async def get_enrolment(
    session: AsyncSession, *, enrolment_id: str, who: Principal, lock: bool = False
) -> Enrolment:
    stmt = select(Enrolment).where(Enrolment.id == enrolment_id)
    enrolment = await session.scalar(stmt.with_for_update() if lock else stmt)
    if enrolment is None or (who.is_trainee_only() and not who.is_trainee(enrolment.trainee_id)):
        raise NotFound("No such enrolment.")
    who.check_academy(enrolment.academy_id, "enrolment")
    return enrolment


async def list_enrolments(
    session: AsyncSession,
    *,
    who: Principal,
    cohort_id: str | None = None,
    trainee_id: str | None = None,
    status: str | None,
    limit: int,
    offset: int,
    cursor: str | None = None,
) -> Listing:
    """A cohort's enrolments (seats first, then the waitlist in the order it will be promoted,
    then the withdrawn) or a trainee's (newest first)."""
    stmt = select(Enrolment)
    order: tuple[object, ...] = ()
    if cohort_id is not None:
        await get_cohort(session, cohort_id=cohort_id, who=who)
        stmt = stmt.where(Enrolment.cohort_id == cohort_id)
        # Computed, so no index yields it: the cohort's rows are read by the cohort index and
        # sorted, a cost bounded by the cohort's size. Rows from before requests were recorded
        # fall back to their enrolment time (a cursor needs non-null values).
        place = case(
            (Enrolment.status.in_(SEATED), 0), (Enrolment.status == "waitlisted", 1), else_=2
        ).label("place")
        requested = func.coalesce(Enrolment.requested_at, Enrolment.enrolled_at)
        order += (place, requested.label("requested_at"), Enrolment.id)
    if trainee_id is not None:
        await get_trainee(session, trainee_id=trainee_id, who=who)
        stmt = stmt.where(Enrolment.trainee_id == trainee_id)
        order += (Enrolment.enrolled_at.desc(), Enrolment.id.desc())
    if status is not None:
        stmt = stmt.where(Enrolment.status == status)
    return await keyset_page(session, stmt, order=order, limit=limit, offset=offset, cursor=cursor)


async def withdraw(
    session: AsyncSession, *, enrolment_id: str, reason_code: str, note: str | None, who: Principal
) -> tuple[Enrolment, Enrolment | None]:
    """Withdraw; a freed seat goes to the first trainee on the waitlist (announced again as
    `trainee.enrolled` with status `enrolled`)."""
    found = await get_enrolment(session, enrolment_id=enrolment_id, who=who)
    cohort = await get_cohort(session, cohort_id=found.cohort_id, who=who, lock=True)
    enrolment = await get_enrolment(session, enrolment_id=enrolment_id, who=who, lock=True)
    if enrolment.status not in ("enrolled", "waitlisted"):
        raise Conflict(f"The enrolment is {enrolment.status}; it can no longer be withdrawn.")
    held_seat = enrolment.status == "enrolled"
    enrolment.status = "withdrawn"
    enrolment.withdrawn_at = utcnow()
    enrolment.withdrawal_reason = reason_code
    enrolment.withdrawal_note = note
    trainee = await session.get(Trainee, enrolment.trainee_id)
    assert trainee is not None
    await outbox.add(session, _withdrawn_event(enrolment, cohort, trainee))
    audit(
        session,
        academy_id=cohort.academy_id,
        entity="enrolment",
        entity_id=enrolment.id,
        action="withdrawn",
        actor=who.subject,
        changes={"reason_code": reason_code, "note": note},
    )
    promoted = await _promote(session, cohort, freed_by=enrolment, who=who) if held_seat else None
    return enrolment, promoted


def _withdrawn_event(enrolment: Enrolment, cohort: Cohort, trainee: Trainee) -> EnrolmentWithdrawn:
    assert enrolment.withdrawal_reason is not None and enrolment.withdrawn_at is not None
    return EnrolmentWithdrawn(
        enrolment_id=enrolment.id,
        cohort_id=cohort.id,
        trainee_id=trainee.id,
        employee_number=trainee.employee_number,
        academy_id=cohort.academy_id,
        reason_code=EnrolmentWithdrawn.public_reason(enrolment.withdrawal_reason),
        withdrawn_at=enrolment.withdrawn_at,
    )


async def _promote(
    session: AsyncSession, cohort: Cohort, *, freed_by: Enrolment, who: Principal
) -> Enrolment | None:
    """The first on the waitlist takes a freed seat, if the cohort has one."""
    await session.flush()
    if seats_taken(await cohort_counts(session, cohort.id)) >= cohort.capacity:
        return None
    promoted = await session.scalar(
        select(Enrolment)
        .where(Enrolment.cohort_id == cohort.id, Enrolment.status == "waitlisted")
        .order_by(Enrolment.requested_at, Enrolment.id)
        .limit(1)
    )
    if promoted is None:
        return None
    promoted.status = "enrolled"
    promoted.enrolled_at = utcnow()
    promoted_trainee = await session.get(Trainee, promoted.trainee_id)
    assert promoted_trainee is not None
    await outbox.add(session, enrolled_event(promoted, cohort, promoted_trainee))
    audit(
        session,
        academy_id=cohort.academy_id,
        entity="enrolment",
        entity_id=promoted.id,
        action="promoted",
        actor=who.subject,
        changes={"from": "waitlisted", "freed_by": freed_by.id},
    )
    return promoted


async def cohorts_by_id(session: AsyncSession, cohort_ids: set[str]) -> dict[str, Cohort]:
    """The cohorts of enrolments already read (their reader may read what they hold)."""
    if not cohort_ids:
        return {}
    found = await session.scalars(select(Cohort).where(Cohort.id.in_(sorted(cohort_ids))))
    return {cohort.id: cohort for cohort in found}
