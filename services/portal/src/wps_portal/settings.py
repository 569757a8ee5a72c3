"""Portal settings under the PORTAL_ prefix; sign-in reads the shared OIDC_* settings."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from wps_common.settings import ServiceSettings

DEV_CLIENT_SECRET = "demo-portal-secret"


class PortalSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="PORTAL_", extra="ignore", validate_by_name=True, validate_by_alias=True
    )

    service_name: str = "portal"
    database_url: str = Field(
        "sqlite+aiosqlite:///var/portal.db", description="where sign-in sessions are kept"
    )
    public_url: str = Field("http://localhost:8005", description="the portal's own base URL")
    curriculum_url: str = "http://localhost:8001"
    enrolment_url: str = "http://localhost:8002"
    certification_url: str = "http://localhost:8003"
    webhooks_url: str = "http://localhost:8004"
    client_id: str = Field("wps-portal", description="the portal's client at the provider")
    client_secret: SecretStr = Field(
        SecretStr(DEV_CLIENT_SECRET), description="its secret (confidential client)"
    )
    scopes: str = "openid profile email offline_access"
    session_hours: float = Field(8.0, gt=0, description="a sign-in lasts at most this long")
    cookie_secure: bool = Field(
        True, description="Secure cookie (browsers accept it on http://localhost too)"
    )
    request_timeout_seconds: float = 15.0

    @model_validator(mode="after")
    def _production(self) -> PortalSettings:
        if self.environment == "production":
            if self.client_secret.get_secret_value() == DEV_CLIENT_SECRET:
                raise ValueError("PORTAL_CLIENT_SECRET must be set in production")
            if not self.cookie_secure:
                raise ValueError("PORTAL_COOKIE_SECURE cannot be off in production")
        return self

    @property
    def redirect_uri(self) -> str:
        return self.public_url.rstrip("/") + "/auth/callback"
