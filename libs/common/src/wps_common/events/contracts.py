"""The event payloads the services exchange: the platform's published contract.

Rules: additive changes only within a major version; ids and facts, never names, gender, e-mail
or free text on the public stream (curriculum titles are catalogue content, not personal data).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from wps_common.events.envelope import EventPayload

Localised = dict[str, str]


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# --- curriculum -------------------------------------------------------------------------------


class ModuleFacts(_Part):
    """What enrolment and certification need to know of one published module version."""

    code: str
    version: int
    content_hash: str
    title: Localised
    duration_hours: float
    assessment: Literal["none", "quiz", "practical"]
    pass_mark: int = Field(ge=0, le=100)
    min_attendance_pct: int = Field(ge=0, le=100)
    grants_certificate: bool = False


class ModulePublished(EventPayload):
    service: ClassVar[str] = "curriculum"
    entity: ClassVar[str] = "module"
    action: ClassVar[str] = "published"

    module: ModuleFacts
    published_at: datetime

    def about(self) -> str:
        return f"module/{self.module.code}/{self.module.version}"


class ModuleRetired(EventPayload):
    service: ClassVar[str] = "curriculum"
    entity: ClassVar[str] = "module"
    action: ClassVar[str] = "retired"

    module_code: str
    version: int
    retired_at: datetime

    def about(self) -> str:
        return f"module/{self.module_code}/{self.version}"


class TrackFacts(_Part):
    code: str
    version: int
    content_hash: str
    title: Localised
    certificate_title: Localised
    validity_months: int | None
    modules: list[ModuleFacts]


class TrackPublished(EventPayload):
    service: ClassVar[str] = "curriculum"
    entity: ClassVar[str] = "track"
    action: ClassVar[str] = "published"

    track: TrackFacts
    published_at: datetime

    def about(self) -> str:
        return f"track/{self.track.code}/{self.track.version}"


class TrackRetired(EventPayload):
    service: ClassVar[str] = "curriculum"
    entity: ClassVar[str] = "track"
    action: ClassVar[str] = "retired"

    track_code: str
    version: int
    retired_at: datetime

    def about(self) -> str:
        return f"track/{self.track_code}/{self.version}"


# --- enrolment --------------------------------------------------------------------------------


class TraineeEnrolled(EventPayload):
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
    completed_on: date

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

    def about(self) -> str:
        return f"trainee/{self.trainee_id}"


# --- certification ----------------------------------------------------------------------------


class CertificateIssued(EventPayload):
    service: ClassVar[str] = "certification"
    entity: ClassVar[str] = "certificate"
    action: ClassVar[str] = "issued"

    certificate_id: str
    number: str
    enrolment_id: str
    trainee_id: str
    employee_number: str
    academy_id: str
    track_code: str
    track_version: int
    issued_on: date
    expires_on: date | None
    supersedes: str | None = None

    def about(self) -> str:
        return f"certificate/{self.certificate_id}"


class DeadLetterRecorded(EventPayload):
    """A message a consumer gave up on, with the reason, so an operator can act on it."""

    service: ClassVar[str] = "platform"
    entity: ClassVar[str] = "deadletter"
    action: ClassVar[str] = "recorded"
    restricted: ClassVar[bool] = True  # reasons may quote data; operators only

    consumer: str
    stream: str
    stream_sequence: int
    original_subject: str
    original_event_id: str | None
    original_type: str | None
    deliveries: int
    reason: str

    def about(self) -> str:
        return f"deadletter/{self.consumer}/{self.stream_sequence}"
