"""Every list walked by cursor, a few rows a page: each row once, in the list's order, the same
as one page of everything (modules and tracks in each sort, requirements, histories, a module's
and a track's versions)."""

from __future__ import annotations

import httpx
import pytest

from wps_common.testing import auth, walk_pages

from .conftest import ADMIN, MODULE, TRACK, publish
from .test_requirements import RULE

# Titles that repeat, so the code decides between them; some published, some drafts.
MODULES = [("MOD-05", "Beta", True), ("MOD-01", "Alpha", False), ("MOD-04", "Alpha", True)]
MODULES += [("MOD-02", "Gamma", False), ("MOD-03", "Beta", True)]


@pytest.fixture
async def catalogue(client: httpx.AsyncClient) -> httpx.AsyncClient:
    for code, title, published in MODULES:
        body = {**MODULE, "code": code, "title": {"en": title}}
        response = await client.post("/v1/modules", json=body, headers=ADMIN)
        assert response.status_code == 201, response.text
        if published:
            await publish(client, "modules", code)
    for code in ("TRK-02", "TRK-01", "TRK-03"):
        body = {**TRACK, "code": code, "modules": [{"code": "MOD-04", "version": 1}]}
        response = await client.post("/v1/tracks", json=body, headers=ADMIN)
        assert response.status_code == 201, response.text
    await publish(client, "tracks", "TRK-02")
    return client


@pytest.mark.parametrize(
    "sort", ["code", "-code", "title", "-title", "created_at", "published_at", "-published_at"]
)
async def test_modules_in_every_sort_by_cursor(catalogue: httpx.AsyncClient, sort: str) -> None:
    modules = await walk_pages(catalogue, "/v1/modules", headers=ADMIN, params={"sort": sort})
    assert sorted(m["code"] for m in modules) == ["MOD-01", "MOD-02", "MOD-03", "MOD-04", "MOD-05"]
    if sort == "-title":
        assert [m["code"] for m in modules] == ["MOD-02", "MOD-03", "MOD-05", "MOD-01", "MOD-04"]
    if sort.endswith("published_at"):
        # The published in date order (as published: MOD-05, MOD-04, MOD-03) either way, then the
        # drafts (never published), by code.
        published = (
            ["MOD-03", "MOD-04", "MOD-05"] if sort[0] == "-" else ["MOD-05", "MOD-04", "MOD-03"]
        )
        assert [m["code"] for m in modules[:3]] == published
        assert [m["code"] for m in modules[3:]] == ["MOD-01", "MOD-02"]


async def test_tracks_requirements_and_histories_by_cursor(catalogue: httpx.AsyncClient) -> None:
    client = catalogue
    tracks = await walk_pages(client, "/v1/tracks", headers=ADMIN, params={"sort": "-code"})
    assert [t["code"] for t in tracks] == ["TRK-03", "TRK-02", "TRK-01"]

    for code in ("REQ-CC", "REQ-AA", "REQ-BB"):
        body = {**RULE, "code": code, "track_code": "TRK-02"}
        response = await client.post("/v1/requirements", json=body, headers=ADMIN)
        assert response.status_code == 201, response.text
    rules = await walk_pages(client, "/v1/requirements", headers=ADMIN)
    assert [r["code"] for r in rules] == ["REQ-AA", "REQ-BB", "REQ-CC"]
    for revision in range(2, 4):
        body = {k: v for k, v in RULE.items() if k != "code"}
        body |= {"track_code": "TRK-02", "grace_period_days": revision}
        response = await client.put("/v1/requirements/REQ-AA", json=body, headers=ADMIN)
        assert response.status_code == 200, response.text
    trail = await walk_pages(client, "/v1/requirements/REQ-AA/history", headers=ADMIN)
    assert [e["version"] for e in trail] == [1, 2, 3]

    history = await walk_pages(client, "/v1/modules/MOD-04/history", headers=ADMIN)
    # Oldest first: created, then the review steps in the order they were taken.
    steps = [e["to_status"] for e in history if e["to_status"]]
    assert steps[-3:] == ["in_review", "approved", "published"], history
    assert [e["at"] for e in history] == sorted(e["at"] for e in history)


async def test_versions_by_cursor(catalogue: httpx.AsyncClient) -> None:
    client = catalogue
    content = {key: value for key, value in MODULE.items() if key != "code"}
    for version in (2, 3, 4):  # 2 and 3 published, 4 a draft
        body = {**content, "title": {"en": f"Alpha, edition {version}"}}
        response = await client.post("/v1/modules/MOD-04/versions", json=body, headers=ADMIN)
        assert response.status_code == 201, response.text
        if version < 4:
            await publish(client, "modules", "MOD-04", version)
    versions = await walk_pages(client, "/v1/modules/MOD-04/versions", headers=ADMIN)
    assert [(v["version"], v["status"]) for v in versions] == [
        (1, "published"),
        (2, "published"),
        (3, "published"),
        (4, "draft"),
    ]
    # A trainee reads the published ones only, in the same order; a code with none is not found.
    trainee = auth("trainee", academy_id="GE-TBS")
    public = await walk_pages(client, "/v1/modules/MOD-04/versions", headers=trainee, limit=1)
    assert public == [v for v in versions if v["status"] == "published"]
    hidden = await client.get("/v1/modules/MOD-01/versions", headers=trainee)
    assert hidden.status_code == 404, hidden.text

    track = {key: value for key, value in TRACK.items() if key != "code"}
    track["modules"] = [{"code": "MOD-04", "version": 3}]
    response = await client.post("/v1/tracks/TRK-02/versions", json=track, headers=ADMIN)
    assert response.status_code == 201, response.text
    tracks = await walk_pages(client, "/v1/tracks/TRK-02/versions", headers=ADMIN, limit=1)
    assert [(t["version"], t["status"]) for t in tracks] == [(1, "published"), (2, "draft")]
