"""Certification settings: shared infrastructure settings under the CERTIFICATION_ prefix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from wps_common.settings import ServiceSettings


class SigningKeySetting(BaseModel):
    """One Ed25519 key of the credential signer. The first key of the list signs; the others
    are kept only so that credentials they signed still verify (their JWKS entries stay).
    A retired key may be given by its public half alone."""

    kid: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$")
    private_key: SecretStr | None = Field(None, description="PKCS#8 PEM of an Ed25519 key")
    public_key: str | None = Field(None, description="SubjectPublicKeyInfo PEM (retired keys)")

    @model_validator(mode="after")
    def _one_half_at_least(self) -> SigningKeySetting:
        if self.private_key is None and self.public_key is None:
            raise ValueError(f"signing key {self.kid!r} needs private_key or public_key")
        # Load the keys now: a key that cannot be used must stop every command with a
        # sentence, not the service at its first credential with a traceback.
        if self.private_key is not None:
            try:
                private = serialization.load_pem_private_key(
                    self.private_key.get_secret_value().encode(), password=None
                )
            except (ValueError, TypeError) as exc:
                raise ValueError(
                    f"signing key {self.kid!r}: private_key is not an unencrypted PKCS#8 PEM "
                    f"key ({_first_line(exc)})"
                ) from None
            if not isinstance(private, Ed25519PrivateKey):
                raise ValueError(f"signing key {self.kid!r} is not an Ed25519 key")
        if self.public_key is not None:
            try:
                public = serialization.load_pem_public_key(self.public_key.encode())
            except (ValueError, TypeError) as exc:
                raise ValueError(
                    f"signing key {self.kid!r}: public_key is not a PEM public key "
                    f"({_first_line(exc)})"
                ) from None
            if not isinstance(public, Ed25519PublicKey):
                raise ValueError(f"verification key {self.kid!r} is not an Ed25519 key")
        return self


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]


class CertificationSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="CERTIFICATION_", extra="ignore", validate_by_name=True, validate_by_alias=True
    )

    service_name: str = "certification"
    database_url: str = "sqlite+aiosqlite:///var/certification.db"
    public_base_url: str = Field(
        "http://localhost:8003",
        description="base of the verification URL printed in QR codes; the credentials' `iss`",
    )
    portal_url: str = Field(
        "",
        description="the portal's base URL: browsers that open a verification link (the QR "
        "code) are sent to its verification page; empty = answer them here",
    )
    render_workers: int = Field(
        2, ge=0, le=32, description="PDF render processes; 0 renders in a thread (tests)"
    )
    pdf_cache_entries: int = Field(256, ge=0, description="rendered PDFs kept in memory")
    var_dir: Path = Field(Path("var"), description="where development state is kept")
    signing_keys: Annotated[list[SigningKeySetting], NoDecode] = Field(
        default_factory=list,
        description='JSON list of {"kid", "private_key"} (PEM); the first signs, all verify',
    )
    expiry_lead_days: Annotated[tuple[int, ...], NoDecode] = Field(
        (60, 30, 7), description="days before expiry that certificate.expiring is sent"
    )
    expiry_scan_minutes: float = Field(60.0, gt=0, description="period of the expiry scanner")
    verify_rate_per_minute: float = Field(
        30.0, gt=0, description="verification lookups per client and minute (token refill)"
    )
    verify_burst: int = Field(10, ge=1, description="lookups a client may make at once")
    trust_forwarded_for: bool = Field(
        False, description="replaced by WPS_TRUSTED_PROXIES (refused when set without it)"
    )

    @field_validator("signing_keys", mode="before")
    @classmethod
    def _keys_from_json(cls, value: Any) -> Any:
        """Empty means unset (compose passes `${VAR:-}`); otherwise a JSON list."""
        if isinstance(value, str):
            if not value.strip():
                return []
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f'is not JSON ({exc.msg}); write [{{"kid": "…", "private_key": "-----BEGIN '
                    'PRIVATE KEY-----\\n…"}]'
                ) from None
        if isinstance(value, dict):
            raise ValueError('must be a JSON list of keys: [{"kid": …, "private_key": …}]')
        return value

    @field_validator("expiry_lead_days", mode="before")
    @classmethod
    def _lead_days(cls, value: Any) -> Any:
        if isinstance(value, str):  # "60,30,7" or "[60, 30, 7]"
            value = [part for part in value.strip("[] ").split(",") if part.strip()]
        return value

    @field_validator("expiry_lead_days")
    @classmethod
    def _positive_lead_days(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(days <= 0 for days in value):
            raise ValueError("expiry lead days must be positive")
        return tuple(sorted(set(value), reverse=True))

    @model_validator(mode="after")
    def _keys_in_production(self) -> CertificationSettings:
        if self.environment == "production":
            if not self.signing_keys:
                raise ValueError(
                    "CERTIFICATION_SIGNING_KEYS must be set in production: credentials signed "
                    "with a generated development key could not be trusted"
                )
        if self.signing_keys and self.signing_keys[0].private_key is None:
            raise ValueError("the first signing key signs: it needs its private_key")
        kids = [key.kid for key in self.signing_keys]
        if len(set(kids)) != len(kids):
            raise ValueError("signing key ids (kid) must be unique")
        if self.trust_forwarded_for and not self.trusted_proxies:
            raise ValueError(
                "CERTIFICATION_TRUST_FORWARDED_FOR is replaced by WPS_TRUSTED_PROXIES: name the "
                "addresses of your ingress or proxies there, so a client cannot choose its own"
            )
        return self

    @property
    def dev_signing_key_file(self) -> Path:
        return self.var_dir / "certification-signing-key.pem"
