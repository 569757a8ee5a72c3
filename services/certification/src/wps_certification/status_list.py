"""Revocation as a W3C Bitstring Status List (v1.0): any verifier of verifiable credentials
can check whether a certificate was revoked without our API.

Each academy issues its own lists (a list's issuer must be the credential's issuer), of
131,072 entries each (16 KiB, the size the specification sets so that one entry hides among
many). A certificate takes the academy's next entry when it is issued; its credential names the
list and the entry (`credentialStatus`). A list is built when it is asked for, from the
certificates themselves: an entry is set when its certificate is revoked or superseded by a
correction, so nothing else has to be kept in step. Expiry is not in the list: the credential's
`validUntil` says it.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_certification import counters
from wps_certification.models import Certificate, StatusListCounter
from wps_certification.signing import Keyring
from wps_common.errors import NotFound

__all__ = [
    "LIST_SIZE",
    "allocate",
    "credential_status",
    "signed_status_list",
    "status_list",
]

LIST_SIZE = 131_072
_SET = ("revoked", "superseded")


def _list_url(base_url: str, academy_id: str, number: int) -> str:
    return f"{base_url.rstrip('/')}/v1/status-lists/{academy_id}/{number}"


def issuer_id(academy_id: str) -> str:
    return f"urn:wps-training:academy:{academy_id}"


async def allocate(session: AsyncSession, academy_ids: Sequence[str]) -> list[int]:
    """The next status-list entries for certificates of `academy_ids`, in order, taken in one
    statement, as certificate numbers are (`counters.advance`)."""
    needed: dict[tuple[str], int] = {}
    for academy_id in academy_ids:
        needed[(academy_id,)] = needed.get((academy_id,), 0) + 1
    used = await counters.advance(session, StatusListCounter, ("academy_id",), "used", needed)
    following = {key: used[key] - count for key, count in needed.items()}
    entries: list[int] = []
    for academy_id in academy_ids:
        entries.append(following[(academy_id,)])
        following[(academy_id,)] += 1
    return entries


def credential_status(certificate: Certificate, base_url: str) -> dict[str, Any] | None:
    """The credential's `credentialStatus`: its entry in the academy's revocation list."""
    if certificate.status_index is None:
        return None
    number, position = divmod(certificate.status_index, LIST_SIZE)
    url = _list_url(base_url, certificate.academy_id, number)
    return {
        "id": f"{url}#{position}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": str(position),
        "statusListCredential": url,
    }


def encode(positions: Sequence[int]) -> str:
    """The list's `encodedList`: the bitstring (entry 0 is the first byte's highest bit),
    GZIP-compressed, base64url without padding, with the multibase prefix `u`."""
    bits = bytearray(LIST_SIZE // 8)
    for position in positions:
        bits[position // 8] |= 0x80 >> (position % 8)
    # mtime=0: the same revocations give the same bytes
    packed = gzip.compress(bytes(bits), mtime=0)
    return "u" + base64.urlsafe_b64encode(packed).rstrip(b"=").decode()


async def status_list(
    session: AsyncSession, *, academy_id: str, number: int, base_url: str, now: datetime
) -> dict[str, Any]:
    """The academy's list `number` as a BitstringStatusListCredential (unsigned); 404 for a
    list the academy has not begun."""
    used = await session.scalar(
        select(StatusListCounter.used).where(StatusListCounter.academy_id == academy_id)
    )
    if used is None or number < 0 or number * LIST_SIZE >= used:
        raise NotFound(f"This academy has no status list {number}.")
    first = number * LIST_SIZE
    revoked = await session.scalars(
        select(Certificate.status_index).where(
            Certificate.academy_id == academy_id,
            Certificate.status_index >= first,
            Certificate.status_index < first + LIST_SIZE,
            Certificate.status.in_(_SET),
        )
    )
    url = _list_url(base_url, academy_id, number)
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer_id(academy_id),
        "validFrom": now.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": "revocation",
            "encodedList": encode([index - first for index in revoked if index is not None]),
        },
    }


def signed_status_list(credential: dict[str, Any], *, keyring: Keyring, issuer: str) -> str:
    """The list as VC-JWT, signed with the certificates' key (the same JWKS verifies it)."""
    issued = datetime.fromisoformat(credential["validFrom"].replace("Z", "+00:00"))
    return keyring.sign(
        {
            "iss": issuer.rstrip("/"),
            "jti": credential["id"],
            "sub": credential["credentialSubject"]["id"],
            "nbf": int(issued.timestamp()),
            "iat": int(issued.timestamp()),
            "vc": credential,
        }
    )
