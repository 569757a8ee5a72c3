"""Academies, the tenants: registering, reading and renaming them, and their languages."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.auth import Principal
from wps_common.errors import Conflict, InvalidInput, NotFound
from wps_common.paging import Listing, keyset_page
from wps_common.tenancy import in_academy, scoped
from wps_enrolment.audit import audit
from wps_enrolment.models import Academy, Trainee, outbox
from wps_enrolment.profiles import profile_event
from wps_enrolment.schemas import AcademyCreate, AcademyUpdate, names_outside


async def create_academy(session: AsyncSession, *, data: AcademyCreate, who: Principal) -> Academy:
    if await session.scalar(select(Academy.id).where(Academy.code == data.code)):
        raise Conflict(f"An academy with code {data.code} already exists.")
    academy = Academy(**data.model_dump())
    session.add(academy)
    await session.flush()
    audit(
        session,
        academy_id=academy.id,
        entity="academy",
        entity_id=academy.id,
        action="created",
        actor=who.subject,
        changes=data.model_dump(),
    )
    return academy


async def get_academy(session: AsyncSession, *, academy_id: str, who: Principal) -> Academy:
    who.check_academy(academy_id, "academy")
    academy = await session.get(Academy, academy_id)
    if academy is None:
        raise NotFound("No such academy.")
    return academy


async def list_academies(
    session: AsyncSession, *, who: Principal, limit: int, offset: int, cursor: str | None = None
) -> Listing:
    stmt = scoped(select(Academy), Academy.id, who)
    # The code is unique: its own index gives the order.
    return await keyset_page(
        session, stmt, order=(Academy.code,), limit=limit, offset=offset, cursor=cursor
    )


# Trainees whose profiles are announced again per outbox statement when an academy's printed
# name changes (an academy holds thousands; one statement per batch, one transaction).
ANNOUNCE_BATCH = 1000
# What certificates print of an academy: a change announces its trainees' profiles again.
_PRINTED = ("name", "names", "languages")


async def update_academy(
    session: AsyncSession, *, academy_id: str, data: AcademyUpdate, who: Principal
) -> Academy:
    academy = await get_academy(session, academy_id=academy_id, who=who)
    asked = data.model_dump(exclude_unset=True, exclude_none=True)
    changes = {name: value for name, value in asked.items() if getattr(academy, name) != value}
    names = changes.get("names", academy.names or {})
    languages = changes.get("languages", academy.languages)
    problem = names_outside(names, languages)
    if problem:
        field = "names" if "names" in changes else "languages"
        raise InvalidInput(f"{problem[0].upper()}{problem[1:]}.", field=field)
    for name, value in changes.items():
        setattr(academy, name, value)
    if changes:
        audit(
            session,
            academy_id=academy.id,
            entity="academy",
            entity_id=academy.id,
            action="updated",
            actor=who.subject,
            changes=changes,
        )
    if any(name in changes for name in _PRINTED):
        await announce_profiles(session, academy)
    return academy


async def announce_profiles(session: AsyncSession, academy: Academy) -> int:
    """Announce every trainee of the academy again (trainee.profile_changed), in the caller's
    transaction: certificates issued after the change print the academy's new name."""
    stmt = in_academy(select(Trainee), Trainee.academy_id, academy.id).order_by(Trainee.id)
    announced, after = 0, ""
    while True:
        batch = (await session.scalars(stmt.where(Trainee.id > after).limit(ANNOUNCE_BATCH))).all()
        if not batch:
            return announced
        await outbox.add_bulk(session, [profile_event(t, academy) for t in batch])
        announced += len(batch)
        after = batch[-1].id


async def academy_for_write(session: AsyncSession, academy_id: str, who: Principal) -> Academy:
    """The academy a new record is filed under (a body's `academy_id`): 422 if unknown."""
    who.check_academy(academy_id, "academy")
    academy = await session.get(Academy, academy_id)
    if academy is None:
        raise InvalidInput(f"There is no academy {academy_id}.", field="academy_id")
    return academy
