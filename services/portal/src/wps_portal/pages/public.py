"""Pages for everyone: the home page, the language switch and certificate verification."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from wps_common.auth import Role
from wps_portal.backend import Backend, ServiceError
from wps_portal.i18n import LANGUAGES, N_, academy_name, localised
from wps_portal.web import MaybeSignedIn, checked_form, language, redirect, render

router = APIRouter(include_in_schema=False)
CODE_SHAPE = re.compile(r"^[A-Z0-9]{4}(-[A-Z0-9]{4}){3}$")


def canonical_code(typed: str) -> str | None:
    """`abcd efgh jklm npqr`, `ABCDEFGHJKLMNPQR` → `ABCD-EFGH-JKLM-NPQR`; None if not a code."""
    letters = re.sub(r"[^A-Za-z0-9]", "", typed).upper()
    if len(letters) != 16:
        return None
    return "-".join(letters[i : i + 4] for i in range(0, 16, 4))


@router.get("/")
async def home(request: Request, user: MaybeSignedIn) -> Response:
    return render(request, "home.html", tiles=_tiles(user.roles) if user else [])


def _tiles(roles: frozenset[str]) -> list[dict[str, str]]:
    """What each role comes here to do, in the order people look for it."""
    tiles: list[dict[str, str]] = []

    def add(role: Role, href: str, title: str, text: str) -> None:
        if role.value in roles or Role.ADMIN.value in roles and role != Role.TRAINEE:
            if not any(t["href"] == href for t in tiles):
                tiles.append({"href": href, "title": title, "text": text})

    add(
        Role.TRAINEE,
        "/me/trainings",
        N_("My mandatory trainings"),
        N_("What you must hold, and by when."),
    )
    add(
        Role.TRAINEE,
        "/me/cohorts",
        N_("My cohorts and results"),
        N_("Courses you attend and your marks."),
    )
    add(Role.TRAINEE, "/me/certificates", N_("My certificates"), N_("Download, share and verify."))
    add(
        Role.ACADEMY_ADMIN,
        "/academy/compliance",
        N_("Compliance"),
        N_("Who is due, overdue or expired."),
    )
    add(
        Role.ACADEMY_ADMIN, "/academy/trainees", N_("Trainees"), N_("Search, profiles and history.")
    )
    add(Role.ACADEMY_ADMIN, "/academy/imports", N_("HR import"), N_("Upload the personnel list."))
    add(
        Role.ACADEMY_ADMIN, "/academy/cohorts", N_("Cohorts"), N_("Open courses, enrol, waitlists.")
    )
    add(Role.ACADEMY_ADMIN, "/academy/certificates", N_("Certificates"), N_("Revoke or reissue."))
    add(
        Role.ACADEMY_ADMIN,
        "/academy/reports",
        N_("Reports"),
        N_("Participation by gender, rank, unit."),
    )
    add(Role.INSTRUCTOR, "/teaching", N_("My cohorts"), N_("Attendance register and results."))
    add(Role.REVIEWER, "/review", N_("Review queue"), N_("Approve or reject submitted versions."))
    add(Role.ACADEMY_ADMIN, "/review/drafts", N_("My drafts"), N_("Modules and tracks you author."))
    add(Role.HR, "/hr/webhooks", N_("Webhooks"), N_("Subscriptions, deliveries, redelivery."))
    for role in (Role.HR, Role.ACADEMY_ADMIN):
        add(
            role,
            "/clearance",
            N_("Deployment clearance"),
            N_("Who holds what a mission asks for, until its end."),
        )
    return tiles


@router.post("/language")
async def switch_language(request: Request) -> Response:
    form = await checked_form(request)
    chosen = str(form.get("lang", ""))
    if chosen in LANGUAGES:
        request.scope["session"]["lang"] = chosen
    back = str(form.get("next", "/"))
    return redirect(back if back.startswith("/") and not back.startswith("//") else "/")


@router.get("/verify")
async def verify_form(
    request: Request, code: Annotated[str | None, Query(max_length=64)] = None
) -> Response:
    """Type or scan a code; a typed code goes to its own page (shareable, like the QR's)."""
    if code:
        cleaned = canonical_code(code)
        if cleaned:
            return redirect(f"/verify/{cleaned}")
        return render(request, "verify.html", status=422, code=code, malformed=True)
    return render(request, "verify.html")


@router.get("/verify/{code}")
async def verify_result(request: Request, code: str) -> Response:
    """What the certificate with this code is now: valid, revoked, expired or superseded."""
    backend: Backend = request.app.state.backend
    speaking = language(request)
    cleaned = canonical_code(code)
    if cleaned is None:
        return render(request, "verify.html", status=422, code=code, malformed=True)
    if cleaned != code:
        carried = request.query_params.get("lang")
        return redirect(f"/verify/{cleaned}" + (f"?lang={carried}" if carried in LANGUAGES else ""))
    code = cleaned
    try:
        result: dict[str, Any] = await backend.json(
            "certification",
            "GET",
            f"/v1/verify/{code}",
            lang=speaking.code,
            headers={"Accept": "application/json", **_client_address(request)},
        )
    except ServiceError as error:
        if error.status == 404:
            return render(request, "verify.html", status=404, code=code, unknown=True)
        if error.status == 429:
            return render(
                request, "verify.html", status=429, code=code, limited=error.retry_after or 60
            )
        raise
    title = localised(result.get("track_title"), speaking.code, result["track_code"])
    # The academy's name in the page language too, through the academy's own languages; else
    # as the certificate prints it.
    academy = academy_name(
        {
            "names": result.get("academy_names"),
            "languages": result.get("academy_languages"),
            "name": result["academy_name"],
        },
        speaking.code,
    )
    return render(
        request, "verify_result.html", code=code, result=result, title=title, academy=academy
    )


def _client_address(request: Request) -> dict[str, str]:
    # The verification limit is per client: tell certification who is asking (the portal is
    # one of the trusted proxies it is configured with).
    return {"X-Forwarded-For": request.client.host} if request.client else {}
