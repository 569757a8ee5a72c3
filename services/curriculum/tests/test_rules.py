"""Curriculum rules: every refusal is a clear 4xx problem and writes nothing at all."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import ADMIN, MODULE, REVIEWER, TRACK, publish, table_counts


def module(code: str, **changes: Any) -> dict[str, Any]:
    return {**MODULE, "code": code, **changes}


def content(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "code"}


async def refused(
    client: httpx.AsyncClient,
    database_url: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    *,
    status: int,
    field: str | None = None,
    says: str = "",
) -> dict[str, Any]:
    before = await table_counts(database_url)
    response = await client.request(method, path, json=body, headers=ADMIN)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert says in problem["detail"], problem
    if field is not None:
        assert any(e["field"].startswith(field) for e in problem["errors"]), problem
    assert await table_counts(database_url) == before
    return problem


async def test_prerequisite_cycles_are_refused(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await client.post("/v1/modules", json=module("GHR-101"), headers=ADMIN)
    await client.post(
        "/v1/modules", json=module("WPS-101", prerequisites=["GHR-101"]), headers=ADMIN
    )
    await client.post(
        "/v1/modules", json=module("SEAH-101", prerequisites=["WPS-101"]), headers=ADMIN
    )
    # GHR-101 → SEAH-101 → WPS-101 → GHR-101, by editing the draft of GHR-101 …
    cyclic = content(module("GHR-101", prerequisites=["SEAH-101"]))
    problem = await refused(
        client,
        database_url,
        "PUT",
        "/v1/modules/GHR-101/versions/1",
        cyclic,
        status=422,
        field="prerequisites",
        says="cycle",
    )
    assert "GHR-101 → SEAH-101 → WPS-101 → GHR-101" in problem["detail"]
    # … or through a new version of a published module.
    await publish(client, "modules", "GHR-101")
    await refused(
        client,
        database_url,
        "POST",
        "/v1/modules/GHR-101/versions",
        cyclic,
        status=422,
        field="prerequisites",
        says="cycle",
    )
    # A module cannot be published before its prerequisites are.
    await client.post("/v1/modules/SEAH-101/versions/1/submit", headers=ADMIN)
    await client.post("/v1/modules/SEAH-101/versions/1/approve", headers=REVIEWER)
    await refused(
        client,
        database_url,
        "POST",
        "/v1/modules/SEAH-101/versions/1/publish",
        None,
        status=409,
        says="WPS-101",
    )


BAD = [
    (module("WPS-101", prerequisites=["ZZZ-999"]), "prerequisites", "ZZZ-999"),
    (module("WPS-101", prerequisites=["GHR-101", "GHR-101"]), "prerequisites", "only once"),
    (module("WPS-101", assessment={"kind": "quiz", "pass_mark": 101}), "assessment.pass_mark", ""),
    (module("WPS-101", assessment={"kind": "quiz", "pass_mark": -5}), "assessment.pass_mark", ""),
    (module("WPS-101", assessment={"kind": "none", "pass_mark": 50}), "assessment", "pass mark"),
    (module("WPS-101", tags=["WPS Agenda"]), "tags", ""),
    (module("WPS-101", summary={"ru": " "}), "summary", "empty"),
    (module("WPS-101", objectives={"en": []}), "objectives", "empty"),
    (module("WPS-101", delivery_mode="hologram"), "delivery_mode", ""),
]


@pytest.mark.parametrize(("body", "field", "says"), BAD)
async def test_bad_modules_are_refused(
    client: httpx.AsyncClient, database_url: str, body: dict[str, Any], field: str, says: str
) -> None:
    await client.post("/v1/modules", json=module("GHR-101"), headers=ADMIN)
    await refused(
        client, database_url, "POST", "/v1/modules", body, status=422, field=field, says=says
    )


async def test_duplicate_codes_are_conflicts(client: httpx.AsyncClient, database_url: str) -> None:
    await client.post("/v1/modules", json=MODULE, headers=ADMIN)
    await refused(
        client, database_url, "POST", "/v1/modules", MODULE, status=409, says="already exists"
    )
    await publish(client, "modules", "WPS-101")
    await client.post("/v1/tracks", json=TRACK, headers=ADMIN)
    await refused(
        client, database_url, "POST", "/v1/tracks", TRACK, status=409, says="already exists"
    )


async def test_a_track_may_pin_only_published_module_versions(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await client.post("/v1/modules", json=MODULE, headers=ADMIN)
    await refused(
        client,
        database_url,
        "POST",
        "/v1/tracks",
        TRACK,
        status=422,
        field="modules.0",
        says="draft",
    )
    unpinnable = {**TRACK, "modules": [{"code": "WPS-101"}]}
    await refused(
        client,
        database_url,
        "POST",
        "/v1/tracks",
        unpinnable,
        status=422,
        field="modules.0",
        says="no published version",
    )
    unknown = {**TRACK, "modules": [{"code": "ZZZ-999", "version": 1}]}
    await refused(
        client, database_url, "POST", "/v1/tracks", unknown, status=422, field="modules.0"
    )
    twice = {**TRACK, "modules": [{"code": "WPS-101", "version": 1}] * 2}
    await refused(client, database_url, "POST", "/v1/tracks", twice, status=422, field="modules")
    await refused(
        client,
        database_url,
        "POST",
        "/v1/tracks",
        {**TRACK, "target_roles": ["all", "investigator"]},
        status=422,
        field="target_roles",
    )
    # Once published, the same track is accepted.
    await publish(client, "modules", "WPS-101")
    assert (await client.post("/v1/tracks", json=TRACK, headers=ADMIN)).status_code == 201
