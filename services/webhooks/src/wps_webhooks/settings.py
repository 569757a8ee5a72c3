"""Webhook bridge settings under the WEBHOOKS_ prefix."""

from __future__ import annotations

import ipaddress

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from wps_common.settings import ServiceSettings

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class WebhooksSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="WEBHOOKS_", extra="ignore", validate_by_name=True, validate_by_alias=True
    )

    service_name: str = "webhooks"
    database_url: str = "sqlite+aiosqlite:///var/webhooks.db"
    max_attempts: int = Field(8, ge=1, le=50, description="attempts before a delivery is parked")
    first_retry_seconds: float = Field(2.0, gt=0, description="backoff doubles from here")
    max_retry_seconds: float = Field(600.0, gt=0)
    request_timeout_seconds: float = Field(10.0, gt=0)
    poll_seconds: float = Field(0.5, gt=0)
    allowed_private_networks: str = Field(
        "",
        description="comma-separated CIDRs (e.g. 10.20.0.0/16) webhooks may be delivered to "
        "although they are not public addresses; empty: public addresses only",
    )
    allow_http: bool | None = Field(
        None, description="accept http:// webhook URLs; unset: in development only"
    )

    @model_validator(mode="after")
    def _networks_are_cidrs(self) -> WebhooksSettings:
        parse_networks(self.allowed_private_networks)
        return self

    @property
    def private_networks(self) -> tuple[IPNetwork, ...]:
        return parse_networks(self.allowed_private_networks)

    @property
    def http_allowed(self) -> bool:
        if self.allow_http is None:
            return self.environment == "development"
        return self.allow_http


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    networks: list[IPNetwork] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(
                f"WEBHOOKS_ALLOWED_PRIVATE_NETWORKS: {part!r} is not a network; "
                "write CIDRs such as 10.20.0.0/16, separated by commas"
            ) from None
    return tuple(networks)
