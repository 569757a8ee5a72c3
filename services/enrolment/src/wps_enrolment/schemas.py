"""Request and response bodies of the enrolment API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Text = Annotated[str, Field(min_length=1, max_length=200)]
Language = Annotated[str, Field(pattern=r"^[a-z]{2,3}$", examples=["en", "ru"])]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class AcademyCreate(BaseModel):
    code: str = Field(pattern=r"^[A-Z][A-Z0-9-]{1,19}$", examples=["KZ-AST"])
    name: Text
    country: str = Field(pattern=r"^[A-Z]{2}$", examples=["KZ"], description="ISO 3166-1 alpha-2")
    time_zone: str = Field("UTC", max_length=64, examples=["Asia/Almaty"])
    languages: list[Language] = Field(default_factory=lambda: ["en"], min_length=1)


class AcademyOut(AcademyCreate, _Out):
    id: str
    created_at: datetime


class TraineeCreate(BaseModel):
    academy_id: str
    employee_number: str = Field(min_length=1, max_length=64, pattern=r"^[^\s].*$")
    given_name: Text
    family_name: Text
    preferred_language: Language = "en"
    gender: Literal["female", "male", "other", "undisclosed"] | None = None
    rank: str | None = Field(None, max_length=100)
    role: str | None = Field(None, max_length=100)
    unit: str | None = Field(None, max_length=200)
    agency: str | None = Field(None, max_length=200)
    start_date: date | None = None


class TraineeOut(TraineeCreate, _Out):
    id: str
    active: bool
    created_at: datetime
    updated_at: datetime


class CohortCreate(BaseModel):
    academy_id: str
    track_code: str = Field(min_length=1, max_length=20)
    title: Text
    starts_on: date
    ends_on: date
    language: Language = "en"
    location: str | None = Field(None, max_length=200)
    capacity: int = Field(ge=1, le=10_000)

    @model_validator(mode="after")
    def _dates(self) -> CohortCreate:
        if self.ends_on < self.starts_on:
            raise ValueError("ends_on must not be before starts_on")
        return self


class CohortOut(CohortCreate, _Out):
    id: str
    track_version: int
    created_at: datetime


class EnrolmentCreate(BaseModel):
    trainee_id: str


class EnrolmentOut(_Out):
    id: str
    cohort_id: str
    trainee_id: str
    academy_id: str
    status: str
    enrolled_at: datetime
    completed_on: date | None


class ResultCreate(BaseModel):
    module_code: str = Field(min_length=1, max_length=20)
    attendance_pct: float = Field(ge=0, le=100)
    score: float | None = Field(None, ge=0, le=100)


class ResultOut(_Out):
    id: str
    enrolment_id: str
    module_code: str
    module_version: int
    attendance_pct: float
    score: float | None
    passed: bool
    recorded_by: str
    recorded_at: datetime


class ResultRecorded(BaseModel):
    result: ResultOut
    enrolment: EnrolmentOut
