"""Texts in any of an academy's languages: English is not required (a Kazakh academy may write
only Kazakh and Russian), but every title needs a text in some language."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import ADMIN, MODULE, TRACK, publish, table_counts

KK_RU_MODULE: dict[str, Any] = {
    "code": "WPS-101",
    "title": {"kk": "Әйелдер, бейбітшілік және қауіпсіздік", "ru": "Женщины, мир и безопасность"},
    "summary": {"kk": "Қарардың полиция жұмысы үшін маңызы."},
    "objectives": {"ru": ["Назвать четыре направления."], "kk": ["Төрт бағытты атау."]},
    "duration_hours": 6,
}
KK_RU_TRACK: dict[str, Any] = {
    "code": "GHR-FOUND",
    "title": {"kk": "Гендер және адам құқықтары: негіздер", "ru": "Гендер и права человека"},
    "certificate_title": {"ru": "Гендер и права человека: основы"},
    "modules": [{"code": "WPS-101", "version": 1}],
    "validity_months": 24,
}


async def test_a_module_and_track_without_english_are_reviewed_and_published(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post("/v1/modules", json=KK_RU_MODULE, headers=ADMIN)
    assert created.status_code == 201, created.text
    assert created.json()["languages"] == ["kk"]  # the summary is in Kazakh only
    published = await publish(client, "modules", "WPS-101")
    assert published["status"] == "published"

    created = await client.post("/v1/tracks", json=KK_RU_TRACK, headers=ADMIN)
    assert created.status_code == 201, created.text
    assert (await publish(client, "tracks", "GHR-FOUND"))["status"] == "published"

    # Asked for in a language it has: that text, nothing fell back.
    kazakh = (await client.get("/v1/modules/WPS-101?lang=kk", headers=ADMIN)).json()
    assert kazakh["title"] == "Әйелдер, бейбітшілік және қауіпсіздік"
    assert kazakh["fallback_languages"] == {}
    # Asked for in English, which it lacks: another language's text, and which one.
    english = (await client.get("/v1/modules/WPS-101?lang=en", headers=ADMIN)).json()
    assert english["title"] == "Әйелдер, бейбітшілік және қауіпсіздік"
    assert english["summary"] == "Қарардың полиция жұмысы үшін маңызы."
    assert english["fallback_languages"] == {"title": "kk", "summary": "kk", "objectives": "ru"}
    track = (await client.get("/v1/tracks/GHR-FOUND?lang=kk", headers=ADMIN)).json()
    assert track["certificate_title"] == "Гендер и права человека: основы"
    assert track["fallback_languages"] == {"certificate_title": "ru"}
    # Lists sort by title even without English titles.
    listed = (await client.get("/v1/modules?sort=title", headers=ADMIN)).json()
    assert [m["code"] for m in listed["items"]] == ["WPS-101"]


async def test_english_still_falls_back_first_where_there_is_english(
    client: httpx.AsyncClient,
) -> None:
    body = MODULE | {"title": {"ru": "Женщины, мир и безопасность", "en": "Women, Peace"}}
    assert (await client.post("/v1/modules", json=body, headers=ADMIN)).status_code == 201
    kazakh = (await client.get("/v1/modules/WPS-101?lang=kk", headers=ADMIN)).json()
    assert kazakh["title"] == "Women, Peace"
    assert kazakh["fallback_languages"] == {"title": "en"}


@pytest.mark.parametrize(
    ("kind", "body", "field"),
    [
        ("modules", MODULE | {"title": {}}, "title"),
        ("tracks", TRACK | {"certificate_title": {}}, "certificate_title"),
        ("modules", MODULE | {"title": {"kk": "  "}}, "title"),
    ],
    ids=["module-without-title", "track-without-certificate-title", "blank-kazakh-title"],
)
async def test_a_title_needs_a_text_in_some_language(
    client: httpx.AsyncClient, database_url: str, kind: str, body: dict[str, Any], field: str
) -> None:
    if kind == "tracks":
        await client.post("/v1/modules", json=MODULE, headers=ADMIN)
        await publish(client, "modules", "WPS-101")
    before = await table_counts(database_url)
    response = await client.post(f"/v1/{kind}", json=body, headers=ADMIN)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert any(e["field"] == field for e in problem["errors"]), problem
    says = "at least one language" if not body[field] else "the 'kk' text is empty"
    assert says in problem["detail"], problem
    assert await table_counts(database_url) == before


async def test_a_requirement_may_be_titled_in_kazakh_only(client: httpx.AsyncClient) -> None:
    await client.post("/v1/modules", json=MODULE, headers=ADMIN)
    await publish(client, "modules", "WPS-101")
    await client.post("/v1/tracks", json=TRACK, headers=ADMIN)
    await publish(client, "tracks", "GHR-FOUND")
    requirement = {
        "code": "REQ-ALL-FOUND",
        "title": {"kk": "Барлық қызметкерлерге арналған негізгі дайындық"},
        "track_code": "GHR-FOUND",
        "grace_period_days": 180,
    }
    created = await client.post("/v1/requirements", json=requirement, headers=ADMIN)
    assert created.status_code == 201, created.text
    refused = await client.post(
        "/v1/requirements", json=requirement | {"code": "REQ-ALL-TWO", "title": {}}, headers=ADMIN
    )
    assert refused.status_code == 422 and "at least one language" in refused.json()["detail"]
