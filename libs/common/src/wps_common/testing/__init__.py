"""Test support: real nats-server and databases, app runners, condition waits, an event tap."""

from wps_common.testing.support import EventTap, bus_settings, running_app, wait_until

__all__ = ["EventTap", "bus_settings", "running_app", "wait_until"]
