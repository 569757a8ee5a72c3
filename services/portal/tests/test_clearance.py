"""Deployment clearance in a real browser: HR and an academy admin check a person against the
starter profile "UN peacekeeping pre-deployment" (WPS-101, SEAH-101, CRSV-301) until a
mission's end date — met by the foundation certificate, CRSV-301 missing — in English, Russian
and Kazakh, on a desktop and a phone; a number in two academies asks HR to choose one; each
refusal is one sentence in the page's language; after sending the form the verdict is in view."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

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


def profile_chosen(page: Any) -> str:
    return str(page.locator(".profile-choice label.choice:has(input:checked)").inner_text()).strip()


def facts(page: Any) -> dict[str, str]:
    terms = page.locator("dl.facts dt").all_inner_texts()
    return dict(zip(terms, page.locator("dl.facts dd").all_inner_texts(), strict=True))


def said(page: Any) -> str:
    """The one sentence the page says about a refused check."""
    alerts = page.locator("[role=alert]")
    assert alerts.count() == 1, alerts.all_inner_texts()
    assert page.locator(".field-error").count() == 0  # said once, not again beside a field
    return str(alerts.inner_text()).strip()


def test_hr_checks_a_person_against_a_profile(page: Any, platform: Platform) -> None:
    number = f"PKO-{uuid.uuid4().hex[:6].upper()}"
    certified_trainee(platform, number)
    sign_in(page, "hr", next_path="/clearance")
    use_language(page, "en")
    assert page.locator("h1").inner_text() == "Deployment clearance"
    lead = page.locator("p.lead").inner_text()
    assert "recognised" in lead
    assert lead.index("employee number") < lead.index("choose the profile")
    assert profile_chosen(page) == "UN peacekeeping pre-deployment"
    page.fill("#f-employee_number", number)
    page.fill("#f-until", "2027-06-30")
    page.click("form.clearance-form button[type=submit]")
    page.wait_for_load_state("load")
    verdict = page.locator("h2.verdict")
    assert verdict.inner_text() == "Not cleared for a mission ending Jun 30, 2027"
    assert statuses(page) == ["Valid until the mission ends"] * 2 + ["Missing"]
    rows = page.locator("table.clearance-items tbody tr")
    met_by = rows.nth(0).locator("td.met-by").inner_text()
    # The certificate by what it is of, titled, and when it was issued (HR cannot open it).
    assert "Certificate: Gender and human rights foundation, issued " in met_by, met_by
    assert "GHR-FOUND" not in met_by
    assert "Nothing valid covers it" in rows.nth(2).inner_text()
    # The academy by its name, not its code.
    academy = facts(page)["Academy"]
    assert academy and academy != "KZ-ALA"
    assert_accessible(page)
    screenshot(page, "clearance-en")

    # After the foundation certificate runs out (24 months), it no longer covers the mission.
    page.fill("#f-until", "2031-01-31")
    page.click("form.clearance-form button[type=submit]")
    page.wait_for_load_state("load")
    assert statuses(page) == ["Runs out before the mission ends"] * 2 + ["Missing"]

    for language, words, verdict_words in (
        ("ru", "Отсутствует", "Не допущен к миссии, которая заканчивается"),
        ("kk", "Жоқ", "аяқталатын миссияға рұқсат берілмеді"),
    ):
        use_language(page, language)
        assert words in page.locator("table.clearance-items").inner_text()
        assert verdict_words in page.locator("h2.verdict").inner_text()
        assert page.locator("h1").inner_text() in ("Допуск к миссии", "Миссияға рұқсат")
        assert_accessible(page)
        screenshot(page, f"clearance-{language}")

    # Each refusal is one sentence in the page's language, never the service's English.
    use_language(page, "ru")
    page.goto(f"/clearance?employee_number=NOBODY-1&profile={PROFILE}")
    assert said(page) == "Слушателя с табельным номером NOBODY-1 нет."
    assert page.locator("#f-employee_number[aria-invalid=true]").count() == 1
    response = page.goto(f"/clearance?employee_number={number}&profile={PROFILE}&until=31.01.2031")
    assert response.status == 422
    assert said(page) == "Это не дата: выберите день окончания миссии в календаре."
    assert page.locator("#f-until[aria-invalid=true]").count() == 1
    assert_accessible(page)
    screenshot(page, "clearance-bad-date-ru")
    # A mission that has ended is refused, not "cleared until 1999".
    response = page.goto(f"/clearance?employee_number={number}&profile={PROFILE}&until=1999-01-01")
    assert response.status == 422
    assert said(page) == "Дата окончания миссии уже прошла: укажите день, когда миссия закончится."
    assert page.locator("h2.verdict").count() == 0
    use_language(page, "kk")
    page.goto(f"/clearance?employee_number={number}&profile=UN-NONE")
    assert said(page) == "Бұл рұқсат бейіні қолданылмайды: тізімнен бейін таңдаңыз."
    page.goto(f"/clearance?employee_number={number}&profile={PROFILE}&academy=KZ-AST")
    assert said(page) == f"Астана полиция академиясы: {number} табель нөмірлі тыңдаушы жоқ."
    assert_accessible(page)
    screenshot(page, "clearance-not-there-kk")


def test_hr_names_the_academy_when_a_number_is_in_two(page: Any, platform: Platform) -> None:
    number = f"TWO-{uuid.uuid4().hex[:6].upper()}"
    for user in ("academy.ala", "academy.ast"):
        headers = bearer(platform, user)
        with httpx.Client(base_url=platform.urls["enrolment"], headers=headers) as api:
            academy = api.get("/v1/academies").json()["items"][0]
            register(api, academy["id"], employee_number=number, given_name="A", family_name="B")
    sign_in(page, "hr", next_path="/clearance")
    use_language(page, "ru")
    page.goto(f"/clearance?employee_number={number}&profile={PROFILE}")
    sentence = said(page)
    assert sentence.startswith(f"Табельный номер {number} есть в нескольких академиях (")
    assert "academy=" not in sentence and "KZ-AST" not in sentence  # the academies by name
    assert page.locator("#f-academy[aria-invalid=true]").count() == 1
    assert_accessible(page)
    screenshot(page, "clearance-several-ru")
    page.select_option("#f-academy", "KZ-AST")
    page.click("form.clearance-form button[type=submit]")
    page.wait_for_load_state("load")
    academy = facts(page)["Академия"]
    assert academy and academy != "KZ-AST" and statuses(page) == ["Отсутствует"] * 3
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
    # The profile's title wraps on a phone rather than being cut.
    choice = phone.locator(".profile-choice label.choice").first
    assert choice.evaluate("e => e.scrollWidth <= e.clientWidth")
    phone.fill("#f-employee_number", number)
    phone.fill("#f-until", "2027-06-30")
    phone.click("form.clearance-form button[type=submit]")
    phone.wait_for_load_state("load")
    assert phone.locator("h2.verdict.revoked").count() == 1
    # The verdict is in view and has the focus after sending the form.
    verdict = phone.locator("h2.verdict")
    expect(verdict).to_be_focused()
    expect(verdict).to_be_in_viewport()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width}px wide on a 390px phone"
    # An academy admin may open the certificate: it is named by its number, and linked.
    link = phone.locator("table.clearance-items tbody tr").first.locator("td.met-by a")
    assert link.get_attribute("href").startswith("/academy/certificates/")
    assert link.inner_text().split()[-1].startswith("KZ-ALA")
    assert_accessible(phone)
    screenshot(phone, f"clearance-phone-{language}")
    # Another academy's person is not there, said as such.
    phone.goto(f"/clearance?employee_number=AST-NOBODY&profile={PROFILE}#result")
    expect(phone.locator("#result")).to_be_in_viewport()
    assert ("AST-NOBODY" in said(phone)) and ("academy" not in said(phone))
    screenshot(phone, f"clearance-phone-unknown-{language}")


def test_other_roles_are_turned_away(page: Any) -> None:
    sign_in(page, "instructor.ala", next_path="/clearance")
    use_language(page, "en")
    assert page.locator("h1").inner_text() == "Not available to you"
