"""Access tokens from OpenID Connect providers: discovery, signing keys and claim mapping."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

from wps_common.auth import ACADEMY_SCOPED, SEES_ALL_ACADEMIES, Principal, Role, decode_token
from wps_common.errors import ServiceUnavailable, Unauthorized
from wps_common.settings import ServiceSettings

log = logging.getLogger("wps.oidc")

# Asymmetric algorithms only: a symmetric one would let anyone holding the provider's *public*
# key sign tokens (algorithm confusion). Development tokens take their own path (HS256).
ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
Clock = Callable[[], float]
# Verified tokens are remembered, so a client's every request does not parse and check the same
# signature again: at most this many, each until its expiry and no longer than this many
# seconds, so a key the provider withdraws stops being honoured within that time.
VERIFIED_TOKENS = 1024
VERIFIED_FOR_SECONDS = 60.0


class IssuerMismatch(ValueError):
    """The discovery document speaks for another issuer than the one configured."""


@dataclass
class IssuerKeys:
    """One issuer's public signing keys: fetched on first use, refetched when a token names a key
    we do not hold (rotation without a restart), but never more often than `min_refresh` apart,
    so a stream of junk key ids cannot become a stream of requests to the provider."""

    issuer: str
    discovery_url: str
    http: httpx.AsyncClient
    min_refresh: float
    max_age: float
    clock: Clock = time.monotonic
    # An operator who names the metadata URL vouches for it: ADFS, for one, signs access tokens
    # with an `iss` (…/adfs/services/trust) other than the issuer its metadata declares.
    discovery_named: bool = False
    jwks_uri: str | None = None
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    fetched_at: float | None = None
    fetches: int = 0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def jwk(self, kid: str | None) -> dict[str, Any]:
        if self.fetched_at is None or self.clock() - self.fetched_at > self.max_age:
            await self._refresh()
        found = self._find(kid)
        if found is None and await self._refresh():
            found = self._find(kid)
        if found is None:
            raise Unauthorized(
                f"The access token was signed with a key ({kid or 'no key id'}) that the identity "
                "provider does not publish; sign in again to get a fresh token."
            )
        return found

    def _find(self, kid: str | None) -> dict[str, Any] | None:
        if kid is None:
            # A provider with a single key may leave `kid` out; with several we cannot guess.
            return next(iter(self.keys.values())) if len(self.keys) == 1 else None
        return self.keys.get(kid)

    async def _refresh(self) -> bool:
        """Fetch the key set again; False when the floor says it is too soon or it failed."""
        async with self._lock:
            now = self.clock()
            if self.fetched_at is not None and now - self.fetched_at < self.min_refresh:
                return False
            try:
                if self.jwks_uri is None:
                    self.jwks_uri = await self._discover()
                response = await self.http.get(self.jwks_uri)
                response.raise_for_status()
                listed = response.json().get("keys")
                if not isinstance(listed, list):
                    raise ValueError(f"{self.jwks_uri} holds no key set")
            except (httpx.HTTPError, ValueError, AttributeError) as exc:
                log.warning("signing keys of %s could not be fetched: %s", self.issuer, exc)
                if self.keys:
                    return False  # keep serving with the keys we have
                reason = (
                    str(exc)
                    if isinstance(exc, IssuerMismatch)
                    else "the identity provider could not be reached to fetch its signing keys"
                )
                raise ServiceUnavailable(f"Sign-in cannot be checked now: {reason}.") from exc
            self.fetches += 1
            self.fetched_at = now
            self.keys = {
                str(jwk.get("kid", "")): jwk
                for jwk in listed
                if isinstance(jwk, dict) and jwk.get("use", "sig") == "sig"
            }
            return True

    async def _discover(self) -> str:
        response = await self.http.get(self.discovery_url)
        response.raise_for_status()
        metadata = response.json()
        declared = str(metadata.get("issuer", "")).rstrip("/")
        if not self.discovery_named and declared != self.issuer.rstrip("/"):
            raise IssuerMismatch(
                f"the metadata at {self.discovery_url} names issuer {declared!r}, not "
                f"{self.issuer!r} (fix OIDC_ISSUERS, or name the metadata URL in "
                "OIDC_DISCOVERY_URLS)"
            )
        jwks_uri = metadata.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise ValueError(f"{self.discovery_url} names no jwks_uri")
        return jwks_uri


@dataclass(frozen=True)
class ClaimMapping:
    """How one provider's claims become a Principal; settings alone, so one build serves
    Keycloak, Entra ID and ADFS."""

    roles_claim: str = "roles"
    role_map: Mapping[str, str] = field(default_factory=dict)
    academy_claim: str = "academy_id"
    employee_number_claim: str = ""
    name_claim: str = "name"

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> ClaimMapping:
        return cls(
            roles_claim=settings.oidc_roles_claim,
            role_map=dict(settings.oidc_role_map),
            academy_claim=settings.oidc_academy_claim,
            employee_number_claim=settings.oidc_employee_number_claim,
            name_claim=settings.oidc_name_claim,
        )

    def principal(self, claims: Mapping[str, Any], issuer: str) -> Principal:
        roles = frozenset(self._roles(claim_at(claims, self.roles_claim)))
        academy = _text(claim_at(claims, self.academy_claim))
        if roles & ACADEMY_SCOPED and not roles & SEES_ALL_ACADEMIES and not academy:
            raise Unauthorized(
                f"Your account has an academy role but its token carries no academy "
                f"(claim {self.academy_claim!r}); ask your identity administrator to set it."
            )
        employee_number = (
            _text(claim_at(claims, self.employee_number_claim))
            if self.employee_number_claim
            else None
        )
        subject = str(claims["sub"])
        name = _text(claim_at(claims, self.name_claim)) or _text(claims.get("preferred_username"))
        return Principal(
            subject=subject,
            roles=roles,
            academy_id=academy,
            employee_number=employee_number,
            display_name=name or subject,
            issuer=issuer,
            client_id=_text(claims.get("azp") or claims.get("client_id") or claims.get("appid")),
        )

    def _roles(self, value: object) -> list[Role]:
        names = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        known = {role.value for role in Role}
        mapped = (self.role_map.get(str(n)) if self.role_map else str(n) for n in names)
        return [Role(name) for name in mapped if name in known]


def claim_at(claims: Mapping[str, Any], path: str) -> object:
    """`realm_access.roles` → claims["realm_access"]["roles"]; a key containing dots (Entra's
    extension claims) is tried whole first."""
    if not path:
        return None
    if path in claims:
        return claims[path]
    value: object = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _text(value: object) -> str | None:
    if isinstance(value, str | int) and str(value).strip():
        return str(value).strip()
    return None


class TokenVerifier:
    """Turns a bearer token into a Principal, or raises Unauthorized with a sentence a person
    can act on."""

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        http: httpx.AsyncClient | None = None,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
    ) -> None:
        self.settings = settings
        self.mapping = ClaimMapping.from_settings(settings)
        self.clock, self.wall_clock = clock, wall_clock
        self.verifications = 0  # signatures checked (the cache's misses)
        # token → (principal, remembered until, its issuer's keys and their fetch count then)
        self._verified: dict[str, tuple[Principal, float, IssuerKeys | None, int]] = {}
        self._http = http or httpx.AsyncClient(timeout=5.0, follow_redirects=False)
        self._owns_http = http is None
        discovery = settings.discovery_urls
        self.issuers: dict[str, IssuerKeys] = {}
        for index, issuer in enumerate(settings.issuers):
            named = index < len(discovery)
            url = (
                discovery[index]
                if named
                else issuer.rstrip("/") + "/.well-known/openid-configuration"
            )
            self.issuers[issuer.rstrip("/")] = IssuerKeys(
                issuer=issuer,
                discovery_url=url,
                discovery_named=named,
                http=self._http,
                min_refresh=settings.oidc_jwks_min_refresh_seconds,
                max_age=settings.oidc_jwks_cache_seconds,
                clock=clock,
            )

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def verify(self, token: str) -> Principal:
        now = self.clock()
        known = self._verified.get(token)
        if known is not None:
            principal, until, keys, fetches = known
            # Keys fetched again since (a rotation): check the token against the new set.
            if now < until and (keys is None or keys.fetches == fetches):
                return principal
            del self._verified[token]
        keys = self._issuer_keys(token)
        fetches = keys.fetches if keys is not None else 0
        principal, expires_at = await self._verify(token)
        if keys is not None and keys.fetches != fetches:
            fetches = keys.fetches  # this verification fetched them, with this token's key
        left = expires_at - self.wall_clock()
        if left > 0:
            if len(self._verified) >= VERIFIED_TOKENS:
                del self._verified[next(iter(self._verified))]  # the oldest
            until = now + min(left, VERIFIED_FOR_SECONDS)
            self._verified[token] = (principal, until, keys, fetches)
        return principal

    def _issuer_keys(self, token: str) -> IssuerKeys | None:
        """The key set of the issuer a token names (None for an unknown issuer, or a token
        that is not a JWT: verification then says why)."""
        try:
            issuer = str(jwt.decode(token, options={"verify_signature": False}).get("iss", ""))
        except jwt.PyJWTError:
            return None
        return self.issuers.get(issuer.rstrip("/"))

    async def _verify(self, token: str) -> tuple[Principal, float]:
        """The token's Principal and its expiry (seconds since the epoch), or Unauthorized."""
        self.verifications += 1
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise Unauthorized("The bearer token is not a well-formed JWT.") from exc
        alg = str(header.get("alg"))
        if alg == "HS256" and self.settings.accepts_development_tokens:
            principal = decode_token(
                token, secret=self.settings.jwt_secret, issuer=self.settings.jwt_issuer
            )
            return principal, float(unverified["exp"])  # required, and verified by now
        if alg.lower() == "none":
            raise Unauthorized("Unsigned tokens (alg none) are refused.")
        if alg not in ALGORITHMS:
            raise Unauthorized(
                f"Tokens signed with {alg} are not accepted; the identity provider must sign "
                f"with a public-key algorithm ({', '.join(ALGORITHMS)})."
            )
        issuer = str(unverified.get("iss", ""))
        keys = self.issuers.get(issuer.rstrip("/"))
        if keys is None:
            trusted = ", ".join(self.settings.issuers) or "none configured"
            raise Unauthorized(
                f"The access token was issued by {issuer or 'an unnamed issuer'}, which this "
                f"service does not trust (OIDC_ISSUERS: {trusted})."
            )
        key = _key_for(await keys.jwk(header.get("kid")), alg)
        claims = self._decode(token, key, alg, issuer)
        return self.mapping.principal(claims, issuer), float(claims["exp"])

    def _decode(self, token: str, key: jwt.PyJWK, alg: str, issuer: str) -> dict[str, Any]:
        audience = self.settings.oidc_audience
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=audience,
                issuer=issuer,
                leeway=self.settings.oidc_leeway_seconds,
                options={"require": ["exp", "iss", "sub", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("The access token has expired; sign in again.") from exc
        except jwt.ImmatureSignatureError as exc:
            raise Unauthorized(
                "The access token is not valid yet; check the clocks of this server and of "
                "the identity provider."
            ) from exc
        except jwt.InvalidAudienceError as exc:
            raise Unauthorized(
                f"The access token is meant for another application; this service accepts "
                f"tokens whose audience includes {audience!r} (OIDC_AUDIENCE)."
            ) from exc
        except jwt.InvalidSignatureError as exc:
            raise Unauthorized(
                "The access token's signature does not match; it was altered or not signed by "
                "the identity provider."
            ) from exc
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthorized(f"The access token lacks the {exc.claim!r} claim.") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"The access token is not valid: {exc}.") from exc
        return claims


def _key_for(jwk: Mapping[str, Any], alg: str) -> jwt.PyJWK:
    """The provider's key, read for the algorithm the token names: a key declared for another
    algorithm, or of another type (an RSA key for ES256), does not verify it."""
    declared = jwk.get("alg")
    if declared and declared != alg:
        raise Unauthorized(
            f"The access token says {alg} but its signing key is for {declared}; "
            "it was not signed by the identity provider."
        )
    try:
        return jwt.PyJWK(dict(jwk), algorithm=alg)
    except jwt.PyJWTError as exc:
        raise Unauthorized(
            f"The access token says {alg}, which does not fit its signing key ({exc})."
        ) from exc
