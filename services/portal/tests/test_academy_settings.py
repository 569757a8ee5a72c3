"""The academy's names and languages in a real browser, as academy.ala sets them: the name
shown in the page language through the academy's order (the header and the academy pages), a
new order and names saved to enrolment; mistakes explained in the page language, and what only
enrolment knows in its words; the page closed to trainees and instructors. The page is
accessible and fits a phone in every language."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from .arrange import enrolment_api
from .conftest import Platform, assert_accessible, screenshot, sign_in, use_language

PAGE = "/academy/settings"
NAMES = {  # the demo directory's
    "ru": "Алматинская академия полиции",
    "kk": "Алматы полиция академиясы",
    "en": "Almaty Police Academy",
}


class Enrolment:
    """Enrolment's API as academy.ala: its academy as it is, restored after each test (other
    tests read the demo academy's names and languages)."""

    def __init__(self, api: httpx.Client) -> None:
        self.api = api
        self.academy = api.get("/v1/academies").json()["items"][0]
        self.path = f"/v1/academies/{self.academy['id']}"

    def now(self) -> dict[str, Any]:
        response = self.api.get(self.path)
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    def restore(self) -> None:
        body = {key: self.academy[key] for key in ("name", "languages", "names")}
        response = self.api.patch(self.path, json=body)
        assert response.status_code == 200, response.text


@pytest.fixture
def almaty(platform: Platform) -> Iterator[Enrolment]:
    with enrolment_api(platform, "academy.ala") as api:
        enrolment = Enrolment(api)
        assert enrolment.academy["code"] == "KZ-ALA"
        assert enrolment.academy["names"] == NAMES, "the demo academy starts named"
        try:
            yield enrolment
        finally:
            enrolment.restore()


def _save(page: Any) -> Any:
    with page.expect_response(re.compile(r"/academy/settings$")) as answer:
        page.click("form.settings-form button[type=submit]")
    return answer.value


def test_the_name_follows_the_page_language_and_a_new_order_is_saved(
    page: Any, almaty: Enrolment
) -> None:
    sign_in(page, "academy.ala", next_path="/academy/compliance")
    use_language(page, "ru")
    # The header and the academy pages name the academy in the page language.
    expect(page.locator(".who-academy")).to_have_text(NAMES["ru"])
    expect(page.locator(".academy-name")).to_contain_text(NAMES["ru"])
    use_language(page, "en")
    expect(page.locator(".who-academy")).to_have_text(NAMES["en"])
    page.click(".academy-nav a:has-text('Names and languages')")
    page.wait_for_url(f"**{PAGE}")
    assert page.locator("h1").inner_text() == "Academy names and languages"
    # The form starts from what is set: Russian first, then Kazakh, then English.
    expect(page.locator("#f-place-ru")).to_have_value("1")
    expect(page.locator("#f-place-kk")).to_have_value("2")
    expect(page.locator("#f-place-en")).to_have_value("3")
    expect(page.locator("#f-name-kk")).to_have_value(NAMES["kk"])
    expect(page.locator("#current-order")).to_contain_text("Русский → Қазақша → English")
    assert_accessible(page)

    # Kazakh first, Russian second, English no longer used (and its name dropped).
    page.select_option("#f-place-kk", "1")
    page.select_option("#f-place-ru", "2")
    page.select_option("#f-place-en", "")
    page.fill("#f-name-en", "")
    page.fill("#f-name-kk", "Алматы академиясы")
    assert _save(page).status == 303
    page.wait_for_url(f"**{PAGE}")
    expect(page.locator(".notice.success")).to_contain_text(
        "The academy's names and languages are saved."
    )
    saved = almaty.now()
    assert saved["languages"] == ["kk", "ru"]
    assert saved["names"] == {"kk": "Алматы академиясы", "ru": NAMES["ru"]}
    assert saved["name"] == "Almaty Police Academy"  # the official name, unchanged
    # An English page now names it in the academy's first language, in the header too.
    expect(page.locator(".who-academy")).to_have_text("Алматы академиясы")
    expect(page.locator(".academy-name")).to_contain_text("Алматы академиясы")
    expect(page.locator("#current-order")).to_contain_text("Қазақша → Русский")
    use_language(page, "ru")
    expect(page.locator(".academy-name")).to_contain_text(NAMES["ru"])


def test_mistakes_are_explained_and_nothing_is_saved(page: Any, almaty: Enrolment) -> None:
    sign_in(page, "academy.ala", next_path=PAGE)
    use_language(page, "kk")
    page.select_option("#f-place-en", "")  # English keeps its name: the portal asks first
    assert _save(page).status == 422
    problems = page.locator("#settings-problems")
    expect(problems).to_have_attribute("role", "alert")
    expect(problems).to_contain_text("Атаулар мен тілдер сақталмады.")
    expect(problems).to_contain_text(
        "«English» тілінде атау бар, бірақ реттегі орны жоқ: оған орын беріңіз немесе атауды "
        "өшіріңіз."
    )
    expect(page.locator("#f-place-en")).to_have_value("")  # the form as it was sent
    expect(page.locator("#f-name-en")).to_have_value(NAMES["en"])
    assert_accessible(page)
    screenshot(page, "academy-settings-refused-kk")

    use_language(page, "en")
    page.select_option("#f-place-en", "1")  # English and Russian both first
    assert _save(page).status == 422
    expect(page.locator("#settings-problems")).to_contain_text(
        "Two languages have place 1 in the order: give each its own place."
    )
    for code in ("ru", "kk", "en"):
        page.select_option(f"#f-place-{code}", "")
        page.fill(f"#f-name-{code}", "")
    assert _save(page).status == 422
    expect(page.locator("#settings-problems")).to_contain_text(
        "Give at least one language a place in the order."
    )

    # A direction control hidden in a name, and no official name: sentences of the page.
    page.goto(PAGE)
    use_language(page, "ru")
    page.fill("#f-name-ru", "Алматинская \u202eакадемия полиции")
    assert _save(page).status == 422
    expect(page.locator("#settings-problems")).to_contain_text(
        "Название на языке «Русский»: содержит невидимый символ, меняющий направление текста; "
        "наберите название заново."
    )
    assert '"detail"' not in page.content()
    page.goto(PAGE)
    use_language(page, "kk")
    expect(page.locator("#f-official-name")).to_have_attribute("required", "")
    page.fill("#f-official-name", "")
    assert _save(page).status == 422
    expect(page.locator("#settings-problems")).to_contain_text(
        "Академияның ресми атауын жазыңыз: ол қажетті тілде атау жоқ жерде көрсетіледі."
    )
    assert "String should have" not in page.content()
    assert almaty.now()["languages"] == ["ru", "kk", "en"]
    assert almaty.now()["names"] == NAMES


def test_trainees_and_instructors_do_not_reach_it(browser: Any, platform: Platform) -> None:
    for username in ("trainee.ala", "instructor.ala"):
        tab = browser.new_context(base_url=platform.portal, locale="en-GB").new_page()
        try:
            sign_in(tab, username, next_path="/")
            response = tab.goto(PAGE)
            assert response is not None and response.status == 403, username
        finally:
            tab.context.close()


def test_the_page_on_a_desktop_and_a_phone_in_every_language(
    page: Any, phone: Any, almaty: Enrolment
) -> None:
    for tab, width in ((page, "desktop"), (phone, "phone")):
        sign_in(tab, "academy.ala", next_path=PAGE)
        for language in ("en", "ru", "kk"):
            use_language(tab, language)
            response = tab.goto(PAGE)
            assert response is not None and response.status == 200, language
            assert tab.locator("html").get_attribute("lang") == language
            expect(tab.locator("#f-name-kk")).to_have_value(NAMES["kk"])
            shown = NAMES[language]
            expect(tab.locator(".academy-name")).to_contain_text(shown)
            wide = tab.evaluate("document.documentElement.scrollWidth")
            assert wide <= tab.viewport_size["width"], f"{width}, {language}: wider than the screen"
            assert_accessible(tab)
            screenshot(tab, f"academy-settings-{width}-{language}")
    expect(page.locator("h1")).to_have_text("Академияның атаулары мен тілдері")
