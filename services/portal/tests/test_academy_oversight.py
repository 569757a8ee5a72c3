"""Academy oversight in a real browser: the compliance dashboard against enrolment's own
numbers, its filters and its CSV/XLSX exports (formula cells neutralised), the reports with a
withheld cell explained, and a certificate revoked through the page and then verified."""

from __future__ import annotations

import csv
import io
import re
import uuid
from typing import Any

import httpx
import pytest

from .arrange import bearer, enrol, eventually, open_cohort, register
from .conftest import (
    Platform,
    assert_accessible,
    screenshot,
    sign_in,
    use_language,
)

MODULES = ("GHR-101", "WPS-101", "HR-102", "SEAH-101")  # the starter track GHR-FOUND


class Api:
    """The services as academy.ala (or another demo user) sees them, for arranging data."""

    def __init__(self, platform: Platform, username: str) -> None:
        headers = bearer(platform, username)
        self.enrolment = httpx.Client(base_url=platform.urls["enrolment"], headers=headers)
        self.certification = httpx.Client(base_url=platform.urls["certification"], headers=headers)
        self.academy = self.get(self.enrolment, "/v1/academies")["items"][0]

    @staticmethod
    def get(client: httpx.Client, path: str, **params: Any) -> Any:
        response = client.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def trainee(self, **fields: Any) -> dict[str, Any]:
        body = {
            "academy_id": self.academy["id"],
            "employee_number": f"OV-{uuid.uuid4().hex[:8]}",
            "given_name": "Madina",
            "family_name": "Tulegenova",
            "gender": "female",
            "rank": "Captain",
            **fields,
        }
        return register(self.enrolment, **body)

    def certificate_for(self, trainee: dict[str, Any]) -> dict[str, Any]:
        """The spine: a cohort of the starter track GHR-FOUND, every module passed, and the
        certificate that certification issues on track.completed."""
        cohort = open_cohort(
            self.enrolment,
            self.academy["id"],
            title="Foundation (oversight test)",
            starts_on="2026-11-02",
            ends_on="2026-11-06",
            capacity=20,
        )
        enrolment = enrol(self.enrolment, cohort["id"], trainee["id"])
        for module in MODULES:
            result = self.enrolment.post(
                f"/v1/enrolments/{enrolment['id']}/results",
                json={"module_code": module, "attendance_pct": 100, "score": 92},
            )
            assert result.status_code == 201, result.text

        def issued() -> dict[str, Any] | None:
            found = self.get(self.certification, "/v1/certificates", trainee_id=trainee["id"])
            return found["items"][0] if found["items"] else None

        return eventually(issued, "a certificate issued on track.completed", seconds=20, pause=0.1)


def dashboard_counts(page: Any) -> dict[str, int]:
    return {
        element.get_attribute("data-status"): int(element.inner_text().replace(",", ""))
        for element in page.locator(".stat-number").all()
    }


def test_the_dashboard_counts_filters_and_exports(page: Any, platform: Platform) -> None:
    api = Api(platform, "academy.ala")
    unit = f"Oversight unit {uuid.uuid4().hex[:6]}"
    formula = api.trainee(family_name="=HYPERLINK(1)", given_name="Formula", unit=unit)
    plain = api.trainee(unit=unit, rank="Major")

    sign_in(page, "academy.ala", next_path="/academy/compliance")
    use_language(page, "en")
    assert page.locator("h1").inner_text() == "Compliance with mandatory training"
    assert "Almaty Police Academy" in page.locator("main").inner_text()
    summary = api.get(api.enrolment, "/v1/compliance/summary", academy_id=api.academy["id"])
    counts = dashboard_counts(page)
    assert counts == {"total": summary["total"], **summary["by_status"]}
    assert summary["total"] >= 3  # the demo trainee and the two above
    # By requirement, as the summary says; the new unit has its own row.
    row = page.locator("table.by-requirement tbody tr", has_text="REQ-ALL-FOUND")
    assert row.locator("td").last.inner_text() == str(
        sum(summary["by_requirement"]["REQ-ALL-FOUND"].values())
    )
    assert (
        page.locator("table.by-unit tbody tr", has_text=unit).locator("td").last.inner_text() == "2"
    )
    assert_accessible(page)
    screenshot(page, "academy-oversight-compliance")

    # Nobody is overdue in a fresh academy (grace periods run for months).
    assert "Nobody is overdue." in page.locator("main").inner_text()

    # All records, narrowed by unit, then by rank.
    page.click(".tabs a:has-text('All records')")
    assert page.locator(".list-count").inner_text() == f"{summary['total']} records match."
    page.select_option("#f-unit", unit)
    page.click("form.filters button:has-text('Apply filters')")
    page.wait_for_load_state("load")
    rows = page.locator("table.records-table tbody tr")
    listed = api.get(api.enrolment, "/v1/compliance", academy_id=api.academy["id"], unit=unit)
    assert rows.count() == listed["total"] == 2
    assert "2 records match." in page.locator(".list-count").inner_text()
    page.select_option("#f-rank", "Major")
    page.click("form.filters button:has-text('Apply filters')")
    page.wait_for_load_state("load")
    assert rows.count() == 1
    assert plain["family_name"] in rows.first.inner_text()
    assert_accessible(page)
    page.click("text=Clear filters")
    page.select_option("#f-unit", unit)
    page.click("form.filters button:has-text('Apply filters')")
    page.wait_for_load_state("load")

    # The export is the list as filtered, every page of it, headers in English, ISO dates.
    with page.expect_download() as csv_download:
        page.click("text=Download CSV")
    assert csv_download.value.suggested_filename.startswith("compliance-KZ-ALA-all-")
    text = open(csv_download.value.path(), encoding="utf-8-sig").read()
    table = list(csv.DictReader(io.StringIO(text)))
    assert len(table) == 2
    by_number = {r["Employee number"]: r for r in table}
    assert by_number[formula["employee_number"]]["Family name"] == "'=HYPERLINK(1)"
    assert by_number[plain["employee_number"]]["Family name"] == "Tulegenova"
    assert by_number[plain["employee_number"]]["Status"] == "Due"
    assert by_number[plain["employee_number"]]["Requirement code"] == "REQ-ALL-FOUND"
    due = by_number[plain["employee_number"]]["Due by or valid until"]
    assert len(due) == 10 and due[4] == "-" and due[7] == "-"

    from openpyxl import load_workbook  # type: ignore[import-untyped]

    with page.expect_download() as xlsx_download:
        page.click("text=Download Excel")
    assert xlsx_download.value.suggested_filename.endswith(".xlsx")
    sheet = load_workbook(io.BytesIO(xlsx_download.value.path().read_bytes())).active
    header = [cell.value for cell in sheet[1]]
    assert header[:3] == ["Employee number", "Family name", "Given name"]
    cells = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    assert set(cells) == {formula["employee_number"], plain["employee_number"]}
    neutralised = cells[formula["employee_number"]][1]
    assert neutralised.value == "'=HYPERLINK(1)" and neutralised.data_type == "s"
    assert cells[plain["employee_number"]][header.index("Due by or valid until")].is_date


def test_an_admin_picks_the_academy(page: Any, platform: Platform) -> None:
    admin = Api(platform, "admin")
    academies = {a["code"]: a for a in admin.get(admin.enrolment, "/v1/academies")["items"]}
    sign_in(page, "admin", next_path="/academy/compliance")
    use_language(page, "en")
    page.select_option("#academy-choice", academies["KZ-AST"]["id"])
    page.click("form.scope-picker button")
    page.wait_for_load_state("load")
    summary = admin.get(
        admin.enrolment, "/v1/compliance/summary", academy_id=academies["KZ-AST"]["id"]
    )
    assert dashboard_counts(page) == {"total": summary["total"], **summary["by_status"]}
    # The choice follows the academy's pages.
    page.click(".academy-nav a:has-text('Reports')")
    assert page.locator("#academy-choice option:checked").inner_text().startswith("KZ-AST")


def test_reports_withhold_small_cells_and_say_why(page: Any, platform: Platform) -> None:
    api = Api(platform, "academy.ala")
    # One person of a rank nobody else holds: a group so small the service must withhold it,
    # whatever else other tests have added to the academy.
    lonely = f"Rank {uuid.uuid4().hex[:6]}"
    api.trainee(rank=lonely)
    report = api.get(
        api.enrolment, "/v1/reports/compliance", academy_id=api.academy["id"], by="rank"
    )
    assert next(cell for cell in report["cells"] if cell["group"] == lonely)["suppressed"]
    sign_in(page, "academy.ala", next_path="/academy/reports?by=rank")
    use_language(page, "en")
    assert page.locator("h1").inner_text() == "Reports by gender, rank, unit and track"
    table = page.locator("table[data-measure=compliance]")
    assert "withheld" in table.locator("tbody tr", has_text=lonely).inner_text()
    shown = [c for c in report["cells"] if not c["suppressed"] and c["group"]]
    for cell in shown:  # the groups shown show their totals (exact row: the label cell)
        label = table.locator(
            "tbody th[scope=row]", has_text=re.compile(f"^{re.escape(cell['group'])}$")
        )
        assert str(cell["total"]) in label.locator("xpath=..").inner_text()
    why = page.locator("#withheld-why")
    assert f"fewer than {report['k']} people" in why.inner_text()
    assert "nobody" in why.inner_text().lower() or "singled out" in why.inner_text()
    page.locator("a.withheld").first.click()
    assert page.url.endswith("#withheld-why")
    assert_accessible(page)
    screenshot(page, "academy-oversight-reports")

    page.select_option("#f-by", "rank")
    page.fill("#f-from", "2026-01-01")
    page.fill("#f-to", "2025-01-01")
    page.click("form.filters button:has-text('Show')")
    page.wait_for_load_state("load")
    assert page.locator("#f-to[aria-invalid=true]").count() == 1
    assert page.locator("#f-to-error").inner_text() == (
        "The end of the period must not be before its start."
    )


def test_revoke_a_certificate_and_verify_it(page: Any, browser: Any, platform: Platform) -> None:
    api = Api(platform, "academy.ala")
    trainee = api.trainee(given_name="Zarina", family_name="Akhmetova")
    certificate = api.certificate_for(trainee)

    sign_in(page, "academy.ala", next_path="/academy/certificates")
    use_language(page, "en")
    page.fill("#f-trainee", trainee["employee_number"])
    page.click("form.filters button:has-text('Show')")
    page.wait_for_load_state("load")
    rows = page.locator("table.certificates-table tbody tr")
    assert rows.count() == 1 and "Valid" in rows.first.inner_text()
    assert_accessible(page)
    screenshot(page, "academy-oversight-certificates")
    rows.first.locator("a").click()
    page.wait_for_load_state("load")
    assert page.locator("h1").inner_text() == f"Certificate {certificate['number']}"

    # Nothing was corrected: certification refuses a reissue and the page says its sentence.
    page.click("button:has-text('Reissue with the corrected details')")
    page.wait_for_load_state("load")
    assert (
        "unchanged since this certificate was issued" in page.locator("[role=alert]").inner_text()
    )

    # A reason is required (the browser asks for it; without it the portal asks too).
    page.locator("#f-reason").evaluate("e => e.removeAttribute('required')")
    page.click("button.danger")
    page.wait_for_load_state("load")
    assert page.locator("#f-reason[aria-invalid=true]").count() == 1
    assert_accessible(page)
    screenshot(page, "academy-oversight-certificate")

    page.fill("#f-reason", "Issued in error: the results were recorded for the wrong person.")
    page.click(f"button:has-text('Revoke certificate {certificate['number']}')")
    page.wait_for_load_state("load")
    assert (
        f"Certificate {certificate['number']} is revoked."
        in page.locator(".notice").first.inner_text()
    )
    assert page.locator(".status-line .badge").inner_text() == "Revoked"
    assert "recorded for the wrong person" in page.locator("dl.facts").first.inner_text()
    assert page.locator("button.danger").count() == 0
    assert_accessible(page)
    detail = page.url
    # Revoking twice: certification's 409, in its own words.
    response = page.request.post(
        f"/academy/certificates/{certificate['id']}/revoke",
        form={
            "reason": "again",
            "csrf_token": page.locator("input[name=csrf_token]").first.input_value(),
        },
    )
    assert response.status == 409 and "already revoked" in response.text()

    page.goto("/academy/certificates?status=revoked")
    assert certificate["number"] in page.locator("table.certificates-table").inner_text()
    page.select_option("#f-status", "valid")
    page.click("form.filters button:has-text('Show')")
    page.wait_for_load_state("load")
    assert certificate["number"] not in page.locator("main").inner_text()

    # The public verification page says revoked, and no longer until when it was valid.
    page.goto(detail)
    page.click("text=What a verifier sees")
    page.wait_for_url(f"**/verify/{certificate['verification_code']}")
    verdict = page.locator(".verdict")
    assert verdict.inner_text().startswith("Revoked")
    facts = page.locator("dl.facts").inner_text()
    assert "Valid until" not in facts and "recorded for the wrong person" not in facts

    # Another academy's administrator finds nothing there.
    other = browser.new_context(base_url=platform.portal, locale="en-GB")
    try:
        tab = other.new_page()
        sign_in(tab, "academy.ast", next_path="/academy/certificates")
        use_language(tab, "en")
        assert certificate["number"] not in tab.locator("main").inner_text()
        response = tab.goto(f"/academy/certificates/{certificate['id']}")
        assert response.status == 404
        assert tab.locator("h1").inner_text() == "Page not found"
        response = tab.request.post(
            f"/academy/certificates/{certificate['id']}/revoke",
            form={
                "reason": "not mine",
                "csrf_token": tab.locator("input[name=csrf_token]").first.input_value(),
            },
        )
        assert response.status == 404
    finally:
        other.close()


def test_other_roles_are_turned_away(page: Any) -> None:
    sign_in(page, "trainee.ala", next_path="/academy/compliance")
    use_language(page, "en")
    assert page.locator("h1").inner_text() == "Not available to you"
    response = page.goto("/academy/compliance.csv")
    assert response.status == 403


@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_pages_at_desktop_and_phone_width(
    page: Any, phone: Any, platform: Platform, language: str
) -> None:
    api = Api(platform, "academy.ala")
    certificates = api.get(api.certification, "/v1/certificates", limit=1)["items"]
    certificate = certificates[0] if certificates else api.certificate_for(api.trainee())
    pages = {
        "compliance": "/academy/compliance?view=all",
        "reports": "/academy/reports",
        "certificates": "/academy/certificates",
        "certificate": f"/academy/certificates/{certificate['id']}",
    }
    for tab, width in ((page, "desktop"), (phone, "phone")):
        sign_in(tab, "academy.ala", next_path="/academy/compliance")
        use_language(tab, language)
        for name, path in pages.items():
            response = tab.goto(path)
            assert response.status == 200
            assert tab.locator("html").get_attribute("lang") == language
            assert tab.locator("main pre").count() == 0
            # Wide tables scroll inside their frame; the page itself never scrolls sideways.
            assert (
                tab.evaluate("document.documentElement.scrollWidth") <= tab.viewport_size["width"]
            )
            assert_accessible(tab)
            screenshot(tab, f"academy-oversight-{name}-{width}-{language}")
