"""Recognised training, as academy admins keep it: training a trainee did elsewhere, recorded
with its evidence file by one admin and approved or rejected by another (never by the one who
recorded it). Every fact is enrolment's; the portal forwards the form and the file."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from wps_portal.backend import Backend, ServiceError
from wps_portal.i18n import N_, localised
from wps_portal.pages.academy import (
    STAFF,
    _published_tracks,
    field_errors,
    found,
    gathered,
    params,
    person,
    text,
)
from wps_portal.pages.scope import Clock, Scope, required_scope
from wps_portal.web import User, call, checked_form, flash, for_roles, language, redirect, render

router = APIRouter(prefix="/academy", include_in_schema=False)
# Enrolment refuses evidence over 5 MiB with its own sentence (413); the portal forwards up to
# this many bytes so that the sentence is the service's, and stops beyond it.
FORWARD_LIMIT = 8 * 1024 * 1024
EVIDENCE_ACCEPT = ".pdf,.png,.jpg,.jpeg,application/pdf,image/png,image/jpeg"
FIELDS = ("employee_number", "track_code", "issuer", "completed_on", "valid_until", "note")
RECOGNITION_STATUS = {
    "pending": N_("Waiting for approval"),
    "approved": N_("Approved"),
    "rejected": N_("Rejected"),
}
DECIDED_SHOWN = 25
PROBLEMS = "https://wps-training.org/problems/"
# Enrolment's refusals of a record, each one sentence of the page's language: by the problem's
# type, else (a validation error) by the field it names.
REFUSED_BY_TYPE = {
    "payload-too-large": ("evidence", N_("The file is too large: at most 5 MB can be uploaded.")),
    "unsupported-media-type": (
        "evidence",
        N_(
            "The evidence must be a PDF, PNG or JPEG file (a scan or photo of the certificate); "
            "this file is none of them."
        ),
    ),
    "recognition/empty-evidence": (
        "evidence",
        N_("The file is empty: choose the scan or photo of the certificate."),
    ),
    "recognition/completed-in-future": (
        "completed_on",
        N_("The completion date cannot be in the future."),
    ),
    "recognition/valid-until-before-completion": (
        "valid_until",
        N_("“Valid until” must come after the completion date."),
    ),
}
REFUSED_FIELD = {
    "issuer": N_("Give the issuer's name: at least 2 characters."),
    "completed_on": N_("Choose the completion date in the calendar."),
    "valid_until": N_("Choose a date in the calendar, or leave it empty."),
    "track_code": N_("Choose the track the training counts as."),
    "note": N_("The note is too long: at most 2,000 characters."),
    "trainee_id": N_("Give the trainee's employee number."),
}
DECISION_REFUSED = {
    "recognition/recorder-decides": N_(
        "You recorded this training: another academy admin of the academy must approve or "
        "reject it."
    ),
    "recognition/already-decided": N_(
        "This training has already been decided on; record it again to have it decided anew."
    ),
}


def _carried(scope: Scope) -> str:
    return f"?academy={quote(scope.id)}" if scope.choices else ""


@router.get("/recognitions")
async def recognitions_page(request: Request, user: User = for_roles(*STAFF)) -> Response:
    """The form to record training done elsewhere, what waits for a decision, and the latest
    decisions."""
    scope = await required_scope(request, user)
    values = {name: "" for name in FIELDS}
    wanted = request.query_params.get("trainee")
    if wanted:
        trainee = await found(
            call(request, "enrolment", "GET", f"/v1/trainees/{quote(wanted, safe='')}")
        )
        values["employee_number"] = trainee["employee_number"]
    return await _page(request, scope, user, values=values)


@router.post("/recognitions")
async def record_recognition(request: Request, user: User = for_roles(*STAFF)) -> Response:
    """Forward the form and its evidence file to enrolment; the record then waits for another
    academy admin."""
    form = await checked_form(request)
    scope = await required_scope(request, user)
    _ = language(request).gettext
    values = {name: text(form, name, 2000 if name == "note" else 200) for name in FIELDS}
    errors: dict[str, str] = {}
    trainee = None
    if not values["employee_number"]:
        errors["employee_number"] = _("Give the trainee's employee number.")
    else:
        trainee = await _trainee_by_number(request, scope, values["employee_number"])
        if trainee is None:
            errors["employee_number"] = _(
                "No trainee of this academy has the employee number %(number)s."
            ) % {"number": values["employee_number"]}
    errors.update(_early_errors(values, Clock.of(scope.academy).today(), _))
    upload = form.get("evidence")
    content = b""
    if not isinstance(upload, UploadFile) or not upload.filename:
        errors["evidence"] = _("Choose the evidence file: a PDF, PNG or JPEG of the certificate.")
    else:
        content = await upload.read(FORWARD_LIMIT + 1)
        if len(content) > FORWARD_LIMIT:
            errors["evidence"] = _("The file is too large: at most 5 MB can be uploaded.")
    if errors or trainee is None or not isinstance(upload, UploadFile):
        return await _page(request, scope, user, values=values, errors=errors, status=422)
    data = {
        "trainee_id": trainee["id"],
        **{k: v for k, v in values.items() if k != "employee_number" and v},
    }
    try:
        await call(
            request,
            "enrolment",
            "POST",
            "/v1/recognitions",
            data=data,
            files={
                "evidence": (
                    upload.filename,
                    content,
                    upload.content_type or "application/octet-stream",
                )
            },
        )
    except ServiceError as error:
        if error.status >= 500 or error.status in (401, 403):
            raise
        errors, general = _refused(error, _)
        return await _page(
            request, scope, user, values=values, errors=errors, general=general, status=error.status
        )
    flash(
        request,
        _(
            "The training is recorded for %(name)s. It counts once another academy admin "
            "approves it."
        )
        % {"name": person(trainee)},
    )
    return redirect(f"/academy/recognitions{_carried(scope)}")


@router.post("/recognitions/{recognition_id}/{decision}")
async def decide(
    request: Request, recognition_id: str, decision: str, user: User = for_roles(*STAFF)
) -> Response:
    """Approve, or reject with the reason; the service refuses the recorder's own record."""
    if decision not in ("approve", "reject"):
        raise HTTPException(status_code=404)
    form = await checked_form(request)
    scope = await required_scope(request, user)
    _ = language(request).gettext
    body = None
    if decision == "reject":
        reason = text(form, "reason")
        if len(reason) < 3:
            flash(request, _("Say why the training is not recognised."), "error")
            return redirect(f"/academy/recognitions{_carried(scope)}#r-{recognition_id}")
        body = {"reason": reason}
    path = f"/v1/recognitions/{quote(recognition_id, safe='')}/{decision}"
    try:
        await found(call(request, "enrolment", "POST", path, json=body))
    except ServiceError as error:
        if error.status >= 500 or error.status == 401:
            raise
        kind = error.type.removeprefix(PROBLEMS)
        said = DECISION_REFUSED.get(kind)
        flash(request, _(said) if said else error.detail, "error")
        return redirect(f"/academy/recognitions{_carried(scope)}")
    flash(
        request,
        _("Approved: the training now counts towards the trainee's mandatory training.")
        if decision == "approve"
        else _("Rejected: the training does not count."),
    )
    return redirect(f"/academy/recognitions{_carried(scope)}")


@router.get("/recognitions/{recognition_id}/evidence")
async def evidence(
    request: Request, recognition_id: str, user: User = for_roles(*STAFF)
) -> Response:
    """The evidence file as recorded, as a download (enrolment decides who may see it)."""
    backend: Backend = request.app.state.backend
    try:
        upstream = await backend.request(
            "enrolment",
            "GET",
            f"/v1/recognitions/{quote(recognition_id, safe='')}/evidence",
            token=user.access_token,
        )
    except ServiceError as error:
        if error.status in (403, 404, 422):
            raise HTTPException(status_code=404) from None
        raise
    return Response(
        upstream.content,
        media_type=upstream.headers.get("content-type", "application/octet-stream"),
        headers={
            "Content-Disposition": upstream.headers.get("content-disposition", "attachment"),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


def _early_errors(values: dict[str, str], today: date, _: Any) -> dict[str, str]:
    """What the form can tell before asking enrolment, in the page's language."""
    errors: dict[str, str] = {}

    def refuse(name: str, message: str) -> None:
        errors.setdefault(name, _(message))

    if len(values["issuer"]) < 2:
        refuse("issuer", REFUSED_FIELD["issuer"])
    if not values["track_code"]:
        refuse("track_code", REFUSED_FIELD["track_code"])
    days: dict[str, date] = {}
    for name in ("completed_on", "valid_until"):
        if values[name]:
            try:
                days[name] = date.fromisoformat(values[name])
            except ValueError:
                refuse(name, REFUSED_FIELD[name])
    completed, until = days.get("completed_on"), days.get("valid_until")
    if not values["completed_on"]:
        refuse("completed_on", REFUSED_FIELD["completed_on"])
    elif completed is not None and completed > today:
        refuse("completed_on", REFUSED_BY_TYPE["recognition/completed-in-future"][1])
    if completed is not None and until is not None and until <= completed:
        refuse("valid_until", REFUSED_BY_TYPE["recognition/valid-until-before-completion"][1])
    return errors


def _refused(error: ServiceError, _: Any) -> tuple[dict[str, str], list[str]]:
    """Enrolment's refusal of a record next to its field, in the page's language; what the
    portal has no sentence for stays the service's."""
    kind = error.type.removeprefix(PROBLEMS)
    if kind in REFUSED_BY_TYPE:
        name, message = REFUSED_BY_TYPE[kind]
        return {name: _(message)}, []
    errors, general = field_errors(error, [*FIELDS, "evidence", "trainee_id"])
    said = {
        name: _(REFUSED_FIELD[name]) if name in REFUSED_FIELD else m for name, m in errors.items()
    }
    if "trainee_id" in said:
        said["employee_number"] = said.pop("trainee_id")
    return said, general


async def _trainee_by_number(request: Request, scope: Scope, number: str) -> dict[str, Any] | None:
    listed = await call(
        request,
        "enrolment",
        "GET",
        "/v1/trainees",
        params=params(academy_id=scope.id, q=number, limit=50),
    )
    return next(
        (t for t in listed["items"] if t["employee_number"].casefold() == number.casefold()),
        None,
    )


async def _page(
    request: Request,
    scope: Scope,
    user: User,
    *,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    general: list[str] | None = None,
    status: int = 200,
) -> Response:
    wanted = {"academy_id": scope.id, "limit": 100}
    pending, decided, tracks = await asyncio.gather(
        call(
            request, "enrolment", "GET", "/v1/recognitions", params={**wanted, "status": "pending"}
        ),
        call(
            request,
            "enrolment",
            "GET",
            "/v1/recognitions",
            params={**wanted, "limit": DECIDED_SHOWN},
        ),
        _published_tracks(request),
    )
    shown = pending["items"] + [r for r in decided["items"] if r["status"] != "pending"]
    trainee_ids = sorted({r["trainee_id"] for r in shown})
    trainees = dict(
        zip(
            trainee_ids,
            await gathered(
                _maybe(call(request, "enrolment", "GET", f"/v1/trainees/{quote(t, safe='')}"))
                for t in trainee_ids
            ),
            strict=True,
        )
    )
    lang = language(request).code
    return render(
        request,
        "academy/recognitions.html",
        status=status,
        scope=scope,
        me=user.subject,
        values=values,
        errors=errors or {},
        general=general or [],
        pending=pending,
        decided=[r for r in decided["items"] if r["status"] != "pending"],
        trainees=trainees,
        tracks=[
            (t["code"], f"{localised(t.get('title'), lang, t['code'])} ({t['code']})")
            for t in tracks
        ],
        track_titles={t["code"]: localised(t.get("title"), lang, t["code"]) for t in tracks},
        labels=RECOGNITION_STATUS,
        clock=Clock.of(scope.academy),
        carried=_carried(scope),
        accept=EVIDENCE_ACCEPT,
        today=Clock.of(scope.academy).today().isoformat(),
    )


async def _maybe(awaitable: Any) -> Any:
    try:
        return await awaitable
    except ServiceError as error:
        if error.status in (403, 404):
            return None
        raise
