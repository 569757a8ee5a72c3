"""The credential signer's Ed25519 keys: the active key signs VC-JWTs, every key is in the JWKS."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from wps_certification.settings import CertificationSettings

log = logging.getLogger("wps.certification.signing")

ALGORITHM = "EdDSA"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def thumbprint(public: Ed25519PublicKey) -> str:
    """RFC 7638 JWK thumbprint: a kid derived from the key itself (for generated keys)."""
    canonical = json.dumps(
        {"crv": "Ed25519", "kty": "OKP", "x": _b64url(_raw(public))}, separators=(",", ":")
    )
    return _b64url(hashlib.sha256(canonical.encode()).digest())


@dataclass(frozen=True)
class VerificationKey:
    kid: str
    public: Ed25519PublicKey

    def jwk(self) -> dict[str, str]:
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": _b64url(_raw(self.public)),
            "kid": self.kid,
            "alg": ALGORITHM,
            "use": "sig",
        }


class Keyring:
    """Signs with the first key; publishes all of them, so rotation never breaks old credentials."""

    def __init__(self, signing_kid: str, private: Ed25519PrivateKey, keys: list[VerificationKey]):
        self.kid = signing_kid
        self._private = private
        self.keys = keys

    @classmethod
    def from_settings(cls, settings: CertificationSettings) -> Keyring:
        if not settings.signing_keys:
            return cls._development(settings.dev_signing_key_file)
        keys: list[VerificationKey] = []
        private: Ed25519PrivateKey | None = None
        for entry in settings.signing_keys:
            if entry.private_key is not None:
                loaded = serialization.load_pem_private_key(
                    entry.private_key.get_secret_value().encode(), password=None
                )
                if not isinstance(loaded, Ed25519PrivateKey):
                    raise ValueError(f"signing key {entry.kid!r} is not an Ed25519 key")
                public = loaded.public_key()
                private = private or loaded
            else:
                assert entry.public_key is not None
                loaded_public = serialization.load_pem_public_key(entry.public_key.encode())
                if not isinstance(loaded_public, Ed25519PublicKey):
                    raise ValueError(f"verification key {entry.kid!r} is not an Ed25519 key")
                public = loaded_public
            keys.append(VerificationKey(entry.kid, public))
        assert private is not None  # settings insist that the first key has its private half
        return cls(settings.signing_keys[0].kid, private, keys)

    @classmethod
    def _development(cls, path: Path) -> Keyring:
        """No keys configured (development only: production settings refuse this): one key is
        generated once and kept in the var directory, so credentials verify across restarts."""
        if path.is_file():
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(loaded, Ed25519PrivateKey):
                raise ValueError(f"{path} does not hold an Ed25519 private key")
            private = loaded
        else:
            private = Ed25519PrivateKey.generate()
            pem = private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            # O_EXCL: two processes starting together keep the first key, not a mix.
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return cls._development(path)
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
            log.warning("generated a development credential signing key in %s", path)
        kid = f"dev-{thumbprint(private.public_key())[:16]}"
        return cls(kid, private, [VerificationKey(kid, private.public_key())])

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [key.jwk() for key in self.keys]}

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(
            claims, self._private, algorithm=ALGORITHM, headers={"kid": self.kid, "typ": "JWT"}
        )
