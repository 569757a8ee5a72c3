"""Deployment clearance in a real browser: HR and an academy admin check a person against the
starter profile "UN peacekeeping pre-deployment" (WPS-101, SEAH-101, CRSV-301) until a
mission's end date — met by the foundation certificate, CRSV-301 missing — in English, Russian
and Kazakh, on a desktop and a phone; a number in two academies asks HR to choose one."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from .arrange import bearer, enrol, eventually, open_cohort, register
from .conftest import Platform, assert_accessible, screenshot, sign_in, use_language

FOUNDATION = ("GHR-101", "WPS-101", "HR-102", "SEAH-101")  # the starter track GHR-FOUND
PROFILE = "UN-PKO-PREDEPLOY"


def certified_trainee(platform: Platform, number: str) -> dict[str, Any]:
    """A trainee of KZ-ALA who passed the foundation track, once enrolment knows the
    certificate (the clearance answer names it)."""
    headers = bearer(platform, "academy.ala")
    with httpx.Client(base_url=platform.urls["enrolment"], headers=headers, timeout=15) as api:
        academy = api.get("/v1/academies").json()["items"][0]
        trainee = register(
            api, academy["id"], employee_number=number, given_name="Dana", family_name="Omarova"
        )
        cohort = open_cohort(
            api,
            academy["id"],
            title="Foundation (clearance test)",
            starts_on="2026-11-02",
            ends_on="2026-11-06",
            capacity=5,
        )
        enrolment = enrol(api, cohort["id"], trainee["id"])
        for module in FOUNDATION:
            result = api.post(
                f"/v1/enrolments/{enrolment['id']}/results",
                json={"module_code": module, "attendance_pct": 100, "score": 90},
            )
            assert result.status_code == 201, result.text

        def answered() -> bool:
            found = api.get(
                "/v1/clearance",
                params={"employee_number": number, "profile": PROFILE, "until": "2027-06-30"},
            )
            return found.status_code == 200 and found.json()["items"][0]["status"] == "met"

        eventually(answered, "the certificate to reach enrolment", seconds=30)
    return trainee


def statuses(page: Any) -> list[str]:
    return [
        row.locator("td .badge").inner_text()
        for row in page.locator("table.clearance-items tbody tr").all()
    ]


def test_hr_checks_a_person_against_a_profile(page: Any, platform: Platform) -> None:
    number = f"PKO-{uuid.uuid4().hex[:6].upper()}"
    certified_trainee(platform, number)
    sign_in(page, "hr", next_path="/clearance")
    use_language(page, "en")
    assert page.locator("h1").inner_text() == "Deployment clearance"
    assert page.locator("#f-profile option:checked").inner_text() == (
        "UN peacekeeping pre-deployment"
    )
    page.fill("#f-employee_number", number)
    page.fill("#f-until", "2027-06-30")
    page.click("form.clearance-form button[type=submit]")
    page.wait_for_load_state("load")
    verdict = page.locator("h2.verdict")
    assert verdict.inner_text() == "Not cleared for deployment until Jun 30, 2027"
    assert statuses(page) == ["Met", "Met", "Missing"]
    rows = page.locator("table.clearance-items tbody tr")
    assert "Certificate GHR-FOUND" in rows.nth(0).inner_text()
    assert "No valid certificate" in rows.nth(2).inner_text()
    assert_accessible(page)
    screenshot(page, "clearance-en")

    # After the foundation certificate runs out (24 months), it no longer covers the mission.
    page.fill("#f-until", "2031-01-31")
    page.click("form.clearance-form button[type=submit]")
    page.wait_for_load_state("load")
    assert statuses(page) == ["Expires before the end date"] * 2 + ["Missing"]

    for language, words in (("ru", "Отсутствует"), ("kk", "Жоқ")):
        use_language(page, language)
        assert words in page.locator("table.clearance-items").inner_text()
        assert page.locator("h1").inner_text() in ("Допуск к миссии", "Миссияға рұқсат")
        assert_accessible(page)
        screenshot(page, f"clearance-{language}")

    # Unknown people are said so, in the service's words; a bad date is the field's error.
    page.goto(f"/clearance?employee_number=NOBODY-1&profile={PROFILE}")
    assert "NOBODY-1" in page.locator("[role=alert]").inner_text()
    response = page.goto(f"/clearance?employee_number={number}&profile={PROFILE}&until=31.01.2031")
    assert response.status == 422
    assert page.locator("#f-until[aria-invalid=true]").count() == 1
    assert_accessible(page)


def test_hr_names_the_academy_when_a_number_is_in_two(page: Any, platform: Platform) -> None:
    number = f"TWO-{uuid.uuid4().hex[:6].upper()}"
    for user in ("academy.ala", "academy.ast"):
        headers = bearer(platform, user)
        with httpx.Client(base_url=platform.urls["enrolment"], headers=headers) as api:
            academy = api.get("/v1/academies").json()["items"][0]
            register(api, academy["id"], employee_number=number, given_name="A", family_name="B")
    sign_in(page, "hr", next_path="/clearance")
    use_language(page, "en")
    page.goto(f"/clearance?employee_number={number}&profile={PROFILE}")
    assert "several academies" in page.locator("[role=alert]").inner_text()
    assert page.locator("#f-academy[aria-invalid=true]").count() == 1
    page.select_option("#f-academy", "KZ-AST")
    page.click("form.clearance-form button[type=submit]")
    page.wait_for_load_state("load")
    facts = page.locator("dl.facts").inner_text()
    assert "KZ-AST" in facts and statuses(page) == ["Missing"] * 3
    assert_accessible(page)


@pytest.mark.parametrize("language", ["ru", "kk"])
def test_an_academy_admin_on_a_phone(phone: Any, platform: Platform, language: str) -> None:
    number = f"PH-{uuid.uuid4().hex[:6].upper()}"
    certified_trainee(platform, number)
    sign_in(phone, "academy.ala", next_path="/")
    use_language(phone, language)
    phone.click("nav >> a[href='/clearance']")
    phone.wait_for_load_state("load")
    assert phone.locator("#f-academy").count() == 0  # their own academy only
    phone.fill("#f-employee_number", number)
    phone.fill("#f-until", "2027-06-30")
    phone.click("form.clearance-form button[type=submit]")
    phone.wait_for_load_state("load")
    assert phone.locator("h2.verdict.revoked").count() == 1
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width}px wide on a 390px phone"
    assert_accessible(phone)
    screenshot(phone, f"clearance-phone-{language}")


def test_other_roles_are_turned_away(page: Any) -> None:
    sign_in(page, "instructor.ala", next_path="/clearance")
    use_language(page, "en")
    assert page.locator("h1").inner_text() == "Not available to you"
