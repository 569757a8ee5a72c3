"""Access tokens from OpenID providers over real HTTP: signatures, claims, key rotation, and the
claim mapping that lets one build serve Keycloak and Entra ID by settings alone."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from wps_common.auth import Role
from wps_common.errors import ServiceUnavailable
from wps_common.natsserver import NatsServer
from wps_common.oidc import TokenVerifier
from wps_common.settings import ServiceSettings
from wps_common.testing import auth, bus_settings, running_app, wait_until
from wps_webhooks.main import create_app
from wps_webhooks.settings import WebhooksSettings

AUDIENCE = "wps-api"
KEYCLOAK = {
    "oidc_roles_claim": "realm_access.roles",
    "oidc_role_map": {
        "wps-admin": "admin",
        "wps-academy-admin": "academy_admin",
        "wps-trainee": "trainee",
        "wps-hr": "hr",
    },
    "oidc_academy_claim": "academy",
    "oidc_employee_number_claim": "employee_number",
}


class LocalIssuer:
    """An OpenID issuer reduced to what a resource server reads — discovery and JWKS — served
    over real HTTP from a thread; it signs tokens with keys it makes itself."""

    def __init__(self, path: str = "") -> None:
        self.keys: dict[str, tuple[str, Any]] = {}
        self.published: list[str] = []
        self.jwks_fetches = 0
        self.path = path
        self.declared: str | None = None  # the issuer its metadata names, when not its URL
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                if self.path == f"{issuer.path}/.well-known/openid-configuration":
                    declared = issuer.declared or issuer.url
                    body = {"issuer": declared, "jwks_uri": f"{issuer.url}/keys"}
                elif self.path == f"{issuer.path}/keys":
                    issuer.jwks_fetches += 1
                    body = issuer.jwks()
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{self.path}"

    def start(self) -> LocalIssuer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add_key(self, alg: str = "RS256", *, publish: bool = True) -> str:
        private: Any
        if alg.startswith("RS"):
            private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif alg == "ES256":
            private = ec.generate_private_key(ec.SECP256R1())
        else:
            private = ed25519.Ed25519PrivateKey.generate()
        kid = uuid.uuid4().hex[:12]
        self.keys[kid] = (alg, private)
        if publish:
            self.published.append(kid)
        return kid

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid in self.published:
            alg, private = self.keys[kid]
            algorithm = jwt.get_algorithm_by_name(alg)
            jwk = json.loads(algorithm.to_jwk(private.public_key()))
            keys.append(jwk | {"kid": kid, "alg": alg, "use": "sig"})
        return {"keys": keys}

    def public_pem(self, kid: str) -> bytes:
        public: Any = self.keys[kid][1].public_key()
        return bytes(
            public.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def token(self, kid: str | None = None, **claims: Any) -> str:
        kid = kid or self.published[-1]
        alg, private = self.keys[kid]
        now = int(time.time())
        body = {"iss": self.url, "aud": AUDIENCE, "sub": "user-1", "iat": now, "exp": now + 300}
        body.update(claims)
        return jwt.encode(
            {k: v for k, v in body.items() if v is not None},
            private,
            algorithm=alg,
            headers={"kid": kid, "typ": "at+jwt"},
        )


def _unsigned(claims: dict[str, Any], header: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}."


def _hs256_with(secret: bytes, claims: dict[str, Any], kid: str) -> str:
    """The algorithm-confusion attack: HMAC-sign with the provider's *public* key as secret
    (PyJWT refuses to build such a token, so it is assembled here by hand)."""
    signing_input = _unsigned(claims, {"alg": "HS256", "typ": "JWT", "kid": kid})[:-1]
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


@pytest.fixture
def issuer() -> Iterator[LocalIssuer]:
    provider = LocalIssuer().start()
    provider.add_key("RS256")
    yield provider
    provider.stop()


def settings_for(issuer: LocalIssuer, **overrides: Any) -> ServiceSettings:
    values: dict[str, Any] = {
        "oidc_issuers": issuer.url,
        "oidc_jwks_min_refresh_seconds": 0.2,
        **KEYCLOAK,
    }
    values.update(overrides)
    return ServiceSettings(**values)


@pytest.fixture
async def webhooks(
    issuer: LocalIssuer, nats_server: NatsServer, tmp_path: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """A real service (webhooks) that trusts the local issuer, in production mode."""
    settings = WebhooksSettings(
        environment="production",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'webhooks.db'}",
        oidc_issuers=issuer.url,
        oidc_jwks_min_refresh_seconds=0.2,
        **KEYCLOAK,
        **bus_settings(nats_server.url),
    )
    async with running_app(create_app(settings), ready=False) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


HR = {"realm_access": {"roles": ["wps-hr"]}}


async def test_a_provider_token_is_accepted_and_each_bad_one_is_refused_in_words(
    webhooks: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    good = await webhooks.get("/v1/webhooks", headers=bearer(issuer.token(**HR)))
    assert good.status_code == 200, good.text

    kid = issuer.published[0]
    now = int(time.time())
    claims = {"iss": issuer.url, "aud": AUDIENCE, "sub": "x", "exp": now + 300} | HR
    refused = {
        "wrong audience": (issuer.token(aud="another-app", **HR), "audience includes 'wps-api'"),
        "wrong issuer": (issuer.token(iss="https://evil.example.org", **HR), "does not trust"),
        "expired": (issuer.token(exp=now - 3600, iat=now - 7200, **HR), "has expired"),
        "not yet valid": (issuer.token(nbf=now + 3600, **HR), "not valid yet"),
        "alg none": (_unsigned(claims, {"alg": "none", "kid": kid}), "alg none"),
        "HS256 with the public key": (
            _hs256_with(issuer.public_pem(kid), claims, kid),
            "not accepted",
        ),
        "unknown kid": (
            issuer.token(kid=issuer.add_key("RS256", publish=False), **HR),
            "does not publish",
        ),
        "tampered": (issuer.token(**HR)[:-6] + "AAAAAA", "signature does not match"),
        "development token in production": (
            auth("hr")["Authorization"].split()[1],
            "HS256 are not accepted",
        ),
        "not a JWT": ("hello", "not a well-formed JWT"),
    }
    for case, (token, words) in refused.items():
        response = await webhooks.get("/v1/webhooks", headers=bearer(token))
        assert response.status_code == 401, (case, response.text)
        assert response.headers["content-type"] == "application/problem+json", case
        assert words in response.json()["detail"], (case, response.json()["detail"])


async def test_keys_rotated_at_the_provider_are_taken_without_a_restart(
    webhooks: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    assert (await webhooks.get("/v1/webhooks", headers=bearer(issuer.token(**HR)))).is_success
    for alg in ("ES256", "EdDSA"):
        new = issuer.token(kid=issuer.add_key(alg), **HR)

        async def accepted(token: str = new) -> bool:
            response = await webhooks.get("/v1/webhooks", headers=bearer(token))
            return response.status_code == 200

        await wait_until(accepted, timeout=10, what=f"a token signed with the new {alg} key")


async def test_junk_key_ids_cannot_hammer_the_provider(issuer: LocalIssuer) -> None:
    verifier = TokenVerifier(settings_for(issuer, oidc_jwks_min_refresh_seconds=60))
    try:
        await verifier.verify(issuer.token(**HR))
        fetched = issuer.jwks_fetches
        for _ in range(25):
            junk = issuer.token(kid=issuer.add_key("RS256", publish=False), **HR)
            with pytest.raises(Exception, match="does not publish"):
                await verifier.verify(junk)
        assert issuer.jwks_fetches == fetched == 1
    finally:
        await verifier.aclose()


async def test_an_unreachable_provider_is_a_503_not_a_500(
    nats_server: NatsServer, tmp_path: Any
) -> None:
    settings = WebhooksSettings(
        environment="production",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'webhooks.db'}",
        oidc_issuers="http://127.0.0.1:9",  # discard port: nothing answers
        **bus_settings(nats_server.url),
    )
    token = _unsigned({"iss": "http://127.0.0.1:9", "sub": "x"}, {"alg": "RS256", "kid": "k"})
    async with running_app(create_app(settings), ready=False) as client:
        response = await client.get("/v1/webhooks", headers=bearer(token + "c2ln"))
    assert response.status_code == 503
    assert "identity provider could not be reached" in response.json()["detail"]


async def test_adfs_style_issuer_is_trusted_through_a_named_discovery_url(
    issuer: LocalIssuer,
) -> None:
    """ADFS signs access tokens with `iss` …/adfs/services/trust while its metadata declares
    …/adfs: the operator names the metadata URL and vouches for it; unnamed, it is refused."""
    trust = "http://adfs.example.org/adfs/services/trust"
    issuer.declared = "https://adfs.example.org/adfs"
    token = issuer.token(iss=trust, role="wps-hr", unique_name="CONTOSO\\hr-analyst")
    named = TokenVerifier(
        settings_for(
            issuer,
            oidc_issuers=trust,
            oidc_discovery_urls=f"{issuer.url}/.well-known/openid-configuration",
            oidc_roles_claim="role",
            oidc_name_claim="unique_name",
        )
    )
    # Unnamed, the metadata is looked up under the configured issuer itself (here the local
    # server stands in for it), and it speaks for another issuer.
    unnamed = TokenVerifier(settings_for(issuer))
    try:
        who = await named.verify(token)
        assert who.roles == {Role.HR} and who.display_name == "CONTOSO\\hr-analyst"
        with pytest.raises(
            ServiceUnavailable, match="names issuer 'https://adfs.example.org/adfs'"
        ):
            await unnamed.verify(issuer.token(**HR))
    finally:
        await named.aclose()
        await unnamed.aclose()


async def test_keycloak_shaped_token_is_mapped_by_settings(issuer: LocalIssuer) -> None:
    verifier = TokenVerifier(settings_for(issuer))
    token = issuer.token(
        sub="f3a1c2d4-keycloak-user",
        realm_access={"roles": ["wps-academy-admin", "offline_access", "uma_authorization"]},
        resource_access={"account": {"roles": ["manage-account"]}},
        academy="KZ-ALA",
        name="Aigerim Bekova",
        preferred_username="academy.ala",
        azp="wps-portal",
    )
    try:
        who = await verifier.verify(token)
    finally:
        await verifier.aclose()
    assert who.roles == {Role.ACADEMY_ADMIN}  # unmapped provider roles are ignored
    assert (who.subject, who.academy_id, who.client_id) == (
        "f3a1c2d4-keycloak-user",
        "KZ-ALA",
        "wps-portal",
    )
    assert who.display_name == "Aigerim Bekova" and who.issuer == issuer.url


async def test_keycloak_client_roles_and_trainee_employee_number(issuer: LocalIssuer) -> None:
    verifier = TokenVerifier(
        settings_for(issuer, oidc_roles_claim="resource_access.wps-portal.roles")
    )
    token = issuer.token(
        resource_access={"wps-portal": {"roles": ["wps-trainee"]}},
        academy="KZ-AST",
        employee_number="AST-2001",
        preferred_username="trainee.ast",
    )
    try:
        who = await verifier.verify(token)
    finally:
        await verifier.aclose()
    assert who.roles == {Role.TRAINEE}
    assert (who.academy_id, who.employee_number) == ("KZ-AST", "AST-2001")
    assert who.display_name == "trainee.ast"  # no `name`: preferred_username
    assert who.trainee_id is None  # resolved by each service from its own records


async def test_entra_shaped_token_is_mapped_by_settings_alone() -> None:
    tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    entra = LocalIssuer(path=f"/{tenant}/v2.0").start()
    entra.add_key("RS256")
    settings = ServiceSettings(
        oidc_issuers=entra.url,
        oidc_audience="api://wps-training",
        oidc_roles_claim="roles",
        oidc_role_map={"WPS.AcademyAdmin": "academy_admin", "WPS.Reviewer": "reviewer"},
        oidc_academy_claim="extn.academy",
        oidc_employee_number_claim="employeeid",
    )
    verifier = TokenVerifier(settings)
    token = entra.token(
        aud="api://wps-training",
        sub="AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
        oid="00000000-0000-0000-66f3-3332eca7ea81",
        tid=tenant,
        ver="2.0",
        roles=["WPS.AcademyAdmin", "WPS.Reviewer", "Directory.Read"],
        azp="6e74172b-be56-4843-9ff4-e66a39bb12e3",
        name="Dmitri Volkov",
        **{"extn.academy": "KZ-AST"},
    )
    try:
        who = await verifier.verify(token)
    finally:
        await verifier.aclose()
        entra.stop()
    assert who.roles == {Role.ACADEMY_ADMIN, Role.REVIEWER}
    assert who.academy_id == "KZ-AST" and who.display_name == "Dmitri Volkov"
    assert who.client_id == "6e74172b-be56-4843-9ff4-e66a39bb12e3"


async def test_an_academy_role_without_an_academy_is_refused_in_words(
    issuer: LocalIssuer,
) -> None:
    verifier = TokenVerifier(settings_for(issuer))
    try:
        with pytest.raises(Exception, match="carries no academy \\(claim 'academy'\\)"):
            await verifier.verify(issuer.token(realm_access={"roles": ["wps-academy-admin"]}))
    finally:
        await verifier.aclose()


def test_production_refuses_to_start_without_an_identity_provider() -> None:
    with pytest.raises(ValueError, match="OIDC_ISSUERS must name your identity provider"):
        ServiceSettings(environment="production")


@pytest.mark.parametrize("service", ["curriculum", "enrolment", "certification", "webhooks"])
def test_production_without_an_identity_provider_stops_with_one_readable_line(
    service: str, tmp_path: Any
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OIDC_", "WPS_"))}
    env |= {"WPS_ENVIRONMENT": "production", "CERTIFICATION_SIGNING_KEYS": "[]"}
    done = subprocess.run(
        [sys.executable, "-m", f"wps_{service}.cli", "migrate"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert (
        f"wps-{service}: configuration error: OIDC_ISSUERS must name your identity provider"
        in lines[0]
    )
    assert "Traceback" not in done.stderr
