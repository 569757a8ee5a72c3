"""Recognised training: training a trainee did elsewhere, recorded by an academy admin with its
evidence and approved (or rejected) by another admin of the academy. Approved, it counts
towards the requirements of its track like a certificate; compliance is re-evaluated in the
same transaction."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from wps_common.auth import Principal
from wps_common.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from wps_common.paging import Listing, keyset_page
from wps_common.tenancy import scoped
from wps_enrolment import compliance
from wps_enrolment.audit import audit
from wps_enrolment.models import AuditEntry, CurriculumTrack, Recognition
from wps_enrolment.trainees import get_trainee

EVIDENCE_MAX_BYTES = 5 * 1024 * 1024
# What evidence may be, told by the file's first bytes (never by its name or declared type).
_SIGNATURES = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)
EVIDENCE_TYPES = tuple(media for _, media in _SIGNATURES)
STATUSES = ("pending", "approved", "rejected")


@dataclass(frozen=True)
class Evidence:
    data: bytes
    name: str


@dataclass(frozen=True)
class Training:
    """What the recorder says about the training done elsewhere."""

    trainee_id: str
    track_code: str
    issuer: str
    completed_on: date
    valid_until: date | None
    note: str | None


class EmptyEvidence(InvalidInput):
    slug = "recognition/empty-evidence"


class CompletedInFuture(InvalidInput):
    slug = "recognition/completed-in-future"


class ValidUntilBeforeCompletion(InvalidInput):
    slug = "recognition/valid-until-before-completion"


class RecorderDecides(Forbidden):
    """Four eyes: the one who recorded the training never decides on it."""

    slug = "recognition/recorder-decides"


class AlreadyDecided(Conflict):
    slug = "recognition/already-decided"


def evidence_type(data: bytes) -> str:
    """The media type of an evidence file by its magic bytes; PDF, PNG and JPEG are taken."""
    if not data:
        raise EmptyEvidence("The evidence file is empty.", field="evidence")
    if len(data) > EVIDENCE_MAX_BYTES:
        raise PayloadTooLarge(
            f"The evidence file is {len(data):,} bytes; at most {EVIDENCE_MAX_BYTES:,} "
            "(5 MiB) are accepted.",
            limit=EVIDENCE_MAX_BYTES,
        )
    for magic, media_type in _SIGNATURES:
        if data.startswith(magic):
            return media_type
    raise UnsupportedMediaType(
        "The evidence must be a PDF, PNG or JPEG file (a scan or photo of the certificate); "
        "this file is none of them.",
        accepted=list(EVIDENCE_TYPES),
    )


async def record(
    session: AsyncSession, *, training: Training, evidence: Evidence, who: Principal, now: datetime
) -> Recognition:
    """Record training done elsewhere, pending until another admin of the academy decides."""
    media_type = evidence_type(evidence.data)
    trainee = await get_trainee(session, trainee_id=training.trainee_id, who=who)
    known = await session.scalar(
        select(CurriculumTrack.id)
        .where(CurriculumTrack.code == training.track_code, CurriculumTrack.status == "published")
        .limit(1)
    )
    if known is None:
        raise InvalidInput(
            f"There is no published track {training.track_code}: recognised training counts "
            "as a track of the curriculum.",
            field="track_code",
        )
    if training.completed_on > await compliance.academy_today(session, trainee.academy_id, now):
        raise CompletedInFuture(
            f"The completion date {training.completed_on} is in the future.",
            field="completed_on",
        )
    if training.valid_until is not None and training.valid_until <= training.completed_on:
        raise ValidUntilBeforeCompletion(
            "valid_until must come after the completion date.", field="valid_until"
        )
    recognition = Recognition(
        academy_id=trainee.academy_id,
        trainee_id=trainee.id,
        track_code=training.track_code,
        issuer=training.issuer,
        completed_on=training.completed_on,
        valid_until=training.valid_until,
        note=training.note,
        status="pending",
        evidence=evidence.data,
        evidence_type=media_type,
        evidence_name=evidence.name,
        evidence_size=len(evidence.data),
        evidence_sha256=hashlib.sha256(evidence.data).hexdigest(),
        recorded_by=who.subject,
        recorded_at=now,
    )
    session.add(recognition)
    await session.flush()
    audit(
        session,
        academy_id=trainee.academy_id,
        entity="recognition",
        entity_id=recognition.id,
        action="recorded",
        actor=who.subject,
        changes={
            "trainee_id": trainee.id,
            "track_code": training.track_code,
            "issuer": training.issuer,
            "completed_on": training.completed_on.isoformat(),
            "valid_until": training.valid_until.isoformat() if training.valid_until else None,
            "note": training.note,
            "evidence_sha256": recognition.evidence_sha256,
            "evidence_size": recognition.evidence_size,
        },
    )
    return recognition


async def get_recognition(
    session: AsyncSession,
    *,
    recognition_id: str,
    who: Principal,
    lock: bool = False,
    with_evidence: bool = False,
) -> Recognition:
    """A recognition of an academy the caller sees (another academy's: 404)."""
    options = [undefer(Recognition.evidence)] if with_evidence else []
    found = await session.get(Recognition, recognition_id, with_for_update=lock, options=options)
    if found is None:
        raise NotFound("No such recognised training.")
    who.check_academy(found.academy_id, "recognised training")
    return found


async def decide(
    session: AsyncSession,
    *,
    recognition_id: str,
    approve: bool,
    reason: str | None,
    who: Principal,
    now: datetime,
) -> Recognition:
    """Approve or reject a pending recognition. The recorder never decides on their own
    record: four eyes, as for curriculum reviews. Approval re-evaluates the trainee's
    compliance in this transaction."""
    found = await get_recognition(session, recognition_id=recognition_id, who=who, lock=True)
    if found.status != "pending":
        raise AlreadyDecided(
            f"This recognised training was already {found.status} on "
            f"{found.decided_at:%Y-%m-%d}; record it again to have it decided anew.",
            recognition_status=found.status,
        )
    if found.recorded_by == who.subject:
        raise RecorderDecides(
            "You recorded this training: another academy admin of the academy must approve or "
            "reject it."
        )
    found.status = "approved" if approve else "rejected"
    found.decided_by, found.decided_at, found.decision_reason = who.subject, now, reason
    audit(
        session,
        academy_id=found.academy_id,
        entity="recognition",
        entity_id=found.id,
        action=found.status,
        actor=who.subject,
        changes={"status": found.status, "reason": reason},
    )
    await session.flush()
    if approve:
        await compliance.evaluate(session, now=now, trainee_ids=[found.trainee_id])
    return found


async def list_recognitions(
    session: AsyncSession,
    *,
    who: Principal,
    academy_id: str | None,
    status: str | None,
    trainee_id: str | None,
    track_code: str | None,
    limit: int,
    offset: int,
    cursor: str | None = None,
) -> Listing:
    """Recognitions of the academies the caller sees, newest first."""
    stmt = scoped(select(Recognition), Recognition.academy_id, who, academy_id)
    for column, value in (
        (Recognition.status, status),
        (Recognition.trainee_id, trainee_id),
        (Recognition.track_code, track_code),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    order = (Recognition.recorded_at.desc(), Recognition.id.desc())
    return await keyset_page(session, stmt, order=order, limit=limit, offset=offset, cursor=cursor)


async def actor_names(
    session: AsyncSession, recognition_ids: list[str]
) -> dict[str, dict[str, str]]:
    """Who recorded and who decided each recognition, by the names their tokens gave, from
    the audit trail: {id: {"recorded": name, "decided": name}}, a name only where one was
    given."""
    if not recognition_ids:
        return {}
    rows = await session.execute(
        select(AuditEntry.entity_id, AuditEntry.action, AuditEntry.actor_name)
        .where(
            AuditEntry.entity == "recognition",
            AuditEntry.entity_id.in_(recognition_ids),
            AuditEntry.action.in_(("recorded", "approved", "rejected")),
            AuditEntry.actor_name.is_not(None),
        )
        .order_by(AuditEntry.id)
    )
    names: dict[str, dict[str, str]] = {}
    for entity_id, action, name in rows:
        if name:
            names.setdefault(entity_id, {})["recorded" if action == "recorded" else "decided"] = (
                name
            )
    return names
