"""The development OpenID provider over real HTTP: discovery, code + PKCE, refresh, client
credentials, key rotation and persistence, logout."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from authlib.oidc.discovery import OpenIDProviderMetadata

from wps_platform.idp import SESSION_COOKIE, DevIdentityProvider, load_directory

# EdDSA is offered on purpose (keys.py); joserfc's per-signature advice to prefer "Ed25519"
# would otherwise fill the summary.
pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated:joserfc.errors.SecurityWarning")

PORTAL_CALLBACK = "http://localhost:8005/auth/callback"
PORTAL = ("wps-portal", "demo-portal-secret")
HR = ("wps-hr-demo", "demo-hr-secret")


@pytest.fixture
def idp() -> Iterator[DevIdentityProvider]:
    provider = DevIdentityProvider().start()
    yield provider
    provider.stop()


@pytest.fixture
def http(idp: DevIdentityProvider) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=idp.url, follow_redirects=False, timeout=5) as client:
        yield client


@dataclass
class Pkce:
    verifier: str
    challenge: str

    @classmethod
    def new(cls) -> Pkce:
        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        return cls(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii"))


def authorize_params(pkce: Pkce | None, **overrides: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": "wps-portal",
        "redirect_uri": PORTAL_CALLBACK,
        "scope": "openid profile email offline_access",
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
    }
    if pkce is not None:
        params |= {"code_challenge": pkce.challenge, "code_challenge_method": "S256"}
    return params | overrides


def query_of(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def sign_in(
    http: httpx.Client, params: dict[str, str], username: str = "trainee.ala"
) -> dict[str, str]:
    response = http.post(
        "/authorize", params=params, data={"username": username, "password": "demo"}
    )
    return query_of(response)


def exchange(
    http: httpx.Client, code: str, verifier: str | None, auth: tuple[str, str] = PORTAL
) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": PORTAL_CALLBACK}
    if verifier is not None:
        data["code_verifier"] = verifier
    return http.post("/token", data=data, auth=auth)


def verify(http: httpx.Client, token: str, audience: str = "wps-api") -> dict[str, Any]:
    """Verify as a resource server would: PyJWT, the published JWKS, issuer and audience."""
    header = jwt.get_unverified_header(token)
    key = jwt.PyJWKSet.from_dict(http.get("/jwks").json())[header["kid"]]
    claims: dict[str, Any] = jwt.decode(
        token,
        key.key,
        algorithms=[header["alg"]],
        audience=audience,
        issuer=str(http.base_url).rstrip("/"),
    )
    return claims


def code_flow_tokens(http: httpx.Client, username: str = "trainee.ala") -> dict[str, Any]:
    pkce = Pkce.new()
    code = sign_in(http, authorize_params(pkce), username)["code"]
    response = exchange(http, code, pkce.verifier)
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def service_token(http: httpx.Client, auth: tuple[str, str] = HR) -> str:
    response = http.post("/token", data={"grant_type": "client_credentials"}, auth=auth)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


class TestDiscovery:
    def test_openid_configuration(self, idp: DevIdentityProvider, http: httpx.Client) -> None:
        config = http.get("/.well-known/openid-configuration").json()

        OpenIDProviderMetadata(config).validate()
        assert config["issuer"] == idp.url
        for name, path in {
            "authorization_endpoint": "/authorize",
            "token_endpoint": "/token",
            "jwks_uri": "/jwks",
            "userinfo_endpoint": "/userinfo",
            "end_session_endpoint": "/logout",
            "revocation_endpoint": "/revoke",
        }.items():
            assert config[name] == f"{idp.url}{path}"
        assert config["grant_types_supported"] == [
            "authorization_code",
            "refresh_token",
            "client_credentials",
        ]
        assert config["code_challenge_methods_supported"] == ["S256"]
        assert config["response_types_supported"] == ["code"]
        assert set(config["token_endpoint_auth_methods_supported"]) == {
            "client_secret_basic",
            "client_secret_post",
            "none",
        }
        assert config["scopes_supported"] == ["openid", "profile", "email", "offline_access"]
        assert {"RS256", "ES256", "EdDSA"} <= set(config["id_token_signing_alg_values_supported"])

    def test_jwks_publishes_public_signing_keys(self, http: httpx.Client) -> None:
        keys = http.get("/jwks").json()["keys"]

        assert len(keys) == 1
        (key,) = keys
        assert key["kid"] and key["alg"] == "RS256" and key["use"] == "sig"
        assert "d" not in key  # never the private part


class TestCodeFlow:
    def test_authorize_shows_sign_in_form_and_demo_users(self, http: httpx.Client) -> None:
        response = http.get("/authorize", params=authorize_params(Pkce.new()))

        assert response.status_code == 200
        page = response.text
        assert '<label for="username">' in page and '<label for="password">' in page
        assert 'name="viewport"' in page
        assert "trainee.ala" in page and "KZ-ALA" in page and "wps-academy-admin" in page
        assert "<script" not in page and "<link" not in page
        assert response.headers["x-frame-options"] == "DENY"

    def test_trainee_signs_in_and_gets_keycloak_shaped_tokens(
        self, idp: DevIdentityProvider, http: httpx.Client
    ) -> None:
        pkce = Pkce.new()
        params = authorize_params(pkce)

        response = http.post(
            "/authorize", params=params, data={"username": "trainee.ala", "password": "demo"}
        )

        query = query_of(response)
        assert response.headers["location"].startswith(PORTAL_CALLBACK + "?")
        assert query["state"] == params["state"] and query["code"]
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"{SESSION_COOKIE}=")
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie

        response = exchange(http, query["code"], pkce.verifier)
        assert response.status_code == 200, response.text
        tokens = response.json()
        assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 300
        assert tokens["refresh_token"] and set(tokens["scope"].split()) >= {"openid", "email"}

        header = jwt.get_unverified_header(tokens["access_token"])
        assert header["typ"] == "at+jwt" and header["kid"] == idp.keys.signing_key().kid
        claims = verify(http, tokens["access_token"])
        assert claims["iss"] == idp.url and claims["aud"] == ["wps-api"]
        assert claims["sub"] == "demo-trainee-ala" and claims["nbf"] == claims["iat"]
        assert claims["azp"] == claims["client_id"] == "wps-portal" and claims["jti"]
        assert claims["realm_access"] == {"roles": ["wps-trainee"]}
        assert claims["academy"] == "KZ-ALA" and claims["employee_number"] == "ALA-1001"
        assert claims["preferred_username"] == "trainee.ala" and claims["name"] == "Aliya Serikova"
        assert claims["given_name"] == "Aliya" and claims["family_name"] == "Serikova"
        assert claims["locale"] == "ru" and claims["email"]

        id_token = verify(http, tokens["id_token"], audience="wps-portal")
        assert id_token["nonce"] == params["nonce"] and id_token["sub"] == "demo-trainee-ala"
        assert id_token["auth_time"] <= id_token["iat"] and id_token["locale"] == "ru"
        assert id_token["preferred_username"] == "trainee.ala"

        userinfo = http.get(
            "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
        assert userinfo.status_code == 200
        assert userinfo.json()["sub"] == "demo-trainee-ala"
        assert userinfo.json()["academy"] == "KZ-ALA"

    def test_refresh_token_rotates_and_works_once(self, http: httpx.Client) -> None:
        tokens = code_flow_tokens(http)
        refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}

        first = http.post("/token", data=refresh, auth=PORTAL)
        again = http.post("/token", data=refresh, auth=PORTAL)

        assert first.status_code == 200, first.text
        renewed = first.json()
        assert renewed["refresh_token"] != tokens["refresh_token"]
        assert verify(http, renewed["access_token"])["sub"] == "demo-trainee-ala"
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
        newer = http.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": renewed["refresh_token"]},
            auth=PORTAL,
        )
        assert newer.status_code == 200

    def test_second_authorize_skips_the_form_unless_prompt_login(self, http: httpx.Client) -> None:
        sign_in(http, authorize_params(Pkce.new()), "academy.ast")
        assert http.cookies.get(SESSION_COOKIE)

        silent = http.get("/authorize", params=authorize_params(Pkce.new()))
        forced = http.get("/authorize", params=authorize_params(Pkce.new(), prompt="login"))

        assert "code" in query_of(silent)
        assert forced.status_code == 200 and '<label for="username">' in forced.text

    def test_code_is_single_use(self, http: httpx.Client) -> None:
        pkce = Pkce.new()
        code = sign_in(http, authorize_params(pkce))["code"]

        assert exchange(http, code, pkce.verifier).status_code == 200
        replay = exchange(http, code, pkce.verifier)

        assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"

    def test_public_cli_client_on_any_loopback_port(self, http: httpx.Client) -> None:
        pkce = Pkce.new()
        redirect_uri = "http://127.0.0.1:53117/callback"
        params = authorize_params(pkce, client_id="wps-cli", redirect_uri=redirect_uri)

        code = sign_in(http, params, "instructor.ala")["code"]
        response = http.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "client_id": "wps-cli",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": pkce.verifier,
            },
        )

        assert response.status_code == 200, response.text
        claims = verify(http, response.json()["access_token"])
        assert claims["client_id"] == "wps-cli" and claims["academy"] == "KZ-ALA"
        assert claims["realm_access"]["roles"] == ["wps-instructor"]


class TestRefusals:
    def test_authorize_without_pkce_is_refused(self, http: httpx.Client) -> None:
        response = http.get("/authorize", params=authorize_params(None))

        query = query_of(response)
        assert query["error"] == "invalid_request" and "code" not in query

    def test_plain_pkce_is_refused(self, http: httpx.Client) -> None:
        pkce = Pkce.new()
        params = authorize_params(None, code_challenge=pkce.verifier, code_challenge_method="plain")

        query = query_of(http.get("/authorize", params=params))

        assert query["error"] == "invalid_request"

    @pytest.mark.parametrize("verifier", [None, "wrong-" + "x" * 50])
    def test_token_needs_the_right_verifier(self, http: httpx.Client, verifier: str | None) -> None:
        code = sign_in(http, authorize_params(Pkce.new()))["code"]

        response = exchange(http, code, verifier)

        assert response.status_code == 400
        assert response.json()["error"] in {"invalid_request", "invalid_grant"}
        assert "access_token" not in response.json()

    def test_wrong_password_shows_the_form_again(self, http: httpx.Client) -> None:
        response = http.post(
            "/authorize",
            params=authorize_params(Pkce.new()),
            data={"username": "trainee.ala", "password": "not-demo"},
        )

        assert response.status_code == 200
        assert "Unknown username or wrong password." in response.text
        assert 'value="trainee.ala"' in response.text
        assert "location" not in response.headers and "set-cookie" not in response.headers

    def test_prompt_none_without_a_session_goes_back_with_login_required(
        self, http: httpx.Client
    ) -> None:
        query = query_of(http.get("/authorize", params=authorize_params(Pkce.new(), prompt="none")))

        assert query["error"] == "login_required" and "code" not in query

    def test_unknown_client_gets_a_page_not_a_redirect(self, http: httpx.Client) -> None:
        params = authorize_params(Pkce.new(), client_id="nobody")

        response = http.get("/authorize", params=params)

        assert response.status_code == 400 and "location" not in response.headers
        assert "cannot be served" in response.text

    def test_redirect_uri_must_be_registered(self, http: httpx.Client) -> None:
        params = authorize_params(Pkce.new(), redirect_uri="https://evil.example/cb")

        response = http.get("/authorize", params=params)

        assert response.status_code == 400 and "location" not in response.headers

    def test_userinfo_needs_a_user_token(self, http: httpx.Client) -> None:
        missing = http.get("/userinfo")
        service = http.get("/userinfo", headers={"Authorization": f"Bearer {service_token(http)}"})

        assert missing.status_code == 401
        # A service token has no openid scope and no end-user: refused before claims are read.
        assert service.status_code == 403 and "insufficient_scope" in service.text


class TestClientCredentials:
    def test_hr_system_gets_a_service_account_token(
        self, idp: DevIdentityProvider, http: httpx.Client
    ) -> None:
        claims = verify(http, service_token(http))

        assert claims["sub"] == "wps-hr-demo" and claims["client_id"] == "wps-hr-demo"
        assert claims["azp"] == "wps-hr-demo" and claims["iss"] == idp.url
        assert claims["preferred_username"] == "service-account-wps-hr-demo"
        assert claims["realm_access"] == {"roles": ["wps-hr"]}
        assert "academy" not in claims and "employee_number" not in claims

    def test_second_hr_system_is_a_different_subject(self, http: httpx.Client) -> None:
        claims = verify(http, service_token(http, ("wps-hr-other", "demo-hr-other-secret")))

        assert claims["sub"] == "wps-hr-other" and claims["realm_access"]["roles"] == ["wps-hr"]

    def test_wrong_secret_and_wrong_grant_are_refused(self, http: httpx.Client) -> None:
        wrong_secret = http.post(
            "/token", data={"grant_type": "client_credentials"}, auth=("wps-hr-demo", "nope")
        )
        portal = http.post("/token", data={"grant_type": "client_credentials"}, auth=PORTAL)

        assert wrong_secret.status_code == 401
        assert portal.status_code == 400 and portal.json()["error"] == "unauthorized_client"


class TestKeyRotation:
    @pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
    def test_new_tokens_use_the_new_key_and_jwks_keeps_the_old(
        self, idp: DevIdentityProvider, http: httpx.Client, alg: str
    ) -> None:
        old_token = service_token(http)
        old_kid = jwt.get_unverified_header(old_token)["kid"]

        new_kid = idp.rotate(alg=alg)  # type: ignore[arg-type]

        assert new_kid != old_kid
        kids = {key["kid"]: key for key in http.get("/jwks").json()["keys"]}
        assert set(kids) == {old_kid, new_kid} and kids[new_kid]["alg"] == alg
        access = service_token(http)
        assert jwt.get_unverified_header(access) == {"typ": "at+jwt", "alg": alg, "kid": new_kid}
        assert verify(http, access)["sub"] == "wps-hr-demo"
        assert verify(http, old_token)["sub"] == "wps-hr-demo"  # still verifiable
        tokens = code_flow_tokens(http)
        assert jwt.get_unverified_header(tokens["id_token"])["kid"] == new_kid
        assert verify(http, tokens["id_token"], audience="wps-portal")["sub"] == "demo-trainee-ala"
        userinfo = http.get(
            "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
        assert userinfo.status_code == 200

    def test_admin_endpoint_rotates_and_can_retire(
        self, idp: DevIdentityProvider, http: httpx.Client
    ) -> None:
        first = http.post("/admin/keys/rotate", json={"alg": "ES256"}).json()
        second = http.post("/admin/keys/rotate", json={"retire_previous": True})

        assert first["alg"] == "ES256"
        assert second.status_code == 200 and second.json()["alg"] == "RS256"
        assert [key["kid"] for key in http.get("/jwks").json()["keys"]] == [second.json()["kid"]]
        bad = http.post("/admin/keys/rotate", json={"alg": "HS256"})
        assert bad.status_code == 400

    def test_admin_endpoint_refuses_non_loopback_callers(self, idp: DevIdentityProvider) -> None:
        before = idp.keys.signing_key().kid
        client = idp.app.test_client()

        remote = client.post(
            "/admin/keys/rotate", json={}, environ_base={"REMOTE_ADDR": "192.0.2.10"}
        )
        local = client.post("/admin/keys/rotate", json={}, environ_base={"REMOTE_ADDR": "::1"})

        assert remote.status_code == 403
        assert local.status_code == 200 and local.get_json()["kid"] != before


class TestPersistence:
    def test_keys_survive_a_restart(self, tmp_path: Path) -> None:
        first = DevIdentityProvider(var_dir=tmp_path).start()
        try:
            kid = first.rotate(alg="ES256")
            with httpx.Client(base_url=first.url) as http:
                token = service_token(http)
        finally:
            first.stop()
        keys_file = tmp_path / "keys.json"
        assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
        assert json.loads(keys_file.read_text())["signing_kid"] == kid

        second = DevIdentityProvider(var_dir=tmp_path).start()
        try:
            with httpx.Client(base_url=second.url) as http:
                published = {key["kid"] for key in http.get("/jwks").json()["keys"]}
                assert kid in published and len(published) == 2
                assert jwt.get_unverified_header(service_token(http))["kid"] == kid
                key = jwt.PyJWKSet.from_dict(http.get("/jwks").json())[kid]
                claims = jwt.decode(token, key.key, algorithms=["ES256"], audience="wps-api")
                assert claims["sub"] == "wps-hr-demo"
        finally:
            second.stop()


class TestLogout:
    def test_logout_ends_the_session_and_redirects_when_registered(
        self, http: httpx.Client
    ) -> None:
        tokens = code_flow_tokens(http)

        response = http.get(
            "/logout",
            params={
                "client_id": "wps-portal",
                "post_logout_redirect_uri": "http://localhost:8005/",
            },
        )

        assert response.status_code == 302
        assert response.headers["location"] == "http://localhost:8005/"
        assert f'{SESSION_COOKIE}=""' in response.headers["set-cookie"] or (
            "Max-Age=0" in response.headers["set-cookie"]
        )
        http.cookies.clear()
        again = http.get("/authorize", params=authorize_params(Pkce.new()))
        assert again.status_code == 200 and '<label for="username">' in again.text
        refresh = http.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            auth=PORTAL,
        )
        assert refresh.status_code == 400  # the session's tokens went with it

    def test_logout_with_id_token_hint(self, http: httpx.Client) -> None:
        tokens = code_flow_tokens(http)

        response = http.get(
            "/logout",
            params={
                "id_token_hint": tokens["id_token"],
                "post_logout_redirect_uri": "http://localhost:8005/",
                "state": "bye",
            },
        )

        assert response.headers["location"] == "http://localhost:8005/?state=bye"

    def test_unregistered_redirect_shows_signed_out_page(self, http: httpx.Client) -> None:
        code_flow_tokens(http)

        response = http.get(
            "/logout",
            params={"client_id": "wps-portal", "post_logout_redirect_uri": "https://evil.example/"},
        )

        assert response.status_code == 200 and "You are signed out" in response.text
        http.cookies.clear()


class TestDirectory:
    def test_demo_directory(self) -> None:
        directory = load_directory(portal_url="http://portal.test:9000")

        assert {a.code for a in directory.academies} == {"KZ-ALA", "KZ-AST"}
        for academy in directory.academies:  # named in each of their languages
            assert set(academy.names) == set(academy.languages) == {"kk", "ru", "en"}
        assert len(directory.users) == 11
        trainee = directory.user_by_username("trainee.ast")
        assert trainee is not None and trainee.employee_number == "AST-2001"
        assert trainee.gender == "male" and trainee.rank == "Sergeant" and trainee.unit
        portal = directory.client("wps-portal")
        assert portal is not None
        assert portal.redirect_uris == ["http://portal.test:9000/auth/callback"]
        assert portal.post_logout_redirect_uris == ["http://portal.test:9000/"]
        cli = directory.client("wps-cli")
        assert cli is not None and cli.is_public


class TestCommandLine:
    @pytest.mark.parametrize("quiet", [False, True])
    def test_serve_prints_users_and_clients_and_stops_on_sigterm(
        self, tmp_path: Path, quiet: bool
    ) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        url = f"http://localhost:{port}"
        command = [sys.executable, "-m", "wps_platform.idp.cli", "serve", "--port", str(port)]
        process = subprocess.Popen(
            [*command, "--var", str(tmp_path), *(["--quiet"] if quiet else [])],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 15
            config = None
            while config is None:
                assert process.poll() is None, process.communicate()[1].decode()
                assert time.monotonic() < deadline, "wps-idp did not answer in time"
                try:
                    config = httpx.get(f"{url}/.well-known/openid-configuration").json()
                except httpx.TransportError:
                    time.sleep(0.05)  # polling a condition (the port answers), with a deadline
            assert config["issuer"] == url
        finally:
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=10)

        assert process.returncode == 0
        assert (tmp_path / "keys.json").exists()
        if quiet:
            assert out == b"" and b"GET /.well-known" not in err
            return
        banner = out.decode()
        assert url in banner and "password 'demo'" in banner
        assert "trainee.ala" in banner and "KZ-ALA" in banner and "wps-trainee" in banner
        assert "demo-portal-secret" in banner and "demo-hr-secret" in banner
