"""The CloudEvents 1.0 envelope and the base class of every event payload."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field, field_serializer

EVENT_TYPE_PREFIX = "org.wps-training"
SCHEMA_BASE = "https://wps-training.org/schemas/events/"
SOURCE_PREFIX = "urn:wps-training:"


class EventPayload(BaseModel):
    """Data of one kind of event. Subclasses name their service, entity, action and version.

    Payloads carry ids and facts only; names, gender and free text never travel on the public
    stream. A payload that must carry personal data sets `restricted = True` and goes to the
    restricted stream, which only the platform's own services read.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    service: ClassVar[str]
    entity: ClassVar[str]
    action: ClassVar[str]
    major: ClassVar[int] = 1
    restricted: ClassVar[bool] = False
    registry: ClassVar[dict[str, type[EventPayload]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "action" in cls.__dict__:
            type_name = cls.event_type()
            if type_name in EventPayload.registry:
                raise TypeError(f"event type {type_name} is defined twice")
            EventPayload.registry[type_name] = cls

    @classmethod
    def event_type(cls) -> str:
        return f"{EVENT_TYPE_PREFIX}.{cls.service}.{cls.entity}.{cls.action}.v{cls.major}"

    @classmethod
    def subject_suffix(cls) -> str:
        """The NATS subject after its root: `<service>.<entity>.<action>`."""
        return f"{cls.service}.{cls.entity}.{cls.action}"

    @classmethod
    def schema_uri(cls) -> str:
        return f"{SCHEMA_BASE}{cls.event_type()}.json"

    def about(self) -> str:
        """CloudEvents `subject`: which record the event is about, e.g. `certificate/<id>`."""
        raise NotImplementedError


PayloadClass = type[EventPayload]  # named here: inside CloudEvent, `type` is a field


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 structured-mode JSON envelope."""

    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    source: str
    type: str
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    subject: str | None = None
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    # The distributed-tracing extension: the W3C trace context of the operation that caused the
    # event, so the consumer's handling continues the same trace.
    traceparent: str | None = None
    tracestate: str | None = None

    @field_serializer("time")
    def _rfc3339(self, value: datetime) -> str:
        return rfc3339(value)

    @classmethod
    def of(
        cls,
        payload: EventPayload,
        *,
        event_id: str | None = None,
        trace: Mapping[str, str] | None = None,
    ) -> CloudEvent:
        """`trace` is a W3C carrier: `traceparent` and, when there is one, `tracestate`."""
        trace = trace or {}
        return cls(
            id=event_id or str(uuid.uuid4()),
            source=f"{SOURCE_PREFIX}{payload.service}",
            type=payload.event_type(),
            subject=payload.about(),
            dataschema=payload.schema_uri(),
            data=payload.model_dump(mode="json"),
            traceparent=trace.get("traceparent"),
            tracestate=trace.get("tracestate"),
        )

    def trace_carrier(self) -> dict[str, str]:
        """The event's trace context as a W3C carrier (empty when it has none)."""
        carrier = {"traceparent": self.traceparent, "tracestate": self.tracestate}
        return {key: value for key, value in carrier.items() if value}

    def payload_class(self) -> PayloadClass | None:
        return EventPayload.registry.get(self.type)

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


def rfc3339(value: datetime) -> str:
    """An envelope's `time` as it is written: UTC, with a `Z`."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def envelope_json(
    payload: EventPayload,
    *,
    event_id: str,
    time: str,
    trace: Mapping[str, str],
    data: dict[str, Any] | None = None,
) -> bytes:
    """The bytes `CloudEvent.of(payload, event_id=…, trace=…).to_json()` writes for an event
    stamped `time` (an `rfc3339` string), without building and validating the envelope model:
    bulk writers (an import's thousands of events) spend most of their time there otherwise.
    The fields go in the model's order and a missing one is left out, as `exclude_none` does;
    pydantic's own serializer writes the values, so strings are escaped the same way
    (test_envelope pins that the bytes are equal). `data` is the payload's
    `model_dump(mode="json")` when the caller has it already."""
    envelope: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id,
        "source": f"{SOURCE_PREFIX}{payload.service}",
        "type": payload.event_type(),
        "time": time,
    }
    subject = payload.about()
    if subject is not None:
        envelope["subject"] = subject
    envelope["datacontenttype"] = "application/json"
    envelope["dataschema"] = payload.schema_uri()
    envelope["data"] = payload.model_dump(mode="json") if data is None else data
    for key in ("traceparent", "tracestate"):
        if trace.get(key) is not None:
            envelope[key] = trace[key]
    return pydantic_core.to_json(envelope)


def subject_for(payload_class: type[EventPayload], *, root: str, restricted_root: str) -> str:
    return (
        f"{restricted_root if payload_class.restricted else root}.{payload_class.subject_suffix()}"
    )
