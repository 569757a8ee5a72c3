"""Deployment clearance: whether a person meets a clearance profile (e.g. UN peacekeeping
pre-deployment) until a mission's end date, item by item, for a mission's HR, academy admins
and platform admins. The profiles come from curriculum, the answer from enrolment."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from wps_common.auth import Role
from wps_portal.backend import ServiceError
from wps_portal.i18n import N_, localised
from wps_portal.web import User, call, every_item, for_roles, language, render

router = APIRouter(include_in_schema=False)
Clearing = for_roles(Role.ADMIN, Role.ACADEMY_ADMIN, Role.HR)
ACADEMIES_PAGE = 500

ITEM_STATUS = {
    "met": N_("Met"),
    "expires": N_("Expires before the end date"),
    "missing": N_("Missing"),
}
ITEM_KINDS = {"module": N_("Module"), "track": N_("Track")}
FIELDS = ("employee_number", "profile", "until", "academy")


@router.get("/clearance")
async def clearance_page(request: Request, user: User = Clearing) -> Response:
    """The form and, once it is filled in, the answer."""
    asked = {name: request.query_params.get(name, "").strip() for name in FIELDS}
    speaking = language(request)
    profiles, academies = await asyncio.gather(
        every_item(request, "curriculum", "/v1/clearance-profiles"),
        _academies(request, user),
    )
    choices = sorted(
        (
            {"code": p["code"], "title": localised(p["title"], speaking.code, p["code"])}
            for p in profiles
        ),
        key=lambda p: p["title"].casefold(),
    )
    answer: dict[str, Any] | None = None
    problem: str | None = None
    errors: dict[str, str] = {}
    status = 200
    if asked["employee_number"] or asked["profile"]:
        params = {k: v for k, v in asked.items() if v}
        try:
            answer = await call(request, "enrolment", "GET", "/v1/clearance", params=params)
        except ServiceError as error:
            if error.status >= 500 or error.status in (401, 403):
                raise
            status, problem = error.status, error.detail
            errors = {
                name.rsplit(".", 1)[-1]: message for name, message in error.field_errors().items()
            }
            if error.status == 409:
                errors["academy"] = error.detail
    return render(
        request,
        "clearance.html",
        status=status,
        asked=asked,
        profiles=choices,
        academies=academies,
        answer=answer,
        problem=problem,
        errors=errors,
        item_status=ITEM_STATUS,
        item_kinds=ITEM_KINDS,
        text_of=lambda texts, default: localised(texts, speaking.code, default),
    )


async def _academies(request: Request, user: User) -> list[dict[str, Any]]:
    """The academies an admin or HR user may name (an academy admin has only their own)."""
    if not user.has(Role.ADMIN, Role.HR):
        return []
    listed = await call(
        request, "enrolment", "GET", "/v1/academies", params={"limit": ACADEMIES_PAGE}
    )
    return list(listed["items"])
