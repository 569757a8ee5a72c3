"""Routes of /v1/recognitions: training done elsewhere, recorded with its evidence file by an
academy admin and approved or rejected by another."""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import re
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.app import DbSession
from wps_common.clock import Now
from wps_common.errors import InvalidInput, PayloadTooLarge
from wps_common.fields import Id, Limit, Offset
from wps_common.paging import Cursor, Page
from wps_enrolment import audit, recognitions
from wps_enrolment.api.deps import OTHER_ACADEMY, Staff
from wps_enrolment.schemas import (
    AuditOut,
    RecognitionCreate,
    RecognitionDecision,
    RecognitionOut,
    RecognitionStatus,
)

router = APIRouter(tags=["recognitions"])
# What the form's text fields and MIME framing may add to the evidence file.
FORM_ALLOWANCE = 64 * 1024

_FORM_FIELDS = {
    name: {"type": "string", **({"format": "date"} if name.endswith(("_on", "_until")) else {})}
    for name in RecognitionCreate.model_fields
}


def _form(body: bytes, content_type: str) -> tuple[dict[str, str], recognitions.Evidence]:
    """The text fields and the `evidence` file of a multipart form."""
    if not content_type.startswith("multipart/form-data"):
        raise InvalidInput(
            "Send the record as multipart/form-data: its fields and the evidence file as "
            "`evidence`.",
            field="content-type",
        )
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    fields: dict[str, str] = {}
    evidence: recognitions.Evidence | None = None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if name == "evidence":
            evidence = recognitions.Evidence(data, _file_name(part.get_filename()))
        elif isinstance(name, str) and data.strip():
            try:
                fields[name] = data.decode("utf-8").strip()
            except UnicodeDecodeError as exc:
                raise InvalidInput(f"The field {name} is not UTF-8 text.", field=name) from exc
    if evidence is None:
        raise InvalidInput(
            "Attach the evidence (a PDF, PNG or JPEG of the certificate) as `evidence`.",
            field="evidence",
        )
    return fields, evidence


def _file_name(name: str | None) -> str:
    """The sent file's own name, without any path and with only plain characters."""
    base = re.split(r"[\\/]", name or "")[-1]
    cleaned = re.sub(r"[^\w.\- ]", "_", base).strip(" .")[:150]
    return cleaned or "evidence"


# Russian and Kazakh letters in Latin (close to ISO 9 / the Kazakh Latin alphabet of 2021),
# for the ASCII stand-in of a file name: "Сертификат ОБСЕ.pdf" is saved as
# "Sertifikat OBSE.pdf" by a client that does not read filename*.
_LATIN = str.maketrans(
    {
        **dict(zip("абвгдезийклмнопрстуфхцыэ", "abvgdezijklmnoprstufhcye", strict=True)),
        **dict(zip("АБВГДЕЗИЙКЛМНОПРСТУФХЦЫЭ", "ABVGDEZIJKLMNOPRSTUFHCYE", strict=True)),
        **{"ё": "e", "ж": "zh", "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ь": "", "ю": "yu"},
        **{"Ё": "E", "Ж": "Zh", "Ч": "Ch", "Ш": "Sh", "Щ": "Shch", "Ъ": "", "Ь": "", "Ю": "Yu"},
        **{"я": "ya", "Я": "Ya", "ә": "a", "ғ": "g", "қ": "q", "ң": "n", "ө": "o", "ұ": "u"},
        **{"Ә": "A", "Ғ": "G", "Қ": "Q", "Ң": "N", "Ө": "O", "Ұ": "U", "ү": "u", "Ү": "U"},
        **{"һ": "h", "Һ": "H", "і": "i", "І": "I"},
    }
)


def _attachment(name: str, recognition_id: str) -> str:
    """Content-Disposition for a file name in any script: a readable ASCII stand-in (the name
    in Latin letters, else evidence-<id>.<ext>), and the name itself in UTF-8 (RFC 6266) for
    the clients that read it."""
    if re.fullmatch(r"[A-Za-z0-9.\- _]+", name):
        return f'attachment; filename="{name}"'
    fallback = name.translate(_LATIN)
    if not re.fullmatch(r"[A-Za-z0-9.\- _]+", fallback) or not re.search(r"[A-Za-z0-9]", fallback):
        stem, dot, extension = name.rpartition(".")
        ascii_extension = dot and re.fullmatch(r"[A-Za-z0-9]{1,8}", extension)
        fallback = f"evidence-{recognition_id}" + (f".{extension}" if ascii_extension else "")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


async def _named(session: AsyncSession, items: list[RecognitionOut]) -> list[RecognitionOut]:
    """The records with the names of who recorded and who decided them."""
    names = await recognitions.actor_names(session, [r.id for r in items])
    return [
        r.model_copy(
            update={
                "recorded_by_name": names.get(r.id, {}).get("recorded"),
                "decided_by_name": names.get(r.id, {}).get("decided"),
            }
        )
        for r in items
    ]


@router.post(
    "/recognitions",
    status_code=201,
    responses={
        201: {"headers": {"Location": {"schema": {"type": "string"}}}},
        413: {"description": "The evidence file is over 5 MiB."},
        415: {"description": "The evidence file is not a PDF, PNG or JPEG."},
        **OTHER_ACADEMY,
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["trainee_id", "track_code", "issuer", "completed_on"]
                        + ["evidence"],
                        "properties": {
                            **_FORM_FIELDS,
                            "evidence": {"type": "string", "format": "binary"},
                        },
                    }
                }
            },
        }
    },
)
async def record_recognition(
    request: Request, session: DbSession, who: Staff, now: Now, response: Response
) -> RecognitionOut:
    """Record training a trainee did elsewhere (issuer, completion date, the track it counts
    as, evidence as PDF, PNG or JPEG up to 5 MiB); it waits for another academy admin."""
    body = await request.body()
    if len(body) > recognitions.EVIDENCE_MAX_BYTES + FORM_ALLOWANCE:
        raise PayloadTooLarge(
            f"The request is {len(body):,} bytes; the evidence file may be at most "
            f"{recognitions.EVIDENCE_MAX_BYTES:,} bytes (5 MiB).",
            limit=recognitions.EVIDENCE_MAX_BYTES,
        )
    # Parsing a few megabytes of MIME takes a tenth of a second: not on the event loop.
    fields, evidence = await asyncio.to_thread(_form, body, request.headers.get("content-type", ""))
    try:
        data = RecognitionCreate.model_validate(fields)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from exc
    found = await recognitions.record(
        session,
        training=recognitions.Training(**data.model_dump()),
        evidence=evidence,
        who=who,
        now=now,
    )
    response.headers["Location"] = f"/v1/recognitions/{found.id}"
    return RecognitionOut.model_validate(found)


@router.get("/recognitions", responses=OTHER_ACADEMY)
async def list_recognitions(
    session: DbSession,
    who: Staff,
    academy_id: Id | None = None,
    status: RecognitionStatus | None = None,
    trainee_id: Id | None = None,
    track_code: Id | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
    cursor: Cursor = None,
) -> Page[RecognitionOut]:
    """Recorded training done elsewhere, newest first; `status=pending` is what waits for a
    decision."""
    listing = await recognitions.list_recognitions(
        session,
        who=who,
        academy_id=academy_id,
        status=status,
        trainee_id=trainee_id,
        track_code=track_code,
        limit=limit,
        offset=offset,
        cursor=cursor,
    )
    items = await _named(session, [RecognitionOut.model_validate(r) for r in listing.items])
    return Page.of(listing, items, limit=limit, offset=offset)


@router.get("/recognitions/{recognition_id}")
async def get_recognition(recognition_id: Id, session: DbSession, who: Staff) -> RecognitionOut:
    """One record of training done elsewhere and its decision."""
    found = await recognitions.get_recognition(session, recognition_id=recognition_id, who=who)
    return (await _named(session, [RecognitionOut.model_validate(found)]))[0]


@router.get(
    "/recognitions/{recognition_id}/evidence",
    response_class=Response,
    responses={200: {"content": {media: {} for media in recognitions.EVIDENCE_TYPES}}},
)
async def recognition_evidence(recognition_id: Id, session: DbSession, who: Staff) -> Response:
    """The evidence file as recorded (PDF, PNG or JPEG), as a download."""
    found = await recognitions.get_recognition(
        session, recognition_id=recognition_id, who=who, with_evidence=True
    )
    return Response(
        found.evidence,
        media_type=found.evidence_type,
        headers={
            "Content-Disposition": _attachment(found.evidence_name, found.id),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


@router.post("/recognitions/{recognition_id}/approve")
async def approve_recognition(
    recognition_id: Id, session: DbSession, who: Staff, now: Now
) -> RecognitionOut:
    """Approve: from now on it counts towards the requirements of its track (not the
    recorder; another academy admin of the academy, or an admin)."""
    found = await recognitions.decide(
        session, recognition_id=recognition_id, approve=True, reason=None, who=who, now=now
    )
    return RecognitionOut.model_validate(found)


@router.post("/recognitions/{recognition_id}/reject")
async def reject_recognition(
    recognition_id: Id, body: RecognitionDecision, session: DbSession, who: Staff, now: Now
) -> RecognitionOut:
    """Reject, with the reason (not the recorder)."""
    found = await recognitions.decide(
        session, recognition_id=recognition_id, approve=False, reason=body.reason, who=who, now=now
    )
    return RecognitionOut.model_validate(found)


@router.get("/recognitions/{recognition_id}/history")
async def recognition_history(
    recognition_id: Id,
    session: DbSession,
    who: Staff,
    limit: Limit = 100,
    offset: Offset = 0,
    cursor: Cursor = None,
) -> Page[AuditOut]:
    """Who recorded and who decided, when, oldest first."""
    found = await recognitions.get_recognition(session, recognition_id=recognition_id, who=who)
    return await audit.history(
        session,
        entity="recognition",
        entity_id=found.id,
        limit=limit,
        offset=offset,
        cursor=cursor,
    )
