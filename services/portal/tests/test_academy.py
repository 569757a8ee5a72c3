"""The academy's people-and-courses pages in a real browser, as academy.ala does her work:
finding a trainee and changing a detail (the history names her), registering a duplicate
employee number, the HR import with its progress and row errors, and a cohort whose waitlist
moves up when a seat is freed. Another academy's trainee is not found; every page is
accessible and fits a phone."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from wps_portal.pages.academy import errors_csv

from .arrange import academy_by_code, enrol, enrolment_api, open_cohort, register
from .conftest import Platform, assert_accessible, screenshot, sign_in, use_language

STARTER_TRACK = "Gender and human rights foundation"  # GHR-FOUND, published at start


@pytest.fixture
def enrolment(platform: Platform) -> Iterator[httpx.Client]:
    """Enrolment's API as the platform administrator, for arranging data."""
    with enrolment_api(platform, "admin") as client:
        yield client


def _trainee_by_number(api: httpx.Client, number: str) -> dict[str, Any]:
    items = api.get("/v1/trainees", params={"q": number}).json()["items"]
    found: dict[str, Any] = next(t for t in items if t["employee_number"] == number)
    return found


def _register(api: httpx.Client, academy_id: str, family: str, given: str) -> dict[str, Any]:
    return register(
        api,
        academy_id,
        employee_number=f"T-{uuid.uuid4().hex[:8].upper()}",
        family_name=family,
        given_name=given,
        preferred_language="ru",
        gender="female",
    )


def _signed_in(page: Any, username: str, next_path: str, language: str = "en") -> None:
    sign_in(page, username, next_path=next_path)
    use_language(page, language)


def test_search_profile_and_an_edit_that_the_history_names(
    page: Any, enrolment: httpx.Client
) -> None:
    aliya = _trainee_by_number(enrolment, "ALA-1001")
    _signed_in(page, "academy.ala", "/academy/trainees")
    assert page.locator("h1").inner_text() == "Trainees"
    assert_accessible(page)

    page.fill("#f-q", "ALA-1001")
    page.click("main button:has-text('Search')")
    page.wait_for_url(re.compile(r"q=ALA-1001"))
    rows = page.locator("main table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Serikova Aliya")
    expect(rows.first).to_contain_text("ALA-1001")
    assert page.locator("[role=status].result-count").inner_text() == "1 trainee found"
    assert_accessible(page)
    screenshot(page, "academy-trainees")

    page.click("main table a:has-text('Serikova Aliya')")
    page.wait_for_url(f"**/academy/trainees/{aliya['id']}")
    assert page.locator("h1").inner_text() == "Serikova Aliya"
    compliance = page.locator("section[aria-labelledby=compliance-heading]")
    expect(compliance).to_contain_text("Foundation training for all personnel")
    # Due, or compliant once another test has certified her: the status the service reports.
    expect(compliance.locator(".badge")).to_have_text(re.compile(r"^(Due|Compliant)$"))
    assert_accessible(page)
    screenshot(page, "academy-trainee")

    try:
        page.click("main a:has-text('Edit details')")
        page.wait_for_url("**/edit")
        expect(page.locator("#f-rank")).to_have_value(aliya["rank"])
        assert_accessible(page)
        screenshot(page, "academy-trainee-edit")
        page.fill("#f-rank", "Captain")
        page.click("main button:has-text('Save changes')")
        page.wait_for_url(f"**/academy/trainees/{aliya['id']}#history")
        expect(page.locator(".notice.success")).to_have_text("The changes are saved.")
        latest = page.locator("#history li.entry").first
        expect(latest).to_contain_text("Aigerim Bekova")
        expect(latest).to_contain_text("Details changed")
        expect(latest).to_contain_text("Rank: Captain")
        expect(page.locator("dl.facts")).to_contain_text("Captain")
        assert_accessible(page)
        screenshot(page, "academy-trainee-history")
    finally:  # other pages' tests in this session read her record as the directory has it
        enrolment.patch(f"/v1/trainees/{aliya['id']}", json={"rank": aliya["rank"]})


def test_a_duplicate_employee_number_is_explained_next_to_the_field(
    page: Any, enrolment: httpx.Client
) -> None:
    _signed_in(page, "academy.ala", "/academy/trainees")
    page.click("main a:has-text('Register a trainee')")
    page.wait_for_url("**/academy/trainees/new")
    assert_accessible(page)
    page.fill("#f-employee_number", "ALA-1001")
    page.fill("#f-family_name", "Dzhaksybekova")
    page.fill("#f-given_name", "Madina")
    page.select_option("#f-gender", "female")
    page.fill("#f-rank", "Sergeant")
    with page.expect_response(re.compile(r"/academy/trainees/new$")) as answer:
        page.click("main button:has-text('Register')")
    assert answer.value.status == 409
    error = page.locator("#f-employee_number-error")
    expect(error).to_have_text("Employee number ALA-1001 is already registered in this academy.")
    number = page.locator("#f-employee_number")
    expect(number).to_have_attribute("aria-invalid", "true")
    assert "f-employee_number-error" in (number.get_attribute("aria-describedby") or "")
    # What was typed stays typed.
    expect(page.locator("#f-family_name")).to_have_value("Dzhaksybekova")
    expect(page.locator("#f-gender")).to_have_value("female")
    assert page.locator("pre").count() == 0 and '"detail"' not in page.content()
    assert_accessible(page)
    screenshot(page, "academy-trainee-new-duplicate")

    fresh = f"ALA-{uuid.uuid4().hex[:6].upper()}"
    page.fill("#f-employee_number", fresh)
    page.click("main button:has-text('Register')")
    page.wait_for_url(re.compile(r"/academy/trainees/[0-9a-f-]{36}$"))
    expect(page.locator(".notice.success")).to_have_text("Dzhaksybekova Madina is registered.")
    expect(page.locator("dl.facts")).to_contain_text(fresh)
    expect(page.locator("#history li.entry").first).to_contain_text("Aigerim Bekova")


def test_hr_import_in_partial_mode_reports_the_bad_row(page: Any, enrolment: httpx.Client) -> None:
    tag = uuid.uuid4().hex[:6].upper()
    rows = [
        "employee_number,family_name,given_name,gender,rank,unit,start_date",
        f"IMP-{tag}-1,Nurlanova,Dana,female,Sergeant,Patrol Service,2024-03-01",
        f"IMP-{tag}-2,Omarov,Timur,male,Lieutenant,Patrol Service,2024-02-31",
        f"IMP-{tag}-3,Kassymova,Zhanna,female,Captain,Investigations,01.09.2023",
    ]
    _signed_in(page, "academy.ala", "/academy/imports")
    assert page.locator("h1").inner_text() == "HR import"
    assert_accessible(page)
    screenshot(page, "academy-imports")

    page.set_input_files(
        "#f-file",
        files=[
            {
                "name": "personnel.csv",
                "mimeType": "text/csv",
                "buffer": "\n".join(rows).encode() + b"\n",
            }
        ],
    )
    expect(page.locator("#mode-partial")).to_be_checked()
    page.click("main button:has-text('Upload and import')")
    page.wait_for_url(re.compile(r"/academy/imports/[^/]+$"))
    job_id = page.url.rsplit("/", 1)[1]
    # academy.js follows the job and shows the final page when it is done.
    expect(page.locator("main .badge")).to_have_text("Done", timeout=30_000)
    bar = page.locator("progress#import-progress")
    expect(bar).to_have_attribute("max", "3")
    expect(bar).to_have_attribute("value", "3")
    assert bar.get_attribute("aria-labelledby") == "import-progress-label"
    expect(page.locator("#import-progress-text")).to_have_text("3 of 3 rows processed")
    counts = page.locator("dl.counts")
    expect(counts).to_contain_text("Newly registered")
    errors = page.locator("section[aria-labelledby=errors-heading] tbody tr")
    expect(errors).to_have_count(1)
    expect(errors.first.locator("th")).to_have_text("3")
    expect(errors.first).to_contain_text("start_date")
    expect(errors.first).to_contain_text("is not a date")
    assert_accessible(page)
    screenshot(page, "academy-import-job")

    state = page.request.get(f"/academy/imports/{job_id}/progress").json()
    assert state["done"] is True and state["processed"] == state["total"] == 3

    with page.expect_download() as download:
        page.click("main a:has-text('Download the errors (CSV)')")
    table = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8-sig"))))
    assert table[0] == ["Row", "Column", "Problem"]
    assert [row[:2] for row in table[1:]] == [["3", "start_date"]]
    assert "is not a date" in table[1][2]

    # The two good rows are trainees now, and the export carries them.
    page.goto(f"/academy/trainees?q=IMP-{tag}")
    expect(page.locator("main table tbody tr")).to_have_count(2)
    page.goto("/academy/imports")
    with page.expect_download() as export:
        page.click("main a:has-text('Download the current trainees')")
    exported = export.value.path().read_text(encoding="utf-8")
    assert exported.startswith("employee_number,") and f"IMP-{tag}-3" in exported
    assert f"IMP-{tag}-2" not in exported
    # The templates come from enrolment through the portal: the CSV in UTF-8 with its mark
    # (Excel reads Cyrillic typed into it), the workbook with the same columns.
    expect(page.locator("#f-file")).to_have_attribute("accept", re.compile(r"\.csv,\.xlsx"))
    with page.expect_download() as template:
        page.click("main a:has-text('Download the template (CSV)')")
    assert template.value.suggested_filename == "trainees-template.csv"
    content = template.value.path().read_bytes()
    assert content.startswith(b"\xef\xbb\xbf")
    header, example = content.decode("utf-8-sig").splitlines()
    assert header.split(",")[:3] == ["employee_number", "family_name", "given_name"]
    assert example.startswith("E-0001,")
    with page.expect_download() as workbook:
        page.click("main a:has-text('Download the template (Excel)')")
    assert workbook.value.suggested_filename == "trainees-template.xlsx"
    from openpyxl import load_workbook  # type: ignore[import-untyped]

    sheet = load_workbook(io.BytesIO(workbook.value.path().read_bytes())).worksheets[0]
    assert [c.value for c in sheet[1]][:3] == ["employee_number", "family_name", "given_name"]


def test_a_full_cohort_waitlists_and_a_withdrawal_promotes(
    page: Any, enrolment: httpx.Client
) -> None:
    almaty = academy_by_code(enrolment, "KZ-ALA")
    first = _register(enrolment, almaty["id"], "Tulegenova", "Asel")
    second = _register(enrolment, almaty["id"], "Akhmetov", "Nurlan")
    title = f"Foundation, capacity one {uuid.uuid4().hex[:4]}"

    _signed_in(page, "academy.ala", "/academy/cohorts")
    assert page.locator("h1").inner_text() == "Cohorts"
    page.click("main a:has-text('Open a cohort')")
    page.wait_for_url("**/academy/cohorts/new")
    assert_accessible(page)
    screenshot(page, "academy-cohort-new")
    page.select_option("#f-teaches", label=STARTER_TRACK)
    page.fill("#f-title", title)
    # Later than any other test's cohort: first in the list, which runs latest start first.
    page.fill("#f-starts_on", (date.today() + timedelta(days=900)).isoformat())
    page.fill("#f-ends_on", (date.today() + timedelta(days=904)).isoformat())
    page.fill("#f-capacity", "1")
    page.click("main button:has-text('Open the cohort')")
    page.wait_for_url(re.compile(r"/academy/cohorts/[^/]+$"))
    expect(page.locator(".notice.success")).to_have_text("The cohort is open for enrolment.")
    assert page.locator("h1").inner_text() == title
    cohort_url = page.url

    for trainee in (first, second):
        page.fill("#f-find", trainee["employee_number"])
        page.click("main button:has-text('Find')")
        page.click(f"main button:has-text('Enrol {trainee['family_name']}')")
        page.wait_for_url(cohort_url)
    expect(page.locator("[role=status].notice").last).to_have_text(
        "The cohort is full: Akhmetov Nurlan is on the waitlist, position 1."
    )
    expect(page.locator("#seated tbody tr")).to_have_count(1)
    expect(page.locator("#seated")).to_contain_text("Tulegenova Asel")
    waiting = page.locator("#waiting tbody tr")
    expect(waiting).to_have_count(1)
    expect(waiting.first.locator("td").first).to_have_text("1")
    expect(waiting.first).to_contain_text("Akhmetov Nurlan")
    assert_accessible(page)
    screenshot(page, "academy-cohort")

    page.click("#seated a:has-text('Withdraw')")
    page.wait_for_url("**/withdraw")
    assert page.locator("h1").inner_text() == "Withdraw Tulegenova Asel"
    reasons = page.locator("#f-reason_code option").all_inner_texts()
    assert reasons == [
        "Choose a reason",
        "At the trainee's request",
        "Operational needs",
        "Medical reasons",
        "Disciplinary reasons",
        "Other",
    ]
    assert_accessible(page)
    screenshot(page, "academy-withdraw")
    page.select_option("#f-reason_code", "operational")
    page.fill("#f-note", "Deployed to the city marathon security detail.")
    page.click("main button:has-text('Withdraw')")
    page.wait_for_url(cohort_url)
    notices = page.locator(".notice.success")
    expect(notices.first).to_have_text("Tulegenova Asel is withdrawn from the cohort.")
    expect(notices.last).to_have_text(
        "Akhmetov Nurlan moved up from the waitlist and now has the seat."
    )
    expect(page.locator("#seated")).to_contain_text("Akhmetov Nurlan")
    expect(page.locator("#waiting")).to_have_count(0)
    expect(page.locator("#withdrawn")).to_contain_text("Operational needs")

    page.goto("/academy/cohorts?track=GHR-FOUND")
    expect(page.locator("main table")).to_contain_text(title)
    expect(page.locator("main table tr", has_text=title)).to_contain_text("1 of 1")
    assert_accessible(page)
    screenshot(page, "academy-cohorts")


def test_another_academy_and_other_roles_do_not_see_almaty(
    page: Any, browser: Any, platform: Platform, enrolment: httpx.Client
) -> None:
    aliya = _trainee_by_number(enrolment, "ALA-1001")
    _signed_in(page, "academy.ast", "/academy/trainees")
    expect(page.locator("main table")).not_to_contain_text("Serikova")
    response = page.goto(f"/academy/trainees/{aliya['id']}")
    assert response is not None and response.status == 404
    assert page.locator("h1").inner_text() == "Page not found"
    response = page.goto(f"/academy/trainees/{aliya['id']}/edit")
    assert response is not None and response.status == 404

    trainee = browser.new_context(base_url=platform.portal, locale="en-GB").new_page()
    try:
        _signed_in(trainee, "trainee.ala", "/academy/trainees")
        assert trainee.locator("h1").inner_text() == "Not available to you"
    finally:
        trainee.context.close()


def test_an_administrator_picks_the_academy(page: Any) -> None:
    _signed_in(page, "admin", "/academy/trainees")
    page.select_option("#academy-choice", label="KZ-AST — Astana Police Academy")
    page.click("main button:has-text('Show')")
    page.wait_for_load_state("load")
    table = page.locator("main table")
    expect(table).to_contain_text("Abenov Yerlan")
    expect(table).not_to_contain_text("Serikova")
    assert_accessible(page)
    # The choice holds on the academy's other pages.
    page.goto("/academy/cohorts")
    assert "KZ-AST" in page.locator("#academy-choice option:checked").inner_text()


def test_every_page_on_a_desktop_and_a_phone_in_english_and_russian(
    page: Any, phone: Any, enrolment: httpx.Client
) -> None:
    # Records of its own: the demo users' records stay as other pages' tests expect them.
    almaty = academy_by_code(enrolment, "KZ-ALA")
    seated = _register(enrolment, almaty["id"], "Bekmukhambetova", "Gulzhan")
    enrolment.patch(
        f"/v1/trainees/{seated['id']}",
        json={"rank": "Senior lieutenant", "unit": "Medeu District Police Department"},
    ).raise_for_status()
    job = enrolment.post(
        f"/v1/academies/{almaty['id']}/imports",
        params={"mode": "partial"},
        files={
            "file": (
                "hr.csv",
                b"employee_number,family_name,given_name,start_date\n"
                b"SCR-1,Bekmukhambetova,Gulzhan,2024-13-01\n",
                "text/csv",
            )
        },
    ).json()
    cohort = open_cohort(
        enrolment,
        almaty["id"],
        title="Базовый курс, группа 3",
        starts_on=(date.today() + timedelta(days=14)).isoformat(),
        ends_on=(date.today() + timedelta(days=18)).isoformat(),
        language="ru",
        capacity=1,
    )
    seat = enrol(enrolment, cohort["id"], seated["id"])
    other = _register(enrolment, almaty["id"], "Zhumabayeva", "Aruzhan")
    enrolment.post(f"/v1/cohorts/{cohort['id']}/enrolments", json={"trainee_id": other["id"]})
    pages = {
        "trainees": "/academy/trainees",
        "trainee": f"/academy/trainees/{seated['id']}",
        "trainee-edit": f"/academy/trainees/{seated['id']}/edit",
        "trainee-new": "/academy/trainees/new",
        "imports": "/academy/imports",
        "import-job": f"/academy/imports/{job['id']}",
        "cohorts": "/academy/cohorts",
        "cohort-new": "/academy/cohorts/new",
        "cohort": f"/academy/cohorts/{cohort['id']}?find=Zhumabayeva",
        "withdraw": f"/academy/cohorts/{cohort['id']}/enrolments/{seat['id']}/withdraw",
    }
    for tab, width in ((page, "desktop"), (phone, "phone")):
        sign_in(tab, "academy.ala", next_path="/academy/trainees")
        for language in ("en", "ru"):
            use_language(tab, language)
            for name, path in pages.items():
                response = tab.goto(path)
                assert response is not None and response.status == 200, (name, language)
                if name == "import-job":  # academy.js shows the final page once it is done
                    expect(tab.locator("main .badge")).to_have_class(re.compile("import-succeeded"))
                assert tab.locator("html").get_attribute("lang") == language
                assert tab.locator("main h1").count() == 1, name
                wide = tab.evaluate("document.documentElement.scrollWidth")
                fits = wide <= tab.viewport_size["width"]
                assert fits, f"{name} ({width}, {language}) is wider than the screen"
                assert_accessible(tab)
                screenshot(tab, f"academy-{name}-{width}-{language}")


def test_error_cells_cannot_run_as_spreadsheet_formulas() -> None:
    errors = [
        {"row": 2, "column": "family_name", "reason": '=HYPERLINK("http://x")'},
        {"row": 3, "column": None, "reason": "+1"},
        {"row": 4, "column": "rank", "reason": "-2"},
        {"row": 5, "column": "unit", "reason": "@SUM(A1)"},
        {"row": 6, "column": "unit", "reason": "\tTab"},
        {"row": 7, "column": "unit", "reason": "\rReturn"},
        {"row": 8, "column": "start_date", "reason": "'2024-02-31' is not a date"},
    ]
    text = errors_csv(errors, ("Row", "Column", "Problem"))
    assert text.startswith("\ufeff")
    table = list(csv.reader(io.StringIO(text[1:])))
    assert table[0] == ["Row", "Column", "Problem"]
    assert [row[2] for row in table[1:]] == [
        '\'=HYPERLINK("http://x")',
        "'+1",
        "'-2",
        "'@SUM(A1)",
        "'\tTab",
        "'\rReturn",
        "'2024-02-31' is not a date",
    ]
    assert table[2][1] == ""
