"""Deployment clearance: whether a person meets a clearance profile (e.g. UN peacekeeping
pre-deployment) for a mission ending on a day, item by item, for a mission's HR, academy admins
and platform admins. The profiles come from curriculum, the answer from enrolment.

Every refusal is said in the page's language, told from the problem's `type` (enrolment gives
each case of the route its own), never in the service's English."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from wps_common.auth import Role
from wps_portal.backend import ServiceError
from wps_portal.i18n import N_, academy_name, localised
from wps_portal.web import User, call, every_item, for_roles, language, render

router = APIRouter(include_in_schema=False)
Clearing = for_roles(Role.ADMIN, Role.ACADEMY_ADMIN, Role.HR)
ACADEMIES_PAGE = 500
PROBLEMS = "https://wps-training.org/problems/clearance/"

ITEM_STATUS = {
    "met": N_("Valid until the mission ends"),
    "expires": N_("Runs out before the mission ends"),
    "missing": N_("Missing"),
}
ITEM_KINDS = {"module": N_("Module"), "track": N_("Track")}
FIELDS = ("employee_number", "profile", "until", "academy")


class Problem(dict[str, Any]):
    """One sentence for the page (`message`, translated in the template, with `params`) and
    the fields it concerns."""


def _problem(message: str, *fields: str, **params: Any) -> Problem:
    return Problem(message=message, params=params, fields=set(fields))


@router.get("/clearance")
async def clearance_page(request: Request, user: User = Clearing) -> Response:
    """The form and, once it is filled in, the answer (or why there is none)."""
    asked = {name: request.query_params.get(name, "").strip() for name in FIELDS}
    speaking = language(request)
    profiles, academies = await asyncio.gather(
        every_item(request, "curriculum", "/v1/clearance-profiles"),
        _academies(request),
    )
    choices = sorted(
        (
            {"code": p["code"], "title": localised(p["title"], speaking.code, p["code"])}
            for p in profiles
        ),
        key=lambda p: p["title"].casefold(),
    )
    names = {a["code"]: academy_name(a, speaking.code) for a in academies}
    names |= {a["id"]: names[a["code"]] for a in academies}
    answer: dict[str, Any] | None = None
    problem: Problem | None = None
    numbers: dict[str, str] = {}
    status = 200
    submitted = any(asked[name] for name in ("employee_number", "profile", "until"))
    if submitted:
        problem = _local_problem(asked)
        if problem is None:
            params = {k: v for k, v in asked.items() if v}
            try:
                answer = await call(request, "enrolment", "GET", "/v1/clearance", params=params)
            except ServiceError as error:
                if error.status >= 500 or error.status in (401, 403):
                    raise
                status, problem = error.status, _said(error, asked, user, names)
            else:
                numbers = await _certificate_numbers(request, user, answer)
        else:
            status = 422
    return render(
        request,
        "clearance.html",
        status=status,
        asked=asked,
        profiles=choices,
        academies=academies if user.has(Role.ADMIN, Role.HR) else [],
        academy_names=names,
        answer=answer,
        problem=problem,
        invalid=problem["fields"] if problem else set(),
        numbers=numbers,
        opens_certificates=user.has(Role.ADMIN, Role.ACADEMY_ADMIN),
        item_status=ITEM_STATUS,
        item_kinds=ITEM_KINDS,
        text_of=lambda texts, default: localised(texts, speaking.code, default),
    )


def _local_problem(asked: dict[str, str]) -> Problem | None:
    """What the page can tell without asking: a missing number or profile, a malformed day."""
    if not asked["employee_number"]:
        return _problem(N_("Give the employee number."), "employee_number")
    if not asked["profile"]:
        return _problem(N_("Choose a clearance profile."), "profile")
    if asked["until"]:
        try:
            date.fromisoformat(asked["until"])
        except ValueError:
            return _problem(
                N_("That is not a date: choose the day the mission ends in the calendar."),
                "until",
            )
    return None


def _said(error: ServiceError, asked: dict[str, str], user: User, names: dict[str, str]) -> Problem:
    """The service's refusal as one sentence of the page's, by its type."""
    kind = error.type.removeprefix(PROBLEMS) if error.type.startswith(PROBLEMS) else ""
    number = asked["employee_number"]
    if kind == "unknown-person":
        if not user.has(Role.ADMIN, Role.HR):
            message = N_("There is no trainee with employee number %(number)s in your academy.")
            return _problem(message, "employee_number", number=number)
        if asked["academy"]:
            return _problem(
                N_("There is no trainee with employee number %(number)s in %(academy)s."),
                "employee_number",
                "academy",
                number=number,
                academy=names.get(asked["academy"], asked["academy"]),
            )
        message = N_("There is no trainee with employee number %(number)s.")
        return _problem(message, "employee_number", number=number)
    if kind == "several-academies":
        codes = [str(code) for code in error.body.get("academies") or []]
        return _problem(
            N_(
                "Employee number %(number)s is in several academies (%(academies)s): "
                "choose the academy and check again."
            ),
            "academy",
            number=number,
            academies=", ".join(names.get(code, code) for code in codes),
        )
    if kind in ("unknown-profile", "retired-profile"):
        return _problem(
            N_("That clearance profile is not in use: choose one from the list."), "profile"
        )
    if kind == "unknown-academy":
        return _problem(N_("There is no such academy: choose one from the list."), "academy")
    if kind == "past-end-date":
        return _problem(
            N_("The mission's end date is in the past: give the day the mission ends."),
            "until",
        )
    fields = {name.rsplit(".", 1)[-1] for name in error.field_errors()} & set(FIELDS)
    return _problem(
        N_("The check could not be made with what was given: look at the marked fields."),
        *sorted(fields),
    )


async def _academies(request: Request) -> list[dict[str, Any]]:
    """The academies the user sees: for their names, and for admins and HR to name one."""
    listed = await call(
        request, "enrolment", "GET", "/v1/academies", params={"limit": ACADEMIES_PAGE}
    )
    return list(listed["items"])


async def _certificate_numbers(
    request: Request, user: User, answer: dict[str, Any]
) -> dict[str, str]:
    """The numbers of the certificates that meet items, for those who may open them (HR reads
    the answer's title and issue date instead)."""
    if not user.has(Role.ADMIN, Role.ACADEMY_ADMIN):
        return {}
    ids = sorted({i["certificate_id"] for i in answer["items"] if i.get("certificate_id")})

    async def number(certificate_id: str) -> str | None:
        try:
            found = await call(
                request,
                "certification",
                "GET",
                f"/v1/certificates/{quote(certificate_id, safe='')}",
            )
        except ServiceError:
            return None  # the answer stands without it: the title and issue date remain
        return str(found.get("number") or "") or None

    found = await asyncio.gather(*(number(i) for i in ids))
    return {i: n for i, n in zip(ids, found, strict=True) if n}
