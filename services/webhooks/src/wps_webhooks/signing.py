"""Webhook signatures: Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`)
and, for a transition, the older `X-WPS-Signature`."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from datetime import UTC, datetime

from standardwebhooks import Webhook

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
# Deprecated: sent alongside the Standard Webhooks headers until receivers have moved over.
LEGACY_SIGNATURE_HEADER = "X-WPS-Signature"
LEGACY_TIMESTAMP_HEADER = "X-WPS-Timestamp"

SECRET_PREFIX = "whsec_"
# Standard Webhooks asks for keys of 24 to 64 bytes; the ones we generate are 32.
MIN_KEY_BYTES, MAX_KEY_BYTES, NEW_KEY_BYTES = 24, 64, 32


def new_secret() -> str:
    """A fresh `whsec_…` secret, the form Standard Webhooks libraries take as it is."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(NEW_KEY_BYTES)).decode()


def check_secret(secret: str) -> str:
    """A secret a client chose: `whsec_<base64>` of 24–64 bytes, or (as before Standard
    Webhooks) any text of at least 16 characters, whose UTF-8 bytes are then the key."""
    if secret.startswith(SECRET_PREFIX):
        try:
            key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(
                "a secret that starts with whsec_ must continue in base64 (A–Z, a–z, 0–9, +, /)"
            ) from None
        if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
            raise ValueError(
                f"a whsec_ secret must encode {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes, "
                f"not {len(key)}"
            )
    return secret


def key_of(secret: str) -> bytes:
    """The HMAC key: a `whsec_` secret's decoded bytes; an older secret's UTF-8 bytes, so that
    subscriptions made before Standard Webhooks keep their secret (a receiver passes
    `"whsec_" + base64(secret)`, or the bytes, to its library)."""
    if secret.startswith(SECRET_PREFIX):
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    return secret.encode()


def standard_form(secret: str) -> str:
    """The `whsec_…` form of any stored secret, for a Standard Webhooks library."""
    if secret.startswith(SECRET_PREFIX):
        return secret
    return SECRET_PREFIX + base64.b64encode(secret.encode()).decode()


def signature_headers(
    secret: str, *, message_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The headers of one signed delivery. `message_id` stays the same across retries, so the
    receiver can drop a delivery it has already processed."""
    key = key_of(secret)
    signature = Webhook(key).sign(
        message_id, datetime.fromtimestamp(timestamp, tz=UTC), body.decode()
    )
    legacy = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {
        ID_HEADER: message_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature,
        LEGACY_TIMESTAMP_HEADER: str(timestamp),
        LEGACY_SIGNATURE_HEADER: f"v1={legacy}",
    }
