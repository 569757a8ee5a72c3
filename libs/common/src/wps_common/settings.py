"""Settings every service shares; each service subclasses them with its own env prefix."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me"
DATABASE_SCHEMES = ("sqlite+aiosqlite", "postgresql+asyncpg")
NATS_SCHEMES = ("nats", "tls", "ws", "wss")


def shared(name: str, default: object, description: str) -> object:
    """A field read from an un-prefixed variable, the same for all services (e.g. NATS_URL)."""
    return Field(
        default=default,
        validation_alias=AliasChoices(name, name.lower()),
        description=description,
    )


class ServiceSettings(BaseSettings):
    """Infrastructure settings. Variables without prefix are shared by all services."""

    model_config = SettingsConfigDict(extra="ignore", validate_by_name=True, validate_by_alias=True)

    service_name: str = "service"
    environment: Literal["development", "production"] = shared(  # type: ignore[assignment]
        "WPS_ENVIRONMENT",
        "development",
        "`production` refuses development tokens and needs OIDC_ISSUERS",
    )
    database_url: str = Field(
        default="sqlite+aiosqlite:///var/service.db",
        description="SQLAlchemy async URL: sqlite+aiosqlite:///… or postgresql+asyncpg://…",
    )
    auto_migrate: bool = Field(True, description="apply Alembic migrations at start-up")
    nats_url: str = shared(  # type: ignore[assignment]
        "NATS_URL", "nats://127.0.0.1:4222", "NATS server(s), comma-separated"
    )
    stream_name: str = shared(  # type: ignore[assignment]
        "WPS_STREAM_NAME", "TRAINING", "JetStream stream holding the public events"
    )
    subject_root: str = shared(  # type: ignore[assignment]
        "WPS_SUBJECT_ROOT", "training", "first token of every public event subject"
    )
    restricted_stream_name: str = shared(  # type: ignore[assignment]
        "WPS_RESTRICTED_STREAM_NAME",
        "TRAINING_RESTRICTED",
        "stream of service-to-service events that carry personal data (never given to HR)",
    )
    restricted_subject_root: str = shared(  # type: ignore[assignment]
        "WPS_RESTRICTED_SUBJECT_ROOT", "restricted", "first token of restricted subjects"
    )
    stream_replicas: int = shared(  # type: ignore[assignment]
        "WPS_STREAM_REPLICAS", 1, "JetStream replicas of each stream (3 on a cluster)"
    )
    duplicate_window_seconds: float = shared(  # type: ignore[assignment]
        "WPS_DUPLICATE_WINDOW_SECONDS",
        3600.0,
        "JetStream dedupe window; must exceed the relay's retry horizon",
    )
    event_retention_days: float = shared(  # type: ignore[assignment]
        "WPS_EVENT_RETENTION_DAYS",
        30.0,
        "sent outbox rows and inbox ids older than this are pruned; must exceed the dedupe "
        "window and WPS_REPLAY_WINDOW_DAYS (docs/adr/0024-event-retention.md)",
    )
    replay_window_days: float = shared(  # type: ignore[assignment]
        "WPS_REPLAY_WINDOW_DAYS",
        7.0,
        "furthest back `wps-<service> replay --since` is expected to reach",
    )
    jwt_secret: str = shared(  # type: ignore[assignment]
        "JWT_SECRET", DEV_JWT_SECRET, "HS256 key of development tokens (development only)"
    )
    jwt_issuer: str = shared("JWT_ISSUER", "wps-training", "`iss` of development tokens")  # type: ignore[assignment]
    oidc_issuers: str = shared(  # type: ignore[assignment]
        "OIDC_ISSUERS", "", "comma-separated OpenID Connect issuer URLs (required in production)"
    )
    oidc_audience: str = shared(  # type: ignore[assignment]
        "OIDC_AUDIENCE", "wps-api", "the `aud` every access token must carry"
    )
    oidc_roles_claim: str = shared(  # type: ignore[assignment]
        "OIDC_ROLES_CLAIM", "roles", "dotted path to the list of roles, e.g. realm_access.roles"
    )
    oidc_role_map: dict[str, str] = shared(  # type: ignore[assignment]
        "OIDC_ROLE_MAP", {}, "JSON object: provider role name -> platform role (empty: identity)"
    )
    oidc_academy_claim: str = shared(  # type: ignore[assignment]
        "OIDC_ACADEMY_CLAIM", "academy_id", "dotted path to the academy (its code or id)"
    )
    oidc_employee_number_claim: str = shared(  # type: ignore[assignment]
        "OIDC_EMPLOYEE_NUMBER_CLAIM", "", "dotted path to a trainee's HR employee number"
    )
    oidc_name_claim: str = shared(  # type: ignore[assignment]
        "OIDC_NAME_CLAIM", "name", "display name for audit trails (else preferred_username)"
    )
    oidc_discovery_urls: str = shared(  # type: ignore[assignment]
        "OIDC_DISCOVERY_URLS",
        "",
        "comma-separated metadata URLs in the order of OIDC_ISSUERS, when the issuer URL itself "
        "is not reachable from the service (containers)",
    )
    oidc_leeway_seconds: float = shared(  # type: ignore[assignment]
        "OIDC_LEEWAY_SECONDS", 30.0, "clock skew allowed on exp, nbf and iat"
    )
    oidc_jwks_min_refresh_seconds: float = shared(  # type: ignore[assignment]
        "OIDC_JWKS_MIN_REFRESH_SECONDS",
        30.0,
        "floor between JWKS refetches caused by an unknown key id",
    )
    oidc_jwks_cache_seconds: float = shared(  # type: ignore[assignment]
        "OIDC_JWKS_CACHE_SECONDS", 3600.0, "how long a fetched JWKS is used before refetching"
    )
    max_json_bytes: int = shared(  # type: ignore[assignment]
        "WPS_MAX_JSON_BYTES",
        1_048_576,
        "largest request body accepted, except uploads (which have their own limit)",
    )
    trusted_proxies: str = shared(  # type: ignore[assignment]
        "WPS_TRUSTED_PROXIES",
        "",
        "comma-separated addresses or networks of the reverse proxies whose X-Forwarded-For "
        "names the client (empty: the peer address is the client)",
    )
    log_format: Literal["json", "console"] | None = shared(  # type: ignore[assignment]
        "WPS_LOG_FORMAT",
        None,
        "`json` (one object per line) or `console`; unset: json in production, else console",
    )
    # NATS credentials (docs/adr/0003): the shipped servers refuse anonymous connections.
    nats_user: str = shared("NATS_USER", "", "NATS user name (with NATS_PASSWORD)")  # type: ignore[assignment]
    nats_password: SecretStr = shared(  # type: ignore[assignment]
        "NATS_PASSWORD", SecretStr(""), "password of NATS_USER"
    )
    nats_token: SecretStr = shared(  # type: ignore[assignment]
        "NATS_TOKEN", SecretStr(""), "NATS token, for a server that authenticates by token"
    )
    nats_creds: str = shared(  # type: ignore[assignment]
        "NATS_CREDS", "", "path of a NATS .creds file (JWT and nkey seed; needs `nkeys`)"
    )
    nats_nkey_seed: SecretStr = shared(  # type: ignore[assignment]
        "NATS_NKEY_SEED", SecretStr(""), "NATS nkey user seed, or the path of a file holding it"
    )
    shutdown_grace_seconds: float = shared(  # type: ignore[assignment]
        "WPS_SHUTDOWN_GRACE_SECONDS",
        20.0,
        "after SIGTERM, how long requests, event batches, jobs and deliveries in flight may "
        "take to finish before they are cancelled (docs/operations.md)",
    )
    relay_batch_size: int = 200
    relay_poll_seconds: float = 0.5
    relay_max_backoff_seconds: float = 30.0
    publish_timeout_seconds: float = 5.0
    consumer_batch_size: int = 100
    consumer_max_deliver: int = 6
    consumer_ack_wait_seconds: float = 30.0
    consumer_nak_delays: tuple[float, ...] = (0.5, 2.0, 5.0, 15.0, 30.0)

    @field_validator("database_url")
    @classmethod
    def _async_database_driver(cls, value: str) -> str:
        # Caught here, not as a driver import error deep inside SQLAlchemy at start-up.
        scheme = value.partition("://")[0] if "://" in value else ""
        if scheme not in DATABASE_SCHEMES:
            raise ValueError(
                f"{scheme or 'this'}:// is not a database URL the services can use; write "
                "sqlite+aiosqlite:///path/to/file.db or postgresql+asyncpg://user:password@host/db"
            )
        return value

    @field_validator("nats_url")
    @classmethod
    def _nats_servers(cls, value: str) -> str:
        servers = _split(value)
        if not servers:
            raise ValueError("name at least one NATS server, e.g. nats://127.0.0.1:4222")
        for server in servers:
            scheme, separator, rest = server.partition("://")
            if separator and (scheme not in NATS_SCHEMES or not rest.strip("/")):
                raise ValueError(
                    f"{server.split('@')[-1]!r} is not a NATS server URL; write "
                    "nats://host:4222 (or tls://, ws://, wss://), several separated by commas"
                )
        return value

    @model_validator(mode="after")
    def _safe_for_production(self) -> ServiceSettings:
        if self.environment == "production" and not self.issuers:
            raise ValueError(
                "OIDC_ISSUERS must name your identity provider in production "
                "(development tokens are refused there)"
            )
        if len(self.discovery_urls) > len(self.issuers):
            raise ValueError("OIDC_DISCOVERY_URLS has more entries than OIDC_ISSUERS")
        horizon = self.relay_max_backoff_seconds + self.publish_timeout_seconds
        if self.duplicate_window_seconds <= 2 * horizon:
            raise ValueError(
                "WPS_DUPLICATE_WINDOW_SECONDS must exceed twice the relay's retry horizon "
                f"({2 * horizon:.0f}s), or a retried publish could be stored twice"
            )
        retention = self.event_retention_days * 86400
        if retention <= max(self.duplicate_window_seconds, self.redelivery_horizon_seconds):
            raise ValueError(
                "WPS_EVENT_RETENTION_DAYS must exceed the dedupe window "
                "(WPS_DUPLICATE_WINDOW_SECONDS) and the consumers' redelivery horizon, or a "
                "redelivered event could find its inbox id pruned and be handled twice"
            )
        if self.event_retention_days <= self.replay_window_days:
            raise ValueError(
                f"WPS_EVENT_RETENTION_DAYS ({self.event_retention_days:g}) must exceed "
                f"WPS_REPLAY_WINDOW_DAYS ({self.replay_window_days:g}), or a replay could "
                "publish again events whose inbox ids are already pruned"
            )
        return self

    @property
    def issuers(self) -> list[str]:
        return _split(self.oidc_issuers)

    @property
    def discovery_urls(self) -> list[str]:
        return _split(self.oidc_discovery_urls)

    @property
    def accepts_development_tokens(self) -> bool:
        return self.environment == "development"

    @property
    def redelivery_horizon_seconds(self) -> float:
        """Longest time a consumer may still be handed a message it was first given: every
        delivery waits at most ack_wait plus the longest nak delay."""
        longest_delay = max(self.consumer_nak_delays, default=0.0)
        return self.consumer_max_deliver * (self.consumer_ack_wait_seconds + longest_delay)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]
