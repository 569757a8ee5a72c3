"""Request and response bodies of the curriculum API."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

CODE_PATTERN = r"^[A-Z]{2,6}-[A-Z0-9]{2,8}$"
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")

Code = Annotated[str, Field(pattern=CODE_PATTERN, examples=["WPS-101"])]
Status = Literal["draft", "in_review", "approved", "published", "retired"]


def _check_localised(value: dict[str, str]) -> dict[str, str]:
    for language, text in value.items():
        if not _LANGUAGE.match(language):
            raise ValueError(f"'{language}' is not a language code such as 'en' or 'ru'")
        if not text.strip():
            raise ValueError(f"the '{language}' text is empty")
    if "en" not in value:
        raise ValueError("an English ('en') text is required: it is the fallback language")
    return value


Localised = Annotated[dict[str, str], Field(examples=[{"en": "Women, Peace and Security"}])]


class Assessment(BaseModel):
    kind: Literal["none", "quiz", "practical"] = "none"
    pass_mark: int = Field(0, ge=0, le=100, description="score (0–100) needed to pass")


class ModuleContent(BaseModel):
    """Everything a module version says; hashed, and frozen once published."""

    model_config = ConfigDict(extra="forbid")

    title: Localised
    summary: dict[str, str] = Field(default_factory=dict)
    objectives: dict[str, list[str]] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    delivery_mode: Literal["classroom", "e-learning", "blended", "field-exercise"] = "classroom"
    duration_hours: float = Field(gt=0, le=1000)
    assessment: Assessment = Field(default_factory=Assessment)
    min_attendance_pct: int = Field(80, ge=0, le=100)
    prerequisites: list[Code] = Field(default_factory=list)
    references: list[str] = Field(default_factory=list)
    grants_certificate: bool = False

    _title = field_validator("title")(_check_localised)


class ModuleCreate(ModuleContent):
    code: Code


class ModuleVersionOut(ModuleContent):
    model_config = ConfigDict(extra="ignore")

    code: str
    version: int
    status: Status
    content_hash: str
    author: str
    created_at: datetime
    published_at: datetime | None


class PinnedModule(BaseModel):
    code: Code
    version: int = Field(ge=1)


class TrackContent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Localised
    certificate_title: Localised
    description: dict[str, str] = Field(default_factory=dict)
    modules: list[PinnedModule] = Field(min_length=1)
    validity_months: int | None = Field(None, ge=1, le=240, description="empty = no expiry")
    target_roles: list[str] = Field(default_factory=list)

    _titles = field_validator("title", "certificate_title")(_check_localised)

    @field_validator("modules")
    @classmethod
    def _distinct(cls, value: list[PinnedModule]) -> list[PinnedModule]:
        codes = [m.code for m in value]
        if len(set(codes)) != len(codes):
            raise ValueError("a module may appear only once in a track")
        return value


class TrackCreate(TrackContent):
    code: Code


class TrackVersionOut(TrackContent):
    model_config = ConfigDict(extra="ignore")

    code: str
    version: int
    status: Status
    content_hash: str
    author: str
    created_at: datetime
    published_at: datetime | None
