"""Clearance profiles: admin-only create, change and retire, readable by every signed-in role
(HR included), validated against the published curriculum, audited and announced."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from wps_common.testing import EventTap, auth
from wps_curriculum.settings import CurriculumSettings

from .conftest import ADMIN, MODULE, TRACK, publish, table_counts

PROFILE: dict[str, Any] = {
    "code": "UN-PKO-PREDEPLOY",
    "title": {"en": "UN peacekeeping pre-deployment", "kk": "БҰҰ бітімгершілік миссиясы"},
    "items": [{"kind": "module", "code": "WPS-101"}, {"kind": "track", "code": "GHR-FOUND"}],
}
HR = auth("hr", sub="mission-hr")


@pytest.fixture
async def curriculum(client: httpx.AsyncClient) -> httpx.AsyncClient:
    await client.post("/v1/modules", json=MODULE, headers=ADMIN)
    await publish(client, "modules", "WPS-101")
    await client.post("/v1/tracks", json=TRACK, headers=ADMIN)
    await publish(client, "tracks", "GHR-FOUND")
    return client


async def test_create_change_retire_with_events_and_history(
    curriculum: httpx.AsyncClient, settings: CurriculumSettings
) -> None:
    client = curriculum
    async with EventTap(
        settings.nats_url, settings.stream_name, [f"{settings.subject_root}.curriculum.>"]
    ) as tap:
        created = await client.post(
            "/v1/clearance-profiles", json=PROFILE, headers=ADMIN | {"Idempotency-Key": "p-1"}
        )
        assert created.status_code == 201, created.text
        profile = created.json()
        assert profile["revision"] == 1 and profile["active"] is True
        again = await client.post(
            "/v1/clearance-profiles", json=PROFILE, headers=ADMIN | {"Idempotency-Key": "p-1"}
        )
        assert again.status_code == 201 and again.json() == profile
        assert (await client.get("/v1/clearance-profiles/UN-PKO-PREDEPLOY", headers=HR)).json() == (
            profile
        )

        body = {"title": PROFILE["title"], "items": PROFILE["items"][:1]}
        changed = await client.put(
            "/v1/clearance-profiles/UN-PKO-PREDEPLOY", json=body, headers=ADMIN
        )
        assert changed.status_code == 200 and changed.json()["revision"] == 2
        same = await client.put("/v1/clearance-profiles/UN-PKO-PREDEPLOY", json=body, headers=ADMIN)
        assert same.json()["revision"] == 2  # nothing changed, nothing announced

        retired = await client.post("/v1/clearance-profiles/UN-PKO-PREDEPLOY/retire", headers=ADMIN)
        assert retired.status_code == 200 and retired.json()["active"] is False
        assert (await client.get("/v1/clearance-profiles", headers=HR)).json()["total"] == 0
        listed = await client.get("/v1/clearance-profiles?include_retired=true", headers=HR)
        assert [p["code"] for p in listed.json()["items"]] == ["UN-PKO-PREDEPLOY"]

        events = await tap.wait_for("clearance_profile.changed", count=3)
    assert [(e.data["revision"], e.data["change"], e.data["active"]) for e in events] == [
        (1, "created", True),
        (2, "updated", True),
        (3, "retired", False),
    ]
    assert events[0].data["items"] == PROFILE["items"]
    assert events[0].subject == "clearance_profile/UN-PKO-PREDEPLOY"

    history = await client.get("/v1/clearance-profiles/UN-PKO-PREDEPLOY/history", headers=ADMIN)
    assert [(h["action"], h["version"]) for h in history.json()["items"]] == [
        ("created", 1),
        ("updated", 2),
        ("retired", 3),
    ]
    duplicate = await client.post("/v1/clearance-profiles", json=PROFILE, headers=ADMIN)
    assert duplicate.status_code == 409 and "PUT" in duplicate.json()["detail"]


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (
            {"items": [{"kind": "module", "code": "SEAH-101"}]},
            "items.0.code",
            "no published module SEAH-101",
        ),
        (
            {"items": [{"kind": "track", "code": "WPS-101"}]},
            "items.0.code",
            "no published track WPS-101",
        ),
        ({"items": []}, "items", ""),
        ({"items": [PROFILE["items"][0], PROFILE["items"][0]]}, "items", "only once"),
        ({"items": [{"kind": "person", "code": "WPS-101"}]}, "items.0.kind", ""),
        ({"code": "un pko"}, "code", ""),
        ({"title": {}}, "title", ""),
    ],
)
async def test_bad_profiles_are_refused_with_a_sentence(
    curriculum: httpx.AsyncClient,
    settings: CurriculumSettings,
    change: dict[str, Any],
    field: str,
    words: str,
) -> None:
    before = await table_counts(settings.database_url)
    response = await curriculum.post("/v1/clearance-profiles", json=PROFILE | change, headers=ADMIN)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert any(e["field"].endswith(field) for e in problem["errors"]), problem
    assert words in problem["detail"] or any(words in e["message"] for e in problem["errors"])
    assert await table_counts(settings.database_url) == before


async def test_only_admins_write_and_unknown_codes_answer_404(
    curriculum: httpx.AsyncClient,
) -> None:
    client = curriculum
    academy_admin = auth("academy_admin", academy_id="KZ-ALA")
    for who in (academy_admin, HR, auth("reviewer")):
        refused = await client.post("/v1/clearance-profiles", json=PROFILE, headers=who)
        assert refused.status_code == 403
    missing = await client.get("/v1/clearance-profiles/UN-NONE", headers=HR)
    assert missing.status_code == 404 and "no clearance profile UN-NONE" in missing.json()["detail"]
    assert (await client.get("/v1/clearance-profiles")).status_code == 401
