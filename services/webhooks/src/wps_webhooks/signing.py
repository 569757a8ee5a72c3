"""The signature a receiver checks: HMAC-SHA256 over "<timestamp>.<body>" with the secret."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-WPS-Signature"
TIMESTAMP_HEADER = "X-WPS-Timestamp"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def verify(secret: str, timestamp: int, body: bytes, signature: str) -> bool:
    """What a receiver does (constant-time); also reject timestamps older than a few minutes."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)
