"""Every public event type fans out into deliveries."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.events import contracts as _contracts  # noqa: F401  (registers every type)
from wps_common.events.envelope import CloudEvent, EventPayload
from wps_common.runtime import Subscription
from wps_webhooks.service import fan_out

log = logging.getLogger("wps.webhooks")


async def queue_deliveries(session: AsyncSession, payload: EventPayload, event: CloudEvent) -> None:
    """Queue the event for its subscribers; the line logged names the event (its trace id with
    it), so an operator can follow one event from the request that caused it to the POST."""
    await fan_out(session, payload, event)
    log.info("event %s (%s) queued for its subscribers", event.id, event.type)


public = {
    cls: queue_deliveries
    for cls in EventPayload.registry.values()
    if not cls.restricted and cls.__module__.startswith("wps_common.events.contracts.")
}
subscriptions = [Subscription(handlers=public)]
