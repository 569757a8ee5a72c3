"""Routes of imports and export: trainees from an HR export, CSV or Excel (a job to poll), the
template to fill in, and an academy's trainees as CSV."""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
from dataclasses import dataclass
from typing import Literal

from fastapi import APIRouter, BackgroundTasks, Request, Response
from fastapi.responses import PlainTextResponse

from wps_common.app import DbSession
from wps_common.errors import InvalidInput, PayloadTooLarge
from wps_common.fields import Id
from wps_enrolment import import_files, imports, trainee_csv
from wps_enrolment.api.deps import CSV, Settings, Staff
from wps_enrolment.schemas import ImportJobOut

router = APIRouter(tags=["imports"])


@dataclass(frozen=True)
class _Upload:
    """The file of a request, as sent: its bytes, the charset and media type it was sent
    with, and its name when a form names it."""

    body: bytes
    charset: str | None
    media_type: str
    filename: str | None = None


def _form_file(body: bytes, content_type: str) -> _Upload:
    """The `file` part of a multipart form."""
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
        raise InvalidInput("Send the file as the form field `file`.", field="file")
    part = parts[0]
    payload = part.get_payload(decode=True)
    return _Upload(
        payload if isinstance(payload, bytes) else b"",
        part.get_content_charset(),
        part.get_content_type(),
        part.get_filename(),
    )


def _charset(content_type: str) -> str | None:
    for param in content_type.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.lower() == "charset" and value:
            return value.strip('"')
    return None


async def _roster_upload(request: Request, limit: int) -> str:
    """The uploaded CSV or Excel file as the CSV text the import reads."""
    body = await request.body()
    if len(body) > limit:
        raise PayloadTooLarge(f"The file is {len(body)} bytes; at most {limit} are accepted.")
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        upload = _form_file(body, content_type)
    elif content_type.startswith(
        ("text/csv", "text/plain", "application/octet-stream", import_files.XLSX)
    ):
        upload = _Upload(body, _charset(content_type), content_type)
    else:
        raise InvalidInput(
            "Send the file as text/csv, as an Excel workbook (.xlsx), or as multipart/form-data "
            "with a `file` field.",
            field="content-type",
        )
    return await asyncio.to_thread(
        import_files.roster_text,
        upload.body,
        charset=upload.charset,
        media_type=upload.media_type,
        filename=upload.filename,
    )


@router.post(
    "/academies/{academy_id}/imports",
    status_code=202,
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
                import_files.XLSX: {"schema": {"type": "string", "format": "binary"}},
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
    """Import trainees from an HR export, CSV or Excel (upsert by employee number), as a job to
    poll."""
    text = await _roster_upload(request, settings.import_max_bytes)
    job = await imports.submit(session, academy_id=academy_id, text=text, mode=mode, who=who)
    runner: imports.ImportRunner = request.app.state.imports
    # Started after the response, so after the commit: the job row is visible to the runner.
    background.add_task(runner.start, job.id)
    response.headers["Location"] = f"/v1/imports/{job.id}"
    return ImportJobOut.model_validate(job)


@router.get(
    "/imports/trainees/template",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, import_files.XLSX: {}}}},
)
async def import_template(who: Staff, format: Literal["csv", "xlsx"] = "csv") -> Response:
    """The file an import reads, to fill in: its columns and one example row."""
    if format == "xlsx":
        workbook = await asyncio.to_thread(import_files.template_xlsx)
        return Response(workbook, media_type=import_files.XLSX, headers=_attachment("xlsx"))
    return Response(trainee_csv.template_csv().encode(), media_type=CSV, headers=_attachment("csv"))


def _attachment(extension: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="trainees-template.{extension}"'}


@router.get("/imports/{job_id}")
async def get_import(job_id: Id, session: DbSession, who: Staff) -> ImportJobOut:
    """An import's progress, counts and row-level errors (row, column, reason)."""
    return ImportJobOut.model_validate(await imports.get_job(session, job_id=job_id, who=who))


@router.get(
    "/academies/{academy_id}/trainees.csv",
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
