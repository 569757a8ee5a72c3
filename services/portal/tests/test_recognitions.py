"""Recognised training in a real browser: academy.ala records training a trainee did elsewhere
with its evidence, waits for someone else; academy.ala2 approves it, and the trainee's page
and compliance show it as recognised, not as a certificate. A wrong file and an unknown
employee number are explained next to their fields; a rejection needs its reason; the page is
closed to instructors. It is accessible and fits a phone in every language."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from .arrange import academy_by_code, enrolment_api, eventually, register
from .conftest import Platform, assert_accessible, screenshot, sign_in, use_language

PAGE = "/academy/recognitions"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PENDING = "section[aria-labelledby=pending-heading]"


@pytest.fixture
def api(platform: Platform) -> Iterator[httpx.Client]:
    with enrolment_api(platform, "academy.ala") as client:
        yield client


def _trainee(api: httpx.Client) -> dict[str, Any]:
    academy = academy_by_code(api, "KZ-ALA")
    number = f"REC-{uuid.uuid4().hex[:6].upper()}"
    return register(
        api,
        academy["id"],
        employee_number=number,
        family_name="Tulegenova",
        given_name="Madina",
        start_date="2025-01-01",
    )


def _signed_in(page: Any, username: str, language: str = "en") -> None:
    sign_in(page, username, next_path=PAGE)
    use_language(page, language)


def _fill(page: Any, number: str, evidence: dict[str, Any]) -> None:
    page.fill("#f-employee_number", number)
    page.select_option("#f-track_code", "GHR-FOUND")
    page.fill("#f-issuer", "OSCE Academy, Bishkek")
    page.fill("#f-completed_on", "2026-03-10")
    page.fill("#f-note", "Two-week residential course")
    page.set_input_files("#f-evidence", files=[evidence])


def _pdf(name: str = "certificate.pdf") -> dict[str, Any]:
    return {"name": name, "mimeType": "application/pdf", "buffer": PDF}


def _card(page: Any, trainee: dict[str, Any]) -> Any:
    return page.locator(f"{PENDING} li.card", has_text=trainee["employee_number"])


def test_one_admin_records_another_approves_and_it_counts_as_recognised(
    page: Any, browser: Any, platform: Platform, api: httpx.Client
) -> None:
    trainee = _trainee(api)
    _signed_in(page, "academy.ala")
    page.click(".academy-nav a:has-text('Recognised training')")
    page.wait_for_url(f"**{PAGE}")
    assert_accessible(page)

    # Wrong answers first: nobody with that number, then a file that is not a PDF or image.
    _fill(page, "NO-SUCH-1", _pdf())
    with page.expect_response(re.compile(r"/academy/recognitions$")) as answer:
        page.click("main button:has-text('Record for approval')")
    assert answer.value.status == 422
    expect(page.locator("#f-employee_number-error")).to_have_text(
        "No trainee of this academy has the employee number NO-SUCH-1."
    )
    expect(page.locator("#f-issuer")).to_have_value("OSCE Academy, Bishkek")
    _fill(
        page,
        trainee["employee_number"],
        {"name": "certificate.pdf", "mimeType": "application/pdf", "buffer": b"just text"},
    )
    with page.expect_response(re.compile(r"/academy/recognitions$")) as answer:
        page.click("main button:has-text('Record for approval')")
    assert answer.value.status == 415
    expect(page.locator("#f-evidence-error")).to_contain_text("must be a PDF, PNG or JPEG")
    expect(page.locator("#f-evidence")).to_have_attribute("aria-invalid", "true")
    assert_accessible(page)

    _fill(page, trainee["employee_number"], _pdf("osce-certificate.pdf"))
    page.click("main button:has-text('Record for approval')")
    page.wait_for_url(f"**{PAGE}")
    expect(page.locator(".notice.success")).to_contain_text(
        "The training is recorded for Tulegenova Madina."
    )
    mine = _card(page, trainee)
    expect(mine).to_contain_text("OSCE Academy, Bishkek")
    expect(mine).to_contain_text("by you")
    expect(mine).to_contain_text("another academy admin of the academy must approve or reject it")
    expect(mine.locator("button")).to_have_count(0)  # the recorder cannot decide
    download = page.request.get(mine.locator("a[download]").get_attribute("href"))
    assert download.status == 200 and download.body() == PDF
    assert download.headers["content-type"] == "application/pdf"
    assert 'filename="osce-certificate.pdf"' in download.headers["content-disposition"]

    other = browser.new_context(base_url=platform.portal, locale="en-GB").new_page()
    try:
        _signed_in(other, "academy.ala2")
        card = _card(other, trainee)
        expect(card.locator("button:has-text('Approve')")).to_be_visible()
        card.locator("button:has-text('Approve')").click()
        other.wait_for_url(f"**{PAGE}")
        expect(other.locator(".notice.success")).to_contain_text("Approved")
        expect(_card(other, trainee)).to_have_count(0)
        decided = other.locator(
            "section[aria-labelledby=decided-heading] tr", has_text=trainee["employee_number"]
        )
        expect(decided).to_contain_text("Approved")
    finally:
        other.context.close()

    def recognised() -> list[dict[str, Any]] | None:
        rows = api.get(f"/v1/trainees/{trainee['id']}/compliance").json()
        return rows if rows and rows[0]["basis"] == "recognised" else None

    [row] = eventually(recognised, "the approval to count")
    assert (row["status"], row["due_on"], row["certificate_id"]) == (
        "compliant",
        "2028-03-10",
        None,
    )
    page.goto(f"/academy/trainees/{trainee['id']}")
    expect(page.locator("section[aria-labelledby=compliance-heading] .recognised")).to_have_text(
        "Recognised training done elsewhere (not a certificate of this platform)"
    )
    assert_accessible(page)


def test_a_rejection_needs_its_reason(page: Any, api: httpx.Client) -> None:
    trainee = _trainee(api)
    academy = academy_by_code(api, "KZ-ALA")
    created = api.post(
        "/v1/recognitions",
        data={
            "trainee_id": trainee["id"],
            "track_code": "GHR-FOUND",
            "issuer": "UN Women training centre",
            "completed_on": "2026-02-01",
        },
        files={"evidence": ("scan.pdf", PDF, "application/pdf")},
    )
    assert created.status_code == 201, created.text
    assert created.json()["academy_id"] == academy["id"]
    _signed_in(page, "academy.ala2")
    card = _card(page, trainee)
    card.locator("button:has-text('Reject')").click()
    page.wait_for_url(f"**{PAGE}**")
    expect(page.locator(".notice.error")).to_have_text("Say why the training is not recognised.")
    assert api.get(f"/v1/recognitions/{created.json()['id']}").json()["status"] == "pending"
    card = _card(page, trainee)
    card.locator("textarea").fill("The course did not cover the standards of conduct.")
    card.locator("button:has-text('Reject')").click()
    page.wait_for_url(f"**{PAGE}")
    expect(page.locator(".notice.success")).to_have_text("Rejected: the training does not count.")
    found = api.get(f"/v1/recognitions/{created.json()['id']}").json()
    assert found["status"] == "rejected"
    assert found["decision_reason"] == "The course did not cover the standards of conduct."


def test_instructors_do_not_reach_it(page: Any) -> None:
    sign_in(page, "instructor.ala", next_path="/")
    use_language(page, "en")
    response = page.goto(PAGE)
    assert response is not None and response.status == 403


def test_the_page_on_a_desktop_and_a_phone_in_every_language(
    page: Any, phone: Any, api: httpx.Client
) -> None:
    trainee = _trainee(api)
    created = api.post(
        "/v1/recognitions",
        data={
            "trainee_id": trainee["id"],
            "track_code": "GHR-FOUND",
            "issuer": "Академия ОБСЕ в Бишкеке",
            "completed_on": "2026-04-20",
            "note": "Курс «Гендер и права человека в работе полиции», 40 часов",
        },
        files={"evidence": ("сертификат.pdf", PDF, "application/pdf")},
    )
    assert created.status_code == 201, created.text
    for tab, width in ((page, "desktop"), (phone, "phone")):
        sign_in(tab, "academy.ala2", next_path=PAGE)
        for language in ("en", "ru", "kk"):
            use_language(tab, language)
            response = tab.goto(PAGE)
            assert response is not None and response.status == 200, language
            assert tab.locator("html").get_attribute("lang") == language
            expect(_card(tab, trainee).locator("button")).to_have_count(2)
            wide = tab.evaluate("document.documentElement.scrollWidth")
            assert wide <= tab.viewport_size["width"], f"{width}, {language}: wider than the screen"
            assert_accessible(tab)
            screenshot(tab, f"recognitions-{width}-{language}")
    expect(page.locator("h1")).to_have_text("Танылған оқыту")


def test_recognised_training_running_out_is_on_the_expiring_list(
    page: Any, platform: Platform, api: httpx.Client
) -> None:
    trainee = _trainee(api)
    today = date.today()
    created = api.post(
        "/v1/recognitions",
        data={
            "trainee_id": trainee["id"],
            "track_code": "GHR-FOUND",
            "issuer": "UNPOL training centre",
            "completed_on": (today - timedelta(days=300)).isoformat(),
            "valid_until": (today + timedelta(days=10)).isoformat(),
        },
        files={"evidence": ("scan.pdf", PDF, "application/pdf")},
    )
    assert created.status_code == 201, created.text
    with enrolment_api(platform, "academy.ala2") as approver:
        approved = approver.post(f"/v1/recognitions/{created.json()['id']}/approve")
        assert approved.status_code == 200, approved.text
    sign_in(page, "academy.ala", next_path="/academy/compliance?view=expiring")
    use_language(page, "en")
    page.goto("/academy/compliance?view=expiring")
    row = page.locator("table.records-table tr", has_text=trainee["employee_number"])
    expect(row).to_contain_text("Recognised training")
    expect(row.locator("a")).to_have_count(0)  # no certificate to open
    # The summary says what runs out: not only certificates.
    expect(page.locator(".list-count")).to_contain_text("recognised training")


def _record_with(page: Any, number: str, evidence: dict[str, Any], **fields: str) -> Any:
    _fill(page, number, evidence)
    for name, value in fields.items():
        page.fill(f"#f-{name}", value)
    with page.expect_response(re.compile(r"/academy/recognitions(\?.*)?$")) as answer:
        page.click("main form[enctype] button[type=submit]")
    return answer.value


def test_refusals_are_sentences_of_the_page_language(page: Any, api: httpx.Client) -> None:
    """Each refusal, early (the form) or the service's (by its problem type), is one sentence
    of the page's language; never the service's English."""
    trainee = _trainee(api)
    number = trainee["employee_number"]
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    _signed_in(page, "academy.ala", "ru")
    expect(page.locator("#f-issuer")).to_have_attribute("minlength", "2")
    assert page.locator("#f-completed_on").get_attribute("max")
    answer = _record_with(page, number, _pdf(), issuer="X", completed_on=tomorrow)
    assert answer.status == 422
    expect(page.locator("#f-issuer-error")).to_have_text(
        "Укажите, кем выдан документ: не менее 2 символов."
    )
    expect(page.locator("#f-completed_on-error")).to_have_text(
        "Дата окончания обучения не может быть в будущем."
    )
    answer = _record_with(page, number, _pdf(), valid_until="2026-01-01")
    expect(page.locator("#f-valid_until-error")).to_have_text(
        "Дата «Действительно до» должна быть позже даты окончания обучения."
    )
    use_language(page, "kk")
    docx = {"name": "сертификат.docx", "mimeType": "application/msword", "buffer": b"PK\x03\x04"}
    assert _record_with(page, number, docx).status == 415
    expect(page.locator("#f-evidence-error")).to_contain_text("PDF, PNG немесе JPEG файлы")
    empty = {"name": "scan.pdf", "mimeType": "application/pdf", "buffer": b""}
    assert _record_with(page, number, empty).status == 422
    expect(page.locator("#f-evidence-error")).to_have_text(
        "Файл бос: құжаттың сканерін не фотосын таңдаңыз."
    )
    big = {"name": "big.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-" + b"0" * 5_300_000}
    assert _record_with(page, number, big).status == 413
    expect(page.locator("#f-evidence-error")).to_have_text(
        "Файл тым үлкен: 5 МБ-тан аспайтын файлды жүктеуге болады."
    )
    screenshot(page, "recognitions-refusals-kk")

    # The recorder approving their own record (a form sent anyway): a Kazakh sentence.
    created = api.post(
        "/v1/recognitions",
        data={
            "trainee_id": trainee["id"],
            "track_code": "GHR-FOUND",
            "issuer": "UNPOL",
            "completed_on": "2026-02-01",
        },
        files={"evidence": ("scan.pdf", PDF, "application/pdf")},
    )
    assert created.status_code == 201, created.text
    answered = page.evaluate(
        """async (id) => {
            const token = document.querySelector("input[name=csrf_token]").value;
            const sent = await fetch(`/academy/recognitions/${id}/approve`, {
                method: "POST", body: new URLSearchParams({csrf_token: token})});
            return await sent.text();
        }""",
        created.json()["id"],
    )
    flashed = re.search(r'<div class="notice error" role="status">([^<]*)</div>', answered)
    assert flashed is not None, answered[:3000]
    assert flashed.group(1) == (
        "Бұл оқуды сіз енгіздіңіз: оны академияның басқа әкімшісі бекітуі немесе қабылдамауы керек."
    )


def test_decisions_name_who_decided_and_are_cards_on_a_phone(
    phone: Any, browser: Any, platform: Platform, api: httpx.Client
) -> None:
    trainee = _trainee(api)
    created = api.post(
        "/v1/recognitions",
        data={
            "trainee_id": trainee["id"],
            "track_code": "GHR-FOUND",
            "issuer": "Академия ОБСЕ в Бишкеке",
            "completed_on": "2026-04-20",
        },
        files={"evidence": ("сертификат.pdf", PDF, "application/pdf")},
    )
    assert created.status_code == 201, created.text
    sign_in(phone, "academy.ala2", next_path=PAGE)
    use_language(phone, "ru")
    card = _card(phone, trainee)
    recorder = api.get(f"/v1/recognitions/{created.json()['id']}").json()["recorded_by_name"]
    assert recorder
    expect(card).to_contain_text(recorder)  # the approver sees who recorded it
    with enrolment_api(platform, "academy.ala2") as approver:
        approved = approver.post(f"/v1/recognitions/{created.json()['id']}/approve")
        assert approved.status_code == 200, approved.text
    phone.context.close()
    phone = browser.new_context(
        base_url=platform.portal, viewport={"width": 390, "height": 844}, is_mobile=True
    ).new_page()
    sign_in(phone, "academy.ala", next_path=PAGE)
    for language in ("ru", "kk"):
        use_language(phone, language)
        row = phone.locator(f"#r-{created.json()['id']}")
        expect(row.locator(".decided-by")).to_have_text(
            api.get(f"/v1/recognitions/{created.json()['id']}").json()["decided_by_name"]
        )
        table = phone.locator("table.decided-table")
        width = table.evaluate("t => t.getBoundingClientRect().width")
        region = phone.locator("section[aria-labelledby=decided-heading] .table-wrap")
        assert width <= region.evaluate("r => r.clientWidth") + 1, (language, width)
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        assert_accessible(phone)
        screenshot(phone, f"recognitions-decided-phone-{language}")
