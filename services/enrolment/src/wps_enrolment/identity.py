"""Who a token is, in enrolment's records: its academy (a code or an id) and a trainee's
employee number resolved to the academy and trainee ids."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.tenancy import in_academy
from wps_enrolment.models import Academy, Trainee


class EnrolmentLookups:
    async def academy_id(self, session: AsyncSession, reference: str) -> str | None:
        found = await session.scalar(
            select(Academy.id).where(or_(Academy.id == reference, Academy.code == reference))
        )
        return found

    async def trainee_id(
        self, session: AsyncSession, *, academy_id: str | None, employee_number: str
    ) -> str | None:
        stmt = select(Trainee.id).where(Trainee.employee_number == employee_number)
        if academy_id is not None:
            stmt = in_academy(stmt, Trainee.academy_id, academy_id)
        # Without an academy an employee number must name one trainee, or none is assumed.
        found = (await session.scalars(stmt.limit(2))).all()
        return found[0] if len(found) == 1 else None
