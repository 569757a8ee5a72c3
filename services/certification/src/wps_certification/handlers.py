"""Event handlers: holders' details (restricted stream) and issuance from track.completed and
from module.completed when the module grants its own certificate."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from wps_certification.holders import remember_holder
from wps_certification.issuance import issue_certificate, issue_module_certificate
from wps_common.events.contracts import ModuleCompleted, TrackCompleted, TraineeProfileChanged
from wps_common.events.envelope import CloudEvent
from wps_common.runtime import Subscription


async def on_profile_changed(
    session: AsyncSession, payload: TraineeProfileChanged, event: CloudEvent
) -> None:
    await remember_holder(session, payload)


async def on_track_completed(
    session: AsyncSession, payload: TrackCompleted, event: CloudEvent
) -> None:
    await issue_certificate(session, payload)


async def on_module_completed(
    session: AsyncSession, payload: ModuleCompleted, event: CloudEvent
) -> None:
    await issue_module_certificate(session, payload)


subscriptions = [
    Subscription(
        handlers={TrackCompleted: on_track_completed, ModuleCompleted: on_module_completed}
    ),
    Subscription(handlers={TraineeProfileChanged: on_profile_changed}, restricted=True),
]
