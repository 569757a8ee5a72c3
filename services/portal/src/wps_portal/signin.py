"""Sign-in with the identity provider: authorization code + PKCE (authlib), refresh, and
RP-initiated sign-out. The tokens stay in the server-side session."""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

from authlib.integrations.base_client import OAuthError
from authlib.integrations.starlette_client import OAuth
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from wps_common.errors import ProblemError
from wps_common.oidc import TokenVerifier
from wps_portal.sessions import CLEAR, ROTATE
from wps_portal.settings import PortalSettings
from wps_portal.web import checked_form, render

log = logging.getLogger("wps.portal.signin")
router = APIRouter(prefix="/auth", include_in_schema=False)


class SignIn:
    """The portal as a confidential OpenID client of the first issuer in OIDC_ISSUERS."""

    def __init__(self, settings: PortalSettings) -> None:
        self.settings = settings
        issuer = settings.issuers[0] if settings.issuers else ""
        metadata = (
            settings.discovery_urls[0]
            if settings.discovery_urls
            else issuer.rstrip("/") + "/.well-known/openid-configuration"
        )
        self.oauth = OAuth()
        self.client = self.oauth.register(
            "provider",
            client_id=settings.client_id,
            client_secret=settings.client_secret.get_secret_value(),
            server_metadata_url=metadata,
            client_kwargs={"scope": settings.scopes, "code_challenge_method": "S256"},
        )
        self.verifier = TokenVerifier(settings)

    async def aclose(self) -> None:
        await self.verifier.aclose()

    async def profile(self, tokens: dict[str, Any]) -> dict[str, Any]:
        """Who the access token says this is, read the way the services read it."""
        principal = await self.verifier.verify(tokens["access_token"])
        claims = tokens.get("userinfo") or {}
        return {
            "subject": principal.subject,
            "name": principal.display_name or principal.subject,
            "roles": sorted(role.value for role in principal.roles),
            "academy": principal.academy_id,
            "locale": claims.get("locale"),
        }

    async def refresh(self, tokens: dict[str, Any]) -> dict[str, Any] | None:
        if not tokens.get("refresh_token"):
            return None
        try:
            renewed = await self.client.fetch_access_token(
                grant_type="refresh_token", refresh_token=tokens["refresh_token"]
            )
        except (OAuthError, Exception) as exc:  # a refused or unreachable provider alike
            log.info("refresh failed: %s", exc.__class__.__name__)
            return None
        return _kept(renewed, tokens)


def _kept(tokens: dict[str, Any], previous: dict[str, Any] | None = None) -> dict[str, Any]:
    expires_at = tokens.get("expires_at") or time.time() + float(tokens.get("expires_in", 300))
    kept = {
        "access_token": tokens["access_token"],
        "refresh_token": tokens.get("refresh_token") or (previous or {}).get("refresh_token"),
        "id_token": tokens.get("id_token") or (previous or {}).get("id_token"),
        "expires_at": float(expires_at),
    }
    return kept


def _safe_next(target: str | None) -> str:
    """Only a path of this site: never an open redirect to somewhere else."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    parts = urlsplit(target)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@router.get("/sign-in")
async def sign_in(request: Request, next: str | None = None) -> Response:
    """Off to the identity provider; back at /auth/callback."""
    request.scope["session"]["after_sign_in"] = _safe_next(next)
    sign: SignIn = request.app.state.sign_in
    try:
        return await sign.client.authorize_redirect(
            request, sign.settings.redirect_uri, ui_locales=request.query_params.get("lang")
        )
    except Exception as exc:  # the provider's metadata could not be fetched
        log.warning("sign-in unavailable: %r", exc)
        return render(request, "signin_unavailable.html", status=503)


@router.get("/callback")
async def callback(request: Request) -> Response:
    sign: SignIn = request.app.state.sign_in
    try:
        tokens = await sign.client.authorize_access_token(request)
        profile = await sign.profile(tokens)
    except (OAuthError, ProblemError) as exc:
        log.info("sign-in refused: %s", exc)
        return render(request, "signin_failed.html", status=400, reason=str(exc))
    session = request.scope["session"]
    after = session.pop("after_sign_in", "/")
    language = session.get("lang")
    session.clear()
    session.update({"tokens": _kept(tokens), "user": profile})
    if language:
        session["lang"] = language
    request.scope[ROTATE] = True
    return RedirectResponse(after, status_code=303)


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    """Forget the session here, then end the one at the provider."""
    await checked_form(request)
    sign: SignIn = request.app.state.sign_in
    id_token = (request.scope["session"].get("tokens") or {}).get("id_token")
    request.scope[CLEAR] = True
    try:
        metadata = await sign.client.load_server_metadata()
    except Exception:
        metadata = {}
    end_session = metadata.get("end_session_endpoint")
    if not end_session:
        return RedirectResponse("/", status_code=303)
    query = {
        "client_id": sign.settings.client_id,
        "post_logout_redirect_uri": sign.settings.public_url.rstrip("/") + "/",
    }
    if id_token:
        query["id_token_hint"] = id_token
    return RedirectResponse(f"{end_session}?{urlencode(query)}", status_code=303)
