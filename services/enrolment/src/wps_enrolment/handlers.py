"""Event handlers: enrolment's read models of the curriculum and of certificates."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.events.contracts import CertificateIssued, TrackPublished, TrackRetired
from wps_common.events.envelope import CloudEvent
from wps_common.runtime import Subscription
from wps_enrolment.models import CertificateRecord, CurriculumTrack


async def on_track_published(
    session: AsyncSession, payload: TrackPublished, event: CloudEvent
) -> None:
    track = payload.track
    existing = await session.scalar(
        select(CurriculumTrack).where(
            CurriculumTrack.code == track.code, CurriculumTrack.version == track.version
        )
    )
    if existing is None:
        session.add(
            CurriculumTrack(
                code=track.code,
                version=track.version,
                status="published",
                facts=track.model_dump(mode="json"),
                published_at=payload.published_at,
            )
        )


async def on_track_retired(session: AsyncSession, payload: TrackRetired, event: CloudEvent) -> None:
    await session.execute(
        update(CurriculumTrack)
        .where(
            CurriculumTrack.code == payload.track_code, CurriculumTrack.version == payload.version
        )
        .values(status="retired")
    )


async def on_certificate_issued(
    session: AsyncSession, payload: CertificateIssued, event: CloudEvent
) -> None:
    if await session.get(CertificateRecord, payload.certificate_id) is None:
        session.add(
            CertificateRecord(
                certificate_id=payload.certificate_id,
                trainee_id=payload.trainee_id,
                enrolment_id=payload.enrolment_id,
                track_code=payload.track_code,
                issued_on=payload.issued_on,
                expires_on=payload.expires_on,
                status="valid",
            )
        )


subscriptions = [
    Subscription(
        handlers={
            TrackPublished: on_track_published,
            TrackRetired: on_track_retired,
            CertificateIssued: on_certificate_issued,
        }
    )
]
