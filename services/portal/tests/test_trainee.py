"""A trainee's own pages in a real browser, on data arranged through the services' APIs: the
mandatory training that applies, cohorts with their results, and certificates downloaded,
shared and verified; nobody else's certificate reachable; staff and unlinked accounts told so."""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pypdf import PdfReader

from wps_portal.pages.trainee import localised, pdf_language, printed_in

from .arrange import bearer, eventually
from .conftest import Platform, assert_accessible, screenshot, sign_in, use_language

PAGES = ("trainings", "cohorts", "certificates")


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture(scope="module")
def certified(platform: Platform) -> Iterator[dict[str, Any]]:
    """trainee.ala has passed every module of the track the catalogue's requirement for all
    personnel asks for, in a KZ-ALA cohort, and holds its certificate."""
    urls = platform.urls
    trainee, staff = bearer(platform, "trainee.ala"), bearer(platform, "academy.ala")
    instructor = bearer(platform, "instructor.ala")
    with httpx.Client(timeout=30) as http:
        me = ok(http.get(f"{urls['enrolment']}/v1/trainees/me", headers=trainee))
        requirement = ok(
            http.get(f"{urls['curriculum']}/v1/requirements/REQ-ALL-FOUND", headers=staff)
        )
        # The starter catalogue's rule for everyone: it applies to trainee.ala too.
        assert set(requirement["selector"].values()) == {"all"}
        published = ok(
            http.get(
                f"{urls['curriculum']}/v1/tracks", params={"status": "published"}, headers=staff
            )
        )
        [track] = [t for t in published["items"] if t["code"] == requirement["track_code"]]

        def cohort() -> Any:
            response = http.post(
                f"{urls['enrolment']}/v1/cohorts",
                json={
                    "academy_id": me["academy_id"],
                    "track_code": track["code"],
                    "title": "Foundation, Almaty spring intake",
                    "starts_on": "2026-03-02",
                    "ends_on": "2026-03-06",
                    "language": "ru",
                    "location": "Almaty, training centre",
                    "capacity": 20,
                },
                headers=staff,
            )
            return response.json() if response.status_code == 201 else None

        opened = eventually(cohort, "track.published to reach enrolment", seconds=60, pause=0.1)
        enrolment = ok(
            http.post(
                f"{urls['enrolment']}/v1/cohorts/{opened['id']}/enrolments",
                json={"trainee_id": me["id"]},
                headers=staff,
            ),
            201,
        )
        for module in track["modules"]:
            recorded = ok(
                http.post(
                    f"{urls['enrolment']}/v1/enrolments/{enrolment['id']}/results",
                    json={"module_code": module["code"], "attendance_pct": 100, "score": 92},
                    headers=instructor,
                ),
                201,
            )
            assert recorded["result"]["passed"], recorded
        assert recorded["enrolment"]["status"] == "completed"

        def certificate() -> Any:
            listed = ok(http.get(f"{urls['certification']}/v1/certificates", headers=trainee))
            return listed["items"][0] if listed["items"] else None

        issued = eventually(certificate, "the certificate to be issued", seconds=60, pause=0.1)

        def compliant() -> bool:
            rows = ok(
                http.get(f"{urls['enrolment']}/v1/trainees/{me['id']}/compliance", headers=trainee)
            )
            return any(
                r["requirement_code"] == "REQ-ALL-FOUND" and r["status"] == "compliant"
                for r in rows
            )

        eventually(
            compliant, "certificate.issued to make the requirement compliant", seconds=60, pause=0.1
        )
    yield {
        "me": me,
        "track": track,
        "cohort": opened,
        "enrolment": enrolment,
        "certificate": issued,
    }


def _downloaded(page: Any, selector: str) -> tuple[bytes, str]:
    with page.expect_download() as info:
        page.locator(selector).first.click()
    download = info.value
    return Path(download.path()).read_bytes(), download.suggested_filename


def test_my_trainings_cohorts_and_certificates(
    page: Any, platform: Platform, certified: dict[str, Any]
) -> None:
    certificate = certified["certificate"]
    sign_in(page, "trainee.ala", next_path="/me/trainings")
    use_language(page, "en")

    # Trainings: the rule for all personnel, met, with its date and the training it asks for.
    assert page.locator("h1").inner_text() == "My mandatory trainings"
    card = page.locator("#req-REQ-ALL-FOUND")
    assert card.locator("h2").inner_text() == "Foundation training for all personnel"
    assert card.locator(".badge").inner_text() == "Compliant"
    assert "Gender and human rights foundation" in card.locator(".facts").inner_text()
    assert "Valid until" in card.inner_text() and "Nothing for now" in card.inner_text()
    assert_accessible(page)
    screenshot(page, "trainee-trainings")

    # Cohorts: the cohort, completed, every module passed with attendance and score.
    card.get_by_role("link", name="See the certificate").wait_for()
    page.locator(".trainee-tabs").get_by_role("link", name="My cohorts and results").click()
    page.wait_for_url("**/me/cohorts")
    enrolment = page.locator(f"#enrolment-{certified['enrolment']['id']}")
    assert enrolment.locator(".card-head .badge").inner_text() == "Completed"
    rows = enrolment.locator("tbody tr")
    assert rows.count() == len(certified["track"]["modules"])
    for index in range(rows.count()):
        row = rows.nth(index)
        assert row.locator(".badge").inner_text() == "Passed"
        assert "100%" in row.inner_text() and "92" in row.inner_text()
    assert "GHR-101" in enrolment.inner_text()
    assert certificate["number"] in enrolment.inner_text()
    # The cohort as the trainee joined it: its title, training and dates (through their
    # enrolments; a trainee may not read cohorts).
    cohort = certified["cohort"]
    assert enrolment.locator("h2").inner_text() == cohort["title"]
    facts = enrolment.locator(".facts").inner_text()
    assert "Dates" in facts and cohort["starts_on"][:4] in facts
    assert_accessible(page)
    screenshot(page, "trainee-cohorts")

    # Certificates: valid, with its dates; the PDF and the signed credential download.
    page.locator(".trainee-tabs").get_by_role("link", name="My certificates").click()
    page.wait_for_url("**/me/certificates")
    mine = page.locator(f"#cert-{certificate['id']}")
    assert mine.locator(".card-head .badge").inner_text() == "Valid"
    facts = mine.locator(".facts").inner_text()
    assert certificate["number"] in facts and "Valid until" in facts
    assert mine.locator("h2").inner_text() == (
        "Certificate in Gender and Human Rights for Police (Foundation)"
    )
    pdf, name = _downloaded(page, f"#cert-{certificate['id']} a:has-text('Download PDF')")
    assert pdf.startswith(b"%PDF") and name == f"{certificate['number']}.pdf"
    assert "certificate of completion" in _pdf_text(pdf)
    jwt, name = _downloaded(page, f"#cert-{certificate['id']} a:has-text('signed credential')")
    assert name == f"{certificate['number']}.jwt"
    header, payload, signature = jwt.decode().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert "OpenBadgeCredential" in json.dumps(claims)
    assert json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["alg"] == "EdDSA"

    # The share panel: the portal's verification link and its QR code, labelled.
    code = certificate["verification_code"]
    link = f"{platform.portal}/verify/{code}"
    assert mine.locator("input[type=url]").input_value() == link
    qr = mine.locator("figure.qr svg[role=img]")
    assert qr.count() == 1 and certificate["number"] in (qr.get_attribute("aria-label") or "")
    assert_accessible(page)
    screenshot(page, "trainee-certificates")
    mine.get_by_role("link", name="Open the verification page").click()
    page.wait_for_url(f"**/verify/{code}")
    assert (
        "This certificate is genuine and currently valid." in page.locator(".verdict").inner_text()
    )

    # The QR code printed on the PDF points at certification: a browser lands on that page too.
    page.goto(f"{platform.urls['certification']}/v1/verify/{code}")
    assert page.url == link
    assert page.locator(".verdict.valid").count() == 1

    # In Russian the PDF is Russian.
    page.goto("/me/certificates")
    use_language(page, "ru")
    pdf, _ = _downloaded(page, f"#cert-{certificate['id']} a[href$='.pdf']")
    text = _pdf_text(pdf)
    assert "сертификат об окончании обучения" in text
    assert "гендер и права человека в деятельности полиции (базовый курс)" in text

    # In Kazakh the PDF is Kazakh (the starter track has Kazakh texts).
    use_language(page, "kk")
    pdf, _ = _downloaded(page, f"#cert-{certificate['id']} a[href$='.pdf']")
    text = _pdf_text(pdf)
    assert "оқуды аяқтағаны туралы сертификат" in text
    assert "полиция қызметіндегі гендер және адам құқықтары (базалық курс)" in text


def test_the_qr_code_opens_the_verification_page_in_the_certificates_language(
    browser: Any, platform: Platform, certified: dict[str, Any]
) -> None:
    """A browser in English that scans a Kazakh certificate's QR code gets the page in Kazakh
    until the person chooses another language; the academy's name follows the page language;
    on a phone the heading never breaks the certificate number at its hyphens."""
    certificate = certified["certificate"]
    code = certificate["verification_code"]
    with httpx.Client(timeout=15) as http:
        academy = ok(
            http.get(
                f"{platform.urls['enrolment']}/v1/academies/{certificate['academy_id']}",
                headers=bearer(platform, "academy.ala"),
            )
        )
    names = academy["names"]
    assert names.get("kk") and names.get("en") and names["kk"] != names["en"], names
    context = browser.new_context(
        base_url=platform.portal,
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        locale="en-GB",
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        page.goto(f"{platform.urls['certification']}/v1/verify/{code}?lang=kk")
        page.wait_for_url(f"**/verify/{code}?lang=kk")
        assert page.locator("html").get_attribute("lang") == "kk"
        assert names["kk"] in page.locator(".facts").inner_text()
        number = page.locator("h1 .certificate-number")
        assert number.inner_text() == certificate["number"]
        # One line box: the number is not broken (the heading breaks before it, if at all).
        assert number.evaluate("n => n.getClientRects().length") == 1
        assert_accessible(page)
        screenshot(page, "verify-qr-kk-phone")
        # The person chooses English: the page and the academy's name follow.
        use_language(page, "en")
        assert page.locator("html").get_attribute("lang") == "en"
        facts = page.locator(".facts").inner_text()
        assert names["en"] in facts and names["kk"] not in facts
        page.goto(f"/verify/{code}?lang=kk")
        assert page.locator("html").get_attribute("lang") == "en"  # a choice outranks the link
        screenshot(page, "verify-qr-en-phone")
    finally:
        context.close()


def _pdf_text(pdf: bytes) -> str:
    """The PDF's words in lower case (headings are set in capitals), one space between."""
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    return " ".join(text.split()).casefold()


@pytest.mark.parametrize("language", ["en", "ru", "kk"])
def test_every_page_on_a_desktop_and_a_phone(
    page: Any, phone: Any, certified: dict[str, Any], language: str
) -> None:
    for tab, width in ((page, "desktop"), (phone, "phone")):
        sign_in(tab, "trainee.ala")
        use_language(tab, language)
        for name in PAGES:
            tab.goto(f"/me/{name}")
            assert tab.locator("html").get_attribute("lang") == language
            assert tab.locator(".trainee-tabs [aria-current=page]").count() == 1
            # Nothing wider than the screen: wide tables scroll inside their own box.
            overflow = tab.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{name} overflows by {overflow}px at {width} ({language})"
            assert_accessible(tab)
            screenshot(tab, f"trainee-{name}-{width}-{language}")


def test_another_trainee_sees_none_of_them(
    page: Any, platform: Platform, certified: dict[str, Any]
) -> None:
    theirs = certified["certificate"]["id"]
    sign_in(page, "trainee.ast", next_path="/me/certificates")
    use_language(page, "en")
    assert "You have no certificates yet." in page.locator("main").inner_text()
    assert page.locator(".certificate").count() == 0
    for path in (f"/me/certificates/{theirs}.pdf", f"/me/certificates/{theirs}/credential.jwt"):
        response = page.goto(path)
        assert response.status == 404, path
        assert page.locator("h1").inner_text() == "Page not found"
    assert page.goto("/me/certificates/not-an-id.pdf").status == 404

    # Never certified: the rule for everyone is due, and the page says what to do.
    page.goto("/me/trainings")
    card = page.locator("#req-REQ-ALL-FOUND")
    assert card.locator(".badge").inner_text() == "Due"
    assert "Due by" in card.inner_text()
    assert "ask your academy to enrol you" in card.locator(".next").inner_text()
    page.goto("/me/cohorts")
    assert "You have not been enrolled in a cohort yet." in page.locator("main").inner_text()
    assert_accessible(page)
    screenshot(page, "trainee-cohorts-none")


def test_staff_are_told_these_pages_are_not_theirs(page: Any) -> None:
    sign_in(page, "academy.ala")
    use_language(page, "en")
    for name in PAGES:
        response = page.goto(f"/me/{name}")
        assert response.status == 403
        assert page.locator("h1").inner_text() == "Not available to you"
    assert page.goto("/me/certificates/x.pdf").status == 403


def test_an_account_without_a_trainee_record_is_told_so(page: Any, platform: Platform) -> None:
    staff = bearer(platform, "academy.ast")
    enrolment = platform.urls["enrolment"]
    with httpx.Client(timeout=30) as http:
        me = ok(http.get(f"{enrolment}/v1/trainees/me", headers=bearer(platform, "trainee.ast")))
        # The HR record now carries another number than the account: nothing links them.
        ok(
            http.patch(
                f"{enrolment}/v1/trainees/{me['id']}",
                json={"employee_number": "AST-2001-MOVED"},
                headers=staff,
            )
        )
        try:
            sign_in(page, "trainee.ast", next_path="/me/trainings")
            use_language(page, "en")
            for name in PAGES:
                page.goto(f"/me/{name}")
                heading = page.locator("h1").inner_text()
                assert heading == "Your account is not linked to a trainee record", name
                assert re.search(r"employee number", page.locator("main").inner_text())
            assert_accessible(page)
            screenshot(page, "trainee-unlinked")
        finally:
            ok(
                http.patch(
                    f"{enrolment}/v1/trainees/{me['id']}",
                    json={"employee_number": me["employee_number"]},
                    headers=staff,
                )
            )


def test_texts_and_pdfs_fall_back_like_the_pages() -> None:
    """Kazakh is shown in Russian where a text has no Kazakh; certificates are printed in
    Kazakh too."""
    assert [pdf_language(code) for code in ("en", "ru", "kk", "uk")] == ["en", "ru", "kk", "en"]
    titles = {"en": "Foundation", "ru": "Базовый курс"}
    assert localised(titles, "kk") == "Базовый курс"
    assert localised({"en": "Foundation"}, "kk") == "Foundation"
    assert localised({"kk": "Негізгі курс"}, "en") == "Негізгі курс"
    assert localised(None, "en") == ""


def test_a_pdf_comes_in_the_page_language_only_when_the_track_has_it() -> None:
    """A Russian certificate of a track without Kazakh texts downloads in Russian from a Kazakh
    page (the page says so), never Kazakh labels over a Russian title."""
    russian_only = {"language": "ru", "pdf_languages": ["ru"]}
    assert printed_in(russian_only, "kk") == "ru"
    assert printed_in(russian_only, "en") == "ru"
    every = {"language": "ru", "pdf_languages": ["ru", "kk", "en"]}
    assert [printed_in(every, code) for code in ("kk", "en", "ru")] == ["kk", "en", "ru"]
