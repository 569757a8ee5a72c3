"""The curriculum read model: the published tracks and modules enrolment keeps from curriculum's
events (the handlers of those events are here), and the curriculum a cohort pinned when it was
opened."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.events.contracts import (
    ModuleFacts,
    ModulePublished,
    ModuleRetired,
    TrackFacts,
    TrackPublished,
    TrackRetired,
)
from wps_common.events.envelope import CloudEvent
from wps_enrolment.models import Cohort, CurriculumModule, CurriculumTrack


async def published_track(session: AsyncSession, code: str) -> CurriculumTrack | None:
    return await session.scalar(
        select(CurriculumTrack)
        .where(CurriculumTrack.code == code, CurriculumTrack.status == "published")
        .order_by(CurriculumTrack.version.desc())
        .limit(1)
    )


async def published_module(session: AsyncSession, code: str) -> CurriculumModule | None:
    return await session.scalar(
        select(CurriculumModule)
        .where(CurriculumModule.code == code, CurriculumModule.status == "published")
        .order_by(CurriculumModule.version.desc())
        .limit(1)
    )


async def cohort_modules(
    session: AsyncSession, cohort: Cohort
) -> tuple[TrackFacts | None, list[ModuleFacts]]:
    """The curriculum a cohort teaches, as pinned when it was opened."""
    if cohort.track_code is not None:
        row = await session.scalar(
            select(CurriculumTrack).where(
                CurriculumTrack.code == cohort.track_code,
                CurriculumTrack.version == cohort.track_version,
            )
        )
        assert row is not None  # a cohort is only opened for a known track version
        track = TrackFacts.model_validate(row.facts)
        return track, list(track.modules)
    module = await session.scalar(
        select(CurriculumModule).where(
            CurriculumModule.code == cohort.module_code,
            CurriculumModule.version == cohort.module_version,
        )
    )
    assert module is not None
    return None, [ModuleFacts.model_validate(module.facts)]


# --- handlers of curriculum's events ----------------------------------------------------------


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
