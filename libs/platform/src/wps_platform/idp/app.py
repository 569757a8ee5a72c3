"""The provider's HTTP surface: discovery, JWKS, sign-in, token, userinfo, logout, key rotation."""

from __future__ import annotations

import ipaddress
import secrets
from typing import Any

from authlib.oauth2 import OAuth2Error
from flask import Flask, Response, jsonify, render_template, request
from flask.typing import ResponseReturnValue

from wps_platform.idp.authorization import SCOPES, IdentityServer
from wps_platform.idp.clients import TOKEN_AUTH_METHODS
from wps_platform.idp.directory import Directory, load_directory
from wps_platform.idp.keys import ALGORITHMS, KeyStore
from wps_platform.idp.sessions import MemoryStore
from wps_platform.idp.settings import SESSION_COOKIE, ProviderSettings

# The sign-in page needs nothing but its own inline styles; it must not be framed (clickjacking
# of a password form).
HTML_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}


CLAIMS = (
    "sub iss aud exp iat auth_time nonce sid name preferred_username given_name family_name "
    "email email_verified locale realm_access academy employee_number"
).split()


def discovery_document(settings: ProviderSettings) -> dict[str, Any]:
    """OpenID Connect Discovery 1.0 metadata (plus RFC 8414's and RP-Initiated Logout's)."""
    return {
        "issuer": settings.issuer,
        "authorization_endpoint": settings.endpoint("/authorize"),
        "token_endpoint": settings.endpoint("/token"),
        "jwks_uri": settings.endpoint("/jwks"),
        "userinfo_endpoint": settings.endpoint("/userinfo"),
        "end_session_endpoint": settings.endpoint("/logout"),
        "revocation_endpoint": settings.endpoint("/revoke"),
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(ALGORITHMS),
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": TOKEN_AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": TOKEN_AUTH_METHODS,
        "scopes_supported": SCOPES,
        "claims_supported": CLAIMS,
        "prompt_values_supported": ["none", "login"],
        "request_parameter_supported": False,
        "frontchannel_logout_supported": False,
    }


def _is_loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def create_app(
    settings: ProviderSettings,
    *,
    keys: KeyStore | None = None,
    directory: Directory | None = None,
) -> Flask:
    """The provider as a Flask app; keys and directory are loaded from the settings when absent."""
    if directory is None:
        directory = load_directory(settings.directory_path, portal_url=settings.portal_url)
    if keys is None:
        keys = KeyStore(settings.var_dir)
    store = MemoryStore()
    app = Flask(__name__)
    server = IdentityServer(app, settings, directory, keys, store)
    metadata = discovery_document(settings)
    academies = {academy.code: academy for academy in directory.academies}
    secure_cookie = settings.issuer.startswith("https://")

    def html(template: str, status: int = 200, **context: Any) -> Response:
        response = Response(render_template(template, **context), status=status)
        response.headers.update(HTML_SECURITY_HEADERS)
        return response

    def sign_in_form(client_id: str, error: str | None = None, username: str = "") -> Response:
        client = server.clients.get(client_id)
        return html(
            "sign_in.html",
            client=client.registration if client else None,
            error=error,
            username=username,
            action=request.full_path,
            users=directory.users,
            academies=academies,
            password=directory.password,
        )

    def authorization_error(error: OAuth2Error) -> Response:
        response: Response = server.handle_error_response(None, error)
        if response.status_code == 302:  # errors the client may see go back to it
            return response
        return html(
            "message.html",
            status=response.status_code,
            title="This sign-in request cannot be served",
            message=error.description or error.error,
            detail=error.error,
        )

    @app.get("/.well-known/openid-configuration")
    def openid_configuration() -> ResponseReturnValue:
        return jsonify(metadata)

    @app.get("/jwks")
    def jwks() -> ResponseReturnValue:
        response = jsonify(keys.jwks())
        # Keys rotate at any moment in development; resource servers should not hold on.
        response.headers["Cache-Control"] = "no-cache"
        return response

    @app.route("/authorize", methods=["GET", "POST"])
    def authorize() -> ResponseReturnValue:
        signed_in = store.session(request.cookies.get(SESSION_COOKIE))
        try:
            grant = server.get_consent_grant(end_user=signed_in)
        except OAuth2Error as error:
            return authorization_error(error)
        client_id = grant.client.get_client_id()

        if request.method == "GET":
            prompts = (request.args.get("prompt") or "").split()
            wants_login = "login" in prompts or grant.prompt == "login"
            if signed_in is not None and not wants_login:
                return server.create_authorization_response(grant_user=signed_in, grant=grant)
            return sign_in_form(client_id)

        username = (request.form.get("username") or "").strip()
        password = request.form.get("password") or ""
        user = directory.user_by_username(username)
        if user is None or not secrets.compare_digest(
            password.encode("utf-8"), directory.password.encode("utf-8")
        ):
            return sign_in_form(client_id, "Unknown username or wrong password.", username)
        store.end_session(request.cookies.get(SESSION_COOKIE))
        cookie_key, signed_in = store.start_session(user)
        response: Response = server.create_authorization_response(grant_user=signed_in, grant=grant)
        response.set_cookie(
            SESSION_COOKIE,
            cookie_key,
            httponly=True,
            samesite="Lax",
            secure=secure_cookie,
            path="/",
        )
        return response

    @app.post("/token")
    def token() -> ResponseReturnValue:
        response: Response = server.create_token_response()
        return response

    @app.route("/userinfo", methods=["GET", "POST"])
    def userinfo() -> ResponseReturnValue:
        response: Response = server.create_endpoint_response("userinfo")
        return response

    @app.post("/revoke")
    def revoke() -> ResponseReturnValue:
        response: Response = server.create_endpoint_response("revocation")
        return response

    @app.route("/logout", methods=["GET", "POST"])
    def logout() -> ResponseReturnValue:
        problem = None
        response: Response | None = None
        try:
            end_request = server.validate_endpoint_request("end_session")
        except OAuth2Error as error:
            # Signed out all the same; only the redirect back is withheld (RP-Initiated Logout §4).
            end_request, problem = None, error.description or error.error
        store.end_session(request.cookies.get(SESSION_COOKIE))
        if end_request is not None:
            response = server.create_endpoint_response("end_session", end_request)
        if response is None:
            response = html("message.html", title="You are signed out", message=problem)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Lax")
        return response

    @app.post("/admin/keys/rotate")
    def rotate_key() -> ResponseReturnValue:
        if not _is_loopback(request.remote_addr):
            return {"error": "forbidden", "error_description": "loopback callers only"}, 403
        body = request.get_json(silent=True) or {}
        alg = body.get("alg", "RS256") if isinstance(body, dict) else None
        retire_previous = body.get("retire_previous", False) if isinstance(body, dict) else None
        if alg not in ALGORITHMS or not isinstance(retire_previous, bool):
            return {
                "error": "invalid_request",
                "error_description": f"alg must be one of {list(ALGORITHMS)}; "
                "retire_previous a boolean",
            }, 400
        key = keys.rotate(alg, retire_previous=retire_previous)
        return {"kid": key.kid, "alg": key.alg}

    # Kept reachable for callers that built the app (tests, the launcher) and need its parts.
    app.extensions["wps_idp"] = server
    return app
