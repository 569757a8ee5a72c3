"""Curriculum ownership (ADR 0017): a module or track belongs to an academy or is national; only
its owners and platform admins change it, reviewers review anything, everyone reads what is
published, and another academy's drafts do not exist for an academy admin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from alembic import command

from wps_common.migrations import alembic_config
from wps_common.testing import auth
from wps_curriculum.main import MIGRATIONS

from .conftest import ADMIN, MODULE, REVIEWER, TRACK, publish, table_counts

ADMIN_A = auth("academy_admin", academy_id="KZ-ALA", sub="admin-a")
ADMIN_B = auth("academy_admin", academy_id="KZ-AST", sub="admin-b")
INSTRUCTOR_A = auth("instructor", academy_id="KZ-ALA", sub="instructor-a")
TRAINEE_B = auth("trainee", academy_id="KZ-AST", sub="trainee-b")
CONTENT = {k: v for k, v in MODULE.items() if k != "code"}
V1 = "/v1/modules/WPS-101/versions/1"


async def draft_of_a(client: httpx.AsyncClient, code: str = "WPS-101") -> dict[str, Any]:
    created = await client.post("/v1/modules", json={**MODULE, "code": code}, headers=ADMIN_A)
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


class TestCreating:
    async def test_an_academy_admins_module_is_their_academys_and_an_admins_is_national(
        self, client: httpx.AsyncClient
    ) -> None:
        assert (await draft_of_a(client))["owner_academy"] == "KZ-ALA"
        national = await client.post(
            "/v1/modules", json={**MODULE, "code": "WPS-102"}, headers=ADMIN
        )
        assert national.status_code == 201 and national.json()["owner_academy"] is None
        for_b = await client.post(
            "/v1/modules",
            json={**MODULE, "code": "WPS-103", "owner_academy": "KZ-AST"},
            headers=ADMIN,
        )
        assert for_b.status_code == 201 and for_b.json()["owner_academy"] == "KZ-AST"
        # ADMIN_B now changes it; ADMIN_A does not.
        assert (
            await client.put("/v1/modules/WPS-103/versions/1", json=CONTENT, headers=ADMIN_B)
        ).status_code == 200
        assert (
            await client.put("/v1/modules/WPS-103/versions/1", json=CONTENT, headers=ADMIN_A)
        ).status_code == 404

    async def test_an_academy_admin_cannot_create_for_another_academy(
        self, client: httpx.AsyncClient, database_url: str
    ) -> None:
        before = await table_counts(database_url)
        refused = await client.post(
            "/v1/modules", json={**MODULE, "owner_academy": "KZ-AST"}, headers=ADMIN_A
        )
        assert refused.status_code == 403 and "own academy" in refused.json()["detail"]
        assert await table_counts(database_url) == before
        own = await client.post(
            "/v1/modules", json={**MODULE, "owner_academy": "KZ-ALA"}, headers=ADMIN_A
        )
        assert own.status_code == 201 and own.json()["owner_academy"] == "KZ-ALA"


class TestChanging:
    async def test_another_academys_admin_cannot_touch_a_draft_and_learns_nothing(
        self, client: httpx.AsyncClient, database_url: str
    ) -> None:
        await draft_of_a(client)
        before = await table_counts(database_url)
        attempts = [
            ("PUT", V1, CONTENT),
            ("POST", "/v1/modules/WPS-101/versions", CONTENT),
            ("POST", f"{V1}/submit", None),
            ("POST", f"{V1}/comments", {"comment": "Looks fine."}),
        ]
        for method, path, body in attempts:
            theirs = await client.request(method, path, json=body, headers=ADMIN_B)
            # Exactly what a module that does not exist answers.
            ghost = await client.request(
                method, path.replace("WPS-101", "ZZZ-999"), json=body, headers=ADMIN_B
            )
            assert theirs.status_code == 404, (method, path, theirs.text)
            assert theirs.json()["detail"] == ghost.json()["detail"].replace("ZZZ-999", "WPS-101")
        history = await client.get("/v1/modules/WPS-101/history", headers=ADMIN_B)
        assert history.status_code == 404
        assert await table_counts(database_url) == before

    async def test_the_owner_and_admins_take_it_through_review_and_the_other_academy_cannot(
        self, client: httpx.AsyncClient
    ) -> None:
        await draft_of_a(client)
        assert (await client.put(V1, json=CONTENT, headers=ADMIN_A)).status_code == 200
        assert (await client.post(f"{V1}/submit", headers=ADMIN_B)).status_code == 404
        assert (await client.post(f"{V1}/submit", headers=ADMIN_A)).status_code == 200
        # Reviewers review every academy's curriculum; four eyes unchanged.
        assert (await client.post(f"{V1}/approve", headers=REVIEWER)).status_code == 200
        assert (await client.post(f"{V1}/publish", headers=ADMIN_B)).status_code == 404
        assert (await client.post(f"{V1}/publish", headers=INSTRUCTOR_A)).status_code == 403
        assert (await client.post(f"{V1}/publish", headers=ADMIN_A)).status_code == 200

        # Published, B reads it, and is told why it cannot change it — still a 404.
        assert (await client.get(V1, headers=ADMIN_B)).status_code == 200
        retire = await client.post(f"{V1}/retire", headers=ADMIN_B)
        assert retire.status_code == 404
        assert "belongs to academy KZ-ALA" in retire.json()["detail"]
        again = await client.post("/v1/modules/WPS-101/versions", json=CONTENT, headers=ADMIN_B)
        assert again.status_code == 404
        assert (await client.post(f"{V1}/retire", headers=ADMIN)).status_code == 200

    async def test_national_curriculum_is_changed_by_platform_admins_only(
        self, client: httpx.AsyncClient
    ) -> None:
        await client.post("/v1/modules", json=MODULE, headers=ADMIN)
        # Academy admins see national drafts, so the answer is a 403 that says why.
        refused = await client.put(V1, json=CONTENT, headers=ADMIN_A)
        assert refused.status_code == 403 and "national" in refused.json()["detail"]
        assert (await client.post(f"{V1}/submit", headers=ADMIN_A)).status_code == 403
        assert (await client.get(V1, headers=ADMIN_A)).status_code == 200
        await publish(client, "modules", "WPS-101")

    async def test_tracks_have_owners_too(self, client: httpx.AsyncClient) -> None:
        await client.post("/v1/modules", json=MODULE, headers=ADMIN)
        await publish(client, "modules", "WPS-101")
        # An academy builds a track of national modules (and of others' published ones).
        created = await client.post("/v1/tracks", json=TRACK, headers=ADMIN_A)
        assert created.status_code == 201 and created.json()["owner_academy"] == "KZ-ALA"
        track_v1 = "/v1/tracks/GHR-FOUND/versions/1"
        assert (await client.get(track_v1, headers=ADMIN_B)).status_code == 404
        assert (await client.post(f"{track_v1}/submit", headers=ADMIN_B)).status_code == 404
        await publish(client, "tracks", "GHR-FOUND", author=ADMIN_A)
        assert (await client.post(f"{track_v1}/retire", headers=ADMIN_B)).status_code == 404
        assert (await client.post(f"{track_v1}/retire", headers=ADMIN_A)).status_code == 200


class TestReading:
    async def test_drafts_of_another_academy_are_invisible_and_published_ones_are_not(
        self, client: httpx.AsyncClient
    ) -> None:
        await draft_of_a(client)
        for path in (V1, "/v1/modules/WPS-101", "/v1/modules/WPS-101/versions"):
            assert (await client.get(path, headers=ADMIN_B)).status_code == 404, path
            assert (await client.get(path, headers=ADMIN_A)).status_code == 200, path
            assert (await client.get(path, headers=REVIEWER)).status_code == 200, path
        drafts = await client.get("/v1/modules?status=draft", headers=ADMIN_B)
        assert drafts.json()["total"] == 0
        assert (await client.get("/v1/modules", headers=ADMIN_A)).json()["total"] == 1

        await publish(client, "modules", "WPS-101", author=ADMIN_A)
        second = await client.post("/v1/modules/WPS-101/versions", json=CONTENT, headers=ADMIN_A)
        assert second.status_code == 201
        # B sees version 1 everywhere, never version 2.
        assert (await client.get("/v1/modules/WPS-101", headers=ADMIN_B)).json()["version"] == 1
        listed = (await client.get("/v1/modules", headers=ADMIN_B)).json()["items"]
        assert [(m["code"], m["version"]) for m in listed] == [("WPS-101", 1)]
        versions = (await client.get("/v1/modules/WPS-101/versions", headers=ADMIN_B)).json()
        assert [v["version"] for v in versions["items"]] == [1] and versions["total"] == 1
        hidden = await client.get("/v1/modules/WPS-101/diff?from=1&to=2", headers=ADMIN_B)
        assert hidden.status_code == 404
        assert (await client.get("/v1/modules/WPS-101", headers=ADMIN_A)).json()["version"] == 2
        assert (await client.get("/v1/modules/WPS-101", headers=TRAINEE_B)).json()["version"] == 1

    async def test_lists_filter_by_owner(self, client: httpx.AsyncClient) -> None:
        await draft_of_a(client, "WPS-101")
        await client.post("/v1/modules", json={**MODULE, "code": "WPS-102"}, headers=ADMIN)
        await client.post("/v1/modules", json={**MODULE, "code": "WPS-103"}, headers=ADMIN_B)

        async def codes(query: str, headers: dict[str, str]) -> list[str]:
            page = (await client.get(f"/v1/modules?{query}", headers=headers)).json()
            return [m["code"] for m in page["items"]]

        assert await codes("owner=KZ-ALA", ADMIN) == ["WPS-101"]
        assert await codes("owner=national", ADMIN) == ["WPS-102"]
        assert await codes("", ADMIN) == ["WPS-101", "WPS-102", "WPS-103"]
        assert await codes("", ADMIN_B) == ["WPS-102", "WPS-103"]
        assert await codes("owner=KZ-ALA", ADMIN_B) == []

    async def test_another_academys_drafts_cannot_be_named_as_prerequisites_or_pinned(
        self, client: httpx.AsyncClient
    ) -> None:
        await draft_of_a(client)
        prerequisite = {**MODULE, "code": "WPS-201", "prerequisites": ["WPS-101"]}
        refused = await client.post("/v1/modules", json=prerequisite, headers=ADMIN_B)
        assert refused.status_code == 422 and "Unknown prerequisite" in refused.json()["detail"]
        assert (await client.post("/v1/modules", json=prerequisite, headers=ADMIN_A)).is_success
        pinned = await client.post("/v1/tracks", json=TRACK, headers=ADMIN_B)
        assert pinned.status_code == 422
        assert pinned.json()["detail"] == "There is no module WPS-101 version 1."


class TestInputBounds:
    async def test_huge_numbers_are_422s_that_name_the_parameter(
        self, client: httpx.AsyncClient
    ) -> None:
        await client.post("/v1/modules", json=MODULE, headers=ADMIN)
        huge = 2**63
        for path, field in [
            (f"/v1/modules/WPS-101/versions/{huge}", "version"),
            (f"/v1/modules/WPS-101/history?version={huge}", "version"),
            (f"/v1/modules/WPS-101/diff?from=1&to={huge}", "to"),
            (f"/v1/tracks/GHR-FOUND/diff?from={huge}&to=1", "from"),
            ("/v1/modules?offset=1000001", "offset"),
            ("/v1/modules?limit=501", "limit"),
            ("/v1/requirements?offset=99999999999999999999", "offset"),
        ]:
            response = await client.get(path, headers=ADMIN)
            assert response.status_code == 422, (path, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert [e["field"] for e in response.json()["errors"]] == [field], path
        pinned = {**TRACK, "modules": [{"code": "WPS-101", "version": huge}]}
        response = await client.post("/v1/tracks", json=pinned, headers=ADMIN)
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "modules.0.version"
        assert (await client.get("/v1/modules?limit=500&offset=1000000", headers=ADMIN)).is_success

    async def test_control_characters_are_422s_and_line_breaks_only_in_paragraphs(
        self, client: httpx.AsyncClient, database_url: str
    ) -> None:
        before = await table_counts(database_url)
        for body, field in [
            ({**MODULE, "title": {"en": "Women\x00Peace"}}, "title.en"),
            ({**MODULE, "title": {"en": "Women\tPeace"}}, "title.en"),
            ({**MODULE, "summary": {"en": "One\x07two"}}, "summary.en"),
            ({**MODULE, "references": ["UNSCR\n1325"]}, "references.0"),
            ({**MODULE, "objectives": {"en": ["Know\x1bthe law"]}}, "objectives.en.0"),
            ({**MODULE, "title": {"en": "WPS", "ru\n": "ЖМБ"}}, "title"),
            ({**MODULE, "owner_academy": "KZ\x00ALA"}, "owner_academy"),
        ]:
            response = await client.post("/v1/modules", json=body, headers=ADMIN)
            assert response.status_code == 422, (field, response.text)
            assert [e["field"] for e in response.json()["errors"]] == [field]
            assert response.json()["detail"]
        assert await table_counts(database_url) == before

        paragraphs = {**MODULE, "summary": {"en": "First line.\r\nSecond line.\tIndented."}}
        created = await client.post("/v1/modules", json=paragraphs, headers=ADMIN)
        assert created.status_code == 201, created.text
        assert created.json()["summary"]["en"] == "First line.\nSecond line.\tIndented."
        for query, field in [("q=a%00b", "q"), ("owner=KZ%0AALA", "owner")]:
            response = await client.get(f"/v1/modules?{query}", headers=ADMIN)
            assert response.status_code == 422 and response.json()["errors"][0]["field"] == field
        await client.post(f"{V1}/submit", headers=ADMIN)
        comment = await client.post(
            f"{V1}/comments", json={"comment": "Fine.\nBut\x00no."}, headers=REVIEWER
        )
        assert comment.status_code == 422 and comment.json()["errors"][0]["field"] == "comment"
        note = await client.post(f"{V1}/reject", json={"comment": "Cite\x7fit."}, headers=REVIEWER)
        assert note.status_code == 422 and note.json()["errors"][0]["field"] == "comment"


def test_existing_curriculum_becomes_national(tmp_path: Path) -> None:
    """Modules and tracks from before ownership keep working as national curriculum."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'curriculum.db'}")
    config = alembic_config(MIGRATIONS)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "5b1e0c7d9a21")
        connection.execute(
            sa.text(
                "INSERT INTO modules (code, created_at, created_by) "
                "VALUES ('WPS-101', '2026-11-01 00:00:00', 'user-1')"
            )
        )
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        owners = connection.execute(sa.text("SELECT code, owner_academy FROM modules")).all()
        command.downgrade(config, "5b1e0c7d9a21")
        command.upgrade(config, "head")
    engine.dispose()
    assert [tuple(row) for row in owners] == [("WPS-101", None)]
