"""Cohorts: opening one for a published track (or module), its seats, and finding cohorts."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.auth import Principal
from wps_common.errors import InvalidInput, NotFound
from wps_common.paging import Listing, keyset_page
from wps_common.tenancy import scoped
from wps_enrolment.academies import academy_for_write
from wps_enrolment.curriculum import published_module, published_track
from wps_enrolment.models import Cohort, Enrolment
from wps_enrolment.schemas import CohortCreate

SEATED = ("enrolled", "completed", "failed")  # statuses that hold a seat


async def _pinned_curriculum(session: AsyncSession, data: CohortCreate) -> dict[str, Any]:
    """The latest published version of the track (or module) a new cohort teaches."""
    if data.track_code is not None:
        track = await published_track(session, data.track_code)
        if track is None:
            raise InvalidInput(
                f"Track {data.track_code} is not published (or its publication has not reached "
                "this service yet).",
                field="track_code",
            )
        return {"track_code": track.code, "track_version": track.version}
    assert data.module_code is not None
    module = await published_module(session, data.module_code)
    if module is None:
        raise InvalidInput(
            f"Module {data.module_code} is not published (or its publication has not "
            "reached this service yet).",
            field="module_code",
        )
    return {"module_code": module.code, "module_version": module.version}


async def create_cohort(
    session: AsyncSession, *, data: CohortCreate, who: Principal, max_attempts: int
) -> Cohort:
    await academy_for_write(session, data.academy_id, who)
    values = data.model_dump(exclude={"track_code", "module_code", "max_attempts"})
    values.update(await _pinned_curriculum(session, data))
    cohort = Cohort(**values, max_attempts=data.max_attempts or max_attempts)
    session.add(cohort)
    await session.flush()
    return cohort


async def get_cohort(
    session: AsyncSession, *, cohort_id: str, who: Principal, lock: bool = False
) -> Cohort:
    stmt = select(Cohort).where(Cohort.id == cohort_id)
    cohort = await session.scalar(stmt.with_for_update() if lock else stmt)
    if cohort is None:
        raise NotFound("No such cohort.")
    who.check_academy(cohort.academy_id, "cohort")
    return cohort


async def cohort_counts(session: AsyncSession, cohort_id: str) -> dict[str, int]:
    rows = await session.execute(
        select(Enrolment.status, func.count())
        .where(Enrolment.cohort_id == cohort_id)
        .group_by(Enrolment.status)
    )
    return {status: int(n) for status, n in rows.all()}


def seats_taken(counts: dict[str, int]) -> int:
    return sum(counts.get(s, 0) for s in SEATED)


async def cohort_seats(
    session: AsyncSession, *, cohort_id: str, who: Principal
) -> tuple[Cohort, dict[str, int]]:
    """A cohort with its seats taken, free and waitlisted."""
    cohort = await get_cohort(session, cohort_id=cohort_id, who=who)
    counts = await cohort_counts(session, cohort.id)
    taken = seats_taken(counts)
    return cohort, {
        "seats_taken": taken,
        "seats_free": max(cohort.capacity - taken, 0),
        "waitlisted": counts.get("waitlisted", 0),
    }


async def list_cohorts(
    session: AsyncSession,
    *,
    who: Principal,
    academy_id: str | None,
    track_code: str | None,
    starts_from: date | None,
    starts_to: date | None,
    limit: int,
    offset: int,
    cursor: str | None = None,
) -> Listing:
    stmt = scoped(select(Cohort), Cohort.academy_id, who, academy_id)
    if track_code:
        stmt = stmt.where(or_(Cohort.track_code == track_code, Cohort.module_code == track_code))
    if starts_from:
        stmt = stmt.where(Cohort.starts_on >= starts_from)
    if starts_to:
        stmt = stmt.where(Cohort.starts_on <= starts_to)
    order = (Cohort.starts_on.desc(), Cohort.id.desc())
    return await keyset_page(session, stmt, order=order, limit=limit, offset=offset, cursor=cursor)
