"""Event handlers: what enrolment consumes (the curriculum read model's handlers live in
`curriculum`), the requirement and certificate read models, and the compliance re-evaluation
each relevant fact triggers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.events.consumer import Handler
from wps_common.events.contracts import (
    CertificateExpired,
    CertificateExpiring,
    CertificateIssued,
    CertificateRevoked,
    ClearanceProfileChanged,
    ModulePublished,
    ModuleRetired,
    RequirementChanged,
    TrackPublished,
    TrackRetired,
)
from wps_common.events.envelope import CloudEvent, EventPayload
from wps_common.runtime import Subscription
from wps_enrolment import compliance
from wps_enrolment.clearance import on_clearance_profile_changed
from wps_enrolment.curriculum import (
    on_module_published,
    on_module_retired,
    on_track_published,
    on_track_retired,
)
from wps_enrolment.models import CertificateRecord, Requirement

Now = Callable[[], datetime]


async def remember_requirement(session: AsyncSession, payload: RequirementChanged) -> bool:
    """Keep a requirement's latest revision; False when an older revision arrives late."""
    requirement = await session.get(Requirement, payload.requirement_code)
    if requirement is not None and requirement.revision >= payload.revision:
        return False  # an older revision arriving late changes nothing
    values = {
        "revision": payload.revision,
        "active": payload.change != "deleted",
        "track_code": payload.track_code,
        "refresher_track_code": payload.refresher_track_code,
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
    return True


async def remember_certificate(session: AsyncSession, payload: CertificateIssued) -> bool:
    """Keep an issued certificate, a module's own too (deployment clearance counts it); False
    for a module's own, which requirements ignore: they ask for track certificates."""
    if await session.get(CertificateRecord, payload.certificate_id) is None:
        session.add(
            CertificateRecord(
                certificate_id=payload.certificate_id,
                trainee_id=payload.trainee_id,
                academy_id=payload.academy_id,
                enrolment_id=payload.enrolment_id,
                track_code=payload.track_code,
                award=payload.award,
                track_version=payload.track_version,
                issued_on=payload.issued_on,
                expires_on=payload.expires_on,
                status="valid",
            )
        )
        await session.flush()
    return payload.award == "track"


def compliance_handlers(now: Now) -> dict[type[EventPayload], Handler]:
    """Handlers that change what compliance is computed from, then recompute it."""

    async def on_requirement_changed(
        session: AsyncSession, payload: RequirementChanged, event: CloudEvent
    ) -> None:
        if await remember_requirement(session, payload):
            await compliance.evaluate(
                session, now=now(), requirement_codes=[payload.requirement_code]
            )

    async def on_certificate_issued(
        session: AsyncSession, payload: CertificateIssued, event: CloudEvent
    ) -> None:
        if await remember_certificate(session, payload):
            await compliance.evaluate(session, now=now(), trainee_ids=[payload.trainee_id])

    async def on_certificate_revoked(
        session: AsyncSession, payload: CertificateRevoked, event: CloudEvent
    ) -> None:
        await _set_status(session, payload.certificate_id, "revoked", payload.revoked_on)
        await compliance.evaluate(session, now=now(), trainee_ids=[payload.trainee_id])

    async def on_certificate_expired(
        session: AsyncSession, payload: CertificateExpired, event: CloudEvent
    ) -> None:
        await _set_status(session, payload.certificate_id, "expired", payload.expired_on)
        await compliance.evaluate(session, now=now(), trainee_ids=[payload.trainee_id])

    async def on_certificate_expiring(
        session: AsyncSession, payload: CertificateExpiring, event: CloudEvent
    ) -> None:
        await compliance.evaluate(session, now=now(), trainee_ids=[payload.trainee_id])

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


def subscriptions(now: Now) -> list[Subscription]:
    return [
        Subscription(
            handlers={
                TrackPublished: on_track_published,
                TrackRetired: on_track_retired,
                ModulePublished: on_module_published,
                ModuleRetired: on_module_retired,
                ClearanceProfileChanged: on_clearance_profile_changed,
                **compliance_handlers(now),
            }
        )
    ]
