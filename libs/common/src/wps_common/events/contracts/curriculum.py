"""Events the curriculum service publishes."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from wps_common.events.contracts.common import Localised, Part, Selector
from wps_common.events.envelope import EventPayload


class ModuleFacts(Part):
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
    # Added after v1 went into use; optional so that older events still validate.
    delivery_mode: Literal["classroom", "e-learning", "blended", "field-exercise"] | None = None
    prerequisites: list[str] = Field(
        default_factory=list, description="codes of modules to complete first"
    )


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


class TrackFacts(Part):
    code: str
    version: int
    content_hash: str
    title: Localised
    certificate_title: Localised
    validity_months: int | None
    modules: list[ModuleFacts]
    # Added after v1 went into use; optional so that older events still validate.
    target_roles: list[str] = Field(
        default_factory=list, description='roles the track is designed for, or ["all"]'
    )


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


class RequirementChanged(EventPayload):
    """A mandatory-training rule was created, changed or withdrawn (`deleted`)."""

    service: ClassVar[str] = "curriculum"
    entity: ClassVar[str] = "requirement"
    action: ClassVar[str] = "changed"

    requirement_code: str
    revision: int = Field(ge=1, description="grows with every change of this requirement")
    change: Literal["created", "updated", "deleted"]
    title: Localised
    selector: Selector
    track_code: str
    refresher_track_code: str | None = Field(
        None,
        description="a shorter track whose certificate renews the requirement for someone who "
        "held it before (absent or null: none)",
    )
    grace_period_days: int = Field(ge=0)
    renewal_months: int | None = Field(None, ge=1)
    reminder_days: list[int] = Field(default_factory=list)
    changed_at: datetime

    def about(self) -> str:
        return f"requirement/{self.requirement_code}"


class ClearanceItem(Part):
    """One thing a clearance profile asks for: a module or a track, by code."""

    kind: Literal["module", "track"]
    code: str


class ClearanceProfileChanged(EventPayload):
    """A deployment clearance profile (a named set of modules and tracks a person must hold
    valid certificates of, e.g. before a peacekeeping mission) was created, changed or retired
    (`active` false)."""

    service: ClassVar[str] = "curriculum"
    entity: ClassVar[str] = "clearance_profile"
    action: ClassVar[str] = "changed"

    profile_code: str
    revision: int = Field(ge=1, description="grows with every change of this profile")
    change: Literal["created", "updated", "retired"]
    title: Localised
    items: list[ClearanceItem]
    active: bool
    changed_at: datetime

    def about(self) -> str:
        return f"clearance_profile/{self.profile_code}"
