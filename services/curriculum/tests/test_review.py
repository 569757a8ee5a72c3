"""Review workflow: draft → in_review → approved → published → retired, four eyes, immutable
published versions, new versions, diffs and the audit trail."""

from __future__ import annotations

from typing import Any

import httpx

from wps_common.testing import auth

from .conftest import ADMIN, MODULE, REVIEWER, TRACK, publish, table_counts

V1 = "/v1/modules/WPS-101/versions/1"
AUTHOR = auth("academy_admin", academy_id="a", sub="author-1")


async def post(client: httpx.AsyncClient, path: str, headers: dict[str, str], **kw: Any) -> Any:
    return await client.post(path, headers=headers, **kw)


class TestLifecycle:
    async def test_a_reviewer_takes_a_module_to_published_but_its_author_cannot_approve(
        self, client: httpx.AsyncClient
    ) -> None:
        created = await post(client, "/v1/modules", AUTHOR, json=MODULE)
        assert created.status_code == 201
        assert created.json()["status"] == "draft" and created.json()["author"] == "author-1"

        # Nothing skips review: neither approval nor publication of a draft.
        assert (await post(client, f"{V1}/approve", REVIEWER)).status_code == 409
        assert (await post(client, f"{V1}/publish", AUTHOR)).status_code == 409

        submitted = await post(client, f"{V1}/submit", AUTHOR)
        assert submitted.status_code == 200 and submitted.json()["status"] == "in_review"

        # The author holds the reviewer role too: four eyes still say no.
        author_as_reviewer = auth("reviewer", "academy_admin", academy_id="a", sub="author-1")
        refused = await post(client, f"{V1}/approve", author_as_reviewer)
        assert refused.status_code == 403 and "Four eyes" in refused.json()["detail"]
        # An author without the reviewer role may not review at all.
        assert (await post(client, f"{V1}/approve", ADMIN)).status_code == 403

        approved = await post(client, f"{V1}/approve", REVIEWER, json={"comment": "Accurate."})
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "approved"
        assert approved.json()["approved_by"] == "reviewer-1"

        published = await post(client, f"{V1}/publish", AUTHOR)
        assert published.status_code == 200 and published.json()["status"] == "published"
        assert len(published.json()["content_hash"]) == 64
        assert published.json()["published_at"] is not None

        retired = await post(client, f"{V1}/retire", AUTHOR)
        assert retired.status_code == 200 and retired.json()["status"] == "retired"
        assert (await post(client, f"{V1}/submit", AUTHOR)).status_code == 409

    async def test_someone_who_edited_the_draft_cannot_approve_it(
        self, client: httpx.AsyncClient
    ) -> None:
        await post(client, "/v1/modules", AUTHOR, json=MODULE)
        editor = auth("admin", "reviewer", sub="editor-1")
        body = {k: v for k, v in MODULE.items() if k != "code"} | {"duration_hours": 8}
        edited = await client.put(V1, json=body, headers=editor)
        assert edited.status_code == 200 and edited.json()["duration_hours"] == 8
        await post(client, f"{V1}/submit", AUTHOR)
        assert (await post(client, f"{V1}/approve", editor)).status_code == 403
        assert (await post(client, f"{V1}/approve", REVIEWER)).status_code == 200

    async def test_rejection_needs_a_comment_and_returns_the_draft_with_comments_kept(
        self, client: httpx.AsyncClient
    ) -> None:
        await post(client, "/v1/modules", AUTHOR, json=MODULE)
        await post(client, f"{V1}/submit", AUTHOR)
        silent = await post(client, f"{V1}/reject", REVIEWER)
        assert silent.status_code == 422 and silent.json()["errors"][0]["field"] == "comment"
        note = await post(
            client, f"{V1}/comments", REVIEWER, json={"comment": "Cite UNSCR 2467 too."}
        )
        assert note.status_code == 201 and note.json()["action"] == "commented"
        rejected = await post(
            client, f"{V1}/reject", REVIEWER, json={"comment": "Objectives missing in ru."}
        )
        assert rejected.status_code == 200 and rejected.json()["status"] == "draft"

        trail = (await client.get("/v1/modules/WPS-101/history", headers=REVIEWER)).json()
        assert [(e["action"], e["actor"]) for e in trail["items"]] == [
            ("created", "author-1"),
            ("submitted", "author-1"),
            ("commented", "reviewer-1"),
            ("rejected", "reviewer-1"),
        ]
        assert trail["items"][3]["comment"] == "Objectives missing in ru."
        assert trail["items"][3]["from_status"] == "in_review"
        assert trail["items"][3]["to_status"] == "draft"
        assert all(e["at"] for e in trail["items"]) and trail["total"] == 4
        # A trainee does not read the review discussion.
        trainee = auth("trainee", academy_id="a", sub="t-1")
        assert (await client.get("/v1/modules/WPS-101/history", headers=trainee)).status_code == 403


class TestImmutability:
    async def test_a_published_version_never_changes_and_editing_starts_version_two(
        self, client: httpx.AsyncClient, database_url: str
    ) -> None:
        await post(client, "/v1/modules", AUTHOR, json=MODULE)
        first = await publish(client, "modules", "WPS-101", author=AUTHOR)
        content = {k: v for k, v in MODULE.items() if k != "code"}
        changed = content | {"title": {"en": "WPS for police", "ru": "ЖМБ для полиции"}}

        before = await table_counts(database_url)
        edit = await client.put(V1, json=changed, headers=AUTHOR)
        assert edit.status_code == 409
        assert "/v1/modules/WPS-101/versions" in edit.json()["detail"]
        assert await table_counts(database_url) == before
        again = (await client.get(V1, headers=AUTHOR)).json()
        assert again["title"] == MODULE["title"]
        assert again["content_hash"] == first["content_hash"]

        second = await post(client, "/v1/modules/WPS-101/versions", AUTHOR, json=changed)
        assert second.status_code == 201, second.text
        assert second.json()["version"] == 2 and second.json()["status"] == "draft"
        assert second.json()["content_hash"] != first["content_hash"]
        # Only one open version at a time.
        third = await post(client, "/v1/modules/WPS-101/versions", AUTHOR, json=content)
        assert third.status_code == 409 and "version 2" in third.json()["detail"]

        # Staff see the newest version, others the newest published one.
        assert (await client.get("/v1/modules/WPS-101", headers=AUTHOR)).json()["version"] == 2
        trainee = auth("trainee", academy_id="a", sub="t-1")
        public = await client.get("/v1/modules/WPS-101", headers=trainee)
        assert public.json()["version"] == 1
        hidden = await client.get("/v1/modules/WPS-101/versions/2", headers=trainee)
        assert hidden.status_code == 404

        diff = await client.get("/v1/modules/WPS-101/diff?from=1&to=2", headers=AUTHOR)
        assert diff.status_code == 200
        changes = {c["field"]: (c["before"], c["after"]) for c in diff.json()["changes"]}
        assert changes == {
            "title.en": ("Women, Peace and Security", "WPS for police"),
            "title.ru": ("Женщины, мир и безопасность", "ЖМБ для полиции"),
        }
        assert diff.json()["from_hash"] == first["content_hash"]

        versions = (await client.get("/v1/modules/WPS-101/versions", headers=AUTHOR)).json()
        assert [(v["version"], v["status"]) for v in versions["items"]] == [
            (1, "published"),
            (2, "draft"),
        ]

    async def test_a_track_goes_through_the_same_review_and_new_versions(
        self, client: httpx.AsyncClient
    ) -> None:
        await post(client, "/v1/modules", ADMIN, json=MODULE)
        await publish(client, "modules", "WPS-101")
        assert (await post(client, "/v1/tracks", ADMIN, json=TRACK)).status_code == 201
        track_v1 = "/v1/tracks/GHR-FOUND/versions/1"
        assert (await post(client, f"{track_v1}/publish", ADMIN)).status_code == 409
        await post(client, f"{track_v1}/submit", ADMIN)
        own = auth("reviewer", sub="user-1")  # ADMIN's subject
        assert (await post(client, f"{track_v1}/approve", own)).status_code == 403
        await post(client, f"{track_v1}/approve", REVIEWER)
        published = await post(client, f"{track_v1}/publish", ADMIN)
        assert published.json()["modules"] == [{"code": "WPS-101", "version": 1}]

        content = {k: v for k, v in TRACK.items() if k != "code"}
        next_version = content | {"validity_months": 36, "modules": [{"code": "WPS-101"}]}
        second = await post(client, "/v1/tracks/GHR-FOUND/versions", ADMIN, json=next_version)
        assert second.status_code == 201
        # An omitted version pins the newest published one.
        assert second.json()["modules"] == [{"code": "WPS-101", "version": 1}]
        diff = (await client.get("/v1/tracks/GHR-FOUND/diff?from=1&to=2", headers=ADMIN)).json()
        assert [c["field"] for c in diff["changes"]] == ["validity_months"]

        # A module version in a published track cannot be retired from under it.
        blocked = await post(client, f"{V1}/retire", ADMIN)
        assert blocked.status_code == 409 and "GHR-FOUND v1" in blocked.json()["detail"]
        assert (await post(client, f"{track_v1}/retire", ADMIN)).status_code == 200
        assert (await post(client, f"{V1}/retire", ADMIN)).status_code == 200
