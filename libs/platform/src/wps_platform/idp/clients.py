"""The registered OAuth clients as authlib sees them: secrets, redirect URIs, grants, scopes."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import ClientMixin
from authlib.oauth2.rfc6749.util import list_to_scope, scope_to_list

from wps_platform.idp.directory import Client, Directory
from wps_platform.idp.settings import ProviderSettings

CONFIDENTIAL_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
TOKEN_AUTH_METHODS = [*CONFIDENTIAL_AUTH_METHODS, "none"]
LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}


def _loopback_match(registered: str, requested: str) -> bool:
    # RFC 8252 §7.3: a native app listens on a port picked at run time, so a loopback redirect
    # URI registered without a port matches the same URI on any port.
    try:
        want, got = urlsplit(registered), urlsplit(requested)
        got_port = got.port
    except ValueError:
        return False
    return (
        want.scheme == got.scheme == "http"
        and want.hostname in LOOPBACK_HOSTS
        and want.hostname == got.hostname
        and want.port is None
        and got_port is not None
        and (want.path, want.query, want.fragment) == (got.path, got.query, got.fragment)
    )


@dataclass(frozen=True)
class OAuthClient(ClientMixin):
    """A directory client as authlib sees it."""

    registration: Client
    redirect_uris: tuple[str, ...]

    @property
    def client_id(self) -> str:
        return self.registration.client_id

    @property
    def client_metadata(self) -> dict[str, Any]:
        return {
            "redirect_uris": list(self.redirect_uris),
            "post_logout_redirect_uris": list(self.registration.post_logout_redirect_uris),
            "grant_types": list(self.registration.grant_types),
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
            "scope": list_to_scope(self.registration.scopes),
        }

    @property
    def token_endpoint_auth_method(self) -> str:
        return "none" if self.registration.is_public else "client_secret_basic"

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = self.registration.scopes
        if not scope:
            return str(list_to_scope(allowed))
        return str(list_to_scope([s for s in scope_to_list(scope) if s in allowed]))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return any(
            redirect_uri == registered or _loopback_match(registered, redirect_uri)
            for registered in self.redirect_uris
        )

    def check_client_secret(self, client_secret: str) -> bool:
        secret = self.registration.secret
        return secret is not None and secrets.compare_digest(secret, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.registration.is_public:
            return method == "none"
        return method in CONFIDENTIAL_AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.registration.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.registration.grant_types


def register_clients(directory: Directory, settings: ProviderSettings) -> dict[str, OAuthClient]:
    clients = {}
    for registration in directory.clients:
        redirect_uris = tuple(registration.redirect_uris)
        if registration.client_id == "wps-portal":
            redirect_uris += tuple(u for u in settings.redirect_uris if u not in redirect_uris)
        clients[registration.client_id] = OAuthClient(registration, redirect_uris)
    return clients
