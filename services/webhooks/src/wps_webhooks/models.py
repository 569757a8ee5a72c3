"""Webhook tables: subscriptions and their deliveries (one row per event per subscription)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from wps_common import tracing
from wps_common.db import BigIntPK, UTCDateTime, new_id, utcnow
from wps_common.events.outbox import Outbox
from wps_common.idempotency import IdempotencyKeys
from wps_common.jobs import JobRuns


class Base(DeclarativeBase):
    pass


outbox = Outbox(Base.metadata)
idempotency_keys = IdempotencyKeys(Base.metadata)
job_runs = JobRuns(Base.metadata)  # event retention (wps_common.retention)


class Subscription(Base):
    __tablename__ = "subscriptions"
    # The list's order (oldest first): an admin's over every client, a client's over its own.
    __table_args__ = (
        Index("ix_subscriptions_created", "created_at", "id"),
        Index("ix_subscriptions_owner_created", "owner", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    owner: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(String(2000))
    event_types: Mapped[list[str]] = mapped_column(JSON)
    secret: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(500), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Delivery(Base):
    """Deliveries of one subscription go out in id order: the next waits for the previous."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id"),
        Index("ix_deliveries_queue", "subscription_id", "status", "id"),
        # A subscription's deliveries in queue order, whatever their status (the list).
        Index("ix_deliveries_subscription", "subscription_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id"))
    event_id: Mapped[str] = mapped_column(String(36))
    event_type: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # delivered | parked
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The trace of the event handling that queued the delivery (taken from the current context
    # when the row is written); the POST to the receiver continues it.
    traceparent: Mapped[str | None] = mapped_column(
        String(100), nullable=True, default=tracing.current_traceparent
    )
