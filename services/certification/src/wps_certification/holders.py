"""Holders: the read model of trainees' details (from enrolment's restricted stream) and the
snapshot of them that a certificate prints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wps_certification.language import certificate_language
from wps_certification.models import Holder
from wps_common.events.contracts import TraineeProfileChanged


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


def holder_snapshot(holder: Holder, track: Mapping[str, Any]) -> dict[str, Any]:
    """The holder's details as a certificate of `track` keeps them (a later change needs a
    re-issue), with the language it is printed in."""
    academy_languages = list(holder.academy_languages or [])
    return {
        "holder_name": f"{holder.given_name} {holder.family_name}",
        "employee_number": holder.employee_number,
        "academy_name": holder.academy_name,
        "academy_names": dict(holder.academy_names or {}),
        "academy_languages": academy_languages,
        "language": certificate_language(
            preferred=holder.preferred_language,
            academy_languages=academy_languages,
            track=track,
        ),
    }
