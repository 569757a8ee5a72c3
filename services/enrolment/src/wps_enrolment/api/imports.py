"""Routes of imports and export: trainees from an HR CSV export (a job to poll), and an
academy's trainees as CSV."""

from __future__ import annotations

import email.parser
import email.policy
from typing import Literal

from fastapi import APIRouter, BackgroundTasks, Request, Response
from fastapi.responses import PlainTextResponse

from wps_common.app import DbSession
from wps_common.errors import InvalidInput, ProblemError
from wps_common.fields import Id
from wps_enrolment import imports
from wps_enrolment.api.deps import CSV, Settings, Staff
from wps_enrolment.schemas import ImportJobOut

router = APIRouter(tags=["imports"])


class PayloadTooLarge(ProblemError):
    status, title, slug = 413, "Payload too large", "payload-too-large"


def _form_file(body: bytes, content_type: str) -> tuple[bytes, str | None]:
    """The `file` part of a multipart form, and its charset if named."""
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
    return (payload if isinstance(payload, bytes) else b""), parts[0].get_content_charset()


async def _csv_upload(request: Request, limit: int) -> str:
    body = await request.body()
    if len(body) > limit:
        raise PayloadTooLarge(f"The file is {len(body)} bytes; at most {limit} are accepted.")
    content_type = request.headers.get("content-type", "")
    charset = "utf-8"
    if content_type.startswith("multipart/form-data"):
        body, named = _form_file(body, content_type)
        charset = named or charset
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
