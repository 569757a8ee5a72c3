"""Events of the platform itself (operators only)."""

from __future__ import annotations

from typing import ClassVar

from wps_common.events.envelope import EventPayload


class DeadLetterRecorded(EventPayload):
    """A message a consumer gave up on, with the reason, so an operator can act on it."""

    service: ClassVar[str] = "platform"
    entity: ClassVar[str] = "deadletter"
    action: ClassVar[str] = "recorded"
    restricted: ClassVar[bool] = True  # reasons may quote data; operators only

    consumer: str
    stream: str
    stream_sequence: int
    original_subject: str
    original_event_id: str | None
    original_type: str | None
    deliveries: int
    reason: str

    def about(self) -> str:
        return f"deadletter/{self.consumer}/{self.stream_sequence}"
