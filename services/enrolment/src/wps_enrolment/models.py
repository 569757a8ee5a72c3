"""Enrolment tables: tenants and people, training activity, and read models fed by events."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    DDL,
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.engine import Connection
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import DeclarativeBase, Mapped, Mapper, mapped_column

from wps_common.audit import AuditColumns
from wps_common.db import BigIntPK, UTCDateTime, new_id, utcnow
from wps_common.events.outbox import Outbox
from wps_common.idempotency import IdempotencyKeys
from wps_common.jobs import JobRuns
from wps_common.search import FTS_TABLES, fts5_ddl, search_text


class Base(DeclarativeBase):
    pass


TRAINEE_SEARCH = "trainee_search"  # SQLite: the FTS5 index over trainees.search_text
Base.metadata.info[FTS_TABLES] = (TRAINEE_SEARCH,)


outbox = Outbox(Base.metadata)
idempotency_keys = IdempotencyKeys(Base.metadata)
job_runs = JobRuns(Base.metadata)


class Academy(Base):
    __tablename__ = "academies"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    # The official name, shown where no localised name fits.
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    time_zone: Mapped[str] = mapped_column(String(64))
    # The languages texts fall back through, in order (e.g. ["kk", "ru", "en"]).
    languages: Mapped[list[str]] = mapped_column(JSON)
    # The academy's name per language, each in one of `languages`.
    names: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The academy's local date its compliance was last swept on (the sweep runs hourly and
    # takes each academy once its own midnight has passed).
    compliance_swept_on: Mapped[date | None] = mapped_column(Date, nullable=True)


class Trainee(Base):
    __tablename__ = "trainees"
    __table_args__ = (
        UniqueConstraint("academy_id", "employee_number"),
        # One index per sort of the trainee list, with and without the academy it is scoped to.
        Index("ix_trainees_academy_name", "academy_id", "family_name", "given_name", "id"),
        Index("ix_trainees_academy_created", "academy_id", "created_at", "id"),
        Index("ix_trainees_name", "family_name", "given_name", "id"),
        Index("ix_trainees_employee_number", "employee_number", "id"),
        Index("ix_trainees_created", "created_at", "id"),
        # PostgreSQL: trigram search over the folded words (SQLite: the FTS5 table below).
        Index(
            "ix_trainees_search_text",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ).ddl_if(dialect="postgresql"),
    )

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
    # What `q=` searches: names and employee number, folded (wps_common.search). Set on insert
    # from the row's values, whichever code inserts it; kept on ORM updates by the listener
    # below; a bulk UPDATE that changes a name sets it itself (imports).
    search_text: Mapped[str] = mapped_column(Text, default=lambda c: _trainee_words(c))


SEARCHED = ("family_name", "given_name", "employee_number")


def trainee_search_text(values: Any) -> str:
    """`search_text` of a trainee with these values (a row, a mapping or a Trainee)."""
    get = values.get if isinstance(values, dict) else lambda name: getattr(values, name)
    return search_text(*(get(name) for name in SEARCHED))


def _trainee_words(context: DefaultExecutionContext) -> str:
    return trainee_search_text(context.get_current_parameters())


@event.listens_for(Trainee, "before_update")
def _keep_search_text(mapper: Mapper[Trainee], connection: Connection, trainee: Trainee) -> None:
    trainee.search_text = trainee_search_text(trainee)


event.listen(
    Trainee.__table__,
    "before_create",
    DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm").execute_if(dialect="postgresql"),
)
for _ddl in fts5_ddl("trainees", "search_text", TRAINEE_SEARCH):
    event.listen(Trainee.__table__, "after_create", _ddl.execute_if(dialect="sqlite"))


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
    # The list's order (newest start first), with and without the academy.
    __table_args__ = (
        Index("ix_cohorts_starts", "starts_on", "id"),
        Index("ix_cohorts_academy_starts", "academy_id", "starts_on", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    academy_id: Mapped[str] = mapped_column(ForeignKey("academies.id"), index=True)
    # A cohort teaches either a track or a single module, pinned to the version that was
    # published when the cohort was opened.
    track_code: Mapped[str | None] = mapped_column(String(20), nullable=True)
    track_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    module_code: Mapped[str | None] = mapped_column(String(20), nullable=True)
    module_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    title: Mapped[str] = mapped_column(String(200))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    language: Mapped[str] = mapped_column(String(8))
    location: Mapped[str | None] = mapped_column(String(200), nullable=True)
    capacity: Mapped[int] = mapped_column(Integer)
    instructors: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    max_attempts: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def curriculum_code(self) -> str:
        code = self.track_code or self.module_code
        assert code is not None
        return code

    @property
    def curriculum_version(self) -> int:
        version = self.track_version if self.track_code else self.module_version
        assert version is not None
        return version


class Enrolment(Base):
    """enrolled | waitlisted | completed | failed | withdrawn (one row per trainee and cohort)."""

    __tablename__ = "enrolments"
    __table_args__ = (
        UniqueConstraint("cohort_id", "trainee_id"),
        Index("ix_enrolments_cohort_status", "cohort_id", "status"),
        # A trainee's enrolments, newest first.
        Index("ix_enrolments_trainee_enrolled", "trainee_id", "enrolled_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    cohort_id: Mapped[str] = mapped_column(ForeignKey("cohorts.id"), index=True)
    trainee_id: Mapped[str] = mapped_column(ForeignKey("trainees.id"), index=True)
    academy_id: Mapped[str] = mapped_column(ForeignKey("academies.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the seat was asked for: the waitlist promotes in this order.
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    completed_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    failed_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    withdrawal_reason: Mapped[str | None] = mapped_column(String(30), nullable=True)
    withdrawal_note: Mapped[str | None] = mapped_column(Text, nullable=True)


class ModuleResult(Base):
    """One entry of a result; corrections add rows, the latest entry per module counts."""

    __tablename__ = "module_results"
    # An enrolment's entries oldest first: its result history and which entry of a module counts.
    __table_args__ = (
        Index("ix_module_results_enrolment_recorded", "enrolment_id", "recorded_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    enrolment_id: Mapped[str] = mapped_column(ForeignKey("enrolments.id"))
    module_code: Mapped[str] = mapped_column(String(20))
    module_version: Mapped[int] = mapped_column(Integer)
    attendance_pct: Mapped[float] = mapped_column(Float)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    passed: Mapped[bool] = mapped_column(Boolean)
    # Re-sits are new attempts; a correction replaces the entry it names and keeps its attempt.
    attempt: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    corrects: Mapped[str | None] = mapped_column(String(36), nullable=True)
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CertificateRecord(Base):
    """Read model: certificates as announced by certification (valid | revoked | expired).
    `award` "module" marks a module's own certificate (`track_code` then names the module):
    compliance counts track certificates only, deployment clearance both."""

    __tablename__ = "certificate_records"

    certificate_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    trainee_id: Mapped[str] = mapped_column(String(36), index=True)
    academy_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    enrolment_id: Mapped[str] = mapped_column(String(36))
    track_code: Mapped[str] = mapped_column(String(20))
    award: Mapped[str] = mapped_column(String(10), default="track", server_default="track")
    # The version the certificate attests (unknown for certificates recorded before it was kept).
    track_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    issued_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    status: Mapped[str] = mapped_column(String(20))
    status_on: Mapped[date | None] = mapped_column(Date, nullable=True)


class CurriculumModule(Base):
    """Read model: a published module version as carried by module.published (raw facts, so
    fields curriculum adds later, such as prerequisites, are kept)."""

    __tablename__ = "curriculum_modules"
    __table_args__ = (UniqueConstraint("code", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(20), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    facts: Mapped[dict[str, Any]] = mapped_column(JSON)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Requirement(Base):
    """Read model: a mandatory-training rule as carried by requirement.changed."""

    __tablename__ = "requirements"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean)
    track_code: Mapped[str] = mapped_column(String(20))
    # A shorter track that renews the requirement for someone who held it before.
    refresher_track_code: Mapped[str | None] = mapped_column(String(20), nullable=True)
    selector: Mapped[dict[str, Any]] = mapped_column(JSON)
    grace_period_days: Mapped[int] = mapped_column(Integer)
    renewal_months: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reminder_days: Mapped[list[int]] = mapped_column(JSON)
    title: Mapped[dict[str, str]] = mapped_column(JSON)
    # Grace periods of people who were already in post run from the day the rule appeared.
    created_on: Mapped[date] = mapped_column(Date)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ClearanceProfile(Base):
    """Read model: a deployment clearance profile as carried by clearance_profile.changed;
    `items` is a list of `{"kind": "module"|"track", "code": …}`."""

    __tablename__ = "clearance_profiles"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
    title: Mapped[dict[str, str]] = mapped_column(JSON)
    items: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ComplianceRecord(Base):
    """A trainee's current status against one requirement whose selector matches them."""

    __tablename__ = "compliance"
    __table_args__ = (
        UniqueConstraint("trainee_id", "requirement_code"),
        Index("ix_compliance_academy_status", "academy_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    trainee_id: Mapped[str] = mapped_column(ForeignKey("trainees.id"))
    academy_id: Mapped[str] = mapped_column(String(36))
    requirement_code: Mapped[str] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(20))
    due_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    certificate_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # Or the approved record of training done elsewhere that the status rests on.
    recognition_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    evaluated_on: Mapped[date] = mapped_column(Date)


class ComplianceChange(Base):
    """A trainee's status against a requirement from a day on (kept since this table exists;
    a null status: the requirement stopped applying). The monthly series reads it."""

    __tablename__ = "compliance_history"
    __table_args__ = (
        Index("ix_compliance_history_academy_on", "academy_id", "changed_on"),
        Index("ix_compliance_history_trainee", "trainee_id", "requirement_code"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    trainee_id: Mapped[str] = mapped_column(ForeignKey("trainees.id"))
    academy_id: Mapped[str] = mapped_column(String(36))
    requirement_code: Mapped[str] = mapped_column(String(40))
    status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    changed_on: Mapped[date] = mapped_column(Date)  # the academy's local date
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Recognition(Base):
    """Training a trainee did elsewhere, recorded by an academy admin with its evidence:
    pending until another admin of the academy approves it (then it counts towards the
    requirements of its track like a certificate) or rejects it, with a reason."""

    __tablename__ = "recognitions"
    __table_args__ = (
        # The list's order (newest first), by academy and status; a trainee's records.
        Index("ix_recognitions_academy_status", "academy_id", "status", "recorded_at", "id"),
        Index("ix_recognitions_trainee", "trainee_id", "track_code"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    academy_id: Mapped[str] = mapped_column(ForeignKey("academies.id"))
    trainee_id: Mapped[str] = mapped_column(ForeignKey("trainees.id"))
    track_code: Mapped[str] = mapped_column(String(20))
    issuer: Mapped[str] = mapped_column(String(200))
    completed_on: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(20))  # pending | approved | rejected
    # The evidence file as sent (read only when downloaded, never with the list).
    evidence: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    evidence_type: Mapped[str] = mapped_column(String(40))
    evidence_name: Mapped[str] = mapped_column(String(200))
    evidence_size: Mapped[int] = mapped_column(Integer)
    evidence_sha256: Mapped[str] = mapped_column(String(64))
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decision_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class Exemption(Base):
    """An academy admin's decision that a requirement does not apply to a trainee, and why."""

    __tablename__ = "compliance_exemptions"

    trainee_id: Mapped[str] = mapped_column(ForeignKey("trainees.id"), primary_key=True)
    requirement_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    granted_by: Mapped[str] = mapped_column(String(100))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PersonalDueDate(Base):
    """An academy admin's deadline for one trainee and requirement (back from long leave or a
    mission, say), and why: it replaces the grace period of someone never certified and gives
    someone whose certificate lapsed until that day."""

    __tablename__ = "due_dates"

    trainee_id: Mapped[str] = mapped_column(ForeignKey("trainees.id"), primary_key=True)
    requirement_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    due_on: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    set_by: Mapped[str] = mapped_column(String(100))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEntry(AuditColumns, Base):
    """Who changed what, when: one row per change of a trainee, exemption or enrolment (the
    shape every service shares; enrolment's entries always name their academy)."""


class ImportJob(Base):
    """A bulk trainee import: queued → running → succeeded | failed, with row-level errors."""

    __tablename__ = "import_jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    academy_id: Mapped[str] = mapped_column(ForeignKey("academies.id"), index=True)
    mode: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    # The uploaded file, kept until the job has run (cleared afterwards).
    content: Mapped[str | None] = mapped_column(Text, nullable=True)
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    processed_rows: Mapped[int] = mapped_column(Integer, default=0)
    created_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_count: Mapped[int] = mapped_column(Integer, default=0)
    unchanged_count: Mapped[int] = mapped_column(Integer, default=0)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # While running, the runner renews this lease; a job whose lease lapsed (its process died)
    # is taken up again by any replica. Re-running is safe: rows are upserts.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Compliance transitions the import caused, {requirement: {status: count}}, added to in
    # each chunk's transaction; announced once, as one summary, when the job finishes.
    compliance_changes: Mapped[dict[str, dict[str, int]] | None] = mapped_column(
        JSON, nullable=True
    )
