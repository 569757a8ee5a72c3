"""Signed credentials: Open Badges 3.0 payloads, verified with nothing but the JWKS."""

from __future__ import annotations

import base64
import json
import pathlib
import stat
from typing import Any

import httpx
import jsonschema
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from wps_certification.main import create_app
from wps_certification.settings import CertificationSettings
from wps_certification.signing import Keyring
from wps_common.testing import auth

from .conftest import ACADEMY_ID, TRACK, issue

OB3_SCHEMA = (
    pathlib.Path(__file__).resolve().parents[3].parent
    / "shared"
    / "conformance"
    / "openbadges-3.0-achievementcredential.schema.json"
)
BASE_URL = "http://localhost:8003"


def ob3_validator() -> jsonschema.Draft201909Validator:
    if not OB3_SCHEMA.is_file():
        pytest.skip(f"conformance schema not found at {OB3_SCHEMA}")
    schema = json.loads(OB3_SCHEMA.read_text(encoding="utf-8"))
    return jsonschema.Draft201909Validator(schema, format_checker=jsonschema.FormatChecker())


async def verify_with_jwks(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    """What a relying party does: fetch the issuer's JWKS, pick the key by kid, check EdDSA."""
    jwks = (await client.get("/.well-known/jwks.json")).json()
    kid = jwt.get_unverified_header(token)["kid"]
    [jwk] = [key for key in jwks["keys"] if key["kid"] == kid]
    key = jwt.PyJWK(jwk, algorithm="EdDSA").key
    claims: dict[str, Any] = jwt.decode(
        token, key, algorithms=["EdDSA"], issuer=BASE_URL, options={"require": ["iss", "nbf"]}
    )
    return claims


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def test_credential_verifies_with_the_jwks_and_tampering_fails(
    client: httpx.AsyncClient, bus: dict[str, Any], database_url: str
) -> None:
    certificate = await issue(bus, database_url, "t-c1")
    own = auth("trainee", academy_id=ACADEMY_ID, sub="t-c1")
    response = await client.get(f"/v1/certificates/{certificate.id}/credential", headers=own)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["format"] == "vc+jwt" and body["status"] == "valid"

    claims = await verify_with_jwks(client, body["jwt"])
    assert claims["vc"] == body["credential"]
    assert claims["jti"] == f"urn:uuid:{certificate.id}"
    assert jwt.get_unverified_header(body["jwt"]) == {
        "alg": "EdDSA",
        "kid": body["kid"],
        "typ": "JWT",
    }

    credential = claims["vc"]
    ob3_validator().validate(credential)
    assert credential["validFrom"] == "2026-11-20T00:00:00Z"
    assert credential["validUntil"] == "2028-11-20T23:59:59Z"
    achievement = credential["credentialSubject"]["achievement"]
    assert achievement["version"] == str(TRACK.version)
    assert achievement["otherIdentifier"][0]["identifier"] == f"sha256:{TRACK.content_hash}"
    assert achievement["creditsAvailable"] == 6
    assert achievement["modules"][0]["contentHash"] == "sha256:" + "a" * 64
    assert "GHR-FOUND" in achievement["criteria"]["narrative"]
    assert achievement["name"] == "Гендер и права человека"  # the holder's language
    assert credential["credentialSubject"]["identifier"][0]["identityHash"] == "Олена Коваленко"
    assert credential["evidence"][0]["id"].endswith(f"/v1/verify/{certificate.verification_code}")

    # Tampering: another name in the payload under the original signature.
    header, payload, signature = body["jwt"].split(".")
    forged_claims = json.loads(_unb64(payload))
    forged_claims["vc"]["credentialSubject"]["identifier"][0]["identityHash"] = "Somebody Else"
    forged = f"{header}.{_b64(json.dumps(forged_claims).encode())}.{signature}"
    with pytest.raises(jwt.InvalidSignatureError):
        await verify_with_jwks(client, forged)
    # A flipped bit in the signature.
    raw = bytearray(_unb64(signature))
    raw[0] ^= 1
    with pytest.raises(jwt.InvalidSignatureError):
        await verify_with_jwks(client, f"{header}.{payload}.{_b64(bytes(raw))}")
    # A credential signed by someone else's key that claims our kid.
    impostor = jwt.encode(
        claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": body["kid"]}
    )
    with pytest.raises(jwt.InvalidSignatureError):
        await verify_with_jwks(client, impostor)

    # The bare JWT for wallets; the same certificate signs to the same token.
    bare = await client.get(
        f"/v1/certificates/{certificate.id}/credential",
        headers={**own, "Accept": "application/vc+jwt"},
    )
    assert bare.headers["content-type"] == "application/vc+jwt"
    assert bare.text == body["jwt"]


async def test_credential_access_follows_the_pdf(
    client: httpx.AsyncClient, bus: dict[str, Any], database_url: str
) -> None:
    certificate = await issue(bus, database_url, "t-c2")
    path = f"/v1/certificates/{certificate.id}/credential"
    expected = {
        "own trainee": (auth("trainee", academy_id=ACADEMY_ID, sub="t-c2"), 200),
        "hr": (auth("hr"), 200),
        "academy staff": (auth("academy_admin", academy_id=ACADEMY_ID), 200),
        "other trainee": (auth("trainee", academy_id=ACADEMY_ID, sub="t-x"), 404),
        "other academy": (auth("instructor", academy_id="academy-2"), 404),
        "reviewer": (auth("reviewer"), 403),
        "public": ({}, 401),
    }
    for who, (headers, status) in expected.items():
        assert (await client.get(path, headers=headers)).status_code == status, who
    jwks = await client.get("/.well-known/jwks.json")  # public
    assert jwks.status_code == 200
    [key] = jwks.json()["keys"]
    assert key["kty"] == "OKP" and key["crv"] == "Ed25519" and key["alg"] == "EdDSA"
    assert "d" not in key  # never the private half


def _pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _public_pem(key: Ed25519PrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def test_rotation_keeps_old_credentials_verifiable(tmp_path: pathlib.Path) -> None:
    old_key, new_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    before = Keyring.from_settings(
        CertificationSettings(signing_keys=[{"kid": "2026-a", "private_key": _pem(old_key)}])
    )
    issued_before = before.sign({"iss": BASE_URL, "vc": {"n": 1}})
    # Rotation: the new key signs; the old one is kept by its public half only.
    after = Keyring.from_settings(
        CertificationSettings(
            signing_keys=[
                {"kid": "2027-a", "private_key": _pem(new_key)},
                {"kid": "2026-a", "public_key": _public_pem(old_key)},
            ]
        )
    )
    assert after.kid == "2027-a"
    assert [k["kid"] for k in after.jwks()["keys"]] == ["2027-a", "2026-a"]
    for token in (issued_before, after.sign({"iss": BASE_URL, "vc": {"n": 2}})):
        kid = jwt.get_unverified_header(token)["kid"]
        [jwk] = [k for k in after.jwks()["keys"] if k["kid"] == kid]
        assert jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["EdDSA"])["iss"] == BASE_URL


def test_settings_refuse_unsafe_key_configurations() -> None:
    with pytest.raises(ValidationError, match="SIGNING_KEYS must be set in production"):
        CertificationSettings(
            environment="production", oidc_issuers="https://sso.example.org/realms/wps"
        )
    with pytest.raises(ValidationError, match="needs its private_key"):
        CertificationSettings(
            signing_keys=[{"kid": "k", "public_key": _public_pem(Ed25519PrivateKey.generate())}]
        )
    production = CertificationSettings(
        environment="production",
        oidc_issuers="https://sso.example.org/realms/wps",
        signing_keys=[{"kid": "k1", "private_key": _pem(Ed25519PrivateKey.generate())}],
    )
    assert Keyring.from_settings(production).kid == "k1"


def test_development_key_is_generated_once_and_kept(tmp_path: pathlib.Path) -> None:
    settings = CertificationSettings(var_dir=tmp_path / "var")
    first = create_app(settings).state.keyring
    second = create_app(settings).state.keyring  # a restart
    assert first.kid == second.kid and first.jwks() == second.jwks()
    mode = settings.dev_signing_key_file.stat().st_mode
    assert stat.S_IMODE(mode) == 0o600
    token = first.sign({"x": 1})
    [jwk] = second.jwks()["keys"]
    assert jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["EdDSA"]) == {"x": 1}
