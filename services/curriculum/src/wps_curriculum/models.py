"""Curriculum tables: modules and tracks, each with numbered, immutable-once-published versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from wps_common.db import UTCDateTime, new_id, utcnow
from wps_common.events.outbox import Outbox
from wps_common.idempotency import IdempotencyKeys


class Base(DeclarativeBase):
    pass


outbox = Outbox(Base.metadata)
idempotency_keys = IdempotencyKeys(Base.metadata)


class Module(Base):
    __tablename__ = "modules"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))


class ModuleVersion(Base):
    __tablename__ = "module_versions"
    __table_args__ = (UniqueConstraint("module_code", "version"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    module_code: Mapped[str] = mapped_column(ForeignKey("modules.code"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), index=True)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    author: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Track(Base):
    __tablename__ = "tracks"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))


class TrackVersion(Base):
    __tablename__ = "track_versions"
    __table_args__ = (UniqueConstraint("track_code", "version"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    track_code: Mapped[str] = mapped_column(ForeignKey("tracks.code"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), index=True)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    author: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
