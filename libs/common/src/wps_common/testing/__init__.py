"""Test support: real nats-server and databases, app runners, condition waits, an event tap."""

from wps_common.testing.support import (
    EventTap,
    auth,
    bus_settings,
    outbox_events,
    publish_event,
    rolled_back_session,
    running_app,
    wait_until,
    walk_pages,
)

__all__ = [
    "EventTap",
    "auth",
    "bus_settings",
    "outbox_events",
    "publish_event",
    "rolled_back_session",
    "running_app",
    "wait_until",
    "walk_pages",
]
