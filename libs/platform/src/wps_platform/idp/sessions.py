"""IdP sessions, authorization codes and issued tokens: in memory, forgotten on restart."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

from authlib.oauth2.rfc6749 import TokenMixin
from authlib.oidc.core import AuthorizationCodeMixin

from wps_platform.idp.clients import OAuthClient
from wps_platform.idp.directory import DirectoryUser


@dataclass(frozen=True)
class SignedIn:
    """A directory user as authenticated in one IdP session: what codes and tokens carry."""

    user: DirectoryUser
    auth_time: int
    # The public session id (`sid` claim); the cookie holds a different, secret key.
    sid: str

    def get_user_id(self) -> str:
        return self.user.sub


@dataclass
class AuthorizationCode(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str | None
    scope: str
    signed_in: SignedIn
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float

    def get_redirect_uri(self) -> str | None:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.signed_in.auth_time


@dataclass
class IssuedToken(TokenMixin):
    client: OAuthClient
    signed_in: SignedIn | None
    access_token: str
    refresh_token: str | None
    scope: str
    issued_at: int
    expires_in: int
    refresh_expires_at: int
    revoked: bool = False
    refresh_used: bool = False

    def check_client(self, client: OAuthClient) -> bool:
        return bool(client.get_client_id() == self.client.client_id)

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.revoked

    def get_user(self) -> SignedIn | None:
        return self.signed_in

    def get_client(self) -> OAuthClient:
        return self.client

    def refresh_usable(self) -> bool:
        return not (self.revoked or self.refresh_used) and time.time() < self.refresh_expires_at


class MemoryStore:
    """Codes, tokens and IdP sessions; a restart forgets them (a development provider)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._codes: dict[str, AuthorizationCode] = {}
        self._by_access: dict[str, IssuedToken] = {}
        self._by_refresh: dict[str, IssuedToken] = {}
        self._sessions: dict[str, SignedIn] = {}

    # IdP sessions: the wps_idp_session cookie holds the key
    def start_session(self, user: DirectoryUser) -> tuple[str, SignedIn]:
        """A new session: its cookie key (secret) and who signed in."""
        cookie_key = secrets.token_urlsafe(32)
        signed_in = SignedIn(user, int(time.time()), sid=secrets.token_urlsafe(16))
        with self._lock:
            self._sessions[cookie_key] = signed_in
        return cookie_key, signed_in

    def session(self, cookie_key: str | None) -> SignedIn | None:
        if not cookie_key:
            return None
        with self._lock:
            return self._sessions.get(cookie_key)

    def end_session(self, cookie_key: str | None) -> None:
        """Forget the session and revoke the tokens issued in it, as Keycloak's logout does."""
        with self._lock:
            ended = self._sessions.pop(cookie_key, None) if cookie_key else None
            if ended is None:
                return
            for token in self._by_access.values():
                if token.signed_in is not None and token.signed_in.sid == ended.sid:
                    token.revoked = True

    # authorization codes
    def save_code(self, code: AuthorizationCode) -> None:
        with self._lock:
            self._codes[code.code] = code

    def take_code(self, code: str, client_id: str) -> AuthorizationCode | None:
        # Taken on first presentation, valid or not: a code is single-use even when two token
        # requests race, and a code that failed its PKCE check cannot be tried again.
        with self._lock:
            found = self._codes.pop(code, None)
        if found is None or found.client_id != client_id or time.time() >= found.expires_at:
            return None
        return found

    def nonce_pending(self, client_id: str, nonce: str) -> bool:
        with self._lock:
            return any(c.client_id == client_id and c.nonce == nonce for c in self._codes.values())

    # tokens
    def save_token(self, token: IssuedToken) -> None:
        now = time.time()
        with self._lock:
            self._prune(now)
            self._by_access[token.access_token] = token
            if token.refresh_token is not None:
                self._by_refresh[token.refresh_token] = token

    def claim_refresh_token(self, refresh_token: str) -> IssuedToken | None:
        # Used up the moment it is presented, so two racing refreshes cannot both succeed
        # (rotation: each refresh token buys exactly one new pair).
        with self._lock:
            token = self._by_refresh.get(refresh_token)
            if token is None or not token.refresh_usable():
                return None
            token.refresh_used = True
            return token

    def find_token(self, value: str, type_hint: str | None = None) -> IssuedToken | None:
        with self._lock:
            if type_hint == "refresh_token":
                return self._by_refresh.get(value)
            if type_hint == "access_token":
                return self._by_access.get(value)
            return self._by_access.get(value) or self._by_refresh.get(value)

    def revoke(self, token: IssuedToken) -> None:
        with self._lock:
            token.revoked = True

    def _prune(self, now: float) -> None:
        self._codes = {k: c for k, c in self._codes.items() if c.expires_at > now}
        self._by_access = {
            k: t
            for k, t in self._by_access.items()
            if now < t.issued_at + t.expires_in or t.refresh_usable()
        }
        self._by_refresh = {k: t for k, t in self._by_refresh.items() if t.refresh_usable()}
