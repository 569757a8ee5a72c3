"""Curriculum's service functions called directly, each test in a transaction rolled back
afterwards: a module and a track through review (four eyes, rejection, publishing once, retiring
what a track pins) and requirements (revisions, the renewal check against the track, withdrawal
and reuse of a code), with their trail rows and events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.auth import Principal, Role
from wps_common.errors import Conflict, Forbidden, InvalidInput, NotFound
from wps_common.events.contracts import (
    ModulePublished,
    ModuleRetired,
    RequirementChanged,
    TrackPublished,
)
from wps_common.testing import outbox_events
from wps_curriculum import requirements
from wps_curriculum.kinds import MODULES, TRACKS
from wps_curriculum.models import AuditEntry, Base, Track, TrackVersion, outbox
from wps_curriculum.modules import create_module
from wps_curriculum.review import Action, transition
from wps_curriculum.schemas import ModuleCreate, RequirementContent, RequirementCreate, TrackCreate
from wps_curriculum.tracks import create_track

from .conftest import MODULE, TRACK

AUTHOR = Principal(subject="author-1", roles=frozenset({Role.ADMIN, Role.REVIEWER}))
REVIEWER = Principal(subject="reviewer-1", roles=frozenset({Role.REVIEWER}))
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


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
    return await requirements.create_requirement(session, data=data, actor="admin-1", now=NOW)


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
            service_session, code="REQ-GHR", data=same, actor="admin-2", now=NOW
        )
        assert rule.revision == 1
        longer = RequirementContent(**content(grace_period_days=120))
        rule = await requirements.update_requirement(
            service_session, code="REQ-GHR", data=longer, actor="admin-2", now=NOW
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
        await requirements.delete_requirement(
            service_session, code="REQ-GHR", actor="admin-1", now=NOW
        )
        with pytest.raises(NotFound, match="withdrawn"):
            await requirements.get_requirement(service_session, code="REQ-GHR")
        listed = await requirements.list_requirements(service_session)
        assert (listed.items, listed.total) == ([], 0)
        everything = await requirements.list_requirements(service_session, include_deleted=True)
        assert everything.total == 1
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
            await requirements.delete_requirement(
                service_session, code="REQ-NONE", actor="a", now=NOW
            )


async def move(
    session: AsyncSession,
    action: Action,
    *,
    kind: Any = MODULES,
    code: str = "WPS-101",
    who: Principal = AUTHOR,
    comment: str | None = None,
) -> Any:
    return await transition(
        session, kind=kind, code=code, version=1, action=action, who=who, now=NOW, comment=comment
    )


async def published_module(session: AsyncSession) -> None:
    await create_module(session, data=ModuleCreate(**MODULE), who=AUTHOR, now=NOW)
    await move(session, "submit")
    await move(session, "approve", who=REVIEWER)
    await move(session, "publish")


class TestReview:
    async def test_a_module_goes_through_review_and_is_announced_once(
        self, service_session: AsyncSession
    ) -> None:
        version = await create_module(
            service_session, data=ModuleCreate(**MODULE), who=AUTHOR, now=NOW
        )
        assert (version.status, version.author) == ("draft", "author-1")
        await move(service_session, "submit")
        with pytest.raises(Forbidden, match="Four eyes"):
            await move(service_session, "approve", who=AUTHOR)
        await move(service_session, "approve", who=REVIEWER)
        published = await move(service_session, "publish")
        assert published.status == "published" and published.published_at is not None
        assert (await move(service_session, "publish")).status == "published"  # a no-op
        [event] = await outbox_events(service_session, outbox)
        assert event.type == ModulePublished.event_type()
        assert event.data["module"]["code"] == "WPS-101"
        assert event.data["module"]["pass_mark"] == 70
        assert event.data["module"]["content_hash"] == version.content_hash
        rows = await service_session.scalars(
            select(AuditEntry).where(AuditEntry.entity == "module").order_by(AuditEntry.id)
        )
        assert [(r.action, r.actor, r.to_status) for r in rows] == [
            ("created", "author-1", "draft"),
            ("submitted", "author-1", "in_review"),
            ("approved", "reviewer-1", "approved"),
            ("published", "author-1", "published"),
        ]

    async def test_a_rejection_needs_a_comment_and_goes_back_to_draft(
        self, service_session: AsyncSession
    ) -> None:
        await create_module(service_session, data=ModuleCreate(**MODULE), who=AUTHOR, now=NOW)
        await move(service_session, "submit")
        with pytest.raises(InvalidInput, match="comment"):
            await move(service_session, "reject", who=REVIEWER, comment="  ")
        rejected = await move(service_session, "reject", who=REVIEWER, comment="Cite 1820 too.")
        assert rejected.status == "draft"
        with pytest.raises(Conflict, match="is draft"):
            await move(service_session, "publish")
        assert await outbox_events(service_session, outbox) == []

    async def test_a_track_of_published_modules_is_announced_with_them(
        self, service_session: AsyncSession
    ) -> None:
        await published_module(service_session)
        await create_track(service_session, data=TrackCreate(**TRACK), who=AUTHOR, now=NOW)
        for action, who in (("submit", AUTHOR), ("approve", REVIEWER), ("publish", AUTHOR)):
            await move(service_session, action, kind=TRACKS, code="GHR-FOUND", who=who)
        *_, event = await outbox_events(service_session, outbox)
        assert event.type == TrackPublished.event_type()
        assert event.data["track"]["validity_months"] == 24
        assert [m["code"] for m in event.data["track"]["modules"]] == ["WPS-101"]
        with pytest.raises(Conflict, match="GHR-FOUND v1"):
            await move(service_session, "retire")
        assert ModuleRetired.event_type() not in [
            e.type for e in await outbox_events(service_session, outbox)
        ]

    async def test_a_track_needs_a_published_module(self, service_session: AsyncSession) -> None:
        with pytest.raises(InvalidInput) as missing:
            await create_track(service_session, data=TrackCreate(**TRACK), who=AUTHOR, now=NOW)
        assert missing.value.extensions["errors"][0]["field"] == "modules.0"
        await create_module(service_session, data=ModuleCreate(**MODULE), who=AUTHOR, now=NOW)
        with pytest.raises(InvalidInput, match="is draft"):
            await create_track(service_session, data=TrackCreate(**TRACK), who=AUTHOR, now=NOW)
        assert await service_session.get(Track, "GHR-FOUND") is None
