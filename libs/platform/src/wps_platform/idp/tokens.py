"""Access tokens (RFC 9068, Keycloak-shaped claims) and ID tokens: issuing and verifying."""

from __future__ import annotations

import time
from typing import Any

from authlib.common.security import generate_token
from authlib.oauth2.rfc6750 import InvalidTokenError
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator, JWTBearerTokenValidator
from authlib.oauth2.rfc9068.claims import JWTAccessTokenClaims
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from wps_platform.idp.clients import OAuthClient
from wps_platform.idp.directory import Directory, DirectoryUser
from wps_platform.idp.keys import ALGORITHMS, KeyStore
from wps_platform.idp.sessions import MemoryStore, SignedIn
from wps_platform.idp.settings import ProviderSettings


def identity_claims(user: DirectoryUser) -> dict[str, Any]:
    """The user's claims, shaped as a Keycloak realm's so services read both the same way."""
    claims: dict[str, Any] = {
        "name": user.name,
        "preferred_username": user.username,
        "given_name": user.given_name,
        "family_name": user.family_name,
        "email": user.email,
        "email_verified": True,
        "locale": user.locale,
        "realm_access": {"roles": list(user.roles)},
    }
    if user.academy is not None:
        claims["academy"] = user.academy
    if user.employee_number is not None:
        claims["employee_number"] = user.employee_number
    return claims


def _refresh_token(client: OAuthClient, grant_type: str, user: Any, scope: str) -> str:
    return str(generate_token(48))


class AccessTokens(JWTBearerTokenGenerator):
    """RFC 9068 JWT access tokens with a Keycloak realm's claims, signed with the current key.

    authlib's own `access_token_generator` signs only with joserfc's *recommended* algorithms
    (no EdDSA) and sets neither `kid` nor `nbf`; we assemble the same RFC 9068 claims through
    its hooks (`get_audiences`, `get_jti`) and sign with joserfc, naming the key's algorithm.
    """

    def __init__(self, settings: ProviderSettings, keys: KeyStore) -> None:
        super().__init__(
            settings.issuer,
            refresh_token_generator=_refresh_token,
            expires_generator=settings.access_token_ttl,
        )
        self.settings = settings
        self.keys = keys

    def get_audiences(self, client: OAuthClient, user: Any, scope: str) -> list[str]:
        return [self.settings.audience]

    def access_token_generator(
        self, client: OAuthClient, grant_type: str, user: SignedIn | None, scope: str
    ) -> str:
        key = self.keys.signing_key()
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.get_audiences(client, user, scope),
            "exp": now + self._get_expires_in(client, grant_type),
            "iat": now,
            "nbf": now,
            "jti": self.get_jti(client, grant_type, user, scope),
            "client_id": client.client_id,
            "azp": client.client_id,
            "scope": scope or "",
        }
        if user is not None:
            claims["sub"] = user.user.sub
            claims["auth_time"] = user.auth_time
            claims["sid"] = user.sid
            claims.update(identity_claims(user.user))
        else:
            # A service account, as Keycloak names it; the client's roles, no academy.
            claims["sub"] = client.client_id
            claims["preferred_username"] = f"service-account-{client.client_id}"
            claims["realm_access"] = {"roles": list(client.registration.roles)}
        header = {"alg": key.alg, "typ": "at+jwt", "kid": key.kid}
        return jwt.encode(header, claims, key.private, algorithms=[key.alg])


class IdTokens(OpenIDCode):
    """ID tokens through authlib's OpenIDCode, signed with the current key (its `kid` included)."""

    def __init__(self, settings: ProviderSettings, keys: KeyStore, store: MemoryStore) -> None:
        super().__init__(require_nonce=False)
        self.settings = settings
        self.keys = keys
        self.store = store

    def resolve_client_private_key(self, client: OAuthClient) -> KeySet:
        return self.keys.signing_key().key_set()

    def get_client_algorithm(self, client: OAuthClient) -> str:
        return self.keys.signing_key().alg

    def get_client_claims(self, client: OAuthClient) -> dict[str, Any]:
        now = int(time.time())
        return {
            "iss": self.settings.issuer,
            "aud": client.client_id,
            "iat": now,
            "exp": now + self.settings.access_token_ttl,
        }

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        return self.store.nonce_pending(request.payload.client_id, nonce)

    def generate_user_info(self, user: SignedIn, scope: str) -> UserInfo:
        claims = identity_claims(user.user)
        return UserInfo(
            sub=user.user.sub,
            auth_time=user.auth_time,
            sid=user.sid,
            name=claims["name"],
            preferred_username=claims["preferred_username"],
            given_name=claims["given_name"],
            family_name=claims["family_name"],
            email=claims["email"],
            locale=claims["locale"],
        )


class VerifiedAccessToken(JWTAccessTokenClaims):
    """A verified access token, shaped as authlib's UserInfoEndpoint asks a token to be."""

    client: OAuthClient | None = None
    user: DirectoryUser | None = None

    @property
    def scope(self) -> str:
        return str(self.get("scope") or "")

    def get_client(self) -> OAuthClient | None:
        return self.client

    def get_user(self) -> DirectoryUser | None:
        return self.user


class AccessTokenValidator(JWTBearerTokenValidator):
    """Checks our own access tokens at /userinfo against every published key."""

    def __init__(
        self,
        settings: ProviderSettings,
        keys: KeyStore,
        directory: Directory,
        clients: dict[str, OAuthClient],
    ) -> None:
        super().__init__(issuer=settings.issuer, resource_server=settings.audience)
        self.keys = keys
        self.directory = directory
        self.clients = clients

    def get_jwks(self) -> KeySet:
        return self.keys.verification_keys()

    def authenticate_token(self, token_string: str) -> VerifiedAccessToken:
        # authlib decodes with joserfc's recommended algorithms only, which leave out EdDSA;
        # decode with our keys' algorithms and let authlib's claims checks do the rest.
        try:
            token = jwt.decode(token_string, self.get_jwks(), algorithms=list(ALGORITHMS))
        except (JoseError, ValueError) as exc:
            raise InvalidTokenError(
                realm=self.realm, extra_attributes=self.extra_attributes
            ) from exc
        verified = VerifiedAccessToken(
            token.claims,
            token.header,
            {
                "iss": {"essential": True, "value": self.issuer},
                "exp": {"essential": True},
                "aud": {"essential": True, "value": self.resource_server},
                "sub": {"essential": True},
                "client_id": {"essential": True},
                "iat": {"essential": True},
                "jti": {"essential": True},
            },
        )
        verified.client = self.clients.get(str(token.claims.get("client_id")))
        verified.user = self.directory.user_by_sub(str(token.claims.get("sub")))
        return verified

    def validate_token(
        self,
        token: VerifiedAccessToken,
        scopes: Any,
        request: Any,
        groups: Any = None,
        roles: Any = None,
        entitlements: Any = None,
    ) -> None:
        super().validate_token(token, scopes, request, groups, roles, entitlements)
        if token.client is None or token.user is None:
            # Service-account tokens have no end-user to describe.
            raise InvalidTokenError(
                description="The token has no end-user.",
                realm=self.realm,
                extra_attributes=self.extra_attributes,
            )
