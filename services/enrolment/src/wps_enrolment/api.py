"""Enrolment REST API: /v1/academies, /v1/trainees, /v1/imports, /v1/cohorts, /v1/enrolments,
/v1/compliance and /v1/reports."""

from __future__ import annotations

import email.parser
import email.policy
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response
from fastapi.responses import PlainTextResponse

from wps_common.app import DbSession, runtime_of
from wps_common.auth import Principal, Role, require
from wps_common.errors import InvalidInput, NotFound, ProblemError
from wps_common.fields import Code, Day, Id, Limit, Offset, SingleLine, spreadsheet_safe
from wps_enrolment import imports, reports, service
from wps_enrolment.schemas import (
    AcademyCreate,
    AcademyOut,
    AcademyUpdate,
    AuditOut,
    BulkEnrolled,
    BulkEnrolmentCreate,
    BulkResultsCreate,
    BulkResultsRecorded,
    CohortCreate,
    CohortDetail,
    CohortOut,
    ComplianceOut,
    ComplianceRow,
    ComplianceStatus,
    ComplianceSummary,
    EnrolmentCreate,
    EnrolmentOut,
    EnrolmentStatus,
    ExemptionCreate,
    Gender,
    ImportJobOut,
    Page,
    Report,
    ResultCreate,
    ResultOut,
    ResultRecorded,
    TraineeCreate,
    TraineeOut,
    TraineeUpdate,
    Withdrawal,
    Withdrawn,
)
from wps_enrolment.settings import EnrolmentSettings

router = APIRouter(prefix="/v1")

Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
Staff = Annotated[Principal, Depends(require(Role.ADMIN, Role.ACADEMY_ADMIN))]
Teaching = Annotated[Principal, Depends(require(Role.ADMIN, Role.ACADEMY_ADMIN, Role.INSTRUCTOR))]
Overseeing = Annotated[
    Principal, Depends(require(Role.ADMIN, Role.ACADEMY_ADMIN, Role.INSTRUCTOR, Role.HR))
]
Analysts = Annotated[Principal, Depends(require(Role.ADMIN, Role.ACADEMY_ADMIN, Role.HR))]
Reader = Annotated[Principal, Depends(require(*Role))]
Filter = Annotated[str, SingleLine(200)]
CSV = "text/csv; charset=utf-8"
# Another academy's records do not exist for an academy-scoped caller (wps_common.auth), also
# when a filter or a body names that academy.
OTHER_ACADEMY: dict[int | str, dict[str, Any]] = {
    404: {"description": "`academy_id` names an academy the caller does not see."}
}


class PayloadTooLarge(ProblemError):
    status, title, slug = 413, "Payload too large", "payload-too-large"


def today_of(request: Request) -> date:
    """Today by the runtime's clock (replaceable in tests)."""
    return runtime_of(request).clock().date()


def settings_of(request: Request) -> EnrolmentSettings:
    settings: EnrolmentSettings = request.app.state.settings
    return settings


Today = Annotated[date, Depends(today_of)]
Settings = Annotated[EnrolmentSettings, Depends(settings_of)]


# --- academies -------------------------------------------------------------------------------


@router.post("/academies", status_code=201, tags=["academies"])
async def create_academy(body: AcademyCreate, session: DbSession, who: Admin) -> AcademyOut:
    """Register an academy (a tenant)."""
    return AcademyOut.model_validate(await service.create_academy(session, data=body, who=who))


@router.get("/academies", tags=["academies"])
async def list_academies(
    session: DbSession, who: Reader, limit: Limit = 50, offset: Offset = 0
) -> Page[AcademyOut]:
    """Academies by code (academy-scoped callers see their own only)."""
    items, total = await service.list_academies(session, who=who, limit=limit, offset=offset)
    return Page(
        items=[AcademyOut.model_validate(a) for a in items], total=total, limit=limit, offset=offset
    )


@router.get("/academies/{academy_id}", tags=["academies"])
async def get_academy(academy_id: Id, session: DbSession, who: Reader) -> AcademyOut:
    """One academy (academy-scoped callers see only their own)."""
    return AcademyOut.model_validate(
        await service.get_academy(session, academy_id=academy_id, who=who)
    )


@router.patch("/academies/{academy_id}", tags=["academies"])
async def update_academy(
    academy_id: Id, body: AcademyUpdate, session: DbSession, who: Staff
) -> AcademyOut:
    """Change an academy's name, time zone or languages."""
    return AcademyOut.model_validate(
        await service.update_academy(session, academy_id=academy_id, data=body, who=who)
    )


# --- trainees --------------------------------------------------------------------------------


@router.post("/trainees", status_code=201, tags=["trainees"], responses=OTHER_ACADEMY)
async def create_trainee(
    body: TraineeCreate, session: DbSession, who: Staff, today: Today
) -> TraineeOut:
    """Register a trainee under the HR system's employee number (unique per academy)."""
    return TraineeOut.model_validate(
        await service.create_trainee(session, data=body, who=who, today=today)
    )


@router.get("/trainees", tags=["trainees"], responses=OTHER_ACADEMY)
async def list_trainees(
    session: DbSession,
    who: Overseeing,
    academy_id: Id | None = None,
    q: Annotated[
        Annotated[str, SingleLine(100)] | None, Query(description="name or employee number")
    ] = None,
    unit: Filter | None = None,
    rank: Filter | None = None,
    role: Filter | None = None,
    agency: Filter | None = None,
    gender: Gender | None = None,
    active: bool | None = None,
    sort: Literal["family_name", "employee_number", "created_at"] = "family_name",
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[TraineeOut]:
    """Search and filter trainees; stable order, offset pages with the total."""
    items, total = await service.list_trainees(
        session,
        who=who,
        academy_id=academy_id,
        q=q,
        unit=unit,
        rank=rank,
        role=role,
        agency=agency,
        gender=gender,
        active=active,
        sort=sort,
        limit=limit,
        offset=offset,
    )
    return Page(
        items=[TraineeOut.model_validate(t) for t in items], total=total, limit=limit, offset=offset
    )


@router.get(
    "/trainees/me",
    tags=["trainees"],
    responses={404: {"description": "The caller's token names no registered trainee."}},
)
async def my_trainee_record(session: DbSession, who: Reader) -> TraineeOut:
    """The caller's own trainee record, found by the employee number in their token."""
    if who.trainee_id is None:
        reason = (
            f"no trainee with employee number {who.employee_number} is registered in your academy"
            if who.employee_number
            else "your sign-in carries no employee number"
        )
        raise NotFound(f"Your account is not linked to a trainee record: {reason}.")
    return TraineeOut.model_validate(
        await service.get_trainee(session, trainee_id=who.trainee_id, who=who)
    )


@router.get("/trainees/{trainee_id}", tags=["trainees"])
async def get_trainee(trainee_id: Id, session: DbSession, who: Reader) -> TraineeOut:
    """One trainee (trainees see only themselves)."""
    return TraineeOut.model_validate(
        await service.get_trainee(session, trainee_id=trainee_id, who=who)
    )


@router.patch("/trainees/{trainee_id}", tags=["trainees"])
async def update_trainee(
    trainee_id: Id, body: TraineeUpdate, session: DbSession, who: Staff, today: Today
) -> TraineeOut:
    """Change a trainee's details (audited; `active: false` deactivates)."""
    return TraineeOut.model_validate(
        await service.update_trainee(
            session, trainee_id=trainee_id, data=body, who=who, today=today
        )
    )


@router.post("/trainees/{trainee_id}/deactivate", tags=["trainees"])
async def deactivate_trainee(
    trainee_id: Id, session: DbSession, who: Staff, today: Today
) -> TraineeOut:
    """Deactivate a trainee (left the service): no new enrolments, no compliance tracking."""
    return TraineeOut.model_validate(
        await service.update_trainee(
            session,
            trainee_id=trainee_id,
            data=TraineeUpdate(active=False),
            who=who,
            today=today,
        )
    )


@router.get("/trainees/{trainee_id}/history", tags=["trainees"])
async def trainee_history(trainee_id: Id, session: DbSession, who: Staff) -> list[AuditOut]:
    """Every recorded change of a trainee: who, when, what."""
    entries = await service.trainee_history(session, trainee_id=trainee_id, who=who)
    return [AuditOut.model_validate(e) for e in entries]


@router.get("/trainees/{trainee_id}/enrolments", tags=["trainees"])
async def trainee_enrolments(
    trainee_id: Id, session: DbSession, who: Reader, limit: Limit = 50, offset: Offset = 0
) -> Page[EnrolmentOut]:
    """A trainee's enrolments, newest first."""
    items, total = await service.list_enrolments(
        session, who=who, trainee_id=trainee_id, status=None, limit=limit, offset=offset
    )
    return Page(
        items=[EnrolmentOut.model_validate(e) for e in items],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/trainees/{trainee_id}/compliance", tags=["compliance"])
async def trainee_compliance(
    trainee_id: Id, session: DbSession, who: Reader
) -> list[ComplianceOut]:
    """A trainee's status against every requirement that applies to them."""
    rows = await service.trainee_compliance(session, trainee_id=trainee_id, who=who)
    return [
        ComplianceOut.model_validate(record).model_copy(update={"exemption_reason": reason})
        for record, reason in rows
    ]


@router.put(
    "/trainees/{trainee_id}/exemptions/{requirement_code}", status_code=204, tags=["compliance"]
)
async def exempt(
    trainee_id: Id,
    requirement_code: Code,
    body: ExemptionCreate,
    session: DbSession,
    who: Staff,
    today: Today,
) -> Response:
    """Exempt a trainee from a requirement, with the reason (academy admins)."""
    await service.exempt(
        session,
        trainee_id=trainee_id,
        requirement_code=requirement_code,
        reason=body.reason,
        who=who,
        today=today,
    )
    return Response(status_code=204)


@router.delete(
    "/trainees/{trainee_id}/exemptions/{requirement_code}", status_code=204, tags=["compliance"]
)
async def lift_exemption(
    trainee_id: Id, requirement_code: Code, session: DbSession, who: Staff, today: Today
) -> Response:
    """Lift an exemption: the requirement applies again."""
    await service.lift_exemption(
        session, trainee_id=trainee_id, requirement_code=requirement_code, who=who, today=today
    )
    return Response(status_code=204)


# --- imports and export ----------------------------------------------------------------------


async def _csv_upload(request: Request, limit: int) -> str:
    body = await request.body()
    if len(body) > limit:
        raise PayloadTooLarge(f"The file is {len(body)} bytes; at most {limit} are accepted.")
    content_type = request.headers.get("content-type", "")
    charset = "utf-8"
    if content_type.startswith("multipart/form-data"):
        # One file part is all an upload form sends; the stdlib MIME parser reads it.
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
        )
        parts = [
            p
            for p in message.iter_parts()
            if p.get_param("name", header="content-disposition") == "file"
        ]
        if not parts:
            raise InvalidInput("Send the CSV as the form field `file`.", field="file")
        payload = parts[0].get_payload(decode=True)
        body = payload if isinstance(payload, bytes) else b""
        charset = parts[0].get_content_charset() or charset
    elif not content_type.startswith(("text/csv", "text/plain", "application/octet-stream")):
        raise InvalidInput(
            "Send the file as text/csv (or multipart/form-data with a `file` field).",
            field="content-type",
        )
    else:
        for param in content_type.split(";")[1:]:
            key, _, value = param.strip().partition("=")
            if key.lower() == "charset" and value:
                charset = value.strip('"')
    try:
        return body.decode("utf-8-sig" if charset.lower().replace("_", "-") == "utf-8" else charset)
    except (UnicodeError, LookupError) as exc:  # UnicodeError: e.g. charset=idna
        raise InvalidInput(
            f"The file is not {charset} text ({exc.__class__.__name__}); save it as UTF-8 or "
            "name its charset in the Content-Type.",
            field="file",
        ) from None


@router.post(
    "/academies/{academy_id}/imports",
    status_code=202,
    tags=["imports"],
    responses={
        202: {
            "headers": {
                "Location": {
                    "description": "The job to poll.",
                    "required": True,
                    "schema": {"type": "string"},
                }
            }
        }
    },
    openapi_extra={
        "requestBody": {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
            },
            "required": True,
        }
    },
)
async def submit_import(
    academy_id: Id,
    request: Request,
    session: DbSession,
    who: Staff,
    settings: Settings,
    response: Response,
    background: BackgroundTasks,
    mode: Literal["partial", "all_or_nothing"] = "partial",
) -> ImportJobOut:
    """Import trainees from an HR CSV export (upsert by employee number) as a job to poll."""
    text = await _csv_upload(request, settings.import_max_bytes)
    job = await imports.submit(session, academy_id=academy_id, text=text, mode=mode, who=who)
    runner: imports.ImportRunner = request.app.state.imports
    # Started after the response, so after the commit: the job row is visible to the runner.
    background.add_task(runner.start, job.id)
    response.headers["Location"] = f"/v1/imports/{job.id}"
    return ImportJobOut.model_validate(job)


@router.get("/imports/{job_id}", tags=["imports"])
async def get_import(job_id: Id, session: DbSession, who: Staff) -> ImportJobOut:
    """An import's progress, counts and row-level errors (row, column, reason)."""
    return ImportJobOut.model_validate(await imports.get_job(session, job_id=job_id, who=who))


@router.get(
    "/academies/{academy_id}/trainees.csv",
    tags=["imports"],
    # Response, not PlainTextResponse: the document names text/csv alone, as sent.
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
async def export_trainees(academy_id: Id, session: DbSession, who: Staff) -> PlainTextResponse:
    """All trainees of an academy as CSV, in the shape the import reads."""
    text = await imports.export(session, academy_id=academy_id, who=who)
    return PlainTextResponse(
        text,
        media_type=CSV,
        headers={"Content-Disposition": f'attachment; filename="trainees-{academy_id}.csv"'},
    )


# --- cohorts and enrolments ------------------------------------------------------------------


@router.post("/cohorts", status_code=201, tags=["cohorts"], responses=OTHER_ACADEMY)
async def create_cohort(
    body: CohortCreate, session: DbSession, who: Staff, settings: Settings
) -> CohortOut:
    """Open a cohort for the latest published version of a track (or of a single module)."""
    return CohortOut.model_validate(
        await service.create_cohort(session, data=body, who=who, max_attempts=settings.max_attempts)
    )


@router.get("/cohorts", tags=["cohorts"], responses=OTHER_ACADEMY)
async def list_cohorts(
    session: DbSession,
    who: Overseeing,
    academy_id: Id | None = None,
    track_code: Code | None = None,
    starts_from: Day | None = None,
    starts_to: Day | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[CohortOut]:
    """Cohorts, latest start first."""
    items, total = await service.list_cohorts(
        session,
        who=who,
        academy_id=academy_id,
        track_code=track_code,
        starts_from=starts_from,
        starts_to=starts_to,
        limit=limit,
        offset=offset,
    )
    return Page(
        items=[CohortOut.model_validate(c) for c in items], total=total, limit=limit, offset=offset
    )


@router.get("/cohorts/{cohort_id}", tags=["cohorts"])
async def get_cohort(cohort_id: Id, session: DbSession, who: Overseeing) -> CohortDetail:
    """One cohort with its seats taken, free and waitlisted."""
    cohort = await service.get_cohort(session, cohort_id=cohort_id, who=who)
    counts = await service.cohort_counts(session, cohort.id)
    taken = sum(counts.get(s, 0) for s in service.SEATED)
    return CohortDetail.model_validate(
        {
            **CohortOut.model_validate(cohort).model_dump(),
            "seats_taken": taken,
            "seats_free": max(cohort.capacity - taken, 0),
            "waitlisted": counts.get("waitlisted", 0),
        }
    )


@router.post("/cohorts/{cohort_id}/enrolments", status_code=201, tags=["enrolments"])
async def enrol(
    cohort_id: Id, body: EnrolmentCreate, session: DbSession, who: Staff
) -> EnrolmentOut:
    """Enrol a trainee: a seat if one is free, else the waitlist (emits trainee.enrolled)."""
    [enrolment] = await service.enrol_many(
        session, cohort_id=cohort_id, trainee_ids=[body.trainee_id], who=who
    )
    return EnrolmentOut.model_validate(enrolment)


@router.post("/cohorts/{cohort_id}/enrolments/bulk", status_code=201, tags=["enrolments"])
async def enrol_many(
    cohort_id: Id, body: BulkEnrolmentCreate, session: DbSession, who: Staff
) -> BulkEnrolled:
    """Enrol many trainees in the order given (seats first, then the waitlist); all or none."""
    enrolments = await service.enrol_many(
        session, cohort_id=cohort_id, trainee_ids=body.trainee_ids, who=who
    )
    out = [EnrolmentOut.model_validate(e) for e in enrolments]
    return BulkEnrolled(
        enrolled=[e for e in out if e.status == "enrolled"],
        waitlisted=[e for e in out if e.status == "waitlisted"],
    )


@router.get("/cohorts/{cohort_id}/enrolments", tags=["enrolments"])
async def list_cohort_enrolments(
    cohort_id: Id,
    session: DbSession,
    who: Overseeing,
    status: EnrolmentStatus | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[EnrolmentOut]:
    """A cohort's enrolments: seats first, then the waitlist in promotion order."""
    items, total = await service.list_enrolments(
        session, who=who, cohort_id=cohort_id, status=status, limit=limit, offset=offset
    )
    return Page(
        items=[EnrolmentOut.model_validate(e) for e in items],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.post("/cohorts/{cohort_id}/results", status_code=201, tags=["enrolments"])
async def record_cohort_results(
    cohort_id: Id, body: BulkResultsCreate, session: DbSession, who: Teaching, today: Today
) -> BulkResultsRecorded:
    """Results for a whole cohort at once, by trainee; all or nothing."""
    recorded = await service.record_results_bulk(
        session, cohort_id=cohort_id, entries=body.entries, who=who, today=today
    )
    return BulkResultsRecorded(
        results=[
            ResultRecorded(
                result=ResultOut.model_validate(r), enrolment=EnrolmentOut.model_validate(e)
            )
            for r, e in recorded
        ]
    )


@router.get("/enrolments/{enrolment_id}", tags=["enrolments"])
async def get_enrolment(enrolment_id: Id, session: DbSession, who: Reader) -> EnrolmentOut:
    """One enrolment (trainees see only their own)."""
    return EnrolmentOut.model_validate(
        await service.get_enrolment(session, enrolment_id=enrolment_id, who=who)
    )


@router.post("/enrolments/{enrolment_id}/withdraw", tags=["enrolments"])
async def withdraw(enrolment_id: Id, body: Withdrawal, session: DbSession, who: Staff) -> Withdrawn:
    """Withdraw with a reason; the seat goes to the first on the waitlist."""
    enrolment, promoted = await service.withdraw(
        session, enrolment_id=enrolment_id, reason_code=body.reason_code, note=body.note, who=who
    )
    return Withdrawn(
        enrolment=EnrolmentOut.model_validate(enrolment),
        promoted=EnrolmentOut.model_validate(promoted) if promoted else None,
    )


@router.post("/enrolments/{enrolment_id}/results", status_code=201, tags=["enrolments"])
async def record_result(
    enrolment_id: Id, body: ResultCreate, session: DbSession, who: Teaching, today: Today
) -> ResultRecorded:
    """Record a module attempt (or correct the latest); completion follows the pinned rules."""
    result, enrolment = await service.record_result(
        session, enrolment_id=enrolment_id, data=body, who=who, today=today
    )
    return ResultRecorded(
        result=ResultOut.model_validate(result), enrolment=EnrolmentOut.model_validate(enrolment)
    )


@router.get("/enrolments/{enrolment_id}/results", tags=["enrolments"])
async def result_history(enrolment_id: Id, session: DbSession, who: Reader) -> list[ResultOut]:
    """Every entry of every module, corrections included, oldest first."""
    results = await service.result_history(session, enrolment_id=enrolment_id, who=who)
    return [ResultOut.model_validate(r) for r in results]


# --- compliance and reports ------------------------------------------------------------------


@router.get("/compliance", tags=["compliance"], responses=OTHER_ACADEMY)
async def list_compliance(
    session: DbSession,
    who: Analysts,
    academy_id: Id | None = None,
    status: ComplianceStatus | None = None,
    unit: Filter | None = None,
    rank: Filter | None = None,
    requirement_code: Code | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[ComplianceRow]:
    """Who is compliant, due, overdue, expired or exempt — filterable, by name."""
    rows, total = await service.academy_compliance(
        session,
        who=who,
        academy_id=academy_id,
        status=status,
        unit=unit,
        rank=rank,
        requirement_code=requirement_code,
        limit=limit,
        offset=offset,
    )
    items = [
        ComplianceRow.model_validate(
            {
                **ComplianceOut.model_validate(record).model_dump(),
                "employee_number": trainee.employee_number,
                "family_name": trainee.family_name,
                "given_name": trainee.given_name,
                "rank": trainee.rank,
                "unit": trainee.unit,
            }
        )
        for record, trainee in rows
    ]
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.get("/compliance/summary", tags=["compliance"], responses=OTHER_ACADEMY)
async def compliance_summary(
    session: DbSession, who: Analysts, academy_id: Id | None = None
) -> ComplianceSummary:
    """Counts per status, overall and per requirement."""
    return ComplianceSummary.model_validate(
        await service.compliance_summary(session, who=who, academy_id=academy_id)
    )


@router.get(
    "/reports/{measure}",
    tags=["reports"],
    response_model=Report,
    responses={200: {"content": {"text/csv": {}}}},
)
async def report(
    measure: Literal["participation", "completion", "compliance"],
    session: DbSession,
    who: Analysts,
    settings: Settings,
    by: Literal["gender", "rank", "unit", "track", "academy"] = "gender",
    academy_id: Id | None = None,
    date_from: Annotated[Day | None, Query(alias="from")] = None,
    date_to: Annotated[Day | None, Query(alias="to")] = None,
    format: Literal["json", "csv"] = "json",
) -> Report | PlainTextResponse:
    """Rates by gender, rank, unit, track or academy; cells under k people are suppressed."""
    if date_from and date_to and date_to < date_from:
        raise InvalidInput("`to` must not be before `from`.", field="to")
    built = await reports.build(
        session,
        who=who,
        measure=measure,
        by=by,
        academy_id=academy_id,
        date_from=date_from,
        date_to=date_to,
        k=settings.report_min_cell,
    )
    if format == "csv":
        # Groups are the academies' own words (ranks, units): a spreadsheet must show them as
        # text, never run them as formulas.
        cells = [{**cell, "group": spreadsheet_safe(cell["group"])} for cell in built["cells"]]
        return PlainTextResponse(reports.as_csv({**built, "cells": cells}), media_type=CSV)
    return Report.model_validate(built)
