"""Response bodies of the certification API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict


class CertificateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    number: str
    verification_code: str
    enrolment_id: str
    trainee_id: str
    academy_id: str
    holder_name: str
    employee_number: str
    academy_name: str
    track_code: str
    track_version: int
    language: str
    template_version: str
    issued_on: date
    expires_on: date | None
    status: str
    created_at: datetime


class CertificatePage(BaseModel):
    items: list[CertificateOut]
    total: int
    limit: int
    offset: int


class Verification(BaseModel):
    """All a verifier learns: nothing beyond what the certificate itself shows publicly."""

    status: Literal["valid", "revoked", "expired", "superseded"]
    holder_name: str
    track_title: dict[str, str]
    track_code: str
    academy_name: str
    number: str
    issued_on: date
    expires_on: date | None
