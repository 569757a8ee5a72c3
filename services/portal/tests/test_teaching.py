"""Instructors in a real browser: their cohorts, and one cohort's register where a Save keeps
the good rows and shows each bad row's reason next to it — and another academy's instructor
finds nothing there."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from .arrange import academy_by_code, enrolment_api, open_cohort, register
from .conftest import (
    Platform,
    assert_accessible,
    screenshot,
    sign_in,
    use_language,
)


def arrange_cohort(platform: Platform, academy_code: str = "KZ-ALA") -> dict[str, Any]:
    """A cohort of a published starter track with two trainees enrolled, through the API."""
    tag = uuid.uuid4().hex[:6].upper()
    with enrolment_api(platform, "admin") as api:
        academy = academy_by_code(api, academy_code, limit=100)
        trainees = [
            register(
                api,
                academy["id"],
                employee_number=f"T-{tag}-{number}",
                given_name=given,
                family_name=family,
            )
            for number, (given, family) in enumerate(
                (("Dana", f"Akhmetova{tag}"), ("Arman", f"Zhaksylykov{tag}")), start=1
            )
        ]
        cohort = open_cohort(
            api,
            academy["id"],
            title=f"Foundation course {tag}",
            starts_on="2026-01-12",
            ends_on="2030-12-18",
            location="Almaty, room 204",
            capacity=20,
        )
        enrolled = api.post(
            f"/v1/cohorts/{cohort['id']}/enrolments/bulk",
            json={"trainee_ids": [t["id"] for t in trainees]},
        )
        assert enrolled.status_code == 201, enrolled.text
    names = [f"{t['family_name']} {t['given_name']}" for t in trainees]
    return {"cohort": cohort, "trainees": trainees, "names": names}


@pytest.fixture(scope="module")
def cohort(platform: Platform) -> dict[str, Any]:
    return arrange_cohort(platform)


def fits_the_screen(page: Any) -> bool:
    width: int = page.evaluate("document.documentElement.scrollWidth")
    return width <= page.viewport_size["width"]


def test_results_for_the_whole_cohort_on_one_page(page: Any, cohort: dict[str, Any]) -> None:
    passing, failing = cohort["names"]
    sign_in(page, "instructor.ala", next_path="/teaching")
    use_language(page, "en")
    assert page.locator("h1").inner_text() == "My cohorts"
    page.get_by_role("link", name=cohort["cohort"]["title"]).click()
    page.wait_for_url(f"**/teaching/cohorts/{cohort['cohort']['id']}")
    assert page.locator("h1").inner_text() == cohort["cohort"]["title"]
    table = page.locator(".register table")
    assert table.locator("tbody tr").count() == 2
    assert "Gender, human rights and policing: core concepts" in table.inner_text()
    score = page.get_by_label(f"Score, GHR-101, {failing}")
    assert score.get_attribute("inputmode") == "decimal"
    assert_accessible(page)

    page.get_by_label(f"Attendance in per cent, GHR-101, {passing}").fill("100")
    page.get_by_label(f"Score, GHR-101, {passing}").fill("86,5")
    page.get_by_label(f"Attendance in per cent, GHR-101, {failing}").fill("100")
    score.fill("150")
    page.get_by_role("button", name="Save the register").click()
    page.wait_for_load_state("load")

    saved = page.locator(".notice.success")
    assert f"Saved the results of 1 trainee: {passing}." in saved.inner_text()
    bad_row = page.locator("tr.row-error")
    assert bad_row.count() == 1 and failing in bad_row.locator("th").inner_text()
    # The service's own sentence, next to the row, and what was typed is still there.
    assert "less than or equal to 100" in bad_row.locator(".field-error").inner_text()
    assert page.get_by_label(f"Score, GHR-101, {failing}").input_value() == "150"
    assert page.get_by_label(f"Score, GHR-101, {failing}").get_attribute("aria-invalid") == "true"
    good_row = page.locator("tbody tr", has_text=passing)
    assert "Passed" in good_row.inner_text()
    assert_accessible(page)
    screenshot(page, "teaching-register-row-error")

    page.goto(f"/teaching/cohorts/{cohort['cohort']['id']}")  # not a reload: that would post
    assert page.get_by_label(f"Score, GHR-101, {passing}").input_value() == "86.5"
    assert page.get_by_label(f"Score, GHR-101, {failing}").input_value() == ""
    assert page.locator("tr.row-error").count() == 0

    # Nothing changed: a Save records nothing new (no second attempt, no error).
    page.get_by_role("button", name="Save the register").click()
    page.wait_for_load_state("load")
    assert "Nothing was changed" in page.locator("[role=status]").first.inner_text()


def test_another_academys_instructor_finds_nothing(page: Any, cohort: dict[str, Any]) -> None:
    sign_in(page, "instructor.ast", next_path="/teaching")
    use_language(page, "en")
    assert cohort["cohort"]["title"] not in page.locator("main").inner_text()
    response = page.goto(f"/teaching/cohorts/{cohort['cohort']['id']}")
    assert response is not None and response.status == 404
    assert page.locator("h1").inner_text() == "Page not found"
    # Posting to it is no way round.
    token = page.locator("input[name=csrf_token]").first.input_value()
    posted = page.request.post(
        f"/teaching/cohorts/{cohort['cohort']['id']}", form={"csrf_token": token}
    )
    assert posted.status == 404


def test_trainees_may_not_teach(page: Any) -> None:
    sign_in(page, "trainee.ala", next_path="/teaching")
    use_language(page, "en")
    assert page.locator("h1").inner_text() == "Not available to you"


@pytest.mark.parametrize("language", ["en", "ru"])
def test_teaching_pages_on_desktop_and_phone(
    page: Any, phone: Any, cohort: dict[str, Any], language: str
) -> None:
    for tab, width in ((page, "desktop"), (phone, "phone")):
        sign_in(tab, "instructor.ala", next_path="/teaching")
        use_language(tab, language)
        assert tab.locator("html").get_attribute("lang") == language
        assert fits_the_screen(tab)
        assert_accessible(tab)
        screenshot(tab, f"teaching-cohorts-{width}-{language}")
        tab.goto(f"/teaching/cohorts/{cohort['cohort']['id']}")
        assert tab.locator(".register tbody tr").count() == 2
        assert fits_the_screen(tab)  # the wide register scrolls inside its box
        assert_accessible(tab)
        screenshot(tab, f"teaching-register-{width}-{language}")
