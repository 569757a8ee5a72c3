"""Issuance: a certificate for a completed track, or for a module that grants its own; its
number, and the `certificate.issued` event."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_certification.codes import new_verification_code
from wps_certification.holders import holder_snapshot
from wps_certification.models import TRACK_AWARD, Certificate, CertificateCounter, Holder, outbox
from wps_certification.pdf import TEMPLATE_VERSION
from wps_common.db import new_id
from wps_common.events.consumer import TransientError
from wps_common.events.contracts import (
    CertificateIssued,
    ModuleCompleted,
    TrackCompleted,
    TrackFacts,
)
from wps_common.validity import add_months


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
    previous = await _previous_certificate(
        session,
        trainee_id=trainee_id,
        awarded_for=awarded_for,
        track_code=track.code,
        enrolment_id=enrolment_id,
    )
    certificate = Certificate(
        id=new_id(),
        enrolment_id=enrolment_id,
        awarded_for=awarded_for,
        edition=1,
        number=await next_number(session, holder, completed_on.year),
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
        **holder_snapshot(holder),
    )
    session.add(certificate)
    await session.flush()
    await outbox.add(session, issued_event(certificate))
    return certificate


async def _previous_certificate(
    session: AsyncSession, *, trainee_id: str, awarded_for: str, track_code: str, enrolment_id: str
) -> str | None:
    """Passing the same track again is a recertification: the new certificate names the last
    one."""
    previous: str | None = await session.scalar(
        select(Certificate.id)
        .where(
            Certificate.trainee_id == trainee_id,
            Certificate.awarded_for == awarded_for,
            Certificate.track_code == track_code,
            Certificate.status != "superseded",
            Certificate.enrolment_id != enrolment_id,
        )
        .order_by(Certificate.issued_on.desc(), Certificate.created_at.desc())
        .limit(1)
    )
    return previous


async def next_number(session: AsyncSession, holder: Holder, year: int) -> str:
    """The academy's next certificate number of `year` (the counter row is locked until the
    caller's transaction ends)."""
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


def issued_event(certificate: Certificate) -> CertificateIssued:
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
