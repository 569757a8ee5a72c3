"""Pages for academy staff about people and courses: trainees (search, profile with compliance
and history, edit, register), the HR import with its progress and row errors, and cohorts with
their seats, waitlists and withdrawals. Every fact comes from enrolment and curriculum."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import Awaitable, Iterable
from datetime import date, timedelta
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import httpx
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.background import BackgroundTask
from starlette.datastructures import FormData, UploadFile

from wps_common.auth import Role
from wps_common.fields import spreadsheet_safe
from wps_portal.backend import Backend, ServiceError
from wps_portal.i18n import N_, NAMES, localised
from wps_portal.pages.scope import Clock, Scope, required_scope
from wps_portal.web import (
    User,
    call,
    checked_form,
    every_item,
    flash,
    for_roles,
    language,
    redirect,
    render,
)

router = APIRouter(prefix="/academy", include_in_schema=False)
STAFF = (Role.ACADEMY_ADMIN, Role.ADMIN)
PAGE_SIZE = 25
# Enrolment's own default (ENROLMENT_IMPORT_MAX_BYTES); the service has the last word (413).
UPLOAD_LIMIT = 20_000_000
CSV_TYPE = "text/csv; charset=utf-8"
T = TypeVar("T")

GENDERS = {
    "female": N_("Female"),
    "male": N_("Male"),
    "other": N_("Other"),
    "undisclosed": N_("Prefers not to say"),
}
TRAINEE_FIELDS = {
    "employee_number": N_("Employee number"),
    "family_name": N_("Family name"),
    "given_name": N_("Given name"),
    "preferred_language": N_("Preferred language"),
    "gender": N_("Gender"),
    "rank": N_("Rank"),
    "role": N_("Role"),
    "unit": N_("Unit"),
    "agency": N_("Agency"),
    "start_date": N_("Start date"),
    "active": N_("Active"),
}
REQUIRED_FIELDS = ("employee_number", "family_name", "given_name")
OPTIONAL_FIELDS = ("gender", "rank", "role", "unit", "agency", "start_date")
SORTS = {
    "family_name": N_("Family name"),
    "employee_number": N_("Employee number"),
    "created_at": N_("Newest first"),
}
COMPLIANCE = {
    "compliant": N_("Compliant"),
    "due": N_("Due"),
    "overdue": N_("Overdue"),
    "expired": N_("Expired"),
    "exempt": N_("Exempt"),
}
ENROLMENT = {
    "enrolled": N_("Enrolled"),
    "waitlisted": N_("Waitlisted"),
    "completed": N_("Completed"),
    "failed": N_("Not passed"),
    "withdrawn": N_("Withdrawn"),
}
HISTORY_ACTIONS = {
    "created": N_("Registered"),
    "updated": N_("Details changed"),
    "deactivated": N_("Deactivated"),
    "reactivated": N_("Reactivated"),
    "exempted": N_("Exempted from a requirement"),
    "exemption_lifted": N_("Exemption lifted"),
    "due_date_set": N_("Personal due date set"),
    "due_date_removed": N_("Personal due date removed"),
}
# What an exemption's or a personal due date's entry in the history names.
COMPLIANCE_FIELDS = {
    "requirement_code": N_("Requirement"),
    "due_on": N_("Personal due date"),
    "reason": N_("Reason"),
}
DUE_DATE_FIELDS = ("requirement_code", "due_on", "reason")
IMPORT_STATUS = {
    "queued": N_("Waiting to start"),
    "running": N_("Running"),
    "succeeded": N_("Done"),
    "failed": N_("Failed"),
}
IMPORT_MODES = {
    "partial": N_("Import the good rows, skip the bad ones"),
    "all_or_nothing": N_("All or nothing: import only if every row is good"),
}
# The reason codes enrolment accepts for a withdrawal (schemas.WithdrawalReason).
WITHDRAWAL_REASONS = {
    "trainee_request": N_("At the trainee's request"),
    "operational": N_("Operational needs"),
    "medical": N_("Medical reasons"),
    "disciplinary": N_("Disciplinary reasons"),
    "other": N_("Other"),
}
COHORT_STATUS = {
    "upcoming": N_("Upcoming"),
    "in_progress": N_("In progress"),
    "finished": N_("Finished"),
}
COHORT_FIELDS = (
    "teaches",
    "title",
    "starts_on",
    "ends_on",
    "language",
    "location",
    "capacity",
    "max_attempts",
)


# --- small pieces shared by the pages --------------------------------------------------------


def params(**values: Any) -> dict[str, Any]:
    """Query parameters without the empty ones (httpx would send `key=`)."""
    return {k: v for k, v in values.items() if v is not None and v != ""}


def offset_of(request: Request) -> int:
    raw = request.query_params.get("offset", "0")
    return min(int(raw), 1_000_000) if raw.isdigit() else 0


def text(form: FormData, name: str, limit: int = 2000) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


async def found(awaitable: Awaitable[T]) -> T:
    """A record named in the address: the service's 404 (another academy's, or none) — or a 422
    for an id that cannot be one — is the not-found page."""
    try:
        return await awaitable
    except ServiceError as error:
        if error.status in (404, 422):
            raise HTTPException(status_code=404) from None
        raise


async def gathered(calls: Iterable[Awaitable[T]], at_once: int = 8) -> list[T]:
    """Several service calls, a few at a time (the services are shared)."""
    gate = asyncio.Semaphore(at_once)

    async def one(awaitable: Awaitable[T]) -> T:
        async with gate:
            return await awaitable

    return list(await asyncio.gather(*(one(c) for c in calls)))


def field_errors(error: ServiceError, fields: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """The service's errors next to the fields they name; a message about the whole request
    goes to the field it mentions first, or stays general."""
    known = list(fields)
    attached: dict[str, str] = {}
    general: list[str] = []
    for problem in error.errors or [{"field": "", "message": error.detail}]:
        name = str(problem.get("field") or "").split(".")[-1]
        message = str(problem.get("message") or error.detail)
        if name not in known:
            mentioned = [(message.find(f), f) for f in known if f in message]
            name = min(mentioned)[1] if mentioned else ""
        if name:
            attached.setdefault(name, message)
        else:
            general.append(message)
    return attached, general


def person(trainee: dict[str, Any] | None) -> str:
    if not trainee:
        return ""
    return f"{trainee.get('family_name', '')} {trainee.get('given_name', '')}".strip()


# --- trainees --------------------------------------------------------------------------------


@router.get("/trainees")
async def trainees(request: Request, user: User = for_roles(*STAFF)) -> Response:
    """Search by name or employee number, filter, sort and page through an academy's people."""
    scope = await required_scope(request, user)
    query = request.query_params
    filters = {
        "q": query.get("q", "").strip()[:100],
        "unit": query.get("unit", "").strip()[:200],
        "rank": query.get("rank", "").strip()[:200],
        "gender": query.get("gender", "") if query.get("gender") in GENDERS else "",
        "active": query.get("active", "") if query.get("active") in ("true", "false") else "",
        "sort": query.get("sort", "") if query.get("sort") in SORTS else "family_name",
    }
    offset = offset_of(request)
    page: dict[str, Any] = {"items": [], "total": 0, "limit": PAGE_SIZE, "offset": offset}
    problem = None
    try:
        page = await call(
            request,
            "enrolment",
            "GET",
            "/v1/trainees",
            params=params(academy_id=scope.id, limit=PAGE_SIZE, offset=offset, **filters),
        )
    except ServiceError as error:
        if error.status != 422:
            raise
        problem = error.detail
    shown = {k: v for k, v in filters.items() if v and not (k == "sort" and v == "family_name")}
    if scope.choices:
        shown["academy"] = scope.id
    return render(
        request,
        "academy/trainees.html",
        status=422 if problem else 200,
        scope=scope,
        filters=filters,
        page=page,
        problem=problem,
        base="/academy/trainees?" + urlencode(shown),
        genders=GENDERS,
        sorts=SORTS,
    )


@router.get("/trainees/new")
async def new_trainee(request: Request, user: User = for_roles(*STAFF)) -> Response:
    scope = await required_scope(request, user)
    values = {"preferred_language": (scope.academy.get("languages") or ["en"])[0]}
    return _trainee_form(request, scope, values=values)


@router.post("/trainees/new")
async def register_trainee(request: Request, user: User = for_roles(*STAFF)) -> Response:
    """Register a trainee under the HR system's employee number."""
    form = await checked_form(request)
    scope = await required_scope(request, user)
    values = _typed(form)
    body: dict[str, Any] = {"academy_id": scope.id}
    for name in (*REQUIRED_FIELDS, "preferred_language", *OPTIONAL_FIELDS):
        if values.get(name):
            body[name] = values[name]
    try:
        created = await call(request, "enrolment", "POST", "/v1/trainees", json=body)
    except ServiceError as error:
        if error.status >= 500 or error.status in (401, 403):
            raise
        return _trainee_form(request, scope, values=values, error=error)
    _ = language(request).gettext
    flash(request, _("%(name)s is registered.") % {"name": person(created)})
    return redirect(f"/academy/trainees/{quote(created['id'])}")


@router.get("/trainees/{trainee_id}")
async def trainee_profile(
    request: Request, trainee_id: str, user: User = for_roles(*STAFF)
) -> Response:
    """Details, compliance per requirement, enrolments and the audit trail of one trainee."""
    return await _profile(request, trainee_id)


@router.post("/trainees/{trainee_id}/due-dates")
async def set_due_date(
    request: Request, trainee_id: str, user: User = for_roles(*STAFF)
) -> Response:
    """Give the trainee their own deadline for a requirement, with the reason."""
    form = await checked_form(request)
    values = {name: text(form, name) for name in DUE_DATE_FIELDS}
    path = f"/v1/trainees/{quote(trainee_id, safe='')}"
    trainee = await found(call(request, "enrolment", "GET", path))
    _ = language(request).gettext
    errors = _due_date_errors(request, values, Clock.of(await _academy_of(request, trainee)))
    if not errors:
        try:
            await call(
                request,
                "enrolment",
                "PUT",
                f"{path}/due-dates/{quote(values['requirement_code'], safe='')}",
                json={"due_on": values["due_on"], "reason": values["reason"]},
            )
        except ServiceError as error:
            if error.status >= 500 or error.status in (401, 403):
                raise
            errors = _due_date_refusal(request, error)
    if errors:
        return await _profile(request, trainee_id, due_values=values, due_errors=errors, status=422)
    flash(request, _("The personal due date is set."))
    return redirect(f"/academy/trainees/{quote(trainee_id)}#compliance-heading")


@router.post("/trainees/{trainee_id}/due-dates/{requirement_code}/remove")
async def remove_due_date(
    request: Request, trainee_id: str, requirement_code: str, user: User = for_roles(*STAFF)
) -> Response:
    """The requirement's own deadlines apply again."""
    await checked_form(request)
    path = f"/v1/trainees/{quote(trainee_id, safe='')}"
    await found(call(request, "enrolment", "GET", path))
    _ = language(request).gettext
    try:
        await call(
            request, "enrolment", "DELETE", f"{path}/due-dates/{quote(requirement_code, safe='')}"
        )
    except ServiceError as error:
        if error.status not in (404, 422):
            raise
        # Removed already (a second click, or another admin): nothing left to do.
        flash(request, _("There is no personal due date to remove."), "info")
    else:
        flash(
            request, _("The personal due date is removed: the requirement's own deadlines apply.")
        )
    return redirect(f"/academy/trainees/{quote(trainee_id)}#compliance-heading")


def _due_date_errors(request: Request, values: dict[str, str], clock: Clock) -> dict[str, str]:
    """What the form can tell before asking enrolment, in the page's language."""
    _ = language(request).gettext
    errors: dict[str, str] = {}
    if not values["requirement_code"]:
        errors["requirement_code"] = _("Choose the requirement.")
    try:
        due_on = date.fromisoformat(values["due_on"])
    except ValueError:
        errors["due_on"] = _("Choose the due date.")
    else:
        if due_on < clock.today():
            errors["due_on"] = _("The due date has passed: choose today or a later day.")
    if len(values["reason"]) < 3:
        errors["reason"] = _("Give the reason in a few words.")
    return errors


def _due_date_refusal(request: Request, error: ServiceError) -> dict[str, str]:
    """Enrolment's refusal as the form's own sentence next to its field."""
    _ = language(request).gettext
    if error.status == 404:
        return {"requirement_code": _("This requirement no longer exists: reload the page.")}
    said = {
        "requirement_code": _("Choose the requirement."),
        "due_on": _("The due date has passed: choose today or a later day."),
        "reason": _("Give the reason in a few words."),
    }
    attached, _general = field_errors(error, DUE_DATE_FIELDS)
    return {name: said[name] for name in attached} or {"reason": error.detail}


async def _academy_of(request: Request, trainee: dict[str, Any]) -> dict[str, Any] | None:
    return await _optional(
        call(request, "enrolment", "GET", f"/v1/academies/{quote(trainee['academy_id'])}")
    )


async def _profile(
    request: Request,
    trainee_id: str,
    *,
    due_values: dict[str, str] | None = None,
    due_errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    path = f"/v1/trainees/{quote(trainee_id, safe='')}"
    trainee = await found(call(request, "enrolment", "GET", path))
    compliance, enrolments, history, requirements, academy = await asyncio.gather(
        call(request, "enrolment", "GET", f"{path}/compliance"),
        call(request, "enrolment", "GET", f"{path}/enrolments", params={"limit": 100}),
        every_item(request, "enrolment", f"{path}/history"),
        _requirement_titles(request),
        _optional(
            call(request, "enrolment", "GET", f"/v1/academies/{quote(trainee['academy_id'])}")
        ),
    )
    cohort_ids = sorted({e["cohort_id"] for e in enrolments["items"]})
    cohorts = dict(
        zip(
            cohort_ids,
            await gathered(
                _optional(call(request, "enrolment", "GET", f"/v1/cohorts/{c}")) for c in cohort_ids
            ),
            strict=True,
        )
    )
    lang = language(request).code
    return render(
        request,
        "academy/trainee.html",
        status=status,
        trainee=trainee,
        compliance=compliance,
        requirements={code: localised(texts, lang, code) for code, texts in requirements.items()},
        enrolments=enrolments,
        cohorts=cohorts,
        history=list(reversed(history)),
        academy=academy,
        clock=Clock.of(academy),
        due_values=due_values or {},
        due_errors=due_errors or {},
        fields={**TRAINEE_FIELDS, **COMPLIANCE_FIELDS},
        genders=GENDERS,
        compliance_labels=COMPLIANCE,
        enrolment_labels=ENROLMENT,
        actions=HISTORY_ACTIONS,
        language_names=NAMES,
    )


@router.get("/trainees/{trainee_id}/edit")
async def edit_trainee(
    request: Request, trainee_id: str, user: User = for_roles(*STAFF)
) -> Response:
    trainee = await found(
        call(request, "enrolment", "GET", f"/v1/trainees/{quote(trainee_id, safe='')}")
    )
    scope = await _scope_of(request, user, trainee["academy_id"])
    return _trainee_form(request, scope, values=_shown(trainee), trainee=trainee)


@router.post("/trainees/{trainee_id}/edit")
async def save_trainee(
    request: Request, trainee_id: str, user: User = for_roles(*STAFF)
) -> Response:
    """Send only what changed: the service audits each change under the editor's name."""
    form = await checked_form(request)
    path = f"/v1/trainees/{quote(trainee_id, safe='')}"
    trainee = await found(call(request, "enrolment", "GET", path))
    scope = await _scope_of(request, user, trainee["academy_id"])
    values = _typed(form)
    values["active"] = form.get("active") == "true"
    before = _shown(trainee)
    changes: dict[str, Any] = {}
    for name in (*REQUIRED_FIELDS, "preferred_language"):
        if values.get(name, "") != before.get(name, ""):
            changes[name] = values.get(name, "")
    for name in OPTIONAL_FIELDS:
        if values.get(name, "") != before.get(name, ""):
            changes[name] = values.get(name) or None
    if values["active"] != trainee["active"]:
        changes["active"] = values["active"]
    _ = language(request).gettext
    if not changes:
        flash(request, _("Nothing was changed."), "info")
        return redirect(f"/academy/trainees/{quote(trainee_id)}")
    try:
        await call(request, "enrolment", "PATCH", path, json=changes)
    except ServiceError as error:
        if error.status >= 500 or error.status in (401, 403, 404):
            raise
        return _trainee_form(request, scope, values=values, trainee=trainee, error=error)
    flash(request, _("The changes are saved."))
    return redirect(f"/academy/trainees/{quote(trainee_id)}#history")


def _typed(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {name: text(form, name, 200) for name in TRAINEE_FIELDS}
    if values["gender"] not in GENDERS:
        values["gender"] = ""
    return values


def _shown(trainee: dict[str, Any]) -> dict[str, Any]:
    """A trainee record as the form shows it (empty text for what is not set)."""
    values = {name: trainee.get(name) or "" for name in TRAINEE_FIELDS}
    values["active"] = bool(trainee.get("active"))
    return values


async def _scope_of(request: Request, user: User, academy_id: str) -> Scope:
    listed = await call(request, "enrolment", "GET", f"/v1/academies/{quote(academy_id)}")
    return Scope(listed, [])


def _trainee_form(
    request: Request,
    scope: Scope,
    *,
    values: dict[str, Any],
    trainee: dict[str, Any] | None = None,
    error: ServiceError | None = None,
) -> Response:
    errors: dict[str, str] = {}
    general: list[str] = []
    if error is not None:
        if error.status == 409 and not error.errors:
            # The one conflict a trainee form can meet: the employee number is taken.
            errors = {"employee_number": error.detail}
        else:
            errors, general = field_errors(error, TRAINEE_FIELDS)
    languages = list(dict.fromkeys([*(scope.academy.get("languages") or []), *NAMES]))
    current = values.get("preferred_language")
    if current and current not in languages:
        languages.append(current)
    return render(
        request,
        "academy/trainee_form.html",
        status=error.status if error else 200,
        scope=scope,
        trainee=trainee,
        values=values,
        errors=errors,
        general=general,
        fields=TRAINEE_FIELDS,
        genders=GENDERS,
        language_options=[(code, NAMES.get(code, code)) for code in languages],
    )


async def _requirement_titles(request: Request) -> dict[str, dict[str, str]]:
    """Requirement titles by code, from curriculum (the page still shows codes without it)."""
    try:
        listed = await call(request, "curriculum", "GET", "/v1/requirements", params={"limit": 500})
    except ServiceError:
        return {}
    return {r["code"]: r.get("title") or {} for r in listed["items"]}


async def _optional(awaitable: Awaitable[T]) -> T | None:
    try:
        return await awaitable
    except ServiceError as error:
        if error.status in (403, 404):
            return None
        raise


# --- HR import and export --------------------------------------------------------------------


@router.get("/imports")
async def imports(request: Request, user: User = for_roles(*STAFF)) -> Response:
    scope = await required_scope(request, user)
    return _import_form(request, scope, mode="partial")


@router.post("/imports")
async def upload_import(request: Request, user: User = for_roles(*STAFF)) -> Response:
    """Forward the uploaded CSV to enrolment, which runs it as a job; then watch the job."""
    form = await checked_form(request)
    scope = await required_scope(request, user)
    _ = language(request).gettext
    mode = text(form, "mode")
    if mode not in IMPORT_MODES:
        mode = "partial"
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _import_form(
            request,
            scope,
            mode=mode,
            status=422,
            error=_("Choose the CSV or Excel file to upload."),
        )
    content = await upload.read(UPLOAD_LIMIT + 1)
    if len(content) > UPLOAD_LIMIT:
        limit = language(request).number(UPLOAD_LIMIT // 1_000_000)
        return _import_form(
            request,
            scope,
            mode=mode,
            status=413,
            error=_("The file is too large: at most %(size)s MB can be uploaded.")
            % {"size": limit},
        )
    if not content:
        return _import_form(request, scope, mode=mode, status=422, error=_("The file is empty."))
    try:
        job = await call(
            request,
            "enrolment",
            "POST",
            f"/v1/academies/{quote(scope.id)}/imports",
            params={"mode": mode},
            files={"file": (upload.filename, content, upload.content_type or "text/csv")},
        )
    except ServiceError as error:
        if error.status >= 500 or error.status in (401, 403):
            raise
        return _import_form(request, scope, mode=mode, status=error.status, error=error.detail)
    flash(request, _("The file is uploaded. The import runs now; this page follows it."))
    return redirect(f"/academy/imports/{quote(job['id'])}")


def _import_form(
    request: Request, scope: Scope, *, mode: str, status: int = 200, error: str | None = None
) -> Response:
    return render(
        request,
        "academy/imports.html",
        status=status,
        scope=scope,
        mode=mode,
        modes=IMPORT_MODES,
        error=error,
        limit_mb=UPLOAD_LIMIT // 1_000_000,
        fields=TRAINEE_FIELDS,
    )


@router.get("/imports/template.csv", name="import_template")
async def import_template_csv(request: Request, user: User = for_roles(*STAFF)) -> Response:
    """The file the import reads, to fill in (columns and an example row), from enrolment."""
    return await _import_template(request, user, "csv")


@router.get("/imports/template.xlsx")
async def import_template_xlsx(request: Request, user: User = for_roles(*STAFF)) -> Response:
    """The same template as an Excel workbook."""
    return await _import_template(request, user, "xlsx")


async def _import_template(request: Request, user: User, kind: str) -> Response:
    backend: Backend = request.app.state.backend
    upstream = await backend.request(  # an error answer is the error page (main.py)
        "enrolment",
        "GET",
        "/v1/imports/trainees/template",
        token=user.access_token,
        lang=language(request).code,
        params={"format": kind},
    )
    return Response(
        upstream.content,
        media_type=upstream.headers.get("content-type", "application/octet-stream"),
        headers={"Content-Disposition": f'attachment; filename="trainees-template.{kind}"'},
    )


@router.get("/imports/{job_id}")
async def import_job(request: Request, job_id: str, user: User = for_roles(*STAFF)) -> Response:
    """A job's progress while it runs (refreshed by academy.js, or by the refresh link), then
    its counts and the rows that could not be imported."""
    job = await _job(request, job_id)
    academy = await _optional(
        call(request, "enrolment", "GET", f"/v1/academies/{quote(job['academy_id'])}")
    )
    return render(
        request,
        "academy/import_job.html",
        job=job,
        academy=academy,
        clock=Clock.of(academy),
        progress=_progress(request, job),
        statuses=IMPORT_STATUS,
        modes=IMPORT_MODES,
        fields=TRAINEE_FIELDS,
    )


@router.get("/imports/{job_id}/progress")
async def import_progress(
    request: Request, job_id: str, user: User = for_roles(*STAFF)
) -> JSONResponse:
    """What the progress bar needs, polled by academy.js every second while the job runs."""
    job = await _job(request, job_id)
    return JSONResponse(_progress(request, job), headers={"Cache-Control": "no-store"})


@router.get("/imports/{job_id}/errors.csv")
async def import_errors_csv(
    request: Request, job_id: str, user: User = for_roles(*STAFF)
) -> Response:
    """The rows that could not be imported, as a spreadsheet-safe CSV."""
    job = await _job(request, job_id)
    _ = language(request).gettext
    body = errors_csv(job["errors"], (_("Row"), _("Column"), _("Problem")))
    return Response(
        body,
        media_type=CSV_TYPE,
        headers={"Content-Disposition": f'attachment; filename="import-{job["id"]}-errors.csv"'},
    )


def errors_csv(errors: Iterable[dict[str, Any]], header: tuple[str, str, str]) -> str:
    """Row, column and reason of each bad row. A cell a spreadsheet would run as a formula
    (= + - @ tab CR first) gets a leading `'`; a BOM makes Excel read the file as UTF-8."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for error in errors:
        writer.writerow(
            [
                spreadsheet_safe(str(error.get(key) if error.get(key) is not None else ""))
                for key in ("row", "column", "reason")
            ]
        )
    return "\ufeff" + out.getvalue()


async def _job(request: Request, job_id: str) -> dict[str, Any]:
    job: dict[str, Any] = await found(
        call(request, "enrolment", "GET", f"/v1/imports/{quote(job_id, safe='')}")
    )
    return job


def _progress(request: Request, job: dict[str, Any]) -> dict[str, Any]:
    speaking = language(request)
    _ = speaking.gettext
    total, done = int(job["total_rows"]), int(job["processed_rows"])
    if job["status"] == "queued" or (job["status"] == "running" and not total):
        said = _("Waiting to start…") if job["status"] == "queued" else _("Reading the file…")
    else:
        said = _("%(done)s of %(total)s rows processed") % {
            "done": speaking.number(done),
            "total": speaking.number(total),
        }
    return {
        "status": job["status"],
        "status_label": _(IMPORT_STATUS.get(job["status"], job["status"])),
        "processed": done,
        "total": total,
        "done": job["status"] in ("succeeded", "failed"),
        "text": said,
    }


@router.get("/trainees.csv")
async def trainees_export(request: Request, user: User = for_roles(*STAFF)) -> Response:
    """Every trainee of the academy in the import's shape, streamed from enrolment."""
    scope = await required_scope(request, user)
    upstream = await _export(request, scope)
    return StreamingResponse(
        upstream.aiter_bytes(),
        media_type=CSV_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="trainees-{scope.academy["code"]}.csv"'
        },
        background=BackgroundTask(upstream.aclose),
    )


async def _export(request: Request, scope: Scope) -> httpx.Response:
    backend: Backend = request.app.state.backend
    user: User = request.scope["wps_user"]
    url = backend.urls["enrolment"].rstrip("/") + f"/v1/academies/{quote(scope.id)}/trainees.csv"
    outgoing = backend.http.build_request(
        "GET",
        url,
        headers={
            "Authorization": f"Bearer {user.access_token}",
            "Accept-Language": language(request).code,
        },
    )
    try:
        upstream = await backend.http.send(outgoing, stream=True)
    except httpx.HTTPError as exc:
        raise ServiceError(503, "The enrolment service could not be reached.") from exc
    if upstream.is_success:
        return upstream
    await upstream.aread()
    await upstream.aclose()
    try:
        detail = str(upstream.json().get("detail") or "")
    except ValueError:
        detail = ""
    raise ServiceError(
        upstream.status_code, detail or f"Enrolment answered {upstream.status_code}."
    )


# --- cohorts ---------------------------------------------------------------------------------


@router.get("/cohorts")
async def cohorts(request: Request, user: User = for_roles(*STAFF)) -> Response:
    """Cohorts by start date, filtered by track and by whether they have begun or ended."""
    scope = await required_scope(request, user)
    query = request.query_params
    track = query.get("track", "").strip()[:40]
    phase = query.get("status", "") if query.get("status") in COHORT_STATUS else ""
    offset = offset_of(request)
    tracks, modules = await asyncio.gather(_published_tracks(request), _published_modules(request))
    today = scope.today()
    # Enrolment's track_code filter also finds the cohorts of a single module of that code.
    wanted = params(academy_id=scope.id, track_code=track)
    page: dict[str, Any]
    if phase == "upcoming":
        wanted["starts_from"] = (today + timedelta(days=1)).isoformat()
    elif phase:
        wanted["starts_to"] = today.isoformat()
    if phase in ("in_progress", "finished"):
        # Enrolment filters by start date only: read every started cohort, keep those that
        # have (not) ended, and page here.
        started = await _all_cohorts(request, wanted)
        kept = [c for c in started if (c["ends_on"] < today.isoformat()) == (phase == "finished")]
        page = {
            "items": kept[offset : offset + PAGE_SIZE],
            "total": len(kept),
            "limit": PAGE_SIZE,
            "offset": offset,
        }
    else:
        page = await call(
            request,
            "enrolment",
            "GET",
            "/v1/cohorts",
            params={**wanted, "limit": PAGE_SIZE, "offset": offset},
        )
    details = await gathered(
        _optional(call(request, "enrolment", "GET", f"/v1/cohorts/{quote(c['id'])}"))
        for c in page["items"]
    )
    rows = [
        {**c, **(d or {}), "phase": _phase(c, today)}
        for c, d in zip(page["items"], details, strict=True)
    ]
    shown = params(track=track, status=phase, academy=scope.id if scope.choices else None)
    return render(
        request,
        "academy/cohorts.html",
        scope=scope,
        page=page,
        rows=rows,
        track=track,
        phase=phase,
        tracks=tracks,
        titles=_track_titles(tracks, language(request).code),
        module_titles=_track_titles(modules, language(request).code),
        phases=COHORT_STATUS,
        base="/academy/cohorts?" + urlencode(shown),
    )


async def _all_cohorts(request: Request, wanted: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = await call(
            request,
            "enrolment",
            "GET",
            "/v1/cohorts",
            params={**wanted, "limit": 500, "offset": len(items)},
        )
        items.extend(page["items"])
        if not page["items"] or len(items) >= page["total"] or len(items) >= 5000:
            return items


def _phase(cohort: dict[str, Any], today: date) -> str:
    if cohort["starts_on"] > today.isoformat():
        return "upcoming"
    return "finished" if cohort["ends_on"] < today.isoformat() else "in_progress"


async def _published_tracks(request: Request) -> list[dict[str, Any]]:
    """The published tracks a cohort can be opened for, from curriculum."""
    try:
        listed = await call(
            request,
            "curriculum",
            "GET",
            "/v1/tracks",
            params={"status": "published", "limit": 200},
        )
    except ServiceError as error:
        if error.status >= 500:
            return []
        raise
    tracks: list[dict[str, Any]] = list(listed["items"])
    return tracks


def _track_titles(tracks: list[dict[str, Any]], lang: str) -> dict[str, str]:
    return {t["code"]: localised(t.get("title"), lang, t["code"]) for t in tracks}


async def _nothing() -> list[dict[str, Any]]:
    return []


async def _published_modules(request: Request) -> list[dict[str, Any]]:
    """The published modules a cohort of one module can be opened for (e.g. CRSV-301, which
    no track holds), from curriculum."""
    try:
        listed = await call(
            request,
            "curriculum",
            "GET",
            "/v1/modules",
            params={"status": "published", "limit": 200},
        )
    except ServiceError as error:
        if error.status >= 500:
            return []
        raise
    return list(listed["items"])


def _teachings(
    tracks: list[dict[str, Any]], modules: list[dict[str, Any]], lang: str
) -> dict[str, list[tuple[str, str]]]:
    """What a cohort may teach, as the form's choices: `track:CODE` and `module:CODE`, each
    kind sorted by title in the page's language."""
    return {
        kind: sorted(
            ((f"{kind}:{code}", title) for code, title in _track_titles(items, lang).items()),
            key=lambda item: item[1].casefold(),
        )
        for kind, items in (("track", tracks), ("module", modules))
    }


@router.get("/cohorts/new")
async def new_cohort(request: Request, user: User = for_roles(*STAFF)) -> Response:
    scope = await required_scope(request, user)
    today = scope.today()
    track, module = request.query_params.get("track", ""), request.query_params.get("module", "")
    values = {
        "teaches": f"module:{module}" if module else (f"track:{track}" if track else ""),
        "language": (scope.academy.get("languages") or ["en"])[0],
        "starts_on": (today + timedelta(days=14)).isoformat(),
        "ends_on": (today + timedelta(days=18)).isoformat(),
        "capacity": "20",
    }
    return await _cohort_form(request, scope, values=values)


@router.post("/cohorts/new")
async def create_cohort(request: Request, user: User = for_roles(*STAFF)) -> Response:
    """Open a cohort for the latest published version of a track, or of a single module."""
    form = await checked_form(request)
    scope = await required_scope(request, user)
    values = {name: text(form, name, 4000) for name in COHORT_FIELDS}
    _ = language(request).gettext
    kind, _colon, code = values["teaches"].partition(":")
    if kind not in ("track", "module") or not code:
        return await _cohort_form(
            request,
            scope,
            values=values,
            errors={"teaches": _("Choose the track or the module the cohort teaches.")},
        )
    body: dict[str, Any] = {"academy_id": scope.id, f"{kind}_code": code}
    for name in ("title", "starts_on", "ends_on", "language", "location"):
        if values[name]:
            body[name] = values[name]
    for name in ("capacity", "max_attempts"):
        if values[name]:
            body[name] = (
                int(values[name]) if re.fullmatch(r"\d{1,6}", values[name]) else values[name]
            )
    try:
        cohort = await call(request, "enrolment", "POST", "/v1/cohorts", json=body)
    except ServiceError as error:
        if error.status >= 500 or error.status in (401, 403):
            raise
        return await _cohort_form(request, scope, values=values, error=error)
    flash(request, _("The cohort is open for enrolment."))
    return redirect(f"/academy/cohorts/{quote(cohort['id'])}")


async def _cohort_form(
    request: Request,
    scope: Scope,
    *,
    values: dict[str, Any],
    error: ServiceError | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    errors = dict(errors or {})
    general: list[str] = []
    if error is not None:
        errors, general = field_errors(error, (*COHORT_FIELDS, "track_code", "module_code"))
        # What the cohort teaches is one field of the form, two of the service.
        for name in ("track_code", "module_code"):
            if name in errors:
                errors.setdefault("teaches", errors.pop(name))
    tracks, modules = await asyncio.gather(_published_tracks(request), _published_modules(request))
    speaking = language(request)
    languages = list(dict.fromkeys([*(scope.academy.get("languages") or []), *NAMES]))
    return render(
        request,
        "academy/cohort_form.html",
        status=error.status if error else (422 if errors else 200),
        scope=scope,
        values=values,
        errors=errors,
        general=general,
        teachings=_teachings(tracks, modules, speaking.code),
        language_options=[(code, NAMES.get(code, code)) for code in languages],
    )


@router.get("/cohorts/{cohort_id}")
async def cohort_page(request: Request, cohort_id: str, user: User = for_roles(*STAFF)) -> Response:
    """Seats, the waitlist in promotion order, and finding a trainee to enrol."""
    return await _cohort_page(request, cohort_id, find=request.query_params.get("find", ""))


@router.post("/cohorts/{cohort_id}/enrolments")
async def enrol(request: Request, cohort_id: str, user: User = for_roles(*STAFF)) -> Response:
    """Enrol a trainee: a seat if one is free, else the end of the waitlist."""
    form = await checked_form(request)
    trainee_id = text(form, "trainee_id", 100)
    find = text(form, "find", 100)
    path = f"/v1/cohorts/{quote(cohort_id, safe='')}"
    await found(call(request, "enrolment", "GET", path))
    try:
        enrolment = await call(
            request, "enrolment", "POST", f"{path}/enrolments", json={"trainee_id": trainee_id}
        )
    except ServiceError as error:
        if error.status >= 500 or error.status in (401, 403):
            raise
        said = error.detail
        lacking = (error.body.get("missing_prerequisites") or {}).get(trainee_id)
        if error.status == 409 and lacking:
            # The service names the trainee by employee number; the page by their name.
            trainee = await _optional(
                call(request, "enrolment", "GET", f"/v1/trainees/{quote(trainee_id)}")
            )
            said = language(request).gettext(
                "%(name)s has not completed %(modules)s, which this cohort requires first."
            ) % {"name": person(trainee) or trainee_id, "modules": ", ".join(lacking)}
        return await _cohort_page(
            request, cohort_id, find=find, enrol_error=said, status=error.status
        )
    trainee = await _optional(
        call(request, "enrolment", "GET", f"/v1/trainees/{quote(trainee_id)}")
    )
    speaking = language(request)
    _ = speaking.gettext
    if enrolment["status"] == "waitlisted":
        waiting = await call(
            request,
            "enrolment",
            "GET",
            f"{path}/enrolments",
            params={"status": "waitlisted", "limit": 500},
        )
        position = next(
            (i for i, e in enumerate(waiting["items"], 1) if e["id"] == enrolment["id"]),
            waiting["total"],
        )
        flash(
            request,
            _("The cohort is full: %(name)s is on the waitlist, position %(position)s.")
            % {"name": person(trainee), "position": speaking.number(position)},
            "warning",
        )
    else:
        flash(request, _("%(name)s is enrolled and has a seat.") % {"name": person(trainee)})
    return redirect(f"/academy/cohorts/{quote(cohort_id)}")


async def _cohort_page(
    request: Request,
    cohort_id: str,
    *,
    find: str = "",
    enrol_error: str | None = None,
    status: int = 200,
) -> Response:
    path = f"/v1/cohorts/{quote(cohort_id, safe='')}"
    cohort = await found(call(request, "enrolment", "GET", path))
    enrolments, tracks, modules, academy = await asyncio.gather(
        call(request, "enrolment", "GET", f"{path}/enrolments", params={"limit": 500}),
        _published_tracks(request),
        _published_modules(request) if cohort.get("module_code") else _nothing(),
        call(request, "enrolment", "GET", f"/v1/academies/{quote(cohort['academy_id'])}"),
    )
    items = enrolments["items"]
    people = await gathered(
        _optional(call(request, "enrolment", "GET", f"/v1/trainees/{quote(e['trainee_id'])}"))
        for e in items
    )
    rows = [{**e, "trainee": t} for e, t in zip(items, people, strict=True)]
    seated = [r for r in rows if r["status"] in ("enrolled", "completed", "failed")]
    waiting = [r for r in rows if r["status"] == "waitlisted"]
    withdrawn = [r for r in rows if r["status"] == "withdrawn"]
    find = find.strip()[:100]
    matches: list[dict[str, Any]] = []
    if find:
        try:
            listed = await call(
                request,
                "enrolment",
                "GET",
                "/v1/trainees",
                params={"academy_id": cohort["academy_id"], "q": find, "limit": 10},
            )
            matches = listed["items"]
        except ServiceError as error:
            if error.status != 422:
                raise
            enrol_error = enrol_error or error.detail
    taken = {r["trainee_id"] for r in rows if r["status"] != "withdrawn"}
    speaking = language(request)
    title = (
        _track_titles(tracks, speaking.code).get(cohort.get("track_code") or "")
        or _track_titles(modules, speaking.code).get(cohort.get("module_code") or "")
        or cohort.get("track_code")
        or cohort.get("module_code")
    )
    return render(
        request,
        "academy/cohort.html",
        status=status,
        cohort=cohort,
        academy=academy,
        track_title=title,
        phase=_phase(cohort, Clock.of(academy).today()),
        clock=Clock.of(academy),
        phases=COHORT_STATUS,
        seated=seated,
        waiting=waiting,
        withdrawn=withdrawn,
        find=find,
        matches=matches,
        taken=taken,
        enrol_error=enrol_error,
        labels=ENROLMENT,
        reasons=WITHDRAWAL_REASONS,
    )


@router.get("/cohorts/{cohort_id}/enrolments/{enrolment_id}/withdraw")
async def withdraw_form(
    request: Request, cohort_id: str, enrolment_id: str, user: User = for_roles(*STAFF)
) -> Response:
    enrolment, trainee, cohort = await _enrolment(request, cohort_id, enrolment_id)
    return _withdraw_form(request, enrolment, trainee, cohort, values={})


@router.post("/cohorts/{cohort_id}/enrolments/{enrolment_id}/withdraw")
async def withdraw(
    request: Request, cohort_id: str, enrolment_id: str, user: User = for_roles(*STAFF)
) -> Response:
    """Withdraw with a reason; the freed seat goes to the first on the waitlist."""
    form = await checked_form(request)
    enrolment, trainee, cohort = await _enrolment(request, cohort_id, enrolment_id)
    values = {"reason_code": text(form, "reason_code", 40), "note": text(form, "note", 2000)}
    body: dict[str, Any] = {"reason_code": values["reason_code"]}
    if values["note"]:
        body["note"] = values["note"]
    try:
        done = await call(
            request,
            "enrolment",
            "POST",
            f"/v1/enrolments/{quote(enrolment_id, safe='')}/withdraw",
            json=body,
        )
    except ServiceError as error:
        if error.status >= 500 or error.status in (401, 403):
            raise
        return _withdraw_form(request, enrolment, trainee, cohort, values=values, error=error)
    _ = language(request).gettext
    flash(request, _("%(name)s is withdrawn from the cohort.") % {"name": person(trainee)})
    if done.get("promoted"):
        promoted = await _optional(
            call(
                request, "enrolment", "GET", f"/v1/trainees/{quote(done['promoted']['trainee_id'])}"
            )
        )
        flash(
            request,
            _("%(name)s moved up from the waitlist and now has the seat.")
            % {"name": person(promoted)},
        )
    return redirect(f"/academy/cohorts/{quote(cohort_id)}")


async def _enrolment(
    request: Request, cohort_id: str, enrolment_id: str
) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any]]:
    enrolment = await found(
        call(request, "enrolment", "GET", f"/v1/enrolments/{quote(enrolment_id, safe='')}")
    )
    if enrolment["cohort_id"] != cohort_id:
        raise HTTPException(status_code=404)
    cohort, trainee = await asyncio.gather(
        call(request, "enrolment", "GET", f"/v1/cohorts/{quote(cohort_id)}"),
        _optional(
            call(request, "enrolment", "GET", f"/v1/trainees/{quote(enrolment['trainee_id'])}")
        ),
    )
    return enrolment, trainee, cohort


def _withdraw_form(
    request: Request,
    enrolment: dict[str, Any],
    trainee: dict[str, Any] | None,
    cohort: dict[str, Any],
    *,
    values: dict[str, str],
    error: ServiceError | None = None,
) -> Response:
    errors: dict[str, str] = {}
    general: list[str] = []
    if error is not None:
        if error.status == 409:
            general = [error.detail]
        else:
            errors, general = field_errors(error, ("reason_code", "note"))
    return render(
        request,
        "academy/withdraw.html",
        status=error.status if error else 200,
        enrolment=enrolment,
        trainee=trainee,
        cohort=cohort,
        values=values,
        errors=errors,
        general=general,
        reasons=WITHDRAWAL_REASONS,
        labels=ENROLMENT,
    )
