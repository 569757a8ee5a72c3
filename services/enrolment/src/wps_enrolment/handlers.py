"""Event handlers: enrolment's read models of the curriculum and of certificates, and the
compliance re-evaluation each relevant fact triggers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.events.consumer import Handler
from wps_common.events.contracts import (
    CertificateExpired,
    CertificateExpiring,
    CertificateIssued,
    CertificateRevoked,
    ModulePublished,
    ModuleRetired,
    RequirementChanged,
    TrackPublished,
    TrackRetired,
)
from wps_common.events.envelope import CloudEvent, EventPayload
from wps_common.runtime import Subscription
from wps_enrolment import compliance
from wps_enrolment.models import (
    CertificateRecord,
    CurriculumModule,
    CurriculumTrack,
    Requirement,
)

Today = Callable[[], date]


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
    # The modules travel inside the track: they are known even without module.published.
    for module in event.data["track"]["modules"]:
        await _remember_module(session, module, payload.published_at)


async def _remember_module(session: AsyncSession, facts: dict[str, Any], published_at: Any) -> None:
    existing = await session.scalar(
        select(CurriculumModule).where(
            CurriculumModule.code == facts["code"], CurriculumModule.version == facts["version"]
        )
    )
    if existing is None:
        session.add(
            CurriculumModule(
                code=facts["code"],
                version=facts["version"],
                status="published",
                facts=facts,
                published_at=published_at,
            )
        )
    elif len(facts) > len(existing.facts):
        existing.facts = facts  # module.published carries more than a track's copy


async def on_track_retired(session: AsyncSession, payload: TrackRetired, event: CloudEvent) -> None:
    await session.execute(
        update(CurriculumTrack)
        .where(
            CurriculumTrack.code == payload.track_code, CurriculumTrack.version == payload.version
        )
        .values(status="retired")
    )


async def on_module_published(
    session: AsyncSession, payload: ModulePublished, event: CloudEvent
) -> None:
    # The raw event data, not the parsed model: fields curriculum adds (prerequisites) stay.
    await _remember_module(session, dict(event.data["module"]), payload.published_at)


async def on_module_retired(
    session: AsyncSession, payload: ModuleRetired, event: CloudEvent
) -> None:
    await session.execute(
        update(CurriculumModule)
        .where(
            CurriculumModule.code == payload.module_code,
            CurriculumModule.version == payload.version,
        )
        .values(status="retired")
    )


def compliance_handlers(today: Today) -> dict[type[EventPayload], Handler]:
    """Handlers that change what compliance is computed from, then recompute it."""

    async def on_requirement_changed(
        session: AsyncSession, payload: RequirementChanged, event: CloudEvent
    ) -> None:
        requirement = await session.get(Requirement, payload.requirement_code)
        if requirement is not None and requirement.revision >= payload.revision:
            return  # an older revision arriving late changes nothing
        values = {
            "revision": payload.revision,
            "active": payload.change != "deleted",
            "track_code": payload.track_code,
            "selector": payload.selector.model_dump(mode="json"),
            "grace_period_days": payload.grace_period_days,
            "renewal_months": payload.renewal_months,
            "reminder_days": list(payload.reminder_days),
            "title": dict(payload.title),
            "changed_at": payload.changed_at,
        }
        if requirement is None:
            session.add(
                Requirement(
                    code=payload.requirement_code,
                    created_on=payload.changed_at.date(),
                    **values,
                )
            )
        else:
            for name, value in values.items():
                setattr(requirement, name, value)
        await session.flush()
        await compliance.evaluate(
            session, today=today(), requirement_codes=[payload.requirement_code]
        )

    async def on_certificate_issued(
        session: AsyncSession, payload: CertificateIssued, event: CloudEvent
    ) -> None:
        if payload.award != "track":
            return  # requirements ask for track certificates; a module's own does not count
        if await session.get(CertificateRecord, payload.certificate_id) is None:
            session.add(
                CertificateRecord(
                    certificate_id=payload.certificate_id,
                    trainee_id=payload.trainee_id,
                    academy_id=payload.academy_id,
                    enrolment_id=payload.enrolment_id,
                    track_code=payload.track_code,
                    issued_on=payload.issued_on,
                    expires_on=payload.expires_on,
                    status="valid",
                )
            )
            await session.flush()
        await compliance.evaluate(session, today=today(), trainee_ids=[payload.trainee_id])

    async def on_certificate_revoked(
        session: AsyncSession, payload: CertificateRevoked, event: CloudEvent
    ) -> None:
        await _set_status(session, payload.certificate_id, "revoked", payload.revoked_on)
        await compliance.evaluate(session, today=today(), trainee_ids=[payload.trainee_id])

    async def on_certificate_expired(
        session: AsyncSession, payload: CertificateExpired, event: CloudEvent
    ) -> None:
        await _set_status(session, payload.certificate_id, "expired", payload.expired_on)
        await compliance.evaluate(session, today=today(), trainee_ids=[payload.trainee_id])

    async def on_certificate_expiring(
        session: AsyncSession, payload: CertificateExpiring, event: CloudEvent
    ) -> None:
        await compliance.evaluate(session, today=today(), trainee_ids=[payload.trainee_id])

    return {
        RequirementChanged: on_requirement_changed,
        CertificateIssued: on_certificate_issued,
        CertificateRevoked: on_certificate_revoked,
        CertificateExpired: on_certificate_expired,
        CertificateExpiring: on_certificate_expiring,
    }


async def _set_status(session: AsyncSession, certificate_id: str, status: str, on: date) -> None:
    record = await session.get(CertificateRecord, certificate_id)
    if record is not None and record.status != "revoked":  # revocation is final
        record.status, record.status_on = status, on
        await session.flush()


def subscriptions(today: Today) -> list[Subscription]:
    return [
        Subscription(
            handlers={
                TrackPublished: on_track_published,
                TrackRetired: on_track_retired,
                ModulePublished: on_module_published,
                ModuleRetired: on_module_retired,
                **compliance_handlers(today),
            }
        )
    ]
