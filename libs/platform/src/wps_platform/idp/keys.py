"""The provider's signing keys: the current one, the published ones, rotation and keys.json."""

from __future__ import annotations

import json
import os
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, KeyParameters, KeySet, OKPKey, RSAKey, import_key

# joserfc warns on every EdDSA signature (RFC 9864 prefers "Ed25519"); EdDSA is what resource
# servers and PyJWT accept today, and it is offered on purpose.
warnings.filterwarnings("ignore", message="EdDSA is deprecated", category=SecurityWarning)

Algorithm = Literal["RS256", "ES256", "EdDSA"]
ALGORITHMS: tuple[Algorithm, ...] = get_args(Algorithm)
PrivateKey = RSAKey | ECKey | OKPKey

_GENERATORS: dict[str, Callable[[KeyParameters], PrivateKey]] = {
    "RS256": lambda parameters: RSAKey.generate_key(2048, parameters, auto_kid=True),
    "ES256": lambda parameters: ECKey.generate_key("P-256", parameters, auto_kid=True),
    "EdDSA": lambda parameters: OKPKey.generate_key("Ed25519", parameters, auto_kid=True),
}


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: Algorithm
    private: PrivateKey

    @classmethod
    def generate(cls, alg: Algorithm) -> SigningKey:
        if alg not in _GENERATORS:
            raise ValueError(f"unsupported algorithm {alg!r}; choose one of {ALGORITHMS}")
        # auto_kid: the RFC 7638 thumbprint, unique per key and stable across restarts.
        key = _GENERATORS[alg]({"alg": alg, "use": "sig"})
        return cls(kid=str(key.kid), alg=alg, private=key)

    @classmethod
    def from_jwk(cls, data: dict[str, Any]) -> SigningKey:
        key = import_key(data)
        if not isinstance(key, RSAKey | ECKey | OKPKey) or data.get("alg") not in ALGORITHMS:
            raise ValueError(f"keys.json: key {data.get('kid')!r} is not a supported signing key")
        return cls(kid=str(data["kid"]), alg=data["alg"], private=key)

    def public_jwk(self) -> dict[str, Any]:
        return dict(self.private.as_dict(private=False))

    def private_jwk(self) -> dict[str, Any]:
        return dict(self.private.as_dict(private=True))

    def key_set(self) -> KeySet:
        """This key alone: handed to joserfc so it signs with it and writes its kid."""
        return KeySet([self.private])


class KeyStore:
    """Keys in memory, or in `<var_dir>/keys.json` (mode 0600) so restarts keep tokens valid."""

    def __init__(self, var_dir: Path | None = None) -> None:
        self._path = var_dir / "keys.json" if var_dir is not None else None
        self._lock = threading.Lock()
        self._keys: list[SigningKey] = []
        self._signing: SigningKey
        if self._path is not None and self._path.exists():
            self._load(self._path)
        else:
            self._signing = SigningKey.generate("RS256")
            self._keys = [self._signing]
            self._save()

    @property
    def path(self) -> Path | None:
        return self._path

    def signing_key(self) -> SigningKey:
        with self._lock:
            return self._signing

    def published(self) -> list[SigningKey]:
        with self._lock:
            return list(self._keys)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.public_jwk() for key in self.published()]}

    def verification_keys(self) -> KeySet:
        """The public halves of every published key: what verifies tokens and id_token_hints."""
        return KeySet([import_key(key.private.as_dict(private=False)) for key in self.published()])

    def rotate(self, alg: Algorithm = "RS256", retire_previous: bool = False) -> SigningKey:
        new = SigningKey.generate(alg)
        with self._lock:
            self._keys = [new] if retire_previous else [new, *self._keys]
            self._signing = new
            self._save()
        return new

    def _load(self, path: Path) -> None:
        data = json.loads(path.read_text(encoding="utf-8"))
        self._keys = [SigningKey.from_jwk(jwk) for jwk in data["keys"]]
        by_kid = {key.kid: key for key in self._keys}
        if data.get("signing_kid") not in by_kid:
            raise ValueError(f"{path}: signing_kid does not name a key in the file")
        self._signing = by_kid[data["signing_kid"]]

    def _save(self) -> None:
        if self._path is None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "signing_kid": self._signing.kid,
            "keys": [key.private_jwk() for key in self._keys],
        }
        temporary = self._path.with_suffix(".json.tmp")
        # Created 0600 from the first byte (private keys), then renamed: a crash never leaves
        # a half-written keys.json behind.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(payload, out, indent=2)
        os.chmod(temporary, 0o600)
        os.replace(temporary, self._path)
