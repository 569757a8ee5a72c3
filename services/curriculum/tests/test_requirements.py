"""Mandatory-training rules: admin-only CRUD, validated against the published track."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from wps_common.testing import auth

from .conftest import ADMIN, MODULE, TRACK, publish, table_counts

RULE: dict[str, Any] = {
    "code": "REQ-OPS-SGBV",
    "title": {"en": "SGBV response for investigators", "ru": "Реагирование на СГН"},
    "selector": {"roles": ["investigator", "patrol-officer"], "academies": ["KZ-AST"]},
    "track_code": "GHR-FOUND",
    "grace_period_days": 365,
    "renewal_months": 12,
    "reminder_days": [90, 30],
}


@pytest.fixture
async def curriculum(client: httpx.AsyncClient) -> httpx.AsyncClient:
    await client.post("/v1/modules", json=MODULE, headers=ADMIN)
    await publish(client, "modules", "WPS-101")
    await client.post("/v1/tracks", json=TRACK, headers=ADMIN)
    await publish(client, "tracks", "GHR-FOUND")
    return client


async def test_create_read_update_delete_and_history(curriculum: httpx.AsyncClient) -> None:
    client = curriculum
    created = await client.post("/v1/requirements", json=RULE, headers=ADMIN)
    assert created.status_code == 201, created.text
    rule = created.json()
    assert rule["revision"] == 1 and rule["selector"]["ranks"] == "all"
    assert rule["selector"]["roles"] == ["investigator", "patrol-officer"]
    reader = auth("hr", sub="hr-1")
    assert (await client.get("/v1/requirements/REQ-OPS-SGBV", headers=reader)).json() == rule

    body = {k: v for k, v in RULE.items() if k != "code"} | {"renewal_months": None}
    updated = (await client.put("/v1/requirements/REQ-OPS-SGBV", json=body, headers=ADMIN)).json()
    assert updated["revision"] == 2 and updated["renewal_months"] == 24

    page = (await client.get("/v1/requirements?track_code=GHR-FOUND", headers=reader)).json()
    assert page["total"] == 1 and page["items"][0]["code"] == "REQ-OPS-SGBV"

    # Retiring the only published version of a required track is refused.
    blocked = await client.post("/v1/tracks/GHR-FOUND/versions/1/retire", headers=ADMIN)
    assert blocked.status_code == 409 and "REQ-OPS-SGBV" in blocked.json()["detail"]

    assert (await client.delete("/v1/requirements/REQ-OPS-SGBV", headers=ADMIN)).status_code == 204
    gone = await client.get("/v1/requirements/REQ-OPS-SGBV", headers=reader)
    assert gone.status_code == 404 and "withdrawn" in gone.json()["detail"]
    assert (await client.get("/v1/requirements", headers=reader)).json()["total"] == 0
    listed = await client.get("/v1/requirements?include_deleted=true", headers=reader)
    assert listed.json()["items"][0]["deleted_at"] is not None

    # The code can be used again; its revision keeps growing.
    again = await client.post("/v1/requirements", json=RULE, headers=ADMIN)
    assert again.status_code == 201 and again.json()["revision"] == 4
    trail = (await client.get("/v1/requirements/REQ-OPS-SGBV/history", headers=ADMIN)).json()
    assert [(e["action"], e["version"]) for e in trail["items"]] == [
        ("created", 1),
        ("updated", 2),
        ("deleted", 3),
        ("created", 4),
    ]


BAD_RULES = [
    ({**RULE, "code": "RULE-1"}, "code", 422),
    ({**RULE, "track_code": "ZZZ-NONE"}, "track_code", 422),
    ({**RULE, "renewal_months": 36}, "renewal_months", 422),
    ({**RULE, "grace_period_days": -1}, "grace_period_days", 422),
    ({**RULE, "reminder_days": [30, 30]}, "reminder_days", 422),
    ({**RULE, "reminder_days": [0]}, "reminder_days", 422),
    ({**RULE, "selector": {"roles": []}}, "selector.roles", 422),
    ({**RULE, "selector": {"ranks": "some"}}, "selector.ranks", 422),
    ({**RULE, "title": {}}, "title", 422),  # a title needs a text in some language
    ({**RULE, "refresher_track_code": "GHR-FOUND"}, "refresher_track_code", 422),
    ({**RULE, "refresher_track_code": "ZZZ-NONE"}, "refresher_track_code", 422),
    ({**RULE, "refresher_track_code": "bad code"}, "refresher_track_code", 422),
]


@pytest.mark.parametrize(("body", "field", "status"), BAD_RULES)
async def test_bad_rules_are_refused_and_nothing_is_written(
    curriculum: httpx.AsyncClient, database_url: str, body: dict[str, Any], field: str, status: int
) -> None:
    before = await table_counts(database_url)
    response = await curriculum.post("/v1/requirements", json=body, headers=ADMIN)
    assert response.status_code == status, response.text
    assert any(e["field"].startswith(field) for e in response.json()["errors"])
    assert await table_counts(database_url) == before


async def test_only_admins_change_rules(curriculum: httpx.AsyncClient) -> None:
    staff = auth("academy_admin", academy_id="a")
    assert (await curriculum.post("/v1/requirements", json=RULE, headers=staff)).status_code == 403
    await curriculum.post("/v1/requirements", json=RULE, headers=ADMIN)
    for response in (
        await curriculum.put("/v1/requirements/REQ-OPS-SGBV", json=RULE, headers=staff),
        await curriculum.delete("/v1/requirements/REQ-OPS-SGBV", headers=staff),
    ):
        assert response.status_code == 403
    duplicate = await curriculum.post("/v1/requirements", json=RULE, headers=ADMIN)
    assert duplicate.status_code == 409
    missing = await curriculum.put(
        "/v1/requirements/REQ-NONE",
        json={k: v for k, v in RULE.items() if k != "code"},
        headers=ADMIN,
    )
    assert missing.status_code == 404


REFRESHER: dict[str, Any] = {
    **TRACK,
    "code": "GHR-REFRESH",
    "title": {"en": "Foundation refresher"},
    "certificate_title": {"en": "Foundation refresher"},
}


async def test_a_refresher_track_renews_a_rule(curriculum: httpx.AsyncClient) -> None:
    """A rule names a published refresher track; the change is a new revision with its trail,
    and the refresher cannot lose its last published version while the rule names it."""
    client = curriculum
    await client.post("/v1/requirements", json=RULE, headers=ADMIN)
    await client.post("/v1/tracks", json=REFRESHER, headers=ADMIN)
    unpublished = {k: v for k, v in RULE.items() if k != "code"} | {
        "refresher_track_code": "GHR-REFRESH"
    }
    refused = await client.put("/v1/requirements/REQ-OPS-SGBV", json=unpublished, headers=ADMIN)
    assert refused.status_code == 422, refused.text
    assert "no published version" in refused.json()["detail"]
    await publish(client, "tracks", "GHR-REFRESH")

    named = await client.put("/v1/requirements/REQ-OPS-SGBV", json=unpublished, headers=ADMIN)
    assert named.status_code == 200, named.text
    assert named.json()["refresher_track_code"] == "GHR-REFRESH"
    assert named.json()["revision"] == 2
    trail = (await client.get("/v1/requirements/REQ-OPS-SGBV/history", headers=ADMIN)).json()
    assert [e["action"] for e in trail["items"]] == ["created", "updated"]

    blocked = await client.post("/v1/tracks/GHR-REFRESH/versions/1/retire", headers=ADMIN)
    assert blocked.status_code == 409 and "REQ-OPS-SGBV" in blocked.json()["detail"]

    without = {k: v for k, v in RULE.items() if k != "code"}
    cleared = await client.put("/v1/requirements/REQ-OPS-SGBV", json=without, headers=ADMIN)
    assert cleared.json()["refresher_track_code"] is None and cleared.json()["revision"] == 3
