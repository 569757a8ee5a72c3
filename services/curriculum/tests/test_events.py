"""Every published, retired or requirement change reaches NATS exactly once (real nats-server)."""

from __future__ import annotations

import asyncio

import httpx

from wps_common.testing import EventTap
from wps_curriculum.settings import CurriculumSettings

from .conftest import ADMIN, MODULE, REVIEWER, TRACK, publish, table_counts

REQUIREMENT = {
    "code": "REQ-ALL-FOUND",
    "title": {"en": "Foundation for all personnel", "ru": "Базовая подготовка для всех"},
    "track_code": "GHR-FOUND",
    "grace_period_days": 180,
    "reminder_days": [7, 60, 30],
}


async def test_each_transition_emits_its_event_once(
    client: httpx.AsyncClient, settings: CurriculumSettings
) -> None:
    async with EventTap(
        settings.nats_url, settings.stream_name, [f"{settings.subject_root}.>"]
    ) as tap:
        await client.post("/v1/modules", json=MODULE, headers=ADMIN)
        await publish(client, "modules", "WPS-101")
        await client.post("/v1/tracks", json=TRACK, headers=ADMIN)
        await publish(client, "tracks", "GHR-FOUND")
        for _ in range(2):  # a retried publish is a no-op
            await client.post("/v1/tracks/GHR-FOUND/versions/1/publish", headers=ADMIN)
        created = await client.post("/v1/requirements", json=REQUIREMENT, headers=ADMIN)
        assert created.status_code == 201, created.text
        assert created.json()["renewal_months"] == 24  # the track's validity
        assert created.json()["reminder_days"] == [60, 30, 7]
        body = {k: v for k, v in REQUIREMENT.items() if k != "code"}
        for _ in range(2):  # the same body twice: one change
            await client.put(
                "/v1/requirements/REQ-ALL-FOUND",
                json=body | {"grace_period_days": 90},
                headers=ADMIN,
            )
        deleted = await client.delete("/v1/requirements/REQ-ALL-FOUND", headers=ADMIN)
        assert deleted.status_code == 204
        for _ in range(2):
            await client.post("/v1/tracks/GHR-FOUND/versions/1/retire", headers=ADMIN)
            await client.post("/v1/modules/WPS-101/versions/1/retire", headers=ADMIN)
        # The stream is ordered: the last event arriving means every earlier one has.
        await tap.wait_for("module.retired")
        await tap.wait_for("requirement.changed", count=3)

    assert [e.type.split(".", 2)[2] for e in tap.events] == [
        "curriculum.module.published.v1",
        "curriculum.track.published.v1",
        "curriculum.requirement.changed.v1",
        "curriculum.requirement.changed.v1",
        "curriculum.requirement.changed.v1",
        "curriculum.track.retired.v1",
        "curriculum.module.retired.v1",
    ]
    module, track = tap.events[0].data["module"], tap.events[1].data["track"]
    assert module["pass_mark"] == 70 and module["min_attendance_pct"] == 80
    assert module["duration_hours"] == 6 and module["prerequisites"] == []
    assert track["modules"] == [module] and track["validity_months"] == 24
    changes = [e.data for e in tap.of_type("requirement.changed")]
    assert [(c["change"], c["revision"]) for c in changes] == [
        ("created", 1),
        ("updated", 2),
        ("deleted", 3),
    ]
    assert changes[1]["grace_period_days"] == 90 and changes[0]["renewal_months"] == 24
    assert changes[0]["selector"]["roles"] == "all"
    assert changes[0]["refresher_track_code"] is None
    assert tap.events[5].data == {
        "track_code": "GHR-FOUND",
        "version": 1,
        "retired_at": tap.events[5].data["retired_at"],
    }


async def test_review_steps_emit_nothing_until_publication(
    client: httpx.AsyncClient, settings: CurriculumSettings
) -> None:
    async with EventTap(
        settings.nats_url, settings.stream_name, [f"{settings.subject_root}.>"]
    ) as tap:
        await client.post("/v1/modules", json=MODULE, headers=ADMIN)
        path = "/v1/modules/WPS-101/versions/1"
        await client.post(f"{path}/submit", headers=ADMIN)
        await client.post(f"{path}/reject", json={"comment": "More detail."}, headers=REVIEWER)
        await client.post(f"{path}/submit", headers=ADMIN)
        await client.post(f"{path}/approve", headers=REVIEWER)
        await client.post(f"{path}/publish", headers=ADMIN)
        [event] = await tap.wait_for("module.published")
    assert len(tap.events) == 1 and event.subject == "module/WPS-101/1"


async def test_concurrent_publishes_of_one_version_emit_one_event(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await client.post("/v1/modules", json=MODULE, headers=ADMIN)
    path = "/v1/modules/WPS-101/versions/1"
    await client.post(f"{path}/submit", headers=ADMIN)
    await client.post(f"{path}/approve", headers=REVIEWER)
    responses = await asyncio.gather(
        *(client.post(f"{path}/publish", headers=ADMIN) for _ in range(5))
    )
    assert [r.status_code for r in responses] == [200] * 5
    counts = await table_counts(database_url)
    assert counts["outbox"] == 1
    assert counts["audit_log"] == 4  # created, submitted, approved, published: once each
