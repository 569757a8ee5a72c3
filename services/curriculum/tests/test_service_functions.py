"""Curriculum's service functions called directly, each test in a transaction rolled back
afterwards: requirements (revisions, the renewal check against the track, withdrawal and reuse
of a code), with their audit rows and requirement.changed events."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.errors import Conflict, InvalidInput, NotFound
from wps_common.events.contracts import RequirementChanged
from wps_common.testing import outbox_events
from wps_curriculum import requirements
from wps_curriculum.models import AuditEntry, Base, Track, TrackVersion, outbox
from wps_curriculum.schemas import RequirementContent, RequirementCreate


@pytest.fixture
def service_metadata() -> MetaData:
    return Base.metadata


async def published_track(
    session: AsyncSession, code: str = "GHR-FOUND", validity_months: int | None = 24
) -> None:
    session.add(Track(code=code, created_by="author-1"))
    session.add(
        TrackVersion(
            track_code=code,
            version=1,
            status="published",
            content={"code": code, "validity_months": validity_months},
            content_hash="c" * 64,
            author="author-1",
        )
    )
    await session.flush()


def content(**changes: Any) -> dict[str, Any]:
    return {
        "title": {"en": "Gender and human rights foundation"},
        "selector": {"ranks": ["Captain"]},
        "track_code": "GHR-FOUND",
        "grace_period_days": 90,
        "reminder_days": [30, 60],
        **changes,
    }


async def create(session: AsyncSession, **changes: Any) -> Any:
    data = RequirementCreate(code="REQ-GHR", **content(**changes))
    return await requirements.create_requirement(session, data=data, actor="admin-1")


async def changed(session: AsyncSession) -> list[dict[str, Any]]:
    return [
        e.data
        for e in await outbox_events(session, outbox)
        if e.type == RequirementChanged.event_type()
    ]


async def trail(session: AsyncSession) -> list[tuple[str, int | None, str]]:
    rows = await session.scalars(
        select(AuditEntry).where(AuditEntry.entity == "requirement").order_by(AuditEntry.id)
    )
    return [(r.action, r.version, r.actor) for r in rows]


class TestRequirements:
    async def test_create_writes_the_rule_its_trail_and_its_event(
        self, service_session: AsyncSession
    ) -> None:
        await published_track(service_session)
        rule = await create(service_session)
        assert (rule.code, rule.revision, rule.created_by) == ("REQ-GHR", 1, "admin-1")
        assert rule.renewal_months == 24  # the track's certificate validity
        assert rule.reminder_days == [60, 30]
        [event] = await changed(service_session)
        assert (event["requirement_code"], event["revision"], event["change"]) == (
            "REQ-GHR",
            1,
            "created",
        )
        assert event["renewal_months"] == 24
        assert event["selector"]["ranks"] == ["Captain"]
        assert await trail(service_session) == [("created", 1, "admin-1")]

    async def test_a_taken_code_is_a_conflict(self, service_session: AsyncSession) -> None:
        await published_track(service_session)
        await create(service_session)
        with pytest.raises(Conflict, match="REQ-GHR"):
            await create(service_session)
        assert len(await changed(service_session)) == 1

    @pytest.mark.parametrize(
        ("validity", "renewal", "field", "message"),
        [
            pytest.param(None, None, "track_code", "no published version", id="unpublished"),
            pytest.param(24, 36, "renewal_months", "exceeds the 24 months", id="too_long"),
        ],
    )
    async def test_the_track_must_be_published_and_outlast_the_renewal(
        self,
        service_session: AsyncSession,
        validity: int | None,
        renewal: int | None,
        field: str,
        message: str,
    ) -> None:
        if validity is not None:
            await published_track(service_session, validity_months=validity)
        with pytest.raises(InvalidInput, match=message) as refused:
            await create(service_session, renewal_months=renewal)
        assert refused.value.extensions["errors"][0]["field"] == field
        assert await changed(service_session) == []

    async def test_a_shorter_renewal_and_no_validity_are_kept(
        self, service_session: AsyncSession
    ) -> None:
        await published_track(service_session, validity_months=None)
        assert (await create(service_session, renewal_months=12)).renewal_months == 12

    async def test_update_grows_the_revision_and_an_identical_body_emits_nothing(
        self, service_session: AsyncSession
    ) -> None:
        await published_track(service_session)
        await create(service_session)
        same = RequirementContent(**content())
        rule = await requirements.update_requirement(
            service_session, code="REQ-GHR", data=same, actor="admin-2"
        )
        assert rule.revision == 1
        longer = RequirementContent(**content(grace_period_days=120))
        rule = await requirements.update_requirement(
            service_session, code="REQ-GHR", data=longer, actor="admin-2"
        )
        assert (rule.revision, rule.grace_period_days, rule.updated_by) == (2, 120, "admin-2")
        assert [(e["revision"], e["change"]) for e in await changed(service_session)] == [
            (1, "created"),
            (2, "updated"),
        ]

    async def test_withdrawn_then_reused_keeps_counting(
        self, service_session: AsyncSession
    ) -> None:
        await published_track(service_session)
        await create(service_session)
        await requirements.delete_requirement(service_session, code="REQ-GHR", actor="admin-1")
        with pytest.raises(NotFound, match="withdrawn"):
            await requirements.get_requirement(service_session, code="REQ-GHR")
        rows, total = await requirements.list_requirements(service_session)
        assert (rows, total) == ([], 0)
        _, everything = await requirements.list_requirements(service_session, include_deleted=True)
        assert everything == 1
        rule = await create(service_session, grace_period_days=30)
        assert (rule.revision, rule.deleted_at) == (3, None)
        assert [(e["revision"], e["change"]) for e in await changed(service_session)] == [
            (1, "created"),
            (2, "deleted"),
            (3, "created"),
        ]
        assert [a[:2] for a in await trail(service_session)] == [
            ("created", 1),
            ("deleted", 2),
            ("created", 3),
        ]

    async def test_an_unknown_code_is_not_found(self, service_session: AsyncSession) -> None:
        with pytest.raises(NotFound, match="no requirement"):
            await requirements.delete_requirement(service_session, code="REQ-NONE", actor="a")
