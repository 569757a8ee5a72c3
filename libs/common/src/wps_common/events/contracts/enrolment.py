"""Events the enrolment service publishes."""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar, Literal

from pydantic import Field

from wps_common.events.contracts.common import Part
from wps_common.events.contracts.curriculum import ModuleFacts, TrackFacts
from wps_common.events.envelope import EventPayload


class TraineeEnrolled(EventPayload):
    """A seat (`enrolled`) or a waitlist place (`waitlisted`); a promotion from the waitlist is
    announced again with `enrolled`. For a single-module cohort `track_code`/`track_version`
    name the module and `curriculum` is `module`."""

    service: ClassVar[str] = "enrolment"
    entity: ClassVar[str] = "trainee"
    action: ClassVar[str] = "enrolled"

    enrolment_id: str
    cohort_id: str
    trainee_id: str
    employee_number: str
    academy_id: str
    track_code: str
    track_version: int
    status: Literal["enrolled", "waitlisted"]
    enrolled_at: datetime
    curriculum: Literal["track", "module"] = "track"  # additive to v1

    def about(self) -> str:
        return f"enrolment/{self.enrolment_id}"


class ModuleCompleted(EventPayload):
    service: ClassVar[str] = "enrolment"
    entity: ClassVar[str] = "module"
    action: ClassVar[str] = "completed"

    enrolment_id: str
    trainee_id: str
    employee_number: str
    academy_id: str
    module_code: str
    module_version: int
    attendance_pct: float
    score: float | None
    completed_on: date
    # The module as pinned at enrolment; certification prints it when the module grants its
    # own certificate (`grants_certificate`). Optional: additive to v1.
    module: ModuleFacts | None = None

    def about(self) -> str:
        return f"enrolment/{self.enrolment_id}"


class TrackCompleted(EventPayload):
    """A trainee passed every module of a track: the fact a certificate is issued from.

    It carries the track exactly as it was pinned at enrolment, so certification can print it
    without asking curriculum.
    """

    service: ClassVar[str] = "enrolment"
    entity: ClassVar[str] = "track"
    action: ClassVar[str] = "completed"

    enrolment_id: str
    cohort_id: str
    trainee_id: str
    employee_number: str
    academy_id: str
    track: TrackFacts
    completed_on: date = Field(
        description=(
            "the academy's own date (in its time zone) when the last module was passed; the"
            " certificate's issue date"
        )
    )

    def about(self) -> str:
        return f"enrolment/{self.enrolment_id}"


class TraineeProfileChanged(EventPayload):
    """Restricted: the personal details certification prints on a certificate."""

    service: ClassVar[str] = "enrolment"
    entity: ClassVar[str] = "trainee"
    action: ClassVar[str] = "profile_changed"
    restricted: ClassVar[bool] = True

    trainee_id: str
    academy_id: str
    academy_code: str
    academy_name: str
    employee_number: str
    given_name: str
    family_name: str
    preferred_language: str
    active: bool
    changed_at: datetime
    # Additive to v1: the academy's name in each of its languages, and its languages in the
    # order texts fall back (e.g. ["kk", "ru", "en"]); empty from a publisher that predates them.
    academy_names: dict[str, str] = Field(default_factory=dict)
    academy_languages: list[str] = Field(default_factory=list)

    def about(self) -> str:
        return f"trainee/{self.trainee_id}"


class EnrolmentWithdrawn(EventPayload):
    service: ClassVar[str] = "enrolment"
    entity: ClassVar[str] = "enrolment"
    action: ClassVar[str] = "withdrawn"

    enrolment_id: str
    cohort_id: str
    trainee_id: str
    employee_number: str
    academy_id: str
    reason_code: Literal["trainee_request", "operational", "medical", "disciplinary", "other"] = (
        Field(
            description="why, coarsely; medical and disciplinary withdrawals are published as "
            "`other` (health and discipline are personal data: the precise reason stays behind "
            "the academy's authenticated API, ADR 0018)"
        )
    )
    withdrawn_at: datetime

    # Never published: a withdrawal for these reasons says `other` on the public stream.
    PERSONAL_REASONS: ClassVar[frozenset[str]] = frozenset({"medical", "disciplinary"})

    @classmethod
    def public_reason(cls, reason_code: str) -> str:
        return "other" if reason_code in cls.PERSONAL_REASONS else reason_code

    def about(self) -> str:
        return f"enrolment/{self.enrolment_id}"


class EnrolmentFailed(EventPayload):
    """The trainee failed a module after the last allowed attempt."""

    service: ClassVar[str] = "enrolment"
    entity: ClassVar[str] = "enrolment"
    action: ClassVar[str] = "failed"

    enrolment_id: str
    cohort_id: str
    trainee_id: str
    employee_number: str
    academy_id: str
    track_code: str
    module_code: str
    attempts: int
    failed_on: date
    curriculum: Literal["track", "module"] = "track"  # additive to v1: see TraineeEnrolled

    def about(self) -> str:
        return f"enrolment/{self.enrolment_id}"


ComplianceStatus = Literal["compliant", "due", "overdue", "expired", "exempt", "not_applicable"]
"""A status; `not_applicable` (additive to v1): the requirement stopped applying to the trainee
(deactivated, or their role, rank, unit or the requirement's selector no longer match it), so
they no longer count under it (no `due_on`)."""


class ComplianceChanged(EventPayload):
    """A trainee's status against one requirement changed (ids and statuses only)."""

    service: ClassVar[str] = "enrolment"
    entity: ClassVar[str] = "compliance"
    action: ClassVar[str] = "changed"

    trainee_id: str
    employee_number: str
    academy_id: str
    requirement_code: str
    previous_status: ComplianceStatus | None
    status: ComplianceStatus
    due_on: date | None = None
    changed_at: datetime

    def about(self) -> str:
        return f"compliance/{self.trainee_id}/{self.requirement_code}"


class ComplianceCount(Part):
    """How many trainees a bulk change moved to one status under one requirement."""

    requirement_code: str
    status: ComplianceStatus
    count: int = Field(ge=1)


class ComplianceSummarised(EventPayload):
    """A trainee import changed compliance: how many trainees moved to each status under each
    requirement (ids and counts only). An import announces its changes once, with this event,
    when it finishes, instead of a compliance.changed per trainee; who changed is read from the
    compliance API (`GET /v1/compliance?academy_id=…&changed_since=<changed_since>`)."""

    service: ClassVar[str] = "enrolment"
    entity: ClassVar[str] = "compliance"
    action: ClassVar[str] = "summarised"

    import_job_id: str
    academy_id: str
    changes: list[ComplianceCount]
    transitions: int
    changed_since: datetime  # when the job was queued: its changes are this recent or later
    summarised_at: datetime

    def about(self) -> str:
        return f"import/{self.import_job_id}"
