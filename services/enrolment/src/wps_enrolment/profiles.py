"""The trainee profile certification prints (trainee.profile_changed, restricted stream)."""

from __future__ import annotations

from wps_common.db import utcnow
from wps_common.events.contracts import TraineeProfileChanged
from wps_enrolment.models import Academy, Trainee


def profile_event(trainee: Trainee, academy: Academy) -> TraineeProfileChanged:
    # Restricted stream only: certification prints these details; HR never receives them.
    return TraineeProfileChanged(
        trainee_id=trainee.id,
        academy_id=academy.id,
        academy_code=academy.code,
        academy_name=academy.name,
        academy_names=dict(academy.names or {}),
        academy_languages=list(academy.languages or []),
        employee_number=trainee.employee_number,
        given_name=trainee.given_name,
        family_name=trainee.family_name,
        preferred_language=trainee.preferred_language,
        active=trainee.active,
        changed_at=utcnow(),
    )
