"""Webhook bridge: delivers the public events to HR systems that cannot speak NATS."""
