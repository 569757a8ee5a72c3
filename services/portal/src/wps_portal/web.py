"""What every page shares: the signed-in user, rendering in the chosen language, CSRF
protection of forms, and errors shown as pages (never JSON)."""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData

from wps_common.auth import Role
from wps_common.paging import MAX_LIMIT
from wps_portal.backend import Backend, Service, ServiceError
from wps_portal.i18n import Language, choose_language, use_academy_languages, use_academy_zone

TEMPLATES = Path(__file__).parent / "templates"
CSRF_FIELD = "csrf_token"
REFRESH_MARGIN_SECONDS = 30
# How long the signed-in user's academy (its names and languages) is kept in the session before
# it is read from enrolment again; the academy settings page drops it when it saves.
ACADEMY_KEPT_SECONDS = 300

environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
)


class SignInRequired(Exception):
    """No session, or one whose tokens can no longer be refreshed."""


class NotAllowed(Exception):
    """Signed in, but this page is for other roles."""


class CsrfRejected(Exception):
    pass


@dataclass(frozen=True)
class User:
    subject: str
    name: str
    roles: frozenset[str]
    academy: str | None
    locale: str | None
    access_token: str

    def has(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(r.value for r in roles))


def language(request: Request) -> Language:
    return Language(choose_language(request))


def csrf_token(request: Request) -> str:
    session = request.scope["session"]
    if CSRF_FIELD not in session:
        session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return str(session[CSRF_FIELD])


async def checked_form(request: Request) -> FormData:
    """The posted form, once its CSRF token matches the session's (synchronizer token)."""
    form = await request.form()
    sent = str(form.get(CSRF_FIELD, ""))
    expected = request.scope["session"].get(CSRF_FIELD)
    if not expected or not hmac.compare_digest(sent, str(expected)):
        raise CsrfRejected()
    return form


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    speaking = language(request)
    user = request.scope.get("wps_user") or _shown_user(request)
    shared: dict[str, Any] = {
        "request": request,
        "user": user,
        "users_academy": (request.scope.get("session") or {}).get("academy") if user else None,
        "csrf_token": csrf_token(request),
        "path": request.url.path,
        "current_url": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        "Role": Role,
        **speaking.context(),
    }
    # A page's own values win over the shared ones of the same name.
    page = environment.get_template(template).render({**shared, **context})
    return HTMLResponse(page, status_code=status)


def _shown_user(request: Request) -> User | None:
    """On pages that need no sign-in, the header still shows who is signed in."""
    session = request.scope.get("session") or {}
    profile, tokens = session.get("user"), session.get("tokens")
    if not profile or not tokens:
        return None
    return User(
        subject=profile["subject"],
        name=profile["name"],
        roles=frozenset(profile["roles"]),
        academy=profile.get("academy"),
        locale=profile.get("locale"),
        access_token="",
    )


async def current_user(request: Request) -> User:
    """The signed-in person, with an access token refreshed when it is about to expire."""
    session = request.scope["session"]
    tokens = session.get("tokens")
    profile = session.get("user")
    if not tokens or not profile:
        raise SignInRequired()
    if float(tokens.get("expires_at", 0)) - time.time() < REFRESH_MARGIN_SECONDS:
        refreshed = await request.app.state.sign_in.refresh(tokens)
        if refreshed is None:
            session.pop("tokens", None)
            session.pop("user", None)
            raise SignInRequired()
        session["tokens"] = tokens = refreshed
    user = User(
        subject=profile["subject"],
        name=profile["name"],
        roles=frozenset(profile["roles"]),
        academy=profile.get("academy"),
        locale=profile.get("locale"),
        access_token=tokens["access_token"],
    )
    request.scope["wps_user"] = user
    academy = await _users_academy(request, user)
    use_academy_languages((academy or {}).get("languages") or ())
    use_academy_zone((academy or {}).get("time_zone"))
    return user


async def _users_academy(request: Request, user: User) -> dict[str, Any] | None:
    """The signed-in user's academy as enrolment describes it (names, languages), kept in the
    session for a few minutes; None for users of no academy or when enrolment cannot say."""
    session = request.scope["session"]
    if not user.academy or user.has(Role.ADMIN):
        session.pop("academy", None)
        return None
    kept = session.get("academy")
    if (
        kept
        and kept.get("of") == user.academy
        and "time_zone" in kept
        and time.time() - float(kept.get("at", 0)) < ACADEMY_KEPT_SECONDS
    ):
        return dict(kept)
    try:
        # Enrolment lists an academy-scoped user their own academy only.
        listed = await call(request, "enrolment", "GET", "/v1/academies", params={"limit": 2})
    except ServiceError:
        return None
    found = next((a for a in listed["items"] if user.academy in (a.get("id"), a.get("code"))), None)
    if found is None:
        return None
    academy = {
        "of": user.academy,
        "at": time.time(),
        **{k: found.get(k) for k in ("id", "code", "name", "names", "languages", "time_zone")},
    }
    session["academy"] = academy
    return academy


def forget_users_academy(request: Request) -> None:
    """After the academy's names or languages change: read them again on the next page."""
    request.scope["session"].pop("academy", None)


async def optional_user(request: Request) -> User | None:
    try:
        return await current_user(request)
    except SignInRequired:
        return None


SignedIn = Annotated[User, Depends(current_user)]
MaybeSignedIn = Annotated[User | None, Depends(optional_user)]


def for_roles(*roles: Role) -> Any:
    """Dependency: the signed-in user, who must hold one of `roles`."""

    async def dependency(user: SignedIn) -> User:
        if not user.has(*roles):
            raise NotAllowed()
        return user

    return Depends(dependency)


async def call(request: Request, service: Service, method: str, path: str, **kwargs: Any) -> Any:
    """A service call as the signed-in user, in the page's language; JSON back."""
    backend: Backend = request.app.state.backend
    user: User | None = request.scope.get("wps_user")
    response = await backend.request(
        service,
        method,
        path,
        token=user.access_token if user else None,
        lang=language(request).code,
        **kwargs,
    )
    if response.status_code == 204 or not response.content:
        return None
    return response.json()


async def every_item(
    request: Request, service: Service, path: str, params: dict[str, Any] | None = None
) -> list[Any]:
    """Every item of a list the page shows whole (a trainee's history, an enrolment's
    results, a module's versions), the largest page at a time, each after the last one's
    cursor."""
    items: list[Any] = []
    cursor: str | None = None
    while True:
        query = {**(params or {}), "limit": MAX_LIMIT, **({"cursor": cursor} if cursor else {})}
        page = await call(request, service, "GET", path, params=query)
        items.extend(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return items


def redirect(url: str) -> RedirectResponse:
    """After a successful form post: see the result with GET (no resubmission on reload)."""
    return RedirectResponse(url, status_code=303)


def flash(request: Request, message: str, kind: str = "success") -> None:
    request.scope["session"].setdefault("flash", []).append({"kind": kind, "text": message})


def take_flashes(request: Request) -> list[dict[str, str]]:
    flashes: list[dict[str, str]] = request.scope["session"].pop("flash", [])
    return flashes


environment.globals["take_flashes"] = take_flashes


def error_page(request: Request, error: ServiceError) -> Response:
    if error.status == 401:
        return RedirectResponse(
            f"/auth/sign-in?next={quote(request.url.path, safe='/')}", status_code=303
        )
    if error.status == 404:  # another academy's record, or a stale link: the same page
        return render(request, "not_found.html", status=404)
    return render(request, "error.html", status=error.status, error=error)
