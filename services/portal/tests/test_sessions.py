"""Sessions and tokens without a browser: the portal refreshes an expiring access token at the
real provider, a refresh token works once, and the session id changes at sign-in."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from wps_platform.idp import DevIdentityProvider
from wps_platform.launcher import KEYCLOAK_CLAIMS
from wps_portal.main import create_app
from wps_portal.sessions import COOKIE
from wps_portal.settings import PortalSettings
from wps_portal.signin import SignIn

PORTAL = "https://portal.test"  # Secure cookies travel over https only


@pytest.fixture
def idp() -> Iterator[DevIdentityProvider]:
    provider = DevIdentityProvider(port=0, portal_url=PORTAL).start()
    yield provider
    provider.stop()


def settings_for(idp: DevIdentityProvider, tmp_path: Path) -> PortalSettings:
    import json

    return PortalSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'portal.db'}",
        public_url=PORTAL,
        oidc_issuers=idp.url,
        oidc_role_map=json.loads(KEYCLOAK_CLAIMS["OIDC_ROLE_MAP"]),
        oidc_roles_claim=KEYCLOAK_CLAIMS["OIDC_ROLES_CLAIM"],
        oidc_academy_claim=KEYCLOAK_CLAIMS["OIDC_ACADEMY_CLAIM"],
        oidc_employee_number_claim=KEYCLOAK_CLAIMS["OIDC_EMPLOYEE_NUMBER_CLAIM"],
    )


@pytest.fixture
async def portal(idp: DevIdentityProvider, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings_for(idp, tmp_path))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=PORTAL) as client:
            yield client


async def portal_tokens(idp: DevIdentityProvider, username: str) -> dict[str, Any]:
    """The portal client's tokens for a person (code + PKCE), as the callback receives them."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    params = {
        "response_type": "code",
        "client_id": "wps-portal",
        "redirect_uri": f"{PORTAL}/auth/callback",
        "scope": "openid profile email offline_access",  # what the portal asks for
        "state": "s",
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }
    async with httpx.AsyncClient(base_url=idp.url) as browser:
        back = await browser.post(
            "/authorize", params=params, data={"username": username, "password": "demo"}
        )
        code = parse_qs(urlsplit(back.headers["location"]).query)["code"][0]
        response = await browser.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": f"{PORTAL}/auth/callback",
                "code_verifier": verifier,
            },
            auth=("wps-portal", "demo-portal-secret"),
        )
    tokens: dict[str, Any] = response.json()
    return tokens


async def test_an_expiring_access_token_is_refreshed_once(
    idp: DevIdentityProvider, tmp_path: Path
) -> None:
    sign_in = SignIn(settings_for(idp, tmp_path))
    try:
        tokens = await portal_tokens(idp, "trainee.ala")
        kept = {
            "access_token": tokens["access_token"],
            "refresh_token": tokens["refresh_token"],
            "id_token": tokens["id_token"],
            "expires_at": time.time() - 1,
        }
        renewed = await sign_in.refresh(kept)
        assert renewed is not None
        assert renewed["access_token"] != tokens["access_token"]
        assert renewed["expires_at"] > time.time() + 60
        profile = await sign_in.profile(renewed)
        assert profile["roles"] == ["trainee"] and profile["academy"] == "KZ-ALA"
        # Refresh tokens rotate: the one just used is spent.
        assert await sign_in.refresh(kept) is None
    finally:
        await sign_in.aclose()


async def test_pages_behind_sign_in_send_the_browser_to_the_provider(
    portal: httpx.AsyncClient, idp: DevIdentityProvider
) -> None:
    response = await portal.get("/academy/compliance")
    assert response.status_code == 303
    assert response.headers["location"] == "/auth/sign-in?next=/academy/compliance"
    started = await portal.get("/auth/sign-in?next=/academy/compliance")
    assert started.status_code == 302
    target = urlsplit(started.headers["location"])
    query = parse_qs(target.query)
    assert f"{target.scheme}://{target.netloc}" == idp.url and target.path == "/authorize"
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"]
    assert query["redirect_uri"] == [f"{PORTAL}/auth/callback"]
    cookie = started.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie


async def test_the_session_id_changes_at_sign_in(
    portal: httpx.AsyncClient, idp: DevIdentityProvider
) -> None:
    started = await portal.get("/auth/sign-in")
    before = portal.cookies[COOKIE]
    query = parse_qs(urlsplit(started.headers["location"]).query)
    async with httpx.AsyncClient(base_url=idp.url) as browser:
        back = await browser.post(
            "/authorize",
            params={k: v[0] for k, v in query.items()},
            data={"username": "hr", "password": "demo"},
        )
    callback = urlsplit(back.headers["location"])
    done = await portal.get(f"{callback.path}?{callback.query}")
    assert done.status_code == 303 and done.headers["location"] == "/"
    after = portal.cookies[COOKIE]
    assert after != before  # no session fixation
    home = await portal.get("/")
    assert "Gulnara Omarova" in home.text
    # A forged state is refused with a page, not a traceback.
    forged = await portal.get("/auth/callback?code=x&state=forged")
    assert forged.status_code == 400 and "<html" in forged.text
