"""Curriculum API: publishing emits events once; bad input is a clear 4xx and writes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from wps_common.db import Database
from wps_common.natsserver import NatsServer
from wps_common.testing import EventTap, auth, bus_settings, running_app
from wps_curriculum.main import create_app
from wps_curriculum.models import ModuleVersion, outbox
from wps_curriculum.settings import CurriculumSettings

from .conftest import ADMIN, MODULE, REVIEWER, TRACK, publish


async def count_rows(database_url: str) -> tuple[int, int]:
    db = Database(database_url)
    try:
        async with db.session() as session:
            versions = await session.scalar(select(func.count()).select_from(ModuleVersion))
            events = await session.scalar(select(func.count()).select_from(outbox.table))
            return int(versions or 0), int(events or 0)
    finally:
        await db.dispose()


def with_(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**base, **changes}


BAD_MODULES = [
    (with_(MODULE, code="wps-101"), "code"),
    (with_(MODULE, title={}), "title"),  # a title needs a text in some language
    (with_(MODULE, title={"en": "  "}), "title"),
    (with_(MODULE, duration_hours=0), "duration_hours"),
    (with_(MODULE, assessment={"kind": "quiz", "pass_mark": 150}), "assessment.pass_mark"),
    (with_(MODULE, assessment={"kind": "exam", "pass_mark": 50}), "assessment.kind"),
    (with_(MODULE, min_attendance_pct=-1), "min_attendance_pct"),
    (with_(MODULE, prerequisites=["ZZZ-999"]), "prerequisites"),
    (with_(MODULE, prerequisites=["WPS-101"]), "prerequisites"),
    (with_(MODULE, colour="red"), "colour"),
]


@pytest.mark.parametrize(("body", "field"), BAD_MODULES)
async def test_invalid_modules_are_refused_with_the_field_named(
    client: httpx.AsyncClient, database_url: str, body: dict[str, Any], field: str
) -> None:
    response = await client.post("/v1/modules", json=body, headers=ADMIN)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422 and problem["detail"]
    assert any(e["field"].startswith(field) for e in problem["errors"]), problem
    assert await count_rows(database_url) == (0, 0)


async def test_malformed_json_and_missing_auth_are_problems(client: httpx.AsyncClient) -> None:
    broken = await client.post(
        "/v1/modules", content=b"{not json", headers={**ADMIN, "content-type": "application/json"}
    )
    assert broken.status_code == 422
    assert broken.headers["content-type"] == "application/problem+json"
    anonymous = await client.post("/v1/modules", json=MODULE)
    assert anonymous.status_code == 401 and anonymous.json()["detail"]
    forged = await client.post(
        "/v1/modules", json=MODULE, headers={"Authorization": "Bearer x.y.z"}
    )
    assert forged.status_code == 401
    trainee = await client.post("/v1/modules", json=MODULE, headers=auth("trainee", academy_id="a"))
    assert trainee.status_code == 403
    assert "admin" in trainee.json()["detail"]
    nowhere = await client.get("/v1/nothing-here", headers=ADMIN)
    assert nowhere.status_code == 404
    assert nowhere.headers["content-type"] == "application/problem+json"


async def test_conflicts_and_unknowns(client: httpx.AsyncClient, database_url: str) -> None:
    assert (await client.post("/v1/modules", json=MODULE, headers=ADMIN)).status_code == 201
    again = await client.post("/v1/modules", json=MODULE, headers=ADMIN)
    assert again.status_code == 409 and "WPS-101" in again.json()["detail"]
    # A track may not pin a draft, nor an unknown module.
    draft = await client.post("/v1/tracks", json=TRACK, headers=ADMIN)
    assert draft.status_code == 422 and "draft" in draft.json()["detail"]
    unknown = with_(TRACK, modules=[{"code": "ZZZ-999", "version": 1}])
    assert (await client.post("/v1/tracks", json=unknown, headers=ADMIN)).status_code == 422
    missing = await client.post("/v1/modules/ZZZ-999/versions/1/publish", headers=ADMIN)
    assert missing.status_code == 404
    # Publishing needs an approved version, and an author's role; a reviewer only reviews.
    # (The module is national, so its author is a platform admin: an academy admin may not.)
    early = await client.post("/v1/modules/WPS-101/versions/1/publish", headers=ADMIN)
    assert early.status_code == 409 and "approved" in early.json()["detail"]
    academy_admin = auth("academy_admin", academy_id="a")
    national = await client.post("/v1/modules/WPS-101/versions/1/publish", headers=academy_admin)
    assert national.status_code == 403 and "national" in national.json()["detail"]
    by_reviewer = await client.post("/v1/modules/WPS-101/versions/1/publish", headers=REVIEWER)
    assert by_reviewer.status_code == 403
    assert await count_rows(database_url) == (1, 0)


async def test_publishing_emits_each_event_once(
    client: httpx.AsyncClient, settings: CurriculumSettings
) -> None:
    async with EventTap(
        settings.nats_url, settings.stream_name, [f"{settings.subject_root}.>"]
    ) as tap:
        await client.post("/v1/modules", json=MODULE, headers=ADMIN)
        await publish(client, "modules", "WPS-101")
        # publishing again is a no-op
        response = await client.post("/v1/modules/WPS-101/versions/1/publish", headers=ADMIN)
        assert response.status_code == 200 and response.json()["status"] == "published"
        assert (await client.post("/v1/tracks", json=TRACK, headers=ADMIN)).status_code == 201
        await publish(client, "tracks", "GHR-FOUND")
        [track] = await tap.wait_for("track.published")
        # The stream is ordered: any second module.published would have arrived before this.
        [module] = tap.of_type("module.published")
    facts = track.data["track"]
    assert facts["modules"][0]["pass_mark"] == 70
    assert facts["modules"][0]["content_hash"] == module.data["module"]["content_hash"]
    assert facts["validity_months"] == 24


async def test_writes_succeed_while_nats_is_down_and_events_follow(
    database_url: str, tmp_path: Path
) -> None:
    server = NatsServer(tmp_path / "nats").start()
    try:
        bus = bus_settings(server.url)
        settings = CurriculumSettings(
            database_url=database_url,
            relay_max_backoff_seconds=0.5,
            publish_timeout_seconds=0.5,
            **bus,
        )
        async with running_app(create_app(settings)) as client:
            server.stop()
            assert (await client.post("/v1/modules", json=MODULE, headers=ADMIN)).status_code == 201
            await publish(client, "modules", "WPS-101")
            assert (await client.get("/readyz")).status_code == 503
            server.start()
            async with EventTap(
                server.url, bus["stream_name"], [f"{bus['subject_root']}.>"]
            ) as tap:
                [event] = await tap.wait_for("module.published", timeout=30)
            assert event.data["module"]["code"] == "WPS-101"
    finally:
        server.stop()


async def test_a_retried_write_with_an_idempotency_key_runs_once(
    client: httpx.AsyncClient, database_url: str
) -> None:
    headers = {**ADMIN, "Idempotency-Key": "create-wps-101"}
    first = await client.post("/v1/modules", json=MODULE, headers=headers)
    retry = await client.post("/v1/modules", json=MODULE, headers=headers)
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert await count_rows(database_url) == (1, 0)
    reused = await client.post("/v1/modules", json=with_(MODULE, duration_hours=9), headers=headers)
    assert reused.status_code == 422 and "different request" in reused.json()["detail"]
    # Another caller's identical key is a different request altogether.
    other = await client.post(
        "/v1/modules",
        json=with_(MODULE, code="WPS-102"),
        headers={
            **auth("academy_admin", academy_id="a", sub="u2"),
            "Idempotency-Key": "create-wps-101",
        },
    )
    assert other.status_code == 201
    # Errors other than server errors are remembered too: the retry sees the same 409.
    conflict_key = {**ADMIN, "Idempotency-Key": "dup"}
    assert (await client.post("/v1/modules", json=MODULE, headers=conflict_key)).status_code == 409
    assert (await client.post("/v1/modules", json=MODULE, headers=conflict_key)).status_code == 409
