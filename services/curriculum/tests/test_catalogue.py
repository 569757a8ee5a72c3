"""The starter catalogue: published through the normal workflow, idempotently, browsable in
English and Russian, and announced as events."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from wps_common.db import Database
from wps_common.testing import EventTap, auth, running_app
from wps_curriculum import cli
from wps_curriculum.catalogue import read_catalogue
from wps_curriculum.main import create_app
from wps_curriculum.models import AuditEntry
from wps_curriculum.settings import CurriculumSettings

from .conftest import table_counts

TRAINEE = auth("trainee", academy_id="a", sub="t-1")
CATALOGUE = read_catalogue()


async def test_loading_twice_publishes_once(settings: CurriculumSettings) -> None:
    on_start = settings.model_copy(update={"load_starter_catalogue": True})
    env = {"CURRICULUM_DATABASE_URL": settings.database_url}
    async with running_app(create_app(on_start)):
        first = await table_counts(settings.database_url)
        async with EventTap(
            settings.nats_url, settings.stream_name, [f"{settings.subject_root}.>"]
        ) as tap:
            await tap.wait_for("requirement.changed", count=len(CATALOGUE.requirements))
            await tap.wait_for("clearance_profile.changed", count=len(CATALOGUE.clearance_profiles))
            # A second replica starting, then the CLI: both find everything there.
            async with running_app(create_app(on_start)):
                assert await table_counts(settings.database_url) == first
            assert await asyncio.to_thread(_cli, ["load-catalogue"], env) == 0
            assert await table_counts(settings.database_url) == first

    assert first["modules"] == first["module_versions"] == len(CATALOGUE.modules) >= 12
    assert first["tracks"] == first["track_versions"] == len(CATALOGUE.tracks) >= 3
    assert first["requirements"] == len(CATALOGUE.requirements) >= 2
    assert first["clearance_profiles"] == len(CATALOGUE.clearance_profiles) >= 1
    published = (
        len(CATALOGUE.modules)
        + len(CATALOGUE.tracks)
        + len(CATALOGUE.requirements)
        + len(CATALOGUE.clearance_profiles)
    )
    assert first["outbox"] == published
    assert len(tap.events) == published
    tracks = {e.data["track"]["code"]: e.data["track"] for e in tap.of_type("track.published")}
    foundation = tracks["GHR-FOUND"]
    assert [m["code"] for m in foundation["modules"]] == [
        "GHR-101",
        "WPS-101",
        "HR-102",
        "SEAH-101",
    ]
    assert foundation["validity_months"] == 24 and foundation["target_roles"] == ["all"]
    # the programme's name, printed under the certificate's own heading; in Kazakh too
    assert foundation["certificate_title"]["ru"].startswith("Гендер и права человека")
    assert foundation["certificate_title"]["kk"].startswith("Полиция қызметіндегі гендер")
    rule = next(
        e.data
        for e in tap.of_type("requirement.changed")
        if e.data["requirement_code"] == "REQ-OPS-SGBV"
    )
    assert rule["renewal_months"] == 36 and rule["reminder_days"] == [90, 60, 30, 7]
    assert rule["selector"]["roles"] == ["patrol-officer", "investigator"]

    db = Database(settings.database_url)
    try:
        async with db.session() as session:
            approvals = list(
                await session.scalars(select(AuditEntry).where(AuditEntry.action == "approved"))
            )
            authors = await session.scalar(select(func.count(func.distinct(AuditEntry.actor))))
    finally:
        await db.dispose()
    assert {a.actor for a in approvals} == {"catalogue"} and authors == 1
    assert all("0010-starter-catalogue" in (a.comment or "") for a in approvals)
    (profile,) = [e.data for e in tap.of_type("clearance_profile.changed")]
    assert profile["profile_code"] == "UN-PKO-PREDEPLOY" and profile["active"] is True
    assert profile["title"]["kk"] and profile["items"] == [
        {"kind": "module", "code": "WPS-101"},
        {"kind": "module", "code": "SEAH-101"},
        {"kind": "module", "code": "CRSV-301"},
    ]


def _cli(argv: list[str], env: dict[str, str]) -> int:
    import os

    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        return cli.main(argv)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


async def test_a_broken_catalogue_loads_nothing(
    settings: CurriculumSettings, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.yaml"
    text = (Path(cli.__file__).parent / "catalogue" / "starter.yaml").read_text(encoding="utf-8")
    # The last requirement names a track that does not exist: nothing may be half-loaded.
    broken.write_text(text.replace("track: GHR-PCVE", "track: GHR-NONE"), encoding="utf-8")
    env = {"CURRICULUM_DATABASE_URL": settings.database_url}
    assert await asyncio.to_thread(_cli, ["load-catalogue", str(broken)], env) == 1
    counts = await table_counts(settings.database_url)
    assert counts["modules"] == counts["outbox"] == counts["audit_log"] == 0


async def test_the_catalogue_is_browsable_in_english_and_russian(
    settings: CurriculumSettings,
) -> None:
    on_start = settings.model_copy(update={"load_starter_catalogue": True})
    async with running_app(create_app(on_start)) as client:

        async def get(path: str) -> Any:
            response = await client.get(path, headers=TRAINEE)
            assert response.status_code == 200, response.text
            return response.json()

        everything = await get("/v1/modules?limit=5")
        assert everything["total"] == len(CATALOGUE.modules) and len(everything["items"]) == 5
        codes = [m["code"] for m in everything["items"]]
        assert codes == sorted(codes)
        rest = await get("/v1/modules?limit=50&offset=5")
        assert len(rest["items"]) == everything["total"] - 5
        assert not set(codes) & {m["code"] for m in rest["items"]}

        russian = await get("/v1/modules/WPS-101?lang=ru")
        assert russian["language"] == "ru" and russian["fallback_languages"] == {}
        assert russian["title"] == "Повестка дня «Женщины, мир и безопасность» для полиции"
        assert all(isinstance(o, str) for o in russian["objectives"])
        kazakh = await get("/v1/modules/WPS-101?lang=kk")
        # The title is in Kazakh; the summary and objectives are not yet, and fall back.
        assert (
            kazakh["title"]
            == "Полицияға арналған «Әйелдер, бейбітшілік және қауіпсіздік» күн тәртібі"
        )
        assert kazakh["fallback_languages"] == {"summary": "en", "objectives": "en"}

        # Words are searched in every language, whatever language the answer is in.
        found = await get("/v1/modules?q=торговли людьми&lang=en")
        expected = {
            m.code
            for m in CATALOGUE.modules
            if all(w in m.model_dump_json().casefold() for w in ("торговли", "людьми"))
        }
        assert "THB-201" in expected
        assert {m["code"] for m in found["items"]} == expected
        thb = next(m for m in found["items"] if m["code"] == "THB-201")
        assert thb["title"].startswith("Identifying")
        assert (await get("/v1/modules?q=UNSCR 2242"))["total"] >= 1
        tagged = await get("/v1/modules?tag=foundation")
        assert tagged["total"] >= 3
        assert all("foundation" in m["tags"] for m in tagged["items"])
        assert (await get("/v1/modules?language=ru"))["total"] == len(CATALOGUE.modules)
        assert (await get("/v1/modules?language=kk"))["total"] == 0
        by_title = [
            m["title"]["en"] for m in (await get("/v1/modules?sort=-title&limit=200"))["items"]
        ]
        assert by_title == sorted(by_title, key=str.casefold, reverse=True)

        tracks = await get("/v1/tracks?lang=ru")
        assert tracks["total"] == len(CATALOGUE.tracks)
        assert {t["code"] for t in tracks["items"]} >= {"GHR-FOUND", "GHR-SGBV", "GHR-PCVE"}
        assert all(t["language"] == "ru" for t in tracks["items"])
        ct = await get("/v1/tracks?role=counter-terrorism")
        assert [t["code"] for t in ct["items"]] == ["GHR-PCVE"]
        with_seah = await get("/v1/tracks?module=SEAH-101")
        assert {t["code"] for t in with_seah["items"]} == {
            "GHR-FOUND",
            "GHR-REFRESH",
            "GHR-SGBV",
            "GHR-LEAD",
        }
        rules = await get("/v1/requirements")
        assert {r["code"] for r in rules["items"]} == {r.code for r in CATALOGUE.requirements}

        # Drafts stay with the staff: a trainee's list never shows one.
        admin = auth("admin")
        body = (await client.get("/v1/modules/GHR-101", headers=admin)).json()
        content = {k: body[k] for k in ("title", "summary", "objectives", "duration_hours")}
        draft = await client.post("/v1/modules/GHR-101/versions", json=content, headers=admin)
        assert draft.status_code == 201
        listed = await get("/v1/modules?q=GHR-101")
        assert [(m["code"], m["version"]) for m in listed["items"]] == [("GHR-101", 1)]
        staff_view = (await client.get("/v1/modules?q=GHR-101", headers=admin)).json()
        assert [(m["code"], m["version"]) for m in staff_view["items"]] == [("GHR-101", 2)]
        drafts = (await client.get("/v1/modules?status=draft", headers=admin)).json()
        assert drafts["total"] == 1
        assert (await get("/v1/modules?status=draft"))["total"] == 0


async def test_a_partly_translated_module_says_what_fell_back(client: httpx.AsyncClient) -> None:
    admin = auth("admin")
    module = {
        "code": "WPS-102",
        "title": {"en": "Women, Peace and Security", "ru": "Женщины, мир и безопасность"},
        "summary": {"en": "The agenda."},
        "objectives": {"en": ["Name the four pillars."], "ru": ["Назвать четыре направления."]},
        "duration_hours": 2,
    }
    assert (await client.post("/v1/modules", json=module, headers=admin)).status_code == 201
    body = (await client.get("/v1/modules/WPS-102?lang=ru", headers=admin)).json()
    assert body["title"] == "Женщины, мир и безопасность"
    assert body["summary"] == "The agenda."
    assert body["objectives"] == ["Назвать четыре направления."]
    assert body["fallback_languages"] == {"summary": "en"}
    assert body["languages"] == ["en"]
    bad = await client.get("/v1/modules/WPS-102?lang=russian", headers=admin)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "lang"
