"""Tests for the certificate PDF renderer: content, determinism, escaping and resource policy."""

from __future__ import annotations

import dataclasses
import datetime
import http.server
import io
import multiprocessing
import pathlib
import pickle
import shutil
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from types import SimpleNamespace
from typing import Any

import pytest
from fontTools.ttLib import TTFont
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from pypdf import PdfReader
from xhtml2pdf import pisa
from xhtml2pdf.config.resources import PERMISSIVE_POLICY

from wps_certification import pdf
from wps_certification.pdf import (
    ASSETS_DIR,
    TEMPLATE_VERSION,
    CertificateDocument,
    CertificateModule,
    render_certificate,
)

CODE = "7KQ4-MX9P-2HDR-WT3C"
URL = f"http://localhost:8003/v1/verify/{CODE}"


# What a test certificate says, in the certificate's language (the renderer is given texts
# already picked: documents.py chooses them).
TEXTS: dict[str, tuple[str, str, str, str]] = {
    "en": (
        "Police Academy of Kazakhstan",
        "Gender and human rights in policing",
        "Gender equality",
        "Human rights",
    ),
    "ru": ("Академия МВД", "Гендер и права человека", "Гендерное равенство", "Права человека"),
    "kk": (
        "Қазақстан Республикасы ІІМ Академиясы",
        "Құқық қорғау қызметіндегі гендер және адам құқықтары",
        "Гендерлік теңдік",
        "Адам құқықтары",
    ),
}


def make_doc(language: str = "en", **changes: Any) -> CertificateDocument:
    academy, track, first, second = TEXTS.get(language, TEXTS["en"])
    doc = CertificateDocument(
        language=language,
        holder_name="Айгерим Сулейменова",
        employee_number="EMP-004217",
        academy_name=academy,
        track_title=track,
        modules=(
            CertificateModule("GHR-01", first, 8),
            CertificateModule("GHR-02", second, 4.5),
        ),
        issued_on=datetime.date(2026, 11, 23),
        expires_on=None if language == "ru" else datetime.date(2029, 11, 23),
        number="KA-2026-000001",
        verification_code=CODE,
        verification_url=URL,
    )
    return dataclasses.replace(doc, **changes)


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    # Collapse whitespace: long values may wrap onto a second line in the layout.
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def page_count(data: bytes) -> int:
    return len(PdfReader(io.BytesIO(data)).pages)


def test_english_certificate() -> None:
    data = render_certificate(make_doc("en"))
    assert data.startswith(b"%PDF")
    assert page_count(data) == 1
    text = pdf_text(data)
    for expected in (
        "Айгерим Сулейменова",
        CODE,
        "KA-2026-000001",
        "CERTIFICATE OF COMPLETION",
        "has successfully completed",
        "Gender and human rights in policing",
        "Total hours",
        "12.5",
        "23 November 2026",
        "23 November 2029",
        f"Verify at {URL}",
        TEMPLATE_VERSION,
    ):
        assert expected in text
    assert "REVOKED" not in text


def test_russian_certificate() -> None:
    data = render_certificate(make_doc("ru"))
    assert data.startswith(b"%PDF")
    assert page_count(data) == 1
    text = pdf_text(data)
    for expected in (
        "Айгерим Сулейменова",
        CODE,
        "KA-2026-000001",
        "СЕРТИФИКАТ ОБ ОКОНЧАНИИ ОБУЧЕНИЯ",
        "Всего часов",
        "12,5",
        "23 ноября 2026",
        "Бессрочно",
        "Гендерное равенство",
    ):
        assert expected in text


def test_kazakh_certificate() -> None:
    data = render_certificate(make_doc("kk"))
    assert page_count(data) == 1
    text = pdf_text(data)
    for expected in (
        "Айгерим Сулейменова",
        "ҚАЗАҚСТАН РЕСПУБЛИКАСЫ ІІМ АКАДЕМИЯСЫ",
        "ОҚУДЫ АЯҚТАҒАНЫ ТУРАЛЫ СЕРТИФИКАТ",
        "Осы сертификат иесі",
        "Табель нөмірі EMP-004217",
        "келесі оқу бағдарламасын сәтті аяқтады:",
        "Құқық қорғау қызметіндегі гендер және адам құқықтары",
        "Гендерлік теңдік",
        "Жалпы сағат",
        "12,5",
        "БЕРІЛГЕН КҮНІ 2026 жылғы 23 қараша",  # the footer's labels are set in capitals
        "ЖАРАМДЫЛЫҚ МЕРЗІМІ 2029 жылғы 23 қараша",
        "СЕРТИФИКАТ НӨМІРІ KA-2026-000001",
        f"ТЕКСЕРУ КОДЫ {CODE}",
        f"Тексеру: {URL}",
    ):
        assert expected in text
    # the Latin spelling is for English certificates only
    assert "Aigerim" not in text
    assert "Мерзімсіз" in pdf_text(render_certificate(make_doc("kk", expires_on=None)))


def test_the_fonts_have_every_letter_of_the_kazakh_alphabet() -> None:
    # A letter the embedded font lacks is printed as an empty box, and nothing else notices.
    kazakh = "аәбвгғдеёжзийкқлмнңоөпрстуұүфхһцчшщъыіьэюя"
    for path in pdf._FONTS:
        with TTFont(path) as font:
            cmap = font.getBestCmap()
        missing = [c for c in kazakh + kazakh.upper() if ord(c) not in cmap]
        assert not missing, f"{path.name} lacks {''.join(missing)}"


def test_unknown_language_falls_back_to_english() -> None:
    text = pdf_text(render_certificate(make_doc("de", expires_on=None)))
    assert "CERTIFICATE OF COMPLETION" in text
    assert "No expiry" in text


def test_same_document_gives_identical_bytes() -> None:
    doc = make_doc("ru", status="revoked")
    assert render_certificate(doc) == render_certificate(doc)


def test_renders_identically_in_a_process_pool() -> None:
    # The service renders in a process pool: the document must pickle, and a fresh interpreter
    # must produce the very same bytes (no per-process counters or timestamps leak in).
    doc = make_doc("en")
    assert pickle.loads(pickle.dumps(doc)) == doc
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        assert pool.submit(render_certificate, doc).result(timeout=120) == render_certificate(doc)


@pytest.mark.parametrize(
    ("status", "language", "mark"),
    [
        ("revoked", "en", "REVOKED"),
        ("revoked", "ru", "ОТОЗВАН"),
        ("expired", "en", "EXPIRED"),
        ("expired", "ru", "ИСТЁК"),
        ("superseded", "en", "SUPERSEDED"),
        ("superseded", "ru", "ЗАМЕНЁН"),
        ("revoked", "kk", "КҮШІ ЖОЙЫЛДЫ"),
        ("expired", "kk", "МЕРЗІМІ ӨТКЕН"),
        ("superseded", "kk", "АУЫСТЫРЫЛҒАН"),
    ],
)
def test_status_mark(status: str, language: str, mark: str) -> None:
    data = render_certificate(make_doc(language, status=status))
    assert page_count(data) == 1
    assert mark in pdf_text(data)


def test_many_modules_still_fit_one_page() -> None:
    modules = tuple(CertificateModule(f"M-{i:02d}", f"Module number {i}", 2) for i in range(25))
    data = render_certificate(make_doc("en", modules=modules, holder_name="Long Name " * 12))
    assert page_count(data) == 1
    assert "M-24" in pdf_text(data)


def test_user_text_is_escaped() -> None:
    name = '<img src="file:///etc/passwd"> & <b>bold</b>'
    data = render_certificate(make_doc("en", holder_name=name, track_title="<i>x</i>"))
    text = pdf_text(data)
    assert name in text
    assert "<i>x</i>" in text
    assert b"root:x:0:0" not in data


def secret_png(directory: pathlib.Path, marker: str) -> pathlib.Path:
    path = directory / "secret.png"
    image = Image.new("RGB", (40, 40), (200, 30, 30))
    info = PngInfo()
    info.add_text("secret", marker)
    image.save(path, pnginfo=info)
    path.with_suffix(".txt").write_text(marker, encoding="utf-8")
    return path


def image_count(data: bytes) -> int:
    return sum(len(page.images) for page in PdfReader(io.BytesIO(data)).pages)


def test_secret_file_in_holder_name_is_not_read(tmp_path: pathlib.Path) -> None:
    marker = "MARKER-5f1c0d9e-secret"
    secret = secret_png(tmp_path, marker)
    name = f'<img src="file://{secret}"><img src="{secret.with_suffix(".txt")}">'
    data = render_certificate(make_doc("en", holder_name=name))
    assert marker.encode() not in data
    # printed as text (over several lines: the name is wrapped to fit)
    assert f'src="file://{secret}"' in "".join(pdf_text(data).split())
    assert image_count(data) == 1  # only the QR code


def test_policy_blocks_local_files_in_raw_html(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Raw markup, no escaping involved: only the resource policy stands between it and the file.
    marker = "MARKER-8e2a47b1-secret"
    secret = secret_png(tmp_path, marker)
    source = (
        f'<html><head><link rel="stylesheet" href="{secret.with_suffix(".txt")}">'
        f'<style>@import url("file://{secret.with_suffix(".txt")}");</style></head>'
        f'<body><p>raw</p><img src="file://{secret}"><img src="{secret}">'
        f'<img src="../../../../../../../../..{secret}"></body></html>'
    )
    with caplog.at_level("WARNING", logger="xhtml2pdf"):
        data = pdf._html_to_pdf(source)
    assert data.startswith(b"%PDF")
    assert marker.encode() not in data
    assert image_count(data) == 0
    assert "Blocked by the resource policy" in caplog.text

    # Control: the same markup without the policy does embed the image, so the check above is
    # measuring the policy and not an image that would never have been drawn anyway.
    out = io.BytesIO()
    pisa.CreatePDF(source, dest=out, resource_policy=PERMISSIVE_POLICY)
    assert image_count(out.getvalue()) > 0


@pytest.fixture
def recording_server() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            seen.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_policy_blocks_remote_requests(recording_server: tuple[str, list[str]]) -> None:
    base, seen = recording_server
    source = (
        f'<html><head><link rel="stylesheet" href="{base}/link.css">'
        f'<style>@import url("{base}/import.css");'
        f'@font-face {{ font-family: X; src: url("{base}/font.ttf"); }}'
        f'body {{ background-image: url("{base}/bg.png"); }}</style></head>'
        f'<body><p style="font-family: X">raw</p><img src="{base}/x.png">'
        f'<div style="background-image: url({base}/div.png)">y</div></body></html>'
    )
    data = pdf._html_to_pdf(source)
    assert data.startswith(b"%PDF")
    assert seen == []
    # The same URL in user text is just text, and is never fetched either.
    render_certificate(make_doc("en", holder_name=f'<img src="{base}/name.png">'))
    assert seen == []


def test_data_uri_qr_survives_the_policy() -> None:
    assert image_count(render_certificate(make_doc("en"))) == 1


def test_missing_fonts_raise(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    monkeypatch.setattr(pdf, "_FONTS", (tmp_path / "DejaVuSans.ttf",))
    with pytest.raises(RuntimeError, match="fonts are missing"):
        render_certificate(make_doc("en"))


def test_pisa_errors_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(*_args: object, **_kwargs: object) -> SimpleNamespace:
        return SimpleNamespace(err=1, log=[("error", 1, "broken template", "")])

    monkeypatch.setattr(pisa, "CreatePDF", failing)
    with pytest.raises(RuntimeError, match="broken template"):
        render_certificate(make_doc("en"))


def test_assets_are_shipped() -> None:
    for name in (
        "certificate.html",
        "fonts/DejaVuSans.ttf",
        "fonts/DejaVuSans-Bold.ttf",
        "LICENSE-DejaVu.txt",
    ):
        assert (ASSETS_DIR / name).is_file()


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) missing")
@pytest.mark.parametrize("language", ["en", "ru", "kk"])
def test_first_page_rasterises_as_landscape(tmp_path: pathlib.Path, language: str) -> None:
    source = tmp_path / "cert.pdf"
    source.write_bytes(render_certificate(make_doc(language, status="revoked")))
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(source), str(tmp_path / "p")],
        check=True,
        timeout=60,
    )
    (png,) = tmp_path.glob("p*.png")
    with Image.open(png) as image:
        width, height = image.size
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
    assert abs(width / height - 297 / 210) < 0.01  # A4 landscape
    assert colours is not None and len(colours) > 10  # something was drawn, not a blank page
