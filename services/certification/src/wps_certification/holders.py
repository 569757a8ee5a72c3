"""Holders: the read model of trainees' details (from enrolment's restricted stream) and the
snapshot of them that a certificate prints."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from wps_certification.models import Holder
from wps_common.events.contracts import TraineeProfileChanged

# The languages certificates are printed in; a holder preferring another gets English.
LANGUAGES = ("en", "ru")


async def remember_holder(session: AsyncSession, profile: TraineeProfileChanged) -> None:
    holder = await session.get(Holder, profile.trainee_id)
    if holder is not None and holder.changed_at >= profile.changed_at:
        return  # an older update arriving late must not undo a newer one
    values = profile.model_dump(exclude={"active"})
    if holder is None:
        session.add(Holder(**values))
    else:
        for key, value in values.items():
            setattr(holder, key, value)


def holder_snapshot(holder: Holder) -> dict[str, str]:
    """The holder's details as a certificate keeps them (a later change needs a re-issue)."""
    language = holder.preferred_language if holder.preferred_language in LANGUAGES else "en"
    return {
        "holder_name": f"{holder.given_name} {holder.family_name}",
        "employee_number": holder.employee_number,
        "academy_name": holder.academy_name,
        "language": language,
    }
