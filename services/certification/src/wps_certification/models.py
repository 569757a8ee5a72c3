"""Certification tables: certificates, their per-academy numbering, and the holders' details."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from wps_common.db import UTCDateTime, new_id, utcnow
from wps_common.events.outbox import Outbox
from wps_common.idempotency import IdempotencyKeys
from wps_common.jobs import JobRuns


class Base(DeclarativeBase):
    pass


outbox = Outbox(Base.metadata)
idempotency_keys = IdempotencyKeys(Base.metadata)
job_runs = JobRuns(Base.metadata)


class Holder(Base):
    """Read model from the restricted trainee.profile_changed events: who certificates name."""

    __tablename__ = "holders"

    trainee_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    academy_id: Mapped[str] = mapped_column(String(36), index=True)
    academy_code: Mapped[str] = mapped_column(String(20))
    academy_name: Mapped[str] = mapped_column(String(200))
    employee_number: Mapped[str] = mapped_column(String(64))
    given_name: Mapped[str] = mapped_column(String(200))
    family_name: Mapped[str] = mapped_column(String(200))
    preferred_language: Mapped[str] = mapped_column(String(8))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Certificate(Base):
    __tablename__ = "certificates"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # One certificate per enrolment, whatever is redelivered: the database says so too.
    enrolment_id: Mapped[str] = mapped_column(String(36), unique=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    verification_code: Mapped[str] = mapped_column(String(19), unique=True)
    trainee_id: Mapped[str] = mapped_column(String(36), index=True)
    academy_id: Mapped[str] = mapped_column(String(36), index=True)
    holder_name: Mapped[str] = mapped_column(String(400))
    employee_number: Mapped[str] = mapped_column(String(64))
    academy_name: Mapped[str] = mapped_column(String(200))
    track_code: Mapped[str] = mapped_column(String(20))
    track_version: Mapped[int] = mapped_column(Integer)
    track: Mapped[dict[str, Any]] = mapped_column(JSON)  # the TrackFacts as completed
    language: Mapped[str] = mapped_column(String(8))
    template_version: Mapped[str] = mapped_column(String(20))
    issued_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="valid")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CertificateCounter(Base):
    """The last certificate number used per academy and year."""

    __tablename__ = "certificate_counters"

    academy_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer)
