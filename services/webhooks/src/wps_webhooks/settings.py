"""Webhook bridge settings under the WEBHOOKS_ prefix."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from wps_common.settings import ServiceSettings


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
