"""Test support: real nats-server and databases, app runners, condition waits, an event tap."""

from wps_common.testing.support import (
    EventTap,
    auth,
    bus_settings,
    publish_event,
    running_app,
    wait_until,
)

__all__ = ["EventTap", "auth", "bus_settings", "publish_event", "running_app", "wait_until"]
