"""Every public event type fans out into deliveries."""

from __future__ import annotations

from wps_common.events import contracts as _contracts  # noqa: F401  (registers every type)
from wps_common.events.envelope import EventPayload
from wps_common.runtime import Subscription
from wps_webhooks.service import fan_out

public = {
    cls: fan_out
    for cls in EventPayload.registry.values()
    if not cls.restricted and cls.__module__.startswith("wps_common.events.contracts.")
}
subscriptions = [Subscription(handlers=public)]
