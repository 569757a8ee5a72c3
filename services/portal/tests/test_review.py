"""Curriculum review in a real browser: an academy admin submits her draft from her list, a
reviewer finds it in the queue and sends it back with a comment, she reads it, revises and
submits again, a second reviewer approves and she publishes; a new version of a published module
is shown beside the old one with what changed marked. Every page at desktop and phone width, in
English and Russian."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
from playwright.sync_api import expect

from .conftest import Platform, api_token, assert_accessible, screenshot, sign_in, use_language

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True}


def curriculum(platform: Platform, username: str) -> httpx.Client:
    """The curriculum API as a demo user (for arranging what the UI is not about)."""
    token = api_token(platform, username)
    return httpx.Client(
        base_url=platform.urls["curriculum"],
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def module(code: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": code,
        "title": {"en": "Gender-sensitive interviewing", "ru": "Гендерно-чувствительный опрос"},
        "objectives": {
            "en": ["Plan an interview with a survivor of violence."],
            "ru": ["Спланировать опрос пострадавшей от насилия."],
        },
        "duration_hours": 4,
        "references": ["UNSCR 1325 (2000)"],
    }
    body.update(changes)
    return body


def ok(response: httpx.Response) -> Any:
    assert response.is_success, f"{response.request.url}: {response.status_code} {response.text}"
    return response.json()


@contextmanager
def person(
    browser: Any, platform: Platform, username: str, *, phone: bool = False
) -> Iterator[Any]:
    """A browser of one's own, signed in, speaking English."""
    context = browser.new_context(
        base_url=platform.portal, locale="en-GB", **(PHONE if phone else {})
    )
    context.set_default_timeout(15_000)
    tab = context.new_page()
    try:
        sign_in(tab, username)
        use_language(tab, "en")
        yield tab
    finally:
        context.close()


def row_of(page: Any, title: str) -> Any:
    return page.locator("table.review-list tbody tr").filter(has_text=title)


def test_a_new_module_goes_from_draft_through_review_to_published(
    browser: Any, platform: Platform
) -> None:
    code = "ALA-IVW"
    with curriculum(platform, "academy.ala") as api:
        ok(api.post("/v1/modules", json=module(code)))

    with person(browser, platform, "academy.ala") as author:
        author.goto("/review/drafts")
        row = row_of(author, "Gender-sensitive interviewing")
        expect(row.locator(".badge")).to_have_text("Draft")
        expect(row).to_contain_text("written by you")
        expect(row).to_contain_text("Submit for review")
        assert_accessible(author)
        screenshot(author, "review-drafts-desktop-en")

        row.get_by_role("link", name="Gender-sensitive interviewing").click()
        expect(author.locator("h1")).to_have_text("Gender-sensitive interviewing")
        expect(author.locator(".review-first")).to_contain_text("This is the first version")
        expect(author.locator(".review-steps [aria-current=step]")).to_have_text("Draft")
        author.get_by_role("button", name="Submit for review").click()
        expect(author.locator(".notice.success")).to_contain_text("Submitted for review")
        expect(author.locator(".review-meta .badge")).to_have_text("Submitted")
        expect(author.locator(".review-decision")).to_contain_text("Waiting for a reviewer")
        version_path = re.sub(r"^https?://[^/]+", "", author.url)
        assert version_path == f"/review/modules/{code}/versions/1"

        with person(browser, platform, "reviewer") as reviewer:
            reviewer.goto("/review")
            row = row_of(reviewer, "Gender-sensitive interviewing")
            expect(row).to_contain_text(code)
            expect(row).to_contain_text("Aigerim Bekova")  # the author, by name
            assert_accessible(reviewer)
            screenshot(reviewer, "review-queue-desktop-en")

            row.get_by_role("link").click()
            expect(reviewer.locator("h1")).to_have_text("Gender-sensitive interviewing")
            # The first version: only the new side, with a note saying why.
            expect(reviewer.locator(".review-first")).to_be_visible()
            expect(reviewer.locator("table.review-compare thead th")).to_have_count(2)
            expect(reviewer.locator("#f-title-ru td")).to_have_text("Гендерно-чувствительный опрос")
            expect(reviewer.locator("#f-objectives-en li")).to_have_text(
                "Plan an interview with a survivor of violence."
            )
            assert_accessible(reviewer)
            screenshot(reviewer, "review-version-first-desktop-en")

            # A rejection needs a comment: the service says so, next to the field.
            reviewer.get_by_role("button", name="Reject").click()
            error = reviewer.locator("#decision-comment-error")
            expect(error).to_contain_text("a rejection needs a comment")
            expect(reviewer.locator("#decision-comment")).to_have_attribute("aria-invalid", "true")
            reviewer.fill("#decision-comment", "Add a Russian summary and a quiz with a pass mark.")
            reviewer.get_by_role("button", name="Reject").click()
            expect(reviewer.locator(".notice.success")).to_contain_text("Sent back to the author")
            expect(reviewer.locator(".review-meta .badge")).to_have_text("Rejected")
            expect(reviewer.locator(".review-comments")).to_contain_text("Add a Russian summary")
            expect(reviewer.locator("table.review-history")).to_contain_text("Amina Sultanova")

        # The author sees the rejection, and the reviewer's words, in her list and on the page.
        author.goto("/review/drafts")
        row = row_of(author, "Gender-sensitive interviewing")
        expect(row.locator(".badge")).to_have_text("Rejected")
        expect(row.locator("blockquote")).to_contain_text("Add a Russian summary")
        screenshot(author, "review-drafts-rejected-desktop-en")
        row.get_by_role("link", name="Gender-sensitive interviewing").click()
        rejection = author.locator(".review-rejection")
        expect(rejection).to_contain_text("Sent back by Amina Sultanova")
        expect(rejection).to_contain_text("Add a Russian summary and a quiz with a pass mark.")
        author.fill("#discussion-comment", "Summary and quiz added, thank you.")
        author.get_by_role("button", name="Add comment").click()
        expect(author.locator(".notice.success")).to_contain_text("Your comment was added.")
        expect(author.locator(".review-comments li").last).to_contain_text("Summary and quiz added")

        # She revises the draft (by API: editing is not these pages' job) and submits again.
        with curriculum(platform, "academy.ala") as api:
            revised = module(
                code,
                summary={"en": "Interviews that do no harm.", "ru": "Опрос, не причиняющий вреда."},
                assessment={"kind": "quiz", "pass_mark": 70},
            )
            del revised["code"]
            ok(api.put(f"/v1/modules/{code}/versions/1", json=revised))
        author.reload()
        author.get_by_role("button", name="Submit for review").click()
        expect(author.locator(".review-meta .badge")).to_have_text("Submitted")

        # A second reviewer approves (with an optional comment).
        with person(browser, platform, "reviewer2") as second:
            second.goto("/review")
            row_of(second, "Gender-sensitive interviewing").get_by_role("link").click()
            expect(second.locator("#f-summary-ru td")).to_have_text("Опрос, не причиняющий вреда.")
            second.fill("#decision-comment", "Ready for academies.")
            second.get_by_role("button", name="Approve").click()
            expect(second.locator(".notice.success")).to_contain_text("Approved")
            expect(second.locator(".review-meta .badge")).to_have_text("Approved")
            # Decided: it has left the queue.
            second.goto("/review")
            expect(row_of(second, "Gender-sensitive interviewing")).to_have_count(0)

        author.goto("/review/drafts")
        row = row_of(author, "Gender-sensitive interviewing")
        expect(row.locator(".badge")).to_have_text("Approved")
        row.get_by_role("link", name="Publish").click()
        expect(author.locator(".review-facts")).to_contain_text("Elena Kim")  # approved by
        author.get_by_role("button", name="Publish").click()
        expect(author.locator(".notice.success")).to_contain_text("Published")
        expect(author.locator(".review-meta .badge")).to_have_text("Published")
        expect(author.locator(".review-steps [aria-current=step]")).to_have_text("Published")
        assert_accessible(author)
        screenshot(author, "review-version-published-desktop-en")
        author.goto("/review/drafts")
        expect(row_of(author, "Gender-sensitive interviewing")).to_have_count(0)

    with curriculum(platform, "academy.ala") as api:
        assert ok(api.get(f"/v1/modules/{code}/versions/1"))["status"] == "published"


def test_a_new_version_is_shown_beside_the_published_one(browser: Any, platform: Platform) -> None:
    code = "ALA-DIFF"
    with curriculum(platform, "academy.ala") as author, curriculum(platform, "reviewer") as rev:
        ok(author.post("/v1/modules", json=module(code)))
        ok(author.post(f"/v1/modules/{code}/versions/1/submit"))
        ok(rev.post(f"/v1/modules/{code}/versions/1/approve"))
        ok(author.post(f"/v1/modules/{code}/versions/1/publish"))
        changed = module(
            code,
            title={
                "en": "Gender-sensitive interviewing",
                "ru": "Опрос с учётом гендерных аспектов",
            },
            duration_hours=6,
            references=["UNSCR 1325 (2000)", "CEDAW General Recommendation No. 35 (2017)"],
        )
        del changed["code"]
        ok(author.post(f"/v1/modules/{code}/versions", json=changed))
        ok(author.post(f"/v1/modules/{code}/versions/2/submit"))
    path = f"/review/modules/{code}/versions/2"

    with person(browser, platform, "reviewer") as reviewer:
        reviewer.goto(path)
        for changed_row in ("#f-title-ru", "#f-duration-hours", "#f-references"):
            expect(reviewer.locator(changed_row)).to_have_class(re.compile(r"\bchanged\b"))
            expect(reviewer.locator(f"{changed_row} th .badge")).to_have_text("Changed")
        for same_row in ("#f-title-en", "#f-objectives-ru", "#f-delivery-mode"):
            expect(reviewer.locator(same_row)).not_to_have_class(re.compile(r"\bchanged\b"))
        # Old on the left, new on the right; lists as lists.
        cells = reviewer.locator("#f-title-ru td")
        expect(cells.nth(0)).to_contain_text("Гендерно-чувствительный опрос")
        expect(cells.nth(1)).to_contain_text("Опрос с учётом гендерных аспектов")
        expect(reviewer.locator("#f-references td").nth(1).locator("li")).to_have_count(2)
        expect(reviewer.locator("#content + p")).to_contain_text("3 fields changed")
        expect(reviewer.locator(".review-compare thead")).to_contain_text("Version 1 (published)")
        assert_accessible(reviewer)
        screenshot(reviewer, "review-version-desktop-en")

        use_language(reviewer, "ru")
        reviewer.goto(path)
        assert reviewer.locator("html").get_attribute("lang") == "ru"
        expect(reviewer.locator("#f-title-ru.changed")).to_have_count(1)
        assert_accessible(reviewer)
        screenshot(reviewer, "review-version-desktop-ru")
        reviewer.goto("/review")
        assert_accessible(reviewer)
        screenshot(reviewer, "review-queue-desktop-ru")

    with person(browser, platform, "academy.ala") as author:
        use_language(author, "ru")
        author.goto("/review/drafts")
        assert author.locator("html").get_attribute("lang") == "ru"
        assert_accessible(author)
        screenshot(author, "review-drafts-desktop-ru")

    for language in ("en", "ru"):
        with person(browser, platform, "reviewer", phone=True) as reviewer:
            use_language(reviewer, language)
            reviewer.goto("/review")
            assert_accessible(reviewer)
            screenshot(reviewer, f"review-queue-phone-{language}")
            reviewer.goto(path)
            expect(reviewer.locator("#f-title-ru.changed")).to_have_count(1)
            assert_accessible(reviewer)
            assert _no_sideways_scroll(reviewer)
            screenshot(reviewer, f"review-version-phone-{language}")
        with person(browser, platform, "academy.ala", phone=True) as author:
            use_language(author, language)
            author.goto("/review/drafts")
            assert_accessible(author)
            screenshot(author, f"review-drafts-phone-{language}")


def test_who_sees_which_review_page(browser: Any, platform: Platform) -> None:
    with person(browser, platform, "academy.ala") as author:
        # The header's review link brings an academy admin to her drafts.
        author.goto("/review")
        expect(author).to_have_url(re.compile(r"/review/drafts$"))
        # Another academy's draft does not exist for her.
        with curriculum(platform, "academy.ast") as other:
            ok(other.post("/v1/modules", json=module("AST-IVW")))
        response = author.goto("/review/modules/AST-IVW/versions/1")
        assert response is not None and response.status == 404
        expect(author.locator("h1")).to_have_text("Page not found")
        assert author.goto("/review/lessons/AST-IVW/versions/1").status == 404
    with person(browser, platform, "trainee.ala") as trainee:
        response = trainee.goto("/review")
        assert response is not None and response.status == 403
        expect(trainee.locator("h1")).to_have_text("Not available to you")
    with person(browser, platform, "reviewer") as reviewer:
        assert reviewer.goto("/review/drafts").status == 403


def _no_sideways_scroll(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


# --- without a browser: what the pages make of the service's answers ----------------------------

FOUR_EYES = (
    "Four eyes: you wrote or edited module ALA-4E version 1, so another reviewer must approve it."
)


def _version(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": "ALA-4E",
        "owner_academy": "KZ-ALA",
        "version": 1,
        "status": "in_review",
        "author": "demo-reviewer",
        "created_at": "2026-11-20T08:00:00Z",
        "submitted_at": "2026-11-21T08:00:00Z",
        "title": {"en": "Four eyes", "ru": "Принцип четырёх глаз"},
        "summary": {},
        "duration_hours": 2,
    }
    body.update(changes)
    return body


def _curriculum_double(request: httpx.Request) -> httpx.Response:
    """The curriculum API as far as one version page needs it, refusing the approval."""
    path = request.url.path
    if request.method == "POST" and path.endswith("/approve"):
        problem = {"title": "Forbidden", "status": 403, "detail": FOUR_EYES}
        return httpx.Response(403, json=problem)
    if path == "/v1/modules/ALA-4E/versions/1":
        return httpx.Response(200, json=_version())
    if path == "/v1/modules/ALA-4E/versions":
        page = {"items": [_version()], "total": 1, "limit": 500, "offset": 0, "next_cursor": None}
        return httpx.Response(200, json=page)
    if path == "/v1/modules/ALA-4E/history":
        created = {
            "at": "2026-11-20T08:00:00Z",
            "actor": "demo-reviewer",
            "actor_name": "Amina Sultanova",
            "action": "created",
            "version": 1,
            "from_status": None,
            "to_status": "draft",
            "comment": None,
        }
        return httpx.Response(200, json={"items": [created], "total": 1, "limit": 500, "offset": 0})
    return httpx.Response(404, json={"detail": f"nothing at {path}"})


def test_a_reviewer_who_wrote_the_version_reads_the_services_sentence(tmp_path: Any) -> None:
    # Demo reviewers never write curriculum, so the service's four-eyes refusal is played by a
    # stand-in curriculum API. In a thread of its own: the browser tests hold this one's loop.
    with ThreadPoolExecutor(1) as thread:
        status, page = thread.submit(asyncio.run, _approve_own_version(tmp_path)).result()
    assert status == 403
    alert = page.split('role="alert"', 1)[1].split("</div>", 1)[0]
    assert FOUR_EYES in alert
    assert "Looks right to me.</textarea>" in page  # what was typed is kept


async def _approve_own_version(tmp_path: Any) -> tuple[int, str]:
    import time

    from wps_portal.backend import Backend
    from wps_portal.main import create_app
    from wps_portal.sessions import COOKIE
    from wps_portal.settings import PortalSettings

    settings = PortalSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/portal.db", cookie_secure=False
    )
    app = create_app(settings)
    app.state.backend = Backend(
        settings, http=httpx.AsyncClient(transport=httpx.MockTransport(_curriculum_double))
    )
    await app.state.sessions.create_tables()
    session = {
        "tokens": {"access_token": "token", "expires_at": time.time() + 3600},
        "user": {
            "subject": "demo-reviewer",
            "name": "Amina Sultanova",
            "roles": ["reviewer"],
            "academy": None,
            "locale": "en",
        },
        "csrf_token": "csrf",
    }
    await app.state.sessions.save("session-id", session, fresh=True)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://portal",
        cookies={COOKIE: "session-id"},
    ) as browser:
        answer = await browser.post(
            "/review/modules/ALA-4E/versions/1/approve",
            data={"csrf_token": "csrf", "comment": "Looks right to me."},
        )
    await app.state.backend.aclose()
    await app.state.sessions.database.dispose()
    return answer.status_code, answer.text


def test_the_comparison_follows_the_services_diff_and_shows_fields_it_does_not_know() -> None:
    from wps_portal.i18n import Language
    from wps_portal.pages.review import comparison

    before = _version(status="published", summary={}, duration_hours=2)
    after = _version(
        version=2, summary={"en": "New."}, duration_hours=2, sign_language=True, tags=["a", "b"]
    )
    changes: list[dict[str, Any]] = [
        {"field": "summary", "before": {}, "after": None},
        {"field": "summary.en", "before": None, "after": "New."},
        {"field": "sign_language", "before": None, "after": True},
        {"field": "tags", "before": None, "after": ["a", "b"]},
    ]
    shown = comparison("module", before, after, changes, Language("en"))
    rows = {row["path"]: row for row in shown}
    assert rows["summary.en"]["changed"] and rows["summary.en"]["new"]["text"] == "New."
    assert rows["summary.en"]["old"] == {"kind": "empty"}
    assert not rows["title.en"]["changed"] and not rows["duration_hours"]["changed"]
    assert rows["tags"]["new"] == {"kind": "list", "values": ["a", "b"]}
    assert rows["sign_language"]["changed"]  # a field this page does not know yet is still shown
    first = {row["path"]: row for row in comparison("module", None, after, None, Language("ru"))}
    assert first["title.ru"]["old"] is None and not first["title.ru"]["changed"]
    assert first["duration_hours"]["new"]["text"] == "2"
