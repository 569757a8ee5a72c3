"""Enrolment tables: tenants and people, training activity, and read models fed by events."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
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


class Academy(Base):
    __tablename__ = "academies"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    time_zone: Mapped[str] = mapped_column(String(64))
    languages: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Trainee(Base):
    __tablename__ = "trainees"
    __table_args__ = (UniqueConstraint("academy_id", "employee_number"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    academy_id: Mapped[str] = mapped_column(ForeignKey("academies.id"), index=True)
    employee_number: Mapped[str] = mapped_column(String(64))
    given_name: Mapped[str] = mapped_column(String(200))
    family_name: Mapped[str] = mapped_column(String(200))
    preferred_language: Mapped[str] = mapped_column(String(8))
    gender: Mapped[str | None] = mapped_column(String(16), nullable=True)
    rank: Mapped[str | None] = mapped_column(String(100), nullable=True)
    role: Mapped[str | None] = mapped_column(String(100), nullable=True)
    unit: Mapped[str | None] = mapped_column(String(200), nullable=True)
    agency: Mapped[str | None] = mapped_column(String(200), nullable=True)
    start_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CurriculumTrack(Base):
    """Read model: a published track version as carried by track.published."""

    __tablename__ = "curriculum_tracks"
    __table_args__ = (UniqueConstraint("code", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(20), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    facts: Mapped[dict[str, Any]] = mapped_column(JSON)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Cohort(Base):
    __tablename__ = "cohorts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    academy_id: Mapped[str] = mapped_column(ForeignKey("academies.id"), index=True)
    track_code: Mapped[str] = mapped_column(String(20))
    track_version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    language: Mapped[str] = mapped_column(String(8))
    location: Mapped[str | None] = mapped_column(String(200), nullable=True)
    capacity: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Enrolment(Base):
    __tablename__ = "enrolments"
    __table_args__ = (UniqueConstraint("cohort_id", "trainee_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    cohort_id: Mapped[str] = mapped_column(ForeignKey("cohorts.id"), index=True)
    trainee_id: Mapped[str] = mapped_column(ForeignKey("trainees.id"), index=True)
    academy_id: Mapped[str] = mapped_column(ForeignKey("academies.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_on: Mapped[date | None] = mapped_column(Date, nullable=True)


class ModuleResult(Base):
    """One entry of a result; corrections add rows, the latest entry per module counts."""

    __tablename__ = "module_results"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    enrolment_id: Mapped[str] = mapped_column(ForeignKey("enrolments.id"), index=True)
    module_code: Mapped[str] = mapped_column(String(20))
    module_version: Mapped[int] = mapped_column(Integer)
    attendance_pct: Mapped[float] = mapped_column(Float)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    passed: Mapped[bool] = mapped_column(Boolean)
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CertificateRecord(Base):
    """Read model: certificates as announced by certification."""

    __tablename__ = "certificate_records"

    certificate_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    trainee_id: Mapped[str] = mapped_column(String(36), index=True)
    enrolment_id: Mapped[str] = mapped_column(String(36))
    track_code: Mapped[str] = mapped_column(String(20))
    issued_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    status: Mapped[str] = mapped_column(String(20))
