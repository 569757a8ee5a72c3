"""Certification use cases. Functions never commit: the caller's unit of work does."""

from __future__ import annotations

import calendar
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_certification.codes import new_verification_code, normalise
from wps_certification.models import Certificate, CertificateCounter, Holder, outbox
from wps_certification.pdf import TEMPLATE_VERSION, CertificateDocument, CertificateModule
from wps_common.auth import Principal
from wps_common.errors import NotFound
from wps_common.events.consumer import TransientError
from wps_common.events.contracts import CertificateIssued, TrackCompleted, TraineeProfileChanged

LANGUAGES = ("en", "ru")


def add_months(start: date, months: int) -> date:
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


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


async def issue_certificate(session: AsyncSession, completed: TrackCompleted) -> Certificate | None:
    """Issue the enrolment's certificate; None when it exists already (a redelivery)."""
    if await session.scalar(
        select(Certificate.id).where(Certificate.enrolment_id == completed.enrolment_id)
    ):
        return None
    holder = await session.get(Holder, completed.trainee_id)
    if holder is None:
        # The profile travels on the restricted stream and may arrive a moment later.
        raise TransientError(f"holder {completed.trainee_id} not known yet")
    language = holder.preferred_language if holder.preferred_language in LANGUAGES else "en"
    track = completed.track
    certificate = Certificate(
        enrolment_id=completed.enrolment_id,
        number=await _next_number(session, holder, completed.completed_on.year),
        verification_code=new_verification_code(),
        trainee_id=completed.trainee_id,
        academy_id=completed.academy_id,
        holder_name=f"{holder.given_name} {holder.family_name}",
        employee_number=holder.employee_number,
        academy_name=holder.academy_name,
        track_code=track.code,
        track_version=track.version,
        track=track.model_dump(mode="json"),
        language=language,
        template_version=TEMPLATE_VERSION,
        issued_on=completed.completed_on,
        expires_on=(
            add_months(completed.completed_on, track.validity_months)
            if track.validity_months
            else None
        ),
        status="valid",
    )
    session.add(certificate)
    await session.flush()
    await outbox.add(
        session,
        CertificateIssued(
            certificate_id=certificate.id,
            number=certificate.number,
            enrolment_id=certificate.enrolment_id,
            trainee_id=certificate.trainee_id,
            employee_number=certificate.employee_number,
            academy_id=certificate.academy_id,
            track_code=track.code,
            track_version=track.version,
            issued_on=certificate.issued_on,
            expires_on=certificate.expires_on,
        ),
    )
    return certificate


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


async def get_certificate(
    session: AsyncSession, *, certificate_id: str, who: Principal
) -> Certificate:
    certificate = await session.get(Certificate, certificate_id)
    if certificate is None or (who.is_trainee_only() and who.subject != certificate.trainee_id):
        raise NotFound("No such certificate.")
    who.check_academy(certificate.academy_id, "certificate")
    return certificate


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
    if certificate.status != "valid":
        return certificate.status
    if certificate.expires_on is not None and certificate.expires_on < today:
        return "expired"
    return "valid"


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
        verification_url=f"{base_url.rstrip('/')}/v1/verify/{certificate.verification_code}",
        status=current_status(certificate, today),
        template_version=certificate.template_version,
    )
