"""Event handlers: holders' details (restricted stream) and issuance from track.completed and
from module.completed when the module grants its own certificate."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from wps_certification.holders import remember_holder
from wps_certification.issuance import issue_many, issue_module_certificate
from wps_common.events.consumer import BatchHandler
from wps_common.events.contracts import ModuleCompleted, TrackCompleted, TraineeProfileChanged
from wps_common.events.envelope import CloudEvent
from wps_common.runtime import Subscription


async def on_profile_changed(
    session: AsyncSession, payload: TraineeProfileChanged, event: CloudEvent
) -> None:
    await remember_holder(session, payload)


async def on_tracks_completed(
    session: AsyncSession, completed: list[tuple[TrackCompleted, CloudEvent]]
) -> None:
    """A fetched batch's completions issued together (one at a time when the batch fails)."""
    await issue_many(session, [payload for payload, _ in completed])


async def on_module_completed(
    session: AsyncSession, payload: ModuleCompleted, event: CloudEvent
) -> None:
    await issue_module_certificate(session, payload)


subscriptions = [
    Subscription(
        handlers={
            TrackCompleted: BatchHandler(on_tracks_completed),
            ModuleCompleted: on_module_completed,
        }
    ),
    Subscription(handlers={TraineeProfileChanged: on_profile_changed}, restricted=True),
]
