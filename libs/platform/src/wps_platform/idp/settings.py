"""Settings of the development identity provider."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wps_platform.idp.directory import DEFAULT_PORTAL_URL

SESSION_COOKIE = "wps_idp_session"


@dataclass(frozen=True)
class ProviderSettings:
    # The base URL the provider is served at, no path: tokens carry it as `iss`.
    issuer: str
    audience: str = "wps-api"
    access_token_ttl: int = 300
    refresh_token_ttl: int = 1800
    # Short on purpose: a code is exchanged right after the redirect (RFC 6749 §4.1.2).
    authorization_code_ttl: int = 120
    portal_url: str = DEFAULT_PORTAL_URL
    # Added to the `wps-portal` client's redirect URIs (a portal on another address, a tunnel).
    redirect_uris: tuple[str, ...] = ()
    # keys.json lives here; None keeps the keys in memory.
    var_dir: Path | None = None
    # None is the bundled demo directory.
    directory_path: Path | None = None

    def __post_init__(self) -> None:
        if self.issuer.rstrip("/") != self.issuer or "?" in self.issuer:
            raise ValueError(f"issuer must be a base URL without a trailing slash: {self.issuer}")

    def endpoint(self, path: str) -> str:
        return f"{self.issuer}{path}"
