"""A personal due date on the trainee's page, in a real browser, as academy.ala gives one: the
form tells what is missing or past in the page's language, a set date shows as the trainee's
own with its reason and re-dates the requirement at once, the history names it, and removing
it restores the requirement's own deadline. The page is accessible and fits a phone in
English, Russian and Kazakh."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import expect

from .arrange import academy_by_code, enrolment_api, eventually, register
from .conftest import Platform, assert_accessible, screenshot, sign_in, use_language

REQUIREMENT = "REQ-ALL-FOUND"  # the starter requirement: everyone, grace period from the start


@pytest.fixture
def enrolment(platform: Platform) -> Iterator[httpx.Client]:
    with enrolment_api(platform, "admin") as client:
        yield client


def _trainee_with_a_requirement(enrolment: httpx.Client, family: str) -> dict[str, Any]:
    """A trainee of Almaty of their own (the demo records stay as other tests expect them),
    once the starter requirement has reached them."""
    almaty = academy_by_code(enrolment, "KZ-ALA")
    trainee = register(
        enrolment,
        almaty["id"],
        employee_number=f"DUE-{uuid.uuid4().hex[:8].upper()}",
        family_name=family,
        given_name="Dana",
    )
    eventually(
        lambda: enrolment.get(f"/v1/trainees/{trainee['id']}/compliance").json(),
        "the starter requirement to apply to the new trainee",
    )
    return trainee


def _row(page: Any) -> Any:
    return page.locator("section[aria-labelledby=compliance-heading] tbody tr").filter(
        has_text=REQUIREMENT
    )


def test_an_academy_admin_gives_and_removes_a_personal_due_date(
    page: Any, enrolment: httpx.Client
) -> None:
    trainee = _trainee_with_a_requirement(enrolment, "Abenova")
    [before] = enrolment.get(f"/v1/trainees/{trainee['id']}/compliance").json()
    path = f"/academy/trainees/{trainee['id']}"
    sign_in(page, "academy.ala", next_path=path)
    use_language(page, "en")
    page.goto(path)
    form = page.locator("details.due-date-form")
    expect(form).not_to_have_attribute("open", "")
    form.locator("summary").click()
    expect(page.locator("#f-due_on")).to_be_visible()
    assert_accessible(page)

    # Nothing filled in: each field says what it needs, in the page's language.
    page.click("main button:has-text('Set the due date')")
    expect(page.locator("#f-due_on-error")).to_have_text("Choose the due date.")
    expect(page.locator("#f-reason-error")).to_have_text("Give the reason in a few words.")
    expect(page.locator("details.due-date-form")).to_have_attribute("open", "")
    assert_accessible(page)

    today = date.today()
    page.fill("#f-due_on", (today - timedelta(days=2)).isoformat())
    page.fill("#f-reason", "Back from six months' sick leave.")
    page.click("main button:has-text('Set the due date')")
    expect(page.locator("#f-due_on-error")).to_have_text(
        "The due date has passed: choose today or a later day."
    )
    expect(page.locator("#f-reason")).to_have_value("Back from six months' sick leave.")

    due_on = today + timedelta(days=200)
    page.fill("#f-due_on", due_on.isoformat())
    page.click("main button:has-text('Set the due date')")
    page.wait_for_url(re.compile(rf"{path}#compliance-heading$"))
    expect(page.locator(".notice.success")).to_have_text("The personal due date is set.")
    shown = f"{due_on:%b} {due_on.day}, {due_on.year}"
    row = _row(page)
    expect(row.locator(".badge")).to_have_text("Due")
    expect(row).to_contain_text(f"Personal due date: {shown}")
    expect(row).to_contain_text("Back from six months' sick leave.")
    expect(row.locator("td").nth(1)).to_have_text(shown)  # the deadline is the trainee's own
    latest = page.locator("#history li.entry").first
    expect(latest).to_contain_text("Personal due date set")
    expect(latest).to_contain_text("Aigerim Bekova")
    expect(latest).to_contain_text(f"Personal due date: {shown}")
    assert_accessible(page)
    screenshot(page, "academy-trainee-personal-due-date")
    [after] = enrolment.get(f"/v1/trainees/{trainee['id']}/compliance").json()
    assert (after["status"], after["due_on"], after["due_date_reason"]) == (
        "due",
        due_on.isoformat(),
        "Back from six months' sick leave.",
    )

    row.locator("button:has-text('Remove')").click()
    page.wait_for_url(re.compile(rf"{path}#compliance-heading$"))
    expect(page.locator(".notice.success")).to_contain_text("The personal due date is removed")
    expect(_row(page)).not_to_contain_text("Personal due date")
    [restored] = enrolment.get(f"/v1/trainees/{trainee['id']}/compliance").json()
    assert (restored["due_on"], restored["personal_due_on"]) == (before["due_on"], None)
    expect(page.locator("#history li.entry").first).to_contain_text("Personal due date removed")


def test_the_trainee_page_with_a_personal_due_date_in_russian_and_kazakh(
    page: Any, phone: Any, enrolment: httpx.Client
) -> None:
    trainee = _trainee_with_a_requirement(enrolment, "Omarova")
    almaty_today = datetime.now(ZoneInfo("Asia/Almaty")).date()  # the academy's own date
    response = enrolment.put(
        f"/v1/trainees/{trainee['id']}/due-dates/{REQUIREMENT}",
        json={"due_on": (almaty_today + timedelta(days=90)).isoformat(), "reason": "Миссия ООН."},
    )
    assert response.status_code == 204, response.text
    path = f"/academy/trainees/{trainee['id']}"
    said = {
        "ru": ("Личный срок:", "Назначить личный срок", "Отменить"),
        "kk": ("Жеке мерзім:", "Жеке мерзім белгілеу", "Алып тастау"),
    }
    for tab, width in ((page, "desktop"), (phone, "phone")):
        sign_in(tab, "academy.ala", next_path=path)
        for language, (note, summary, remove) in said.items():
            use_language(tab, language)
            tab.goto(path)
            assert tab.locator("html").get_attribute("lang") == language
            row = _row(tab)
            expect(row).to_contain_text(note)
            expect(row).to_contain_text("Миссия ООН.")
            expect(row.locator("button")).to_have_text(remove)
            tab.locator("details.due-date-form summary").click()
            expect(tab.locator("details.due-date-form summary")).to_have_text(summary)
            wide = tab.evaluate("document.documentElement.scrollWidth")
            assert wide <= tab.viewport_size["width"], (
                f"{width} {language} is wider than the screen"
            )
            assert_accessible(tab)
            screenshot(tab, f"academy-trainee-personal-due-date-{width}-{language}")
