"""Who is calling: roles, academy scoping, the request dependency, and development tokens."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Protocol

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from wps_common.errors import Forbidden, NotFound, Unauthorized
from wps_common.settings import DEV_JWT_SECRET

ALGORITHM = "HS256"


class Role(StrEnum):
    ADMIN = "admin"
    ACADEMY_ADMIN = "academy_admin"
    INSTRUCTOR = "instructor"
    REVIEWER = "reviewer"
    TRAINEE = "trainee"
    HR = "hr"


ACADEMY_SCOPED = frozenset({Role.ACADEMY_ADMIN, Role.INSTRUCTOR, Role.TRAINEE})
SEES_ALL_ACADEMIES = frozenset({Role.ADMIN, Role.HR})


@dataclass(frozen=True)
class Principal:
    """Who is calling. `subject` is the identity provider's id of the person or machine client;
    `trainee_id` is the trainee record a trainee's token resolved to (by employee number)."""

    subject: str
    roles: frozenset[Role]
    academy_id: str | None = None
    trainee_id: str | None = None
    employee_number: str | None = None
    display_name: str | None = None
    issuer: str | None = None
    client_id: str | None = None

    def has(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def sees_all_academies(self) -> bool:
        return self.has(*SEES_ALL_ACADEMIES)

    def check_academy(self, academy_id: str, what: str = "resource") -> None:
        """Another tenant's records do not exist for this caller: 404, never 403."""
        if not self.sees_all_academies and self.academy_id != academy_id:
            raise NotFound(f"No such {what}.")

    def is_trainee_only(self) -> bool:
        return self.roles == {Role.TRAINEE}

    def is_trainee(self, trainee_id: str) -> bool:
        """The caller is this trainee (a token that resolved to no trainee is nobody)."""
        return self.trainee_id is not None and self.trainee_id == trainee_id

    @property
    def actor_name(self) -> str:
        """What audit trails show next to the subject."""
        return (self.display_name or self.subject)[:200]


def mint_token(
    secret: str,
    *,
    subject: str,
    roles: Sequence[str],
    academy_id: str | None = None,
    ttl_seconds: int = 8 * 3600,
    issuer: str = "wps-training",
) -> str:
    for role in roles:
        Role(role)  # raises ValueError on an unknown role
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "roles": list(roles),
        "iss": issuer,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if academy_id:
        claims["academy_id"] = academy_id
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(token: str, *, secret: str, issuer: str) -> Principal:
    """A development token (HS256, shared secret); a trainee's subject is the trainee id."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=issuer,
            options={"require": ["sub", "exp", "iss"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("The access token has expired; sign in again.") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"The access token is not valid: {exc}.") from exc
    try:
        roles = frozenset(Role(r) for r in claims.get("roles", []))
    except ValueError as exc:
        raise Unauthorized(f"The access token names an unknown role: {exc}.") from exc
    academy_id = claims.get("academy_id")
    if roles & ACADEMY_SCOPED and not roles & SEES_ALL_ACADEMIES and not academy_id:
        raise Unauthorized("Academy-scoped roles need an academy_id claim in the token.")
    subject = str(claims["sub"])
    return Principal(
        subject=subject,
        roles=roles,
        academy_id=academy_id,
        trainee_id=subject if Role.TRAINEE in roles else None,
        display_name=str(claims.get("name") or subject),
        issuer=issuer,
    )


class Verifier(Protocol):
    async def verify(self, token: str) -> Principal: ...


# The request's caller, for audit writers: they record the display name next to the subject
# without every service function threading the whole principal through (it is set by the
# dependency below, in the request's own context, and never leaks to another request).
_caller: ContextVar[Principal | None] = ContextVar("wps_caller", default=None)


def actor_name(subject: str) -> str | None:
    """The display name of the request's caller, when `subject` is that caller."""
    caller = _caller.get()
    return caller.actor_name if caller is not None and caller.subject == subject else None


class Resolver(Protocol):
    """Turns a token's academy reference and employee number into this service's own ids."""

    async def resolve(self, principal: Principal) -> Principal: ...


_bearer = HTTPBearer(
    auto_error=False,
    description="An access token from the identity provider (or, in development, `wps-token`)",
)


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("Send a bearer token: `Authorization: Bearer <jwt>`.")
    # A request with a body was authenticated before its body was read (wps_common.limits).
    verified = getattr(request.state, "wps_verified_token", None)
    if verified is not None and verified[0] == credentials.credentials:
        principal: Principal = verified[1]
    else:
        verifier: Verifier = request.app.state.token_verifier
        principal = await verifier.verify(credentials.credentials)
    resolver: Resolver | None = getattr(request.app.state, "principal_resolver", None)
    if resolver is not None:
        principal = await resolver.resolve(principal)
    request.state.principal = principal
    _caller.set(principal)
    return principal


def require(*roles: Role) -> Callable[..., Any]:
    """Dependency: the caller must hold one of `roles`; returns the Principal."""
    allowed = frozenset(roles)

    async def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not principal.roles & allowed:
            names = ", ".join(sorted(allowed))
            raise Forbidden(f"This action needs one of the roles: {names}.")
        return principal

    return dependency


def main(argv: Sequence[str] | None = None) -> int:
    """`wps-token`: mint a development token (signed with JWT_SECRET or the dev default)."""
    import os

    parser = argparse.ArgumentParser(prog="wps-token", description=main.__doc__)
    parser.add_argument("--role", action="append", required=True, choices=[r.value for r in Role])
    parser.add_argument("--academy", help="academy id, for academy_admin/instructor/trainee")
    parser.add_argument("--sub", default="dev-user", help="subject: a user id or a trainee id")
    parser.add_argument("--hours", type=float, default=8.0)
    args = parser.parse_args(argv)
    secret = os.environ.get("JWT_SECRET", DEV_JWT_SECRET)
    if os.environ.get("WPS_ENVIRONMENT", "development") != "development":
        print(
            "refusing: development tokens are accepted only with WPS_ENVIRONMENT=development; "
            "get a token from your identity provider",
            file=sys.stderr,
        )
        return 2
    try:
        token = mint_token(
            secret,
            subject=args.sub,
            roles=args.role,
            academy_id=args.academy,
            ttl_seconds=int(args.hours * 3600),
            issuer=os.environ.get("JWT_ISSUER", "wps-training"),
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
