"""Heal a broker from the databases: re-publish a service's outbox from a point in time.

Every event a service ever emitted stays in its outbox. Re-publishing keeps each event's id as
`Nats-Msg-Id`, so JetStream's dedupe window drops what the stream still has, and consumers'
inboxes drop what they already handled: a replay can only add what was lost. That holds within
the event retention (WPS_EVENT_RETENTION_DAYS, docs/adr/0024): older sent rows and inbox ids are
pruned, so a replay reaching further back is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from nats.js import JetStreamContext
from sqlalchemy import select

from wps_common.configcheck import OperatorError
from wps_common.db import Database
from wps_common.events.outbox import EventRouting, Outbox
from wps_common.events.streams import ensure_streams
from wps_common.settings import ServiceSettings


class BeyondRetention(OperatorError):
    """A replay asked for events older than the retention horizon."""


def check_within_retention(
    settings: ServiceSettings, since: datetime, now: datetime | None = None
) -> None:
    """Refuse a replay from before the retention horizon, saying where the horizon is."""
    horizon = (now or datetime.now(UTC)) - timedelta(days=settings.event_retention_days)
    if since < horizon:
        raise BeyondRetention(
            f"cannot replay from {since.isoformat()}: events sent before "
            f"{horizon.isoformat(timespec='seconds')} are pruned "
            f"(WPS_EVENT_RETENTION_DAYS={settings.event_retention_days:g}) and consumers no "
            "longer remember handling them; replay from that date or later"
        )


@dataclass
class ReplayReport:
    considered: int = 0
    stored: int = 0
    duplicates: int = 0


async def replay_outbox(
    *,
    db: Database,
    outbox: Outbox,
    js: JetStreamContext,
    settings: ServiceSettings,
    since: datetime,
    until: datetime | None = None,
    batch_size: int = 500,
) -> ReplayReport:
    """Re-publish outbox rows created in [since, until), in their original order."""
    check_within_retention(settings, since)
    await ensure_streams(js, settings)  # a stream deleted or lost is created again first
    routing = EventRouting(settings.subject_root, settings.restricted_subject_root)
    table = outbox.table
    report = ReplayReport()
    last_id = 0
    while True:
        stmt = (
            select(table.c.id, table.c.event_id, table.c.subject, table.c.restricted, table.c.body)
            .where(table.c.created_at >= since, table.c.id > last_id)
            .order_by(table.c.id)
            .limit(batch_size)
        )
        if until is not None:
            stmt = stmt.where(table.c.created_at < until)
        async with db.session() as session:
            rows = (await session.execute(stmt)).all()
        if not rows:
            return report
        for row in rows:
            ack = await js.publish(
                routing.full_subject(row.subject, row.restricted),
                row.body.encode(),
                headers={"Nats-Msg-Id": row.event_id},
            )
            report.considered += 1
            if ack.duplicate:
                report.duplicates += 1
            else:
                report.stored += 1
        last_id = rows[-1].id
