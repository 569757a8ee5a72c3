"""authlib's authorization server with our grants (code + PKCE, refresh, client credentials)."""

from __future__ import annotations

import time
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2.rfc6749 import InvalidRequestError, grants
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo, UserInfoEndpoint
from authlib.oidc.rpinitiated import EndSessionEndpoint, EndSessionRequest
from flask import Flask
from joserfc.jwk import KeySet

from wps_platform.idp.clients import (
    CONFIDENTIAL_AUTH_METHODS,
    TOKEN_AUTH_METHODS,
    OAuthClient,
    register_clients,
)
from wps_platform.idp.directory import Directory, DirectoryUser
from wps_platform.idp.keys import ALGORITHMS, KeyStore
from wps_platform.idp.sessions import AuthorizationCode, IssuedToken, MemoryStore, SignedIn
from wps_platform.idp.settings import ProviderSettings
from wps_platform.idp.tokens import AccessTokens, AccessTokenValidator, IdTokens, identity_claims

SCOPES = ["openid", "profile", "email", "offline_access"]


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def save_authorization_code(self, code: str, request: Any) -> None:
        server: IdentityServer = self.server
        data = request.payload.data
        server.store.save_code(
            AuthorizationCode(
                code=code,
                client_id=request.client.get_client_id(),
                redirect_uri=request.payload.redirect_uri,
                scope=request.scope,
                signed_in=request.user,
                nonce=data.get("nonce"),
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
                expires_at=time.time() + server.settings.authorization_code_ttl,
            )
        )

    def query_authorization_code(self, code: str, client: OAuthClient) -> AuthorizationCode | None:
        server: IdentityServer = self.server
        return server.store.take_code(code, client.get_client_id())

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Nothing left to delete: query_authorization_code took the code already."""

    def authenticate_user(self, authorization_code: AuthorizationCode) -> SignedIn:
        return authorization_code.signed_in


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation: every refresh returns a new refresh token

    def authenticate_refresh_token(self, refresh_token: str) -> IssuedToken | None:
        server: IdentityServer = self.server
        return server.store.claim_refresh_token(refresh_token)

    def authenticate_user(self, refresh_token: IssuedToken) -> SignedIn | None:
        return refresh_token.signed_in

    def revoke_old_credential(self, refresh_token: IssuedToken) -> None:
        """Nothing left to revoke: authenticate_refresh_token used the old token up."""


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS


class S256Required(CodeChallenge):
    """PKCE for every client, confidential ones too, and S256 only (OAuth 2.1, RFC 9700 §2.1.1)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge (S256).")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256.")
        super().validate_code_challenge(grant, redirect_uri)


class UserInfoClaims(UserInfoEndpoint):
    def __init__(self, issuer: str, resource_protector: ResourceProtector) -> None:
        super().__init__(resource_protector=resource_protector)
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer

    def generate_user_info(self, user: DirectoryUser, scope: str) -> UserInfo:
        return UserInfo(sub=user.sub, **identity_claims(user))


class TokenRevocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> IssuedToken | None:
        server: IdentityServer = self.server
        return server.store.find_token(token_string, token_type_hint)

    def revoke_token(self, token: IssuedToken, request: Any) -> None:
        server: IdentityServer = self.server
        server.store.revoke(token)


class EndSession(EndSessionEndpoint):
    def __init__(self, keys: KeyStore) -> None:
        super().__init__()
        self.keys = keys

    def get_server_jwks(self) -> KeySet:
        return self.keys.verification_keys()

    def get_algorithms(self) -> list[str]:
        return list(ALGORITHMS)

    def end_session(self, end_session_request: EndSessionRequest) -> None:
        """Nothing here: the /logout route ends the IdP session for valid and invalid requests."""

    def is_post_logout_redirect_uri_legitimate(
        self, request: Any, post_logout_redirect_uri: str, client: Any, logout_hint: str | None
    ) -> bool:
        # The URI was already matched exactly against the client's registration; for a
        # development provider `client_id` naming that client is confirmation enough.
        return True


class IdentityServer(AuthorizationServer):
    """authlib's Flask authorization server with our grants, token formats and endpoints."""

    def __init__(
        self,
        app: Flask,
        settings: ProviderSettings,
        directory: Directory,
        keys: KeyStore,
        store: MemoryStore,
    ) -> None:
        self.settings = settings
        self.directory = directory
        self.keys = keys
        self.store = store
        self.clients = register_clients(directory, settings)
        super().__init__(app, query_client=self.clients.get, save_token=self._save_token)
        self.scopes_supported = SCOPES
        self.register_token_generator("default", AccessTokens(settings, keys))
        id_tokens = IdTokens(settings, keys, store)
        self.register_grant(AuthorizationCodeGrant, [S256Required(), id_tokens])
        # ID tokens on refresh too (as Keycloak does), so a portal keeps a fresh id_token_hint.
        self.register_grant(RefreshTokenGrant, [id_tokens])
        self.register_grant(ClientCredentialsGrant)
        protector = ResourceProtector()
        protector.register_token_validator(
            AccessTokenValidator(settings, keys, directory, self.clients)
        )
        self.register_endpoint(UserInfoClaims(settings.issuer, protector))
        self.register_endpoint(TokenRevocation)
        self.register_endpoint(EndSession(keys))

    def _save_token(self, token: dict[str, Any], request: Any) -> None:
        now = int(time.time())
        self.store.save_token(
            IssuedToken(
                client=request.client,
                signed_in=request.user,
                access_token=token["access_token"],
                refresh_token=token.get("refresh_token"),
                scope=token.get("scope", ""),
                issued_at=now,
                expires_in=int(token["expires_in"]),
                refresh_expires_at=now + self.settings.refresh_token_ttl,
            )
        )
