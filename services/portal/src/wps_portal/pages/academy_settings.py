"""The academy's name in each of its languages and the order its texts fall back through, as
its admins set them (enrolment keeps them; certificates and pages print the name from them)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from wps_portal.backend import ServiceError
from wps_portal.i18n import LANGUAGES, NAMES
from wps_portal.pages.academy import STAFF, text
from wps_portal.pages.scope import Scope, required_scope
from wps_portal.web import (
    User,
    call,
    checked_form,
    flash,
    for_roles,
    forget_users_academy,
    language,
    redirect,
    render,
)

router = APIRouter(prefix="/academy", include_in_schema=False)
NAME_LIMIT = 200  # enrolment's longest name
# The invisible characters that reorder text (enrolment refuses them in names): told here in
# the page's language, with the field, rather than as the service's English.
DIRECTION_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


@dataclass
class Row:
    """One language as the form shows it: its place in the order (None: not used) and the
    academy's name in it."""

    code: str
    place: int | None
    name: str = ""

    @property
    def label(self) -> str:
        return NAMES.get(self.code, self.code)


@dataclass
class Draft:
    official_name: str
    rows: list[Row]
    problems: list[str] = field(default_factory=list)


def _codes(academy: dict[str, Any]) -> list[str]:
    """The academy's languages in its order, then the portal's other languages."""
    own = [str(code) for code in academy.get("languages") or []]
    return own + [code for code in LANGUAGES if code not in own]


def _draft(academy: dict[str, Any]) -> Draft:
    own = list(academy.get("languages") or [])
    names = academy.get("names") or {}
    return Draft(
        str(academy.get("name") or ""),
        [
            Row(code, own.index(code) + 1 if code in own else None, str(names.get(code) or ""))
            for code in _codes(academy)
        ],
    )


def _path(scope: Scope) -> str:
    return f"/v1/academies/{quote(scope.id, safe='')}"


@router.get("/settings")
async def settings_page(request: Request, user: User = for_roles(*STAFF)) -> Response:
    """The academy's names per language and the order of its languages; and the form."""
    scope = await required_scope(request, user)
    return _page(request, scope, _draft(scope.academy))


@router.post("/settings")
async def save_settings(request: Request, user: User = for_roles(*STAFF)) -> Response:
    """Save the names and the order of languages; the service's sentences when it refuses."""
    form = await checked_form(request)
    scope = await required_scope(request, user)
    _ = language(request).gettext
    rows = []
    for code in _codes(scope.academy):
        place = text(form, f"place-{code}", 3)
        rows.append(
            Row(
                code,
                int(place) if place.isdigit() else None,
                text(form, f"name-{code}", NAME_LIMIT),
            )
        )
    draft = Draft(text(form, "official_name", NAME_LIMIT), rows)
    placed = [row for row in rows if row.place is not None]
    places = [row.place or 0 for row in placed]
    # What a person can get wrong in this form is told in their language; what only
    # enrolment can tell is shown as it gives it.
    if not draft.official_name:
        draft.problems.append(
            _("Give the academy's official name: it is shown where no name in a language fits.")
        )
    named = [(_("The official name"), draft.official_name)] + [
        (_("The name in %(language)s") % {"language": row.label}, row.name) for row in rows
    ]
    for which, name in named:
        if DIRECTION_CONTROLS.search(name):
            draft.problems.append(
                _("%(which)s contains an invisible direction-control character; retype the name.")
                % {"which": which}
            )
    if not placed:
        draft.problems.append(_("Give at least one language a place in the order."))
    for shared in sorted({n for n in places if places.count(n) > 1}):
        draft.problems.append(
            _("Two languages have place %(place)s in the order: give each its own place.")
            % {"place": shared}
        )
    for row in rows:
        if row.name and row.place is None:
            draft.problems.append(
                _(
                    "%(language)s has a name but no place in the order: give it a place, or "
                    "clear the name."
                )
                % {"language": row.label}
            )
    if draft.problems:
        return _page(request, scope, draft, status=422)
    body = {
        "name": draft.official_name,
        "languages": [row.code for row in sorted(placed, key=lambda r: r.place or 0)],
        "names": {row.code: row.name for row in rows if row.name},
    }
    try:
        await call(request, "enrolment", "PATCH", _path(scope), json=body)
    except ServiceError as error:
        if error.status >= 500 or error.status in (401, 403, 404):
            raise
        draft.problems = [error.detail]
        return _page(request, scope, draft, status=error.status)
    forget_users_academy(request)
    flash(
        request,
        _(
            "The academy's names and languages are saved. Certificates issued from now on "
            "print the name in the trainee's language."
        ),
    )
    carried = f"?academy={quote(scope.id)}" if scope.choices else ""
    return redirect(f"/academy/settings{carried}")


def _page(request: Request, scope: Scope, draft: Draft, *, status: int = 200) -> Response:
    own = [str(code) for code in scope.academy.get("languages") or []]
    return render(
        request,
        "academy/settings.html",
        status=status,
        scope=scope,
        draft=draft,
        order=[NAMES.get(code, code) for code in own],
        carried=f"?academy={quote(scope.id)}" if scope.choices else "",
    )
