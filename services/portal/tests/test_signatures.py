"""The certificate's signatories and seal in a real browser, as academy.ala sets them: two
signatories with a signature image and a seal, kept when no new file is chosen; a file that is
not an image and one that is too large explained in certification's words; the page closed to
trainees and instructors, and another academy's images not shown. The page is accessible and
fits a phone in every language."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import expect

from .arrange import bearer
from .conftest import Platform, assert_accessible, screenshot, sign_in, use_language

PAGE = "/academy/signatures"
CURRENT = "section[aria-labelledby=current-heading]"
CHOOSE = {
    "en": "Choose a file No file chosen",
    "ru": "Выбрать файл Файл не выбран",
    "kk": "Файлды таңдау Файл таңдалмаған",
}


def _png(width: int = 360, height: int = 120, colour: str = "#1f3a8a") -> bytes:
    """A signature-like stroke on a transparent background."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.line(
        [(10, height - 30), (80, 20), (140, height - 20), (220, 30), (width - 20, height - 40)],
        fill=colour,
        width=6,
    )
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _seal() -> bytes:
    image = Image.new("RGBA", (240, 240), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((8, 8, 232, 232), outline="#1f4e99", width=10)
    draw.ellipse((50, 50, 190, 190), outline="#1f4e99", width=6)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _file(name: str, data: bytes, mime: str = "image/png") -> dict[str, Any]:
    return {"name": name, "mimeType": mime, "buffer": data}


class Certification:
    """Certification's API as a demo user, for arranging and checking."""

    def __init__(self, platform: Platform, username: str) -> None:
        headers = bearer(platform, username)
        self.http = httpx.Client(base_url=platform.urls["certification"], headers=headers)
        with httpx.Client(base_url=platform.urls["enrolment"], headers=headers) as enrolment:
            self.academy = enrolment.get("/v1/academies").json()["items"][0]

    @property
    def path(self) -> str:
        return f"/v1/certificate-signatures/{self.academy['id']}"

    def signatures(self) -> dict[str, Any]:
        response = self.http.get(self.path)
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    def set(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.put(self.path, json=body)
        assert response.status_code == 200, response.text
        saved: dict[str, Any] = response.json()
        return saved

    def upload(self, data: bytes) -> str:
        response = self.http.post(
            f"/v1/certificate-images/{self.academy['id']}",
            content=data,
            headers={"Content-Type": "image/png"},
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


@pytest.fixture
def almaty(platform: Platform) -> Iterator[Certification]:
    api = Certification(platform, "academy.ala")
    yield api
    api.http.close()


def _signed_in(page: Any, username: str, next_path: str) -> None:
    """Signed in and reading English (the demo staff's profiles say Russian)."""
    sign_in(page, username, next_path=next_path)
    use_language(page, "en")


def _fill_row(page: Any, n: int, name: str, title: str) -> None:
    page.fill(f"#f-name-{n}", name)
    page.fill(f"#f-title-{n}", title)


def _image_loads(page: Any, image: Any) -> None:
    """The preview shows: the browser decoded it, and the portal serves it as a PNG."""
    expect(image).to_be_visible()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )
    answer = page.request.get(image.get_attribute("src"))
    assert answer.status == 200
    assert answer.headers["content-type"] == "image/png"
    assert answer.body().startswith(b"\x89PNG\r\n\x1a\n")


def test_an_academy_admin_sets_two_signatories_and_a_seal_and_keeps_them(
    page: Any, almaty: Certification
) -> None:
    before = almaty.signatures()["version"]
    _signed_in(page, "academy.ala", "/academy/compliance")
    page.click(".academy-nav a:has-text('Certificate signatures')")
    page.wait_for_url(f"**{PAGE}")
    assert page.locator("h1").inner_text() == "Certificate signatures"
    assert_accessible(page)

    _fill_row(page, 1, "Aigerim Bekova", "Head of the Academy")
    page.set_input_files("#f-image-1", files=[_file("bekova.png", _png())])
    expect(page.locator("#f-image-1 + .file-choose .file-name")).to_have_text("bekova.png")
    _fill_row(page, 2, "Nurlan Sadykov", "Head of Training")
    _fill_row(page, 3, "", "")
    page.set_input_files("#f-seal", files=[_file("seal.png", _seal())])
    page.click("main button:has-text('Save the signatures')")
    page.wait_for_url(f"**{PAGE}")
    expect(page.locator(".notice.success")).to_have_text(
        "The signatures are saved. Certificates issued from now on carry them."
    )

    saved = almaty.signatures()
    assert saved["version"] == before + 1
    assert [(s["name"], s["title"]) for s in saved["signatories"]] == [
        ("Aigerim Bekova", "Head of the Academy"),
        ("Nurlan Sadykov", "Head of Training"),
    ]
    signature = saved["signatories"][0]["signature_image_id"]
    assert re.fullmatch(r"[0-9a-f]{64}", signature)
    assert saved["signatories"][1]["signature_image_id"] is None
    seal = saved["seal_image_id"]
    assert seal and seal != signature

    page.reload()
    current = page.locator(CURRENT)
    cards = current.locator("ul.signatories > li")
    expect(cards).to_have_count(2)
    expect(cards.nth(0)).to_contain_text("Aigerim Bekova")
    expect(cards.nth(0)).to_contain_text("Head of the Academy")
    expect(cards.nth(1)).to_contain_text("Nurlan Sadykov")
    expect(cards.nth(1)).to_contain_text("No signature image")
    preview = cards.nth(0).locator("img.signature-preview")
    assert (preview.get_attribute("src") or "").endswith(signature)
    assert preview.get_attribute("alt") == "Signature of Aigerim Bekova"
    _image_loads(page, preview)
    _image_loads(page, current.locator("img.seal-preview"))
    # The form starts from what is set: names typed in, images shown and kept.
    expect(page.locator("#f-name-2")).to_have_value("Nurlan Sadykov")
    expect(page.locator("input[name=image_id-1]")).to_have_value(signature)
    expect(page.locator("input[name=seal_image_id]")).to_have_value(seal)
    assert_accessible(page)
    screenshot(page, "academy-signatures")

    # No new file chosen: the images stay; only the changed title is new.
    page.fill("#f-title-2", "Deputy Head of the Academy")
    page.click("main button:has-text('Save the signatures')")
    page.wait_for_url(f"**{PAGE}")
    kept = almaty.signatures()
    assert kept["version"] == before + 2
    assert kept["signatories"][0]["signature_image_id"] == signature
    assert kept["signatories"][1]["title"] == "Deputy Head of the Academy"
    assert kept["seal_image_id"] == seal

    # Removing the seal and emptying a name drop them.
    page.check("#f-remove-seal")
    page.fill("#f-name-2", "")
    page.click("main button:has-text('Save the signatures')")
    page.wait_for_url(f"**{PAGE}")
    trimmed = almaty.signatures()
    assert [s["name"] for s in trimmed["signatories"]] == ["Aigerim Bekova"]
    assert trimmed["signatories"][0]["signature_image_id"] == signature
    assert trimmed["seal_image_id"] is None
    expect(page.locator(CURRENT)).to_contain_text("No seal.")


def test_a_file_that_is_not_an_image_is_explained_in_the_services_words(
    page: Any, almaty: Certification
) -> None:
    before = almaty.signatures()
    _signed_in(page, "academy.ala", PAGE)
    _fill_row(page, 1, "Aigerim Bekova", "Head of the Academy")
    page.set_input_files(
        "#f-image-1", files=[_file("signature.png", b"This is a letter, not a picture.\n")]
    )
    with page.expect_response(re.compile(r"/academy/signatures$")) as answer:
        page.click("main button:has-text('Save the signatures')")
    assert answer.value.status == 422
    problems = page.locator("#signatures-problems")
    expect(problems).to_be_visible()
    expect(problems).to_have_attribute("role", "alert")
    expect(problems).to_contain_text("The signatures were not saved.")
    expect(problems).to_contain_text(
        "Signature image of signatory 1: The file is not a readable PNG or JPEG image."
    )
    expect(page.locator("#f-image-1-error")).to_have_text(
        "The file is not a readable PNG or JPEG image."
    )
    expect(page.locator("#f-image-1")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-name-1")).to_have_value("Aigerim Bekova")
    assert '"detail"' not in page.content()
    assert_accessible(page)
    assert almaty.signatures()["version"] == before["version"]


def test_an_image_over_the_size_limit_is_explained_in_the_services_words(
    page: Any, almaty: Certification
) -> None:
    before = almaty.signatures()
    noise = Image.frombytes("RGB", (520, 520), os.urandom(520 * 520 * 3))
    out = io.BytesIO()
    noise.save(out, format="PNG")
    assert 512 * 1024 < len(out.getvalue()) < 1_000_000
    _signed_in(page, "academy.ala", PAGE)
    page.set_input_files("#f-seal", files=[_file("seal.png", out.getvalue())])
    with page.expect_response(re.compile(r"/academy/signatures$")) as answer:
        page.click("main button:has-text('Save the signatures')")
    assert answer.value.status == 413
    expect(page.locator("#signatures-problems")).to_contain_text(
        f"Seal image: The image is {len(out.getvalue())} bytes; at most 524288 are accepted."
    )
    expect(page.locator("#f-seal-error")).to_be_visible()
    assert almaty.signatures()["version"] == before["version"]


def test_trainees_instructors_and_other_academies_do_not_reach_it(
    page: Any, browser: Any, platform: Platform, almaty: Certification
) -> None:
    image = almaty.upload(_png(colour="#7a1f1f"))
    for username in ("trainee.ala", "instructor.ala"):
        tab = browser.new_context(base_url=platform.portal, locale="en-GB").new_page()
        try:
            _signed_in(tab, username, "/")
            expect(tab.locator(".academy-nav")).to_have_count(0)
            response = tab.goto(PAGE)
            assert response is not None and response.status == 403, username
            assert tab.locator("h1").inner_text() == "Not available to you"
            response = tab.goto(f"{PAGE}/{almaty.academy['id']}/images/{image}")
            assert response is not None and response.status == 403, username
        finally:
            tab.context.close()

    # The platform's administrator sees any academy's, picked like on the other academy pages.
    admin = browser.new_context(base_url=platform.portal, locale="en-GB").new_page()
    try:
        _signed_in(admin, "admin", f"{PAGE}?academy={almaty.academy['id']}")
        expect(admin.locator("#academy-choice option:checked")).to_contain_text("KZ-ALA")
        response = admin.goto(f"{PAGE}/{almaty.academy['id']}/images/{image}")
        assert response is not None and response.status == 200
    finally:
        admin.context.close()

    _signed_in(page, "academy.ast", PAGE)
    expect(page.locator(".academy-name")).to_contain_text("KZ-AST")
    response = page.goto(f"{PAGE}/{almaty.academy['id']}/images/{image}")
    assert response is not None and response.status == 404
    assert page.locator("h1").inner_text() == "Page not found"


def test_the_page_on_a_desktop_and_a_phone_in_every_language(
    page: Any, phone: Any, almaty: Certification
) -> None:
    almaty.set(
        {
            "signatories": [
                {
                    "name": "Бекова Айгерим Саматовна",
                    "title": "Начальник Алматинской академии полиции",
                    "signature_image_id": almaty.upload(_png()),
                },
                {
                    "name": "Садыков Нурлан Ерланович",
                    "title": "Заместитель начальника академии по учебной работе",
                    "signature_image_id": almaty.upload(_png(colour="#0b3d2e")),
                },
            ],
            "seal_image_id": almaty.upload(_seal()),
        }
    )
    for tab, width in ((page, "desktop"), (phone, "phone")):
        sign_in(tab, "academy.ala", next_path=PAGE)
        for language in ("en", "ru", "kk"):
            use_language(tab, language)
            response = tab.goto(PAGE)
            assert response is not None and response.status == 200, language
            assert tab.locator("html").get_attribute("lang") == language
            expect(tab.locator(f"{CURRENT} ul.signatories > li")).to_have_count(2)
            # The file pickers speak the page's language, not the browser's.
            picker = tab.locator("#f-image-3 + .file-choose")
            expect(picker).to_be_visible()
            expect(picker).to_have_text(CHOOSE[language])
            for image in tab.locator(f"{CURRENT} img").all():
                tab.wait_for_function(
                    "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
                )
            wide = tab.evaluate("document.documentElement.scrollWidth")
            assert wide <= tab.viewport_size["width"], f"{width}, {language}: wider than the screen"
            assert_accessible(tab)
            screenshot(tab, f"signatures-{width}-{language}")
    expect(page.locator("h1")).to_have_text("Сертификаттағы қолтаңбалар")
