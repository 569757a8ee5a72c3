"""Request and response bodies of the webhook API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator

from wps_common.events import contracts as _contracts  # noqa: F401  (registers every type)
from wps_common.events.envelope import EventPayload
from wps_common.fields import MultiLine, SingleLine
from wps_webhooks.signing import check_secret

EXAMPLE_TYPES = ["certification.certificate.issued", "enrolment.track.completed"]


def public_types() -> set[str]:
    """`<service>.<entity>.<action>` of every public event type."""
    return {
        cls.subject_suffix()
        for cls in EventPayload.registry.values()
        if not cls.restricted and cls.__module__.startswith("wps_common.events.contracts.")
    }


class SubscriptionCreate(BaseModel):
    url: AnyHttpUrl = Field(
        examples=["https://hr.example.org/hooks/training"],
        description="an https:// URL at a public address (private, loopback and link-local "
        "addresses are refused unless the operator allows their network); redirects are not "
        "followed",
    )
    event_types: list[str] = Field(
        min_length=1,
        max_length=100,
        examples=[EXAMPLE_TYPES],
        description="`<service>.<entity>.<action>` names, or `*` for every public event",
    )
    secret: Annotated[str, SingleLine(200, min_length=16)] | None = Field(
        None,
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
        description="leave out to have a `whsec_…` secret generated and returned once "
        "(recommended); or a Standard Webhooks secret of your own (`whsec_` and the base64 of "
        "24 to 64 random bytes). Any other text of 16 characters or more is still accepted: "
        "its UTF-8 bytes are then the HMAC key",
    )
    description: Annotated[str, MultiLine(500)] | None = None

    @field_validator("secret")
    @classmethod
    def _usable_secret(cls, value: str | None) -> str | None:
        return None if value is None else check_secret(value)

    @field_validator("event_types")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - public_types() - {"*"})
        if unknown:
            known = ", ".join(sorted(public_types()))
            raise ValueError(f"unknown event types {unknown}; known: {known}")
        return sorted(set(value))


class SubscriptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    owner: str
    url: str
    event_types: list[str]
    description: str | None
    active: bool
    created_at: datetime


class SubscriptionCreated(SubscriptionOut):
    secret: str | None = Field(
        description="the generated `whsec_…` signing secret, shown this once (null when you "
        "supplied your own); give it to a Standard Webhooks library as it is"
    )


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    event_id: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None = Field(
        description="why the last attempt failed, as a short class: http_<status>, redirect, "
        "timeout, tls_error, unreachable, refused_address, refused_scheme, invalid_url"
    )
    delivered_at: datetime | None
    created_at: datetime
