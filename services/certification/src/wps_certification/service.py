"""Certification use cases. Functions never commit: the caller's unit of work does."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Select, and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from wps_certification.codes import new_verification_code, normalise
from wps_certification.models import (
    TRACK_AWARD,
    Certificate,
    CertificateCounter,
    CertificateNotice,
    Holder,
    outbox,
)
from wps_certification.pdf import TEMPLATE_VERSION, CertificateDocument, CertificateModule
from wps_common.auth import Principal, Role
from wps_common.db import new_id
from wps_common.errors import Conflict, NotFound
from wps_common.events.consumer import TransientError
from wps_common.events.contracts import (
    CertificateExpired,
    CertificateExpiring,
    CertificateIssued,
    CertificateRevoked,
    ModuleCompleted,
    TrackCompleted,
    TrackFacts,
    TraineeProfileChanged,
)
from wps_common.validity import add_months

LANGUAGES = ("en", "ru")
STATUSES = ("valid", "expired", "revoked", "superseded")


async def remember_holder(session: AsyncSession, profile: TraineeProfileChanged) -> None:
    holder = await session.get(Holder, profile.trainee_id)
    if holder is not None and holder.changed_at >= profile.changed_at:
        return  # an older update arriving late must not undo a newer one
    values = profile.model_dump(exclude={"active"})
    if holder is None:
        session.add(Holder(**values))
    else:
        for key, value in values.items():
            setattr(holder, key, value)


# --- issuance -------------------------------------------------------------------------------


async def issue_certificate(session: AsyncSession, completed: TrackCompleted) -> Certificate | None:
    """Issue the enrolment's track certificate; None when it exists already (a redelivery)."""
    return await _issue(
        session,
        enrolment_id=completed.enrolment_id,
        trainee_id=completed.trainee_id,
        academy_id=completed.academy_id,
        awarded_for=TRACK_AWARD,
        track=completed.track,
        completed_on=completed.completed_on,
    )


async def issue_module_certificate(
    session: AsyncSession, completed: ModuleCompleted
) -> Certificate | None:
    """A module that grants its own certificate: one per enrolment and module; None otherwise."""
    module = completed.module
    if module is None or not module.grants_certificate:
        return None
    # Printed and signed like a one-module track, so the PDF and credential need no variant.
    as_track = TrackFacts(
        code=module.code,
        version=module.version,
        content_hash=module.content_hash,
        title=module.title,
        certificate_title=module.title,
        validity_months=None,
        modules=[module],
    )
    return await _issue(
        session,
        enrolment_id=completed.enrolment_id,
        trainee_id=completed.trainee_id,
        academy_id=completed.academy_id,
        awarded_for=f"module:{module.code}",
        track=as_track,
        completed_on=completed.completed_on,
    )


async def _issue(
    session: AsyncSession,
    *,
    enrolment_id: str,
    trainee_id: str,
    academy_id: str,
    awarded_for: str,
    track: TrackFacts,
    completed_on: date,
) -> Certificate | None:
    if await session.scalar(
        select(Certificate.id).where(
            Certificate.enrolment_id == enrolment_id, Certificate.awarded_for == awarded_for
        )
    ):
        return None
    holder = await session.get(Holder, trainee_id)
    if holder is None:
        # The profile travels on the restricted stream and may arrive a moment later.
        raise TransientError(f"holder {trainee_id} not known yet")
    # Passing the same track again is a recertification: the new certificate names the last one.
    previous = await session.scalar(
        select(Certificate.id)
        .where(
            Certificate.trainee_id == trainee_id,
            Certificate.awarded_for == awarded_for,
            Certificate.track_code == track.code,
            Certificate.status != "superseded",
            Certificate.enrolment_id != enrolment_id,
        )
        .order_by(Certificate.issued_on.desc(), Certificate.created_at.desc())
        .limit(1)
    )
    certificate = Certificate(
        id=new_id(),
        enrolment_id=enrolment_id,
        awarded_for=awarded_for,
        edition=1,
        number=await _next_number(session, holder, completed_on.year),
        verification_code=new_verification_code(),
        trainee_id=trainee_id,
        academy_id=academy_id,
        track_code=track.code,
        track_version=track.version,
        track=track.model_dump(mode="json"),
        template_version=TEMPLATE_VERSION,
        issued_on=completed_on,
        expires_on=(
            add_months(completed_on, track.validity_months) if track.validity_months else None
        ),
        status="valid",
        previous_certificate_id=previous,
        **_holder_snapshot(holder),
    )
    session.add(certificate)
    await session.flush()
    await outbox.add(session, _issued_event(certificate))
    return certificate


def _holder_snapshot(holder: Holder) -> dict[str, str]:
    language = holder.preferred_language if holder.preferred_language in LANGUAGES else "en"
    return {
        "holder_name": f"{holder.given_name} {holder.family_name}",
        "employee_number": holder.employee_number,
        "academy_name": holder.academy_name,
        "language": language,
    }


def _issued_event(certificate: Certificate) -> CertificateIssued:
    return CertificateIssued(
        certificate_id=certificate.id,
        number=certificate.number,
        enrolment_id=certificate.enrolment_id,
        trainee_id=certificate.trainee_id,
        employee_number=certificate.employee_number,
        academy_id=certificate.academy_id,
        track_code=certificate.track_code,
        track_version=certificate.track_version,
        issued_on=certificate.issued_on,
        expires_on=certificate.expires_on,
        supersedes=certificate.supersedes_id,
        award="module" if certificate.module_code else "track",
        previous_certificate_id=certificate.previous_certificate_id,
    )


def _revoked_event(certificate: Certificate) -> CertificateRevoked:
    assert certificate.revoked_on is not None
    return CertificateRevoked(
        certificate_id=certificate.id,
        number=certificate.number,
        enrolment_id=certificate.enrolment_id,
        trainee_id=certificate.trainee_id,
        employee_number=certificate.employee_number,
        academy_id=certificate.academy_id,
        track_code=certificate.track_code,
        revoked_on=certificate.revoked_on,
        superseded_by=certificate.superseded_by_id,
    )


async def _next_number(session: AsyncSession, holder: Holder, year: int) -> str:
    counter = await session.scalar(
        select(CertificateCounter)
        .where(CertificateCounter.academy_id == holder.academy_id, CertificateCounter.year == year)
        .with_for_update()
    )
    if counter is None:
        counter = CertificateCounter(academy_id=holder.academy_id, year=year, last_value=0)
        session.add(counter)
    counter.last_value += 1
    return f"{holder.academy_code}-{year}-{counter.last_value:06d}"


# --- reading ----------------------------------------------------------------------------------


async def get_certificate(
    session: AsyncSession, *, certificate_id: str, who: Principal, for_update: bool = False
) -> Certificate:
    """The certificate if `who` may see it; anything else is 404 (never 403), so ids of other
    trainees and academies reveal nothing."""
    stmt = select(Certificate).where(Certificate.id == certificate_id)
    if for_update:
        stmt = stmt.with_for_update()
    certificate = await session.scalar(stmt)
    if certificate is None:
        raise NotFound("No such certificate.")
    if who.is_trainee_only():
        # A trainee's certificates are theirs wherever they serve now (a transfer to another
        # academy changes the token's academy, not whose certificates these are).
        if not who.is_trainee(certificate.trainee_id):
            raise NotFound("No such certificate.")
    else:
        who.check_academy(certificate.academy_id, "certificate")
    return certificate


def _status_filter(stmt: Select[Any], status: str, today: date) -> Select[Any]:
    lapsed = and_(Certificate.expires_on.is_not(None), Certificate.expires_on < today)
    if status == "valid":
        return stmt.where(Certificate.status == "valid", ~lapsed)
    if status == "expired":
        return stmt.where(Certificate.status.in_(("valid", "expired")), lapsed)
    return stmt.where(Certificate.status == status)


async def list_certificates(
    session: AsyncSession,
    *,
    who: Principal,
    today: date,
    status: str | None = None,
    trainee_id: str | None = None,
    track_code: str | None = None,
    academy_id: str | None = None,
    limit: int,
    offset: int,
) -> tuple[Sequence[Certificate], int]:
    stmt = select(Certificate)
    if who.is_trainee_only():
        stmt = stmt.where(Certificate.trainee_id == (who.trainee_id or ""))
    elif not who.sees_all_academies:
        stmt = stmt.where(Certificate.academy_id == who.academy_id)
    if status:
        stmt = _status_filter(stmt, status, today)
    if trainee_id:
        stmt = stmt.where(Certificate.trainee_id == trainee_id)
    if track_code:
        stmt = stmt.where(Certificate.track_code == track_code)
    if academy_id:
        stmt = stmt.where(Certificate.academy_id == academy_id)
    total = await session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = await session.scalars(
        stmt.order_by(Certificate.created_at.desc(), Certificate.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return rows.all(), total or 0


async def find_by_code(session: AsyncSession, typed_code: str) -> Certificate:
    code = normalise(typed_code)
    certificate = (
        await session.scalar(select(Certificate).where(Certificate.verification_code == code))
        if code
        else None
    )
    if certificate is None:
        raise NotFound("No certificate has this verification code. Check it and try again.")
    return certificate


def current_status(certificate: Certificate, today: date) -> str:
    """Revoked and superseded are decisions; expired follows from the date (the last valid day
    is `expires_on`), whether or not the scanner has got to it yet."""
    if certificate.status in ("revoked", "superseded"):
        return certificate.status
    if certificate.expires_on is not None and certificate.expires_on < today:
        return "expired"
    return "valid"


# --- revocation and correction ------------------------------------------------------------


async def revoke_certificate(
    session: AsyncSession, *, certificate_id: str, who: Principal, reason: str, today: date
) -> Certificate:
    """Revoke; the reason is kept for the academy and never leaves the API."""
    certificate = await get_certificate(
        session, certificate_id=certificate_id, who=who, for_update=True
    )
    if certificate.status in ("revoked", "superseded"):
        raise Conflict(f"This certificate is already {certificate.status}.")
    certificate.status = "revoked"
    certificate.revoked_on = today
    certificate.revocation_reason = reason
    certificate.revoked_by = who.subject
    await session.flush()
    await outbox.add(session, _revoked_event(certificate))
    return certificate


async def reissue_certificate(
    session: AsyncSession, *, certificate_id: str, who: Principal, today: date
) -> Certificate:
    """A correction: a new edition from the holder's current details supersedes the old one."""
    old = await get_certificate(session, certificate_id=certificate_id, who=who, for_update=True)
    if old.status in ("revoked", "superseded"):
        raise Conflict(
            f"This certificate is {old.status}; only a current certificate can be corrected."
        )
    holder = await session.get(Holder, old.trainee_id)
    if holder is None:
        raise Conflict("The holder's details have not reached certification; retry shortly.")
    snapshot = _holder_snapshot(holder)
    if all(getattr(old, key) == value for key, value in snapshot.items() if key != "language"):
        raise Conflict(
            "The holder's name, employee number and academy are unchanged since this "
            "certificate was issued; correct them in enrolment first, then re-issue."
        )
    new = Certificate(
        id=new_id(),
        enrolment_id=old.enrolment_id,
        awarded_for=old.awarded_for,
        edition=old.edition + 1,
        number=await _next_number(session, holder, old.issued_on.year),
        verification_code=new_verification_code(),
        trainee_id=old.trainee_id,
        academy_id=old.academy_id,
        track_code=old.track_code,
        track_version=old.track_version,
        track=old.track,
        template_version=TEMPLATE_VERSION,
        issued_on=old.issued_on,
        expires_on=old.expires_on,
        status="valid",
        previous_certificate_id=old.previous_certificate_id,
        supersedes_id=old.id,
        **snapshot,
    )
    old.status = "superseded"
    old.superseded_by_id = new.id
    old.revoked_on = today
    old.revoked_by = who.subject
    await session.flush()  # the old edition first: the new one's uniqueness is checked after
    session.add(new)
    await session.flush()
    await outbox.add(session, _revoked_event(old))
    await outbox.add(session, _issued_event(new))
    return new


# --- expiry ---------------------------------------------------------------------------------


async def scan_expiry(
    session: AsyncSession, *, today: date, lead_days: Sequence[int], batch: int = 500
) -> int:
    """Send `certificate.expiring` once per lead time and `certificate.expired` once; returns how
    many events were added. A certificate first seen inside several windows (the scanner was
    down, or it was issued late) gets only the nearest one: one reminder, not three at once.
    Renewed certificates (a newer one names them as previous) get no reminders."""
    sent = 0
    leads = sorted(lead_days)
    notice = aliased(CertificateNotice)
    renewal = aliased(Certificate)
    if leads:
        horizon = today + timedelta(days=leads[-1])
        window = (
            Certificate.status == "valid",
            Certificate.expires_on.is_not(None),
            Certificate.expires_on >= today,
            Certificate.expires_on <= horizon,
            ~exists().where(
                renewal.previous_certificate_id == Certificate.id,
                renewal.status.in_(("valid", "expired")),
            ),
        )
        candidates = (
            await session.scalars(
                select(Certificate).where(*window).order_by(Certificate.expires_on, Certificate.id)
            )
        ).all()
        seen = await session.execute(
            select(CertificateNotice.certificate_id, CertificateNotice.notice)
            .join(Certificate, Certificate.id == CertificateNotice.certificate_id)
            .where(*window, CertificateNotice.notice.like("expiring:%"))
        )
        done = {(row[0], row[1]) for row in seen}
        for certificate in candidates:
            assert certificate.expires_on is not None
            remaining = (certificate.expires_on - today).days
            lead = next(days for days in leads if remaining <= days)
            key = f"expiring:{lead}"
            if (certificate.id, key) in done:
                continue
            session.add(CertificateNotice(certificate_id=certificate.id, notice=key))
            await outbox.add(
                session,
                CertificateExpiring(
                    certificate_id=certificate.id,
                    trainee_id=certificate.trainee_id,
                    employee_number=certificate.employee_number,
                    academy_id=certificate.academy_id,
                    track_code=certificate.track_code,
                    expires_on=certificate.expires_on,
                    lead_days=lead,
                ),
            )
            sent += 1
    while True:
        lapsed = (
            await session.scalars(
                select(Certificate)
                .where(
                    Certificate.status == "valid",
                    Certificate.expires_on.is_not(None),
                    Certificate.expires_on < today,
                    ~exists().where(
                        notice.certificate_id == Certificate.id, notice.notice == "expired"
                    ),
                )
                .order_by(Certificate.expires_on, Certificate.id)
                .limit(batch)
            )
        ).all()
        for certificate in lapsed:
            assert certificate.expires_on is not None
            certificate.status = "expired"
            session.add(CertificateNotice(certificate_id=certificate.id, notice="expired"))
            await outbox.add(
                session,
                CertificateExpired(
                    certificate_id=certificate.id,
                    trainee_id=certificate.trainee_id,
                    employee_number=certificate.employee_number,
                    academy_id=certificate.academy_id,
                    track_code=certificate.track_code,
                    expired_on=certificate.expires_on + timedelta(days=1),
                ),
            )
            sent += 1
        await session.flush()
        if len(lapsed) < batch:
            return sent


# --- documents --------------------------------------------------------------------------------


def may_see_reason(who: Principal) -> bool:
    return who.has(Role.ADMIN, Role.ACADEMY_ADMIN, Role.HR)


def verification_url(certificate: Certificate, base_url: str) -> str:
    return f"{base_url.rstrip('/')}/v1/verify/{certificate.verification_code}"


def document(
    certificate: Certificate, *, language: str, base_url: str, today: date
) -> CertificateDocument:
    """What the PDF shows, in `language` (falling back to English for missing texts)."""
    language = language if language in LANGUAGES else "en"
    track = certificate.track

    def pick(texts: dict[str, str]) -> str:
        return texts.get(language) or texts.get("en") or next(iter(texts.values()), "")

    return CertificateDocument(
        language=language,
        holder_name=certificate.holder_name,
        employee_number=certificate.employee_number,
        academy_name=certificate.academy_name,
        track_title=pick(track["certificate_title"]),
        modules=tuple(
            CertificateModule(code=m["code"], title=pick(m["title"]), hours=m["duration_hours"])
            for m in track["modules"]
        ),
        issued_on=certificate.issued_on,
        expires_on=certificate.expires_on,
        number=certificate.number,
        verification_code=certificate.verification_code,
        verification_url=verification_url(certificate, base_url),
        status=current_status(certificate, today),
        template_version=certificate.template_version,
    )
