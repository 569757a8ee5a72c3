"""Who a token is, in certification's records: academies and trainees as learned from
enrolment's restricted profile events (the holders read model), never from its database."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_certification.models import Holder


class CertificationLookups:
    async def academy_id(self, session: AsyncSession, reference: str) -> str | None:
        found = await session.scalar(
            select(Holder.academy_id)
            .where(or_(Holder.academy_id == reference, Holder.academy_code == reference))
            .limit(1)
        )
        return found

    async def trainee_id(
        self, session: AsyncSession, *, academy_id: str | None, employee_number: str
    ) -> str | None:
        stmt = select(Holder.trainee_id).where(Holder.employee_number == employee_number)
        if academy_id is not None:
            stmt = stmt.where(Holder.academy_id == academy_id)
        found = (await session.scalars(stmt.limit(2))).all()
        return found[0] if len(found) == 1 else None
