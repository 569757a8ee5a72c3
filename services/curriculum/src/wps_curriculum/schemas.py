"""Request and response bodies of the curriculum API."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from wps_common import fields

CODE_PATTERN = r"^[A-Z]{2,6}-[A-Z0-9]{2,8}$"
REQUIREMENT_CODE_PATTERN = r"^REQ(-[A-Z0-9]{2,8}){1,4}$"
LANGUAGE_PATTERN = r"^[a-z]{2,3}$"
SLUG_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
# Where a text is missing in the language asked for, English is tried first when there is one
# (it is no longer required: a Kazakh academy may write only Kazakh and Russian), then any text.
FALLBACK_LANGUAGE = "en"
OWNER_MAX_LENGTH = 100
_LANGUAGE = re.compile(LANGUAGE_PATTERN)

Code = Annotated[str, Field(pattern=CODE_PATTERN, examples=["WPS-101"])]
RequirementCode = Annotated[
    str, Field(pattern=REQUIREMENT_CODE_PATTERN, examples=["REQ-ALL-FOUND"], max_length=40)
]
Slug = Annotated[str, Field(pattern=SLUG_PATTERN, max_length=40)]
Status = Literal["draft", "in_review", "approved", "published", "retired"]
STATUSES: tuple[Status, ...] = ("draft", "in_review", "approved", "published", "retired")
Language = Annotated[str, Field(pattern=LANGUAGE_PATTERN, examples=["ru"])]


def _check_languages(value: dict[str, object]) -> None:
    for language in value:
        if not _LANGUAGE.fullmatch(language):
            raise ValueError(f"'{language}' is not a language code such as 'en' or 'ru'")


def _check_texts(value: dict[str, str], *, required: bool) -> dict[str, str]:
    """Texts in any languages; a required one needs at least one (English is not required)."""
    _check_languages(dict(value))
    for language, text in value.items():
        if not text.strip():
            raise ValueError(f"the '{language}' text is empty")
    if required and not value:
        raise ValueError('give the text in at least one language, e.g. {"kk": "…"} or {"ru": "…"}')
    return {language: text.strip() for language, text in value.items()}


def _localised(value: dict[str, str]) -> dict[str, str]:
    return _check_texts(value, required=True)


def _optional_localised(value: dict[str, str]) -> dict[str, str]:
    return _check_texts(value, required=False)


def _distinct(value: list[str], what: str) -> list[str]:
    repeated = sorted({item for item in value if value.count(item) > 1})
    if repeated:
        raise ValueError(f"{what} may appear only once: {', '.join(repeated)}")
    return value


Localised = Annotated[
    # Titles are printed on certificates: no direction controls that would reverse them.
    dict[str, Annotated[str, fields.SingleLine(4000), AfterValidator(fields.no_bidi_controls)]],
    Field(examples=[{"en": "Women, Peace and Security", "ru": "Женщины, мир и безопасность"}]),
]
"""A one-line text per language (titles)."""
LocalisedMultiline = Annotated[
    dict[str, Annotated[str, fields.MultiLine(4000)]],
    Field(examples=[{"en": "Why the resolution matters to police work.\nWho it protects."}]),
]
"""Paragraphs per language (summaries, descriptions): tabs and line breaks allowed."""
Objective = Annotated[str, fields.SingleLine(1000, min_length=1)]
OwnerAcademy = Annotated[
    str,
    fields.SingleLine(OWNER_MAX_LENGTH, min_length=1),
    Field(
        description="the owning academy as sign-in tokens name it (its code or id)",
        examples=["KZ-ALA"],
    ),
]


class Assessment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["none", "quiz", "practical"] = "none"
    pass_mark: int = Field(0, ge=0, le=100, description="score (0–100) needed to pass")

    @model_validator(mode="after")
    def _mark_needs_assessment(self) -> Assessment:
        if self.kind == "none" and self.pass_mark:
            raise ValueError("a pass mark needs an assessment: set kind to quiz or practical")
        return self


class ModuleContent(BaseModel):
    """Everything a module version says; hashed, and frozen once published."""

    model_config = ConfigDict(extra="forbid")

    title: Localised
    summary: LocalisedMultiline = Field(default_factory=dict)
    objectives: dict[str, list[Objective]] = Field(
        default_factory=dict, description="learning objectives per language"
    )
    tags: list[Slug] = Field(default_factory=list, max_length=30)
    delivery_mode: Literal["classroom", "e-learning", "blended", "field-exercise"] = "classroom"
    duration_hours: float = Field(gt=0, le=1000)
    assessment: Assessment = Field(default_factory=Assessment)
    min_attendance_pct: int = Field(80, ge=0, le=100)
    prerequisites: list[Code] = Field(default_factory=list, max_length=50)
    references: list[Annotated[str, fields.SingleLine(300, min_length=1)]] = Field(
        default_factory=list, description='instruments taught, e.g. "UNSCR 1325 (2000)"'
    )
    grants_certificate: bool = False

    _title = field_validator("title")(_localised)
    _summary = field_validator("summary")(_optional_localised)

    @field_validator("objectives")
    @classmethod
    def _objectives(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        _check_languages(dict(value))
        for language, items in value.items():
            if not items or any(not item.strip() for item in items):
                raise ValueError(f"the '{language}' objectives are empty")
        return {language: [item.strip() for item in items] for language, items in value.items()}

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        return _distinct(value, "a tag")

    @field_validator("prerequisites")
    @classmethod
    def _prerequisites(cls, value: list[str]) -> list[str]:
        return _distinct(value, "a prerequisite")

    @field_validator("references")
    @classmethod
    def _references(cls, value: list[str]) -> list[str]:
        return _distinct([item.strip() for item in value], "a reference")


class ModuleCreate(ModuleContent):
    code: Code
    owner_academy: OwnerAcademy | None = Field(
        None,
        description="platform admins only: create the module for this academy (omitted: "
        "national); an academy admin's modules always belong to their academy",
    )


class VersionMeta(BaseModel):
    code: str
    owner_academy: str | None = Field(
        description="the academy that owns and changes it (its code or id as tokens name it); "
        "null = national curriculum, changed by platform admins"
    )
    version: int
    status: Status
    content_hash: str = Field(description="sha256 of the canonical JSON of the content")
    author: str
    languages: list[str] = Field(description="languages the texts are complete in")
    created_at: datetime
    updated_at: datetime | None
    submitted_at: datetime | None
    approved_at: datetime | None
    approved_by: str | None
    published_at: datetime | None
    retired_at: datetime | None


class ModuleVersionOut(VersionMeta):
    """A module version with its texts in every language. Stored content is shown as it is, not
    validated again: a record written under older rules must stay readable."""

    model_config = ConfigDict(extra="ignore")

    title: dict[str, str]
    summary: dict[str, str] = Field(default_factory=dict)
    objectives: dict[str, list[str]] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    delivery_mode: str = "classroom"
    duration_hours: float
    assessment: Assessment = Field(default_factory=Assessment)
    min_attendance_pct: int = 80
    prerequisites: list[str] = Field(default_factory=list)
    references: list[str] = Field(default_factory=list)
    grants_certificate: bool = False


class LocalisedText(BaseModel):
    language: str = Field(description="the language asked for (?lang=)")
    fallback_languages: dict[str, str] = Field(
        description="fields not available in `language`, with the language given instead"
    )


class LocalisedModuleOut(VersionMeta, LocalisedText):
    """A module version with its texts in one language (?lang=); where a text is missing in it,
    English when there is English, else another language (named in `fallback_languages`)."""

    title: str
    summary: str | None
    objectives: list[str]
    tags: list[str]
    delivery_mode: str
    duration_hours: float
    assessment: Assessment
    min_attendance_pct: int
    prerequisites: list[str]
    references: list[str]
    grants_certificate: bool


class PinnedModule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Code
    version: fields.Version | None = Field(
        None, description="a published version; omitted = the latest published one"
    )


class TrackContent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Localised
    certificate_title: Localised
    description: LocalisedMultiline = Field(default_factory=dict)
    modules: list[PinnedModule] = Field(min_length=1, max_length=50)
    validity_months: int | None = Field(None, ge=1, le=240, description="empty = no expiry")
    target_roles: list[Slug] = Field(default_factory=list, max_length=30)

    _titles = field_validator("title", "certificate_title")(_localised)
    _description = field_validator("description")(_optional_localised)

    @field_validator("modules")
    @classmethod
    def _distinct_modules(cls, value: list[PinnedModule]) -> list[PinnedModule]:
        codes = [m.code for m in value]
        if len(set(codes)) != len(codes):
            raise ValueError("a module may appear only once in a track")
        return value

    @field_validator("target_roles")
    @classmethod
    def _roles(cls, value: list[str]) -> list[str]:
        if "all" in value and value != ["all"]:
            raise ValueError("'all' stands alone: list either 'all' or specific roles")
        return _distinct(value, "a role")


class TrackCreate(TrackContent):
    code: Code
    owner_academy: OwnerAcademy | None = Field(
        None,
        description="platform admins only: create the track for this academy (omitted: "
        "national); an academy admin's tracks always belong to their academy",
    )


class PinnedModuleOut(BaseModel):
    code: str
    version: int


class TrackVersionOut(VersionMeta):
    """A track version with its texts in every language."""

    model_config = ConfigDict(extra="ignore")

    title: dict[str, str]
    certificate_title: dict[str, str]
    description: dict[str, str]
    modules: list[PinnedModuleOut]
    validity_months: int | None
    target_roles: list[str]


class LocalisedTrackOut(VersionMeta, LocalisedText):
    """A track version with its texts in one language (?lang=); where a text is missing in it,
    English when there is English, else another language (named in `fallback_languages`)."""

    title: str
    certificate_title: str
    description: str | None
    modules: list[PinnedModuleOut]
    validity_months: int | None
    target_roles: list[str]


class ReviewNote(BaseModel):
    """Optional body of a lifecycle action; a rejection needs a comment."""

    model_config = ConfigDict(extra="forbid")

    comment: Annotated[str, fields.MultiLine(4000)] | None = None


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: Annotated[str, fields.MultiLine(4000, min_length=1)]


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    actor: str
    actor_name: str | None = Field(None, description="the actor's name as their token gave it")
    action: str
    version: int | None = Field(description="module/track version, or requirement revision")
    from_status: str | None
    to_status: str | None
    comment: str | None


class FieldChange(BaseModel):
    field: str = Field(description="dotted path into the content, e.g. `title.ru`")
    before: object | None
    after: object | None


class DiffOut(BaseModel):
    code: str
    from_version: int
    to_version: int
    from_hash: str
    to_hash: str
    changes: list[FieldChange]


SelectorValue = list[Annotated[str, fields.SingleLine(100, min_length=1)]] | Literal["all"]


class SelectorIn(BaseModel):
    """Whom a rule applies to; a person is selected when every key matches."""

    model_config = ConfigDict(extra="forbid")

    academies: SelectorValue = "all"
    agencies: SelectorValue = "all"
    roles: SelectorValue = "all"
    ranks: SelectorValue = "all"
    units: SelectorValue = "all"

    @field_validator("academies", "agencies", "roles", "ranks", "units")
    @classmethod
    def _non_empty(cls, value: list[str] | str) -> list[str] | str:
        if isinstance(value, list):
            if not value:
                raise ValueError('give at least one value, or "all"')
            _distinct(value, "a value")
        return value


class RequirementContent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Localised
    selector: SelectorIn = Field(default_factory=SelectorIn)
    track_code: Code
    refresher_track_code: Code | None = Field(
        None,
        description="a shorter published track whose certificate renews the requirement for "
        "someone who held it before (never the requirement's own track)",
    )
    grace_period_days: int = Field(ge=0, le=3650, description="days from a person's start date")
    renewal_months: int | None = Field(
        None, ge=1, le=240, description="omitted = the track's certificate validity"
    )
    reminder_days: list[Annotated[int, Field(ge=1, le=730)]] = Field(
        default_factory=list, max_length=10, description="lead times, e.g. [60, 30, 7]"
    )

    _title = field_validator("title")(_localised)

    @field_validator("reminder_days")
    @classmethod
    def _descending(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError("a reminder lead time may appear only once")
        return sorted(value, reverse=True)


class RequirementCreate(RequirementContent):
    code: RequirementCode


class SelectorOut(BaseModel):
    academies: list[str] | Literal["all"]
    agencies: list[str] | Literal["all"]
    roles: list[str] | Literal["all"]
    ranks: list[str] | Literal["all"]
    units: list[str] | Literal["all"]


class RequirementOut(BaseModel):
    """A rule as stored (not validated again, so rules written under older limits stay
    readable)."""

    title: dict[str, str]
    selector: SelectorOut
    track_code: str
    refresher_track_code: str | None = None
    grace_period_days: int
    renewal_months: int | None
    reminder_days: list[int]
    code: str
    revision: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    deleted_at: datetime | None = None


CLEARANCE_PROFILE_CODE_PATTERN = r"^[A-Z][A-Z0-9]{1,9}(-[A-Z0-9]{2,12}){0,4}$"
ClearanceProfileCode = Annotated[
    str,
    Field(pattern=CLEARANCE_PROFILE_CODE_PATTERN, examples=["UN-PKO-PREDEPLOY"], max_length=40),
]


class ClearanceItemIn(BaseModel):
    """A module or a track a profile asks for; it must have a published version."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["module", "track"]
    code: Code


class ClearanceProfileContent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Localised
    items: list[ClearanceItemIn] = Field(
        min_length=1,
        max_length=50,
        description="what a person must hold valid certificates of: modules (any certificate "
        "of a track that contains the module, or the module's own) and tracks",
        examples=[[{"kind": "module", "code": "WPS-101"}, {"kind": "module", "code": "SEAH-101"}]],
    )
    active: bool = Field(True, description="false = retired: no longer offered or answered")

    _title = field_validator("title")(_localised)

    @field_validator("items")
    @classmethod
    def _distinct_items(cls, value: list[ClearanceItemIn]) -> list[ClearanceItemIn]:
        _distinct([f"{item.kind} {item.code}" for item in value], "an item")
        return value


class ClearanceProfileCreate(ClearanceProfileContent):
    code: ClearanceProfileCode


class ClearanceItemOut(BaseModel):
    kind: str
    code: str


class ClearanceProfileOut(BaseModel):
    """A profile as stored."""

    code: str
    revision: int
    title: dict[str, str]
    items: list[ClearanceItemOut]
    active: bool
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
