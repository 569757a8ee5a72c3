"""Revocation as a W3C Bitstring Status List: what any verifier of verifiable credentials does,
with nothing but the credential, the list it names and the JWKS."""

from __future__ import annotations

import base64
import gzip
from datetime import UTC, datetime
from typing import Any

import httpx
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import create_async_engine

from wps_certification.main import MIGRATIONS
from wps_certification.status_list import LIST_SIZE, encode
from wps_common.migrations import alembic_config
from wps_common.testing import auth, publish_event, wait_until

from .conftest import ACADEMY_ID, issue, profile
from .test_credential import BASE_URL, ob3_validator, verify_with_jwks

STAFF = auth("academy_admin", academy_id=ACADEMY_ID, sub="staff-1")


def bits(encoded: str) -> bytes:
    """A verifier's reading of `encodedList`: multibase base64url (prefix u), then GZIP."""
    assert encoded.startswith("u")
    packed = base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4))
    return gzip.decompress(packed)


def is_set(bitstring: bytes, position: int) -> bool:
    return bool(bitstring[position // 8] & (0x80 >> (position % 8)))


async def credential_of(client: httpx.AsyncClient, certificate_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/certificates/{certificate_id}/credential", headers=STAFF)
    assert response.status_code == 200, response.text
    credential: dict[str, Any] = response.json()["credential"]
    return credential


async def revoked(client: httpx.AsyncClient, credential: dict[str, Any]) -> bool:
    """Dereference the credential's status list, check its signature and issuer, read the bit."""
    status = credential["credentialStatus"]
    assert status["type"] == "BitstringStatusListEntry"
    assert status["statusPurpose"] == "revocation"
    url = status["statusListCredential"]
    assert url.startswith(BASE_URL) and status["id"] == f"{url}#{status['statusListIndex']}"
    response = await client.get(url.removeprefix(BASE_URL))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vc+jwt"
    claims = await verify_with_jwks(client, response.text)
    listed = claims["vc"]
    assert listed["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert listed["id"] == url
    assert listed["issuer"] == credential["issuer"]["id"]  # the same issuer, as verifiers check
    subject = listed["credentialSubject"]
    assert subject["type"] == "BitstringStatusList"
    assert subject["statusPurpose"] == "revocation"
    bitstring = bits(subject["encodedList"])
    assert len(bitstring) * 8 == LIST_SIZE
    return is_set(bitstring, int(status["statusListIndex"]))


async def test_revocation_and_correction_set_the_entry_that_verifiers_read(
    client: httpx.AsyncClient, bus: dict[str, Any], database_url: str
) -> None:
    first = await issue(bus, database_url, "t-s1")
    second = await issue(bus, database_url, "t-s2", family_name="Kovalenk")
    one, two = await credential_of(client, first.id), await credential_of(client, second.id)
    ob3_validator().validate(one)  # credentialStatus is an Open Badges 3.0 term
    assert one["credentialStatus"]["statusListIndex"] != two["credentialStatus"]["statusListIndex"]
    assert not await revoked(client, one)
    assert not await revoked(client, two)

    response = await client.post(
        f"/v1/certificates/{first.id}/revoke",
        json={"reason": "Assessment fraud established by the disciplinary board"},
        headers=STAFF,
    )
    assert response.status_code == 200, response.text
    assert await revoked(client, one)
    assert not await revoked(client, two)

    # A correction supersedes the old edition: its entry is set, the new one's is not.
    await publish_event(bus, profile("t-s2", family_name="Kovalenko", changed_at=datetime.now(UTC)))

    async def corrected() -> httpx.Response | None:
        response = await client.post(f"/v1/certificates/{second.id}/reissue", headers=STAFF)
        return response if response.status_code == 201 else None

    reissued = await wait_until(corrected, what="the corrected profile to arrive")
    assert reissued is not None
    assert await revoked(client, two)
    assert not await revoked(client, await credential_of(client, reissued.json()["id"]))


async def test_lists_that_do_not_exist_are_404(
    client: httpx.AsyncClient, bus: dict[str, Any], database_url: str
) -> None:
    await issue(bus, database_url, "t-s3")
    assert (await client.get(f"/v1/status-lists/{ACADEMY_ID}/0")).status_code == 200  # public
    for path in (f"/v1/status-lists/{ACADEMY_ID}/1", "/v1/status-lists/no-such-academy/0"):
        response = await client.get(path)
        assert response.status_code == 404
        assert "no status list" in response.json()["detail"]
    assert (await client.get(f"/v1/status-lists/{ACADEMY_ID}/-1")).status_code == 422


def test_the_bit_order_is_the_specifications() -> None:
    # Entry 0 is the first byte's highest bit; entry 9 the second byte's second highest.
    bitstring = bits(encode([0, 9, LIST_SIZE - 1]))
    assert bitstring[0] == 0x80 and bitstring[1] == 0x40 and bitstring[-1] == 0x01
    assert sum(bin(byte).count("1") for byte in bitstring) == 3
    assert encode([5]) == encode([5])  # the same revocations, the same bytes


async def test_certificates_issued_before_get_entries_in_issue_order(database_url: str) -> None:
    engine = create_async_engine(database_url)
    config = alembic_config(MIGRATIONS)

    def upgrade(connection: sa.Connection, revision: str) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    columns = (
        "id, enrolment_id, awarded_for, edition, number, verification_code, trainee_id, "
        "academy_id, holder_name, employee_number, academy_name, track_code, track_version, "
        "track, language, template_version, issued_on, status, created_at"
    )
    insert = sa.text(
        f"INSERT INTO certificates ({columns}) VALUES (:id, :id, 'track', 1, :id, :id, 't', "
        ":academy, 'n', 'e', 'A', 'T', 1, '{}', 'en', '2026.1', :issued, 'valid', :created)"
    )
    try:
        async with engine.begin() as connection:
            await connection.run_sync(upgrade, "c3d8f1a6b240")
            for row_id, academy, month in (
                ("c3", "a1", 3),
                ("c1", "a1", 1),
                ("c2", "a2", 2),
                ("c4", "a1", 4),
            ):
                created = datetime(2026, month, 1, tzinfo=UTC)
                await connection.execute(
                    insert,
                    {
                        "id": row_id,
                        "academy": academy,
                        "issued": created.date(),
                        "created": created,
                    },
                )
        async with engine.begin() as connection:
            await connection.run_sync(upgrade, "head")
            result = await connection.execute(sa.text("SELECT id, status_index FROM certificates"))
            entries = {row_id: entry for row_id, entry in result}
            result = await connection.execute(
                sa.text("SELECT academy_id, used FROM status_list_counters")
            )
            counters = {academy: used for academy, used in result}
    finally:
        await engine.dispose()
    assert entries == {"c1": 0, "c3": 1, "c4": 2, "c2": 0}
    assert counters == {"a1": 3, "a2": 1}
