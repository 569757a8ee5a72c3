"""Curriculum tables: modules and tracks with numbered, reviewed versions; requirements;
clearance profiles; the audit trail of who did what when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, synonym

from wps_common.audit import AuditColumns
from wps_common.db import UTCDateTime, new_id, utcnow
from wps_common.events.outbox import Outbox
from wps_common.idempotency import IdempotencyKeys
from wps_common.jobs import JobRuns


class Base(DeclarativeBase):
    pass


outbox = Outbox(Base.metadata)
idempotency_keys = IdempotencyKeys(Base.metadata)
job_runs = JobRuns(Base.metadata)  # event retention (wps_common.retention)


class VersionColumns:
    """What module and track versions share. `content` is the reviewed, hashed document; the
    index columns are derived from it so that lists can filter and search in SQL on both
    databases (pipe-delimited `|a|b|` values, casefolded search text)."""

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), index=True)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    author: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    approved_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sort_title: Mapped[str] = mapped_column(String(300), default="")
    search_text: Mapped[str] = mapped_column(Text, default="")
    languages: Mapped[str] = mapped_column(String(200), default="")
    tag_index: Mapped[str] = mapped_column(Text, default="")

    # Both kinds answer to `.code`, so the review workflow is written once.
    code: Mapped[str]


class Owned:
    """Modules and tracks belong to an academy, or are national (`owner_academy` NULL). The
    owner is the academy reference of the creating token, as given (ADR 0017)."""

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    owner_academy: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))


class Module(Owned, Base):
    __tablename__ = "modules"


class ModuleVersion(VersionColumns, Base):
    __tablename__ = "module_versions"
    __table_args__ = (UniqueConstraint("module_code", "version"),)

    module_code: Mapped[str] = mapped_column(ForeignKey("modules.code"), index=True)
    code: Mapped[str] = synonym("module_code")
    # Loaded with every version (one join), so its owner is always at hand.
    root: Mapped[Module] = relationship(lazy="joined", innerjoin=True)

    @property
    def owner_academy(self) -> str | None:
        return self.root.owner_academy


class Track(Owned, Base):
    __tablename__ = "tracks"


class TrackVersion(VersionColumns, Base):
    __tablename__ = "track_versions"
    __table_args__ = (UniqueConstraint("track_code", "version"),)

    track_code: Mapped[str] = mapped_column(ForeignKey("tracks.code"), index=True)
    code: Mapped[str] = synonym("track_code")
    root: Mapped[Track] = relationship(lazy="joined", innerjoin=True)

    @property
    def owner_academy(self) -> str | None:
        return self.root.owner_academy

    # `tag_index` holds a track's target roles; this, the codes of its modules.
    module_index: Mapped[str] = mapped_column(Text, default="")


class Requirement(Base):
    """A mandatory-training rule. Withdrawn rules are kept (`deleted_at`) so that their
    revision keeps growing if the code is used again."""

    __tablename__ = "requirements"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
    title: Mapped[dict[str, str]] = mapped_column(JSON)
    selector: Mapped[dict[str, Any]] = mapped_column(JSON)
    track_code: Mapped[str] = mapped_column(ForeignKey("tracks.code"), index=True)
    # A shorter track that renews the requirement for someone who held it before (checked to
    # be a published track when set, as `track_code` is).
    refresher_track_code: Mapped[str | None] = mapped_column(String(20), nullable=True)
    grace_period_days: Mapped[int] = mapped_column(Integer)
    renewal_months: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reminder_days: Mapped[list[int]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100))
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ClearanceProfile(Base):
    """A named set of modules and tracks a person must hold valid certificates of, e.g. before
    a peacekeeping mission. `items` is a list of `{"kind": "module"|"track", "code": …}`.
    Retired profiles are kept (`active` false) so that their revision keeps growing."""

    __tablename__ = "clearance_profiles"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
    title: Mapped[dict[str, str]] = mapped_column(JSON)
    items: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100))


class AuditEntry(AuditColumns, Base):
    """One thing someone did to a module, track, requirement or clearance profile (`entity_id`
    is its code); review comments live here. `changes` holds the status it left and reached and
    the comment, when there are any; `version` is the module/track version or the requirement
    or profile revision."""

    version: Mapped[int | None] = mapped_column(Integer, nullable=True)

    @property
    def from_status(self) -> str | None:
        return self.changes.get("from_status")

    @property
    def to_status(self) -> str | None:
        return self.changes.get("to_status")

    @property
    def comment(self) -> str | None:
        return self.changes.get("comment")
