"""Certification tables: certificates, their per-academy numbering, the holders' details, and the
expiry notices already sent."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from wps_common.db import UTCDateTime, new_id, utcnow
from wps_common.events.outbox import Outbox
from wps_common.idempotency import IdempotencyKeys
from wps_common.jobs import JobRuns

TRACK_AWARD = "track"


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
    academy_name: Mapped[str] = mapped_column(String(200))  # the official name
    # the academy's name per language, and its languages in the order texts fall back
    academy_names: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    academy_languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    employee_number: Mapped[str] = mapped_column(String(64))
    given_name: Mapped[str] = mapped_column(String(200))
    family_name: Mapped[str] = mapped_column(String(200))
    preferred_language: Mapped[str] = mapped_column(String(8))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Certificate(Base):
    __tablename__ = "certificates"
    __table_args__ = (
        # One certificate per enrolment and award (the track, or a module that grants its own),
        # whatever is redelivered; a correction is the next edition of it. The database says so
        # too: two concurrent corrections of one certificate cannot both succeed.
        UniqueConstraint("enrolment_id", "awarded_for", "edition", name="uq_certificates_award"),
        Index("ix_certificates_trainee_track", "trainee_id", "track_code"),
        # The list's order (newest first), for everyone and within an academy.
        Index("ix_certificates_created", "created_at", "id"),
        Index("ix_certificates_academy_created", "academy_id", "created_at", "id"),
        # Each certificate's entry in its academy's revocation status list (status_list.py),
        # and what a list is built from.
        UniqueConstraint("academy_id", "status_index", name="uq_certificates_status_index"),
        # What the expiry scanner reads: live certificates that have an expiry date.
        Index(
            "ix_certificates_expiry_scan",
            "expires_on",
            postgresql_where=text("status = 'valid' AND expires_on IS NOT NULL"),
            sqlite_where=text("status = 'valid' AND expires_on IS NOT NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    enrolment_id: Mapped[str] = mapped_column(String(36))
    awarded_for: Mapped[str] = mapped_column(String(40), default=TRACK_AWARD)  # or module:<code>
    edition: Mapped[int] = mapped_column(Integer, default=1)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    verification_code: Mapped[str] = mapped_column(String(19), unique=True)
    trainee_id: Mapped[str] = mapped_column(String(36), index=True)
    academy_id: Mapped[str] = mapped_column(String(36), index=True)
    holder_name: Mapped[str] = mapped_column(String(400))
    employee_number: Mapped[str] = mapped_column(String(64))
    academy_name: Mapped[str] = mapped_column(String(200))  # the official name
    # As the holder's profile said at issue: what the certificate prints in its language (and
    # in another, asked for with ?lang=) and the order its texts fall back in.
    academy_names: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    academy_languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    track_code: Mapped[str] = mapped_column(String(20))  # the module's code for module awards
    track_version: Mapped[int] = mapped_column(Integer)
    track: Mapped[dict[str, Any]] = mapped_column(JSON)  # the TrackFacts as completed
    language: Mapped[str] = mapped_column(String(8))  # decided at issue (language.py)
    template_version: Mapped[str] = mapped_column(String(20))
    issued_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    # valid | revoked | superseded | expired (expired is also derived from the date on read)
    status: Mapped[str] = mapped_column(String(20), default="valid")
    previous_certificate_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    supersedes_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    superseded_by_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    revoked_on: Mapped[date | None] = mapped_column(Date, nullable=True)  # or superseded on
    revocation_reason: Mapped[str | None] = mapped_column(Text, nullable=True)  # never published
    revoked_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # its entry in the academy's Bitstring Status List (None only before one was allocated)
    status_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # the academy's signatories and seal when it was issued (None: none were set)
    signature_set_id: Mapped[str | None] = mapped_column(String(36), nullable=True)

    @property
    def award(self) -> str:
        return "track" if self.awarded_for == TRACK_AWARD else "module"

    @property
    def module_code(self) -> str | None:
        prefix = "module:"
        return self.awarded_for[len(prefix) :] if self.awarded_for.startswith(prefix) else None


class CertificateCounter(Base):
    """The last certificate number used per academy and year."""

    __tablename__ = "certificate_counters"

    academy_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer)


class CertificateImage(Base):
    """A signature or seal image an academy uploaded, re-encoded as PNG, named by its hash."""

    __tablename__ = "certificate_images"

    academy_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the PNG
    png: Mapped[bytes] = mapped_column(LargeBinary)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SignatureSet(Base):
    """Who signs an academy's certificates, and its seal, from `created_at` on: the newest set
    is the current one; a certificate names the set it was issued under."""

    __tablename__ = "signature_sets"
    __table_args__ = (UniqueConstraint("academy_id", "version", name="uq_signature_sets_version"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    academy_id: Mapped[str] = mapped_column(String(36))
    version: Mapped[int] = mapped_column(Integer)
    # [{"name", "title", "signature_image_id"}], in signing order
    signatories: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    seal_image_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StatusListCounter(Base):
    """How many status-list entries an academy has handed out (its lists hold 131,072 each)."""

    __tablename__ = "status_list_counters"

    academy_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    used: Mapped[int] = mapped_column(Integer)


class CertificateNotice(Base):
    """An expiry notice sent for a certificate (`expiring:<days>` or `expired`): the primary key
    makes a second one impossible, whichever replica or scanner run tries."""

    __tablename__ = "certificate_notices"

    certificate_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    notice: Mapped[str] = mapped_column(String(20), primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
