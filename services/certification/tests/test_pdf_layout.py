"""The certificate never clips: long names and academy names are wrapped, then shrunk, and every
rendered text box lies inside the page's inner frame without touching another (pdfplumber)."""

from __future__ import annotations

import io
from typing import Any

import pdfplumber
import pytest

from wps_certification.fitting import Box, fit
from wps_certification.latin import latin_spelling
from wps_certification.pdf import ASSETS_DIR, CertificateModule, render_certificate

from .test_pdf import make_doc

MM = 72 / 25.4
# certificate.html: 7 mm page margin, then the inner frame 2.2 mm further in.
FRAME = (7 + 2.2) * MM

ACADEMY_93 = (
    "Academy of the Ministry of Internal Affairs of the Republic of Kazakhstan "
    "named after M. Bukenov"
)[:93]
ACADEMY_200 = (
    "Академия Министерства внутренних дел Республики Казахстан имени Малкеджара Букенова, "
    "Карагандинский филиал учебного центра по подготовке кадров органов внутренних дел и "
    "миграционной службы"
)[:200]
# Kazakh's own letters are wider or narrower than their Russian neighbours (Ә, Ғ, Қ, Ң, Ө, Ұ,
# Ү, Һ, І): measured with the font like any other.
ACADEMY_KK_200 = (
    "Қазақстан Республикасы Ішкі істер министрлігінің Мәлкеджар Бөкенбаев атындағы "
    "Қарағанды академиясы, құқық қорғау органдары мен көші-қон қызметінің кадрларын даярлау "
    "және біліктілігін арттыру өңірлік оқу орталығы, Үржар ауданы, Һ"
)[:200]
ACADEMY_KK_ONE_WORD = "Құқыққорғауоргандарыныңбіліктілігінарттыруөңірлікорталығы" * 3
NAME_KK_200 = ("Әйгерім-Ұлжан Нұрғалиқызы Өтегенова-Үмбетәлиева Һ " * 5)[:200]
NAME_200 = ("Айгерим-Жанар Сулейменова-Кенжебаева Нурсултановна " * 4)[:200]
NAME_LATIN_200 = ("Maria-Alejandra Fernández-Castellanos de la Vega " * 5)[:200]
ONE_WORD_200 = "Ш" * 200  # no place to break at all


def layout(data: bytes) -> tuple[Any, list[dict[str, Any]]]:
    with pdfplumber.open(io.BytesIO(data)) as document:
        assert len(document.pages) == 1, "the certificate takes more than one page"
        page = document.pages[0]
        words = page.extract_words(extra_attrs=["size"], keep_blank_chars=False)
        return (page.width, page.height), words


def squeeze(text: str) -> str:
    return "".join(text.split())


def assert_inside_and_apart(size: tuple[float, float], words: list[dict[str, Any]]) -> None:
    width, height = size
    for word in words:
        assert word["x0"] >= FRAME - 0.5, f"{word['text']!r} crosses the left frame"
        assert word["x1"] <= width - FRAME + 0.5, f"{word['text']!r} crosses the right frame"
        assert word["top"] >= FRAME - 0.5, f"{word['text']!r} crosses the top frame"
        assert word["bottom"] <= height - FRAME + 0.5, f"{word['text']!r} crosses the bottom"
    # No two words overlap (a clipped or overprinted line would); 0.5 pt of slack for glyph
    # boxes that touch.
    boxes = sorted(words, key=lambda w: (w["top"], w["x0"]))
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            if b["top"] >= a["bottom"] - 0.5:
                break
            overlap_x = min(a["x1"], b["x1"]) - max(a["x0"], b["x0"])
            overlap_y = min(a["bottom"], b["bottom"]) - max(a["top"], b["top"])
            assert overlap_x <= 0.5 or overlap_y <= 0.5, f"{a['text']!r} overlaps {b['text']!r}"


def words_of(words: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """The rendered words that spell `text` (in order, across lines)."""
    target = squeeze(text)
    # a run of consecutive words whose texts, put together, are the text without its spaces
    for first in range(len(words)):
        run = ""
        for last in range(first, len(words)):
            run += words[last]["text"]
            if not target.startswith(run):
                break
            if run == target:
                return words[first : last + 1]
    raise AssertionError(f"{text[:40]!r}… is not printed whole")


@pytest.mark.parametrize(
    ("language", "academy", "holder"),
    [
        ("ru", ACADEMY_200, NAME_200),
        ("en", ACADEMY_200, NAME_200),
        ("en", ACADEMY_93, NAME_LATIN_200),
        ("ru", ACADEMY_93, ONE_WORD_200),
        ("kk", ACADEMY_KK_200, NAME_KK_200),
        ("kk", ACADEMY_KK_ONE_WORD, NAME_200),
        ("en", ACADEMY_KK_200, NAME_KK_200),
    ],
)
def test_long_names_are_printed_whole_inside_the_frame(
    language: str, academy: str, holder: str
) -> None:
    data = render_certificate(make_doc(language, academy_name=academy, holder_name=holder))
    size, words = layout(data)
    assert_inside_and_apart(size, words)
    shown = latin_spelling(holder) if language == "en" else None
    name = words_of(words, shown or holder)
    # Shrunk to no less than the name's floor (15 pt); the sheet as a whole may then shrink a
    # little more to keep to one page (xhtml2pdf's keep-in-frame), never below 14 pt.
    assert min(w["size"] for w in name) >= 14
    words_of(words, academy.upper())
    if shown:  # the name as written, under its Latin spelling
        words_of(words, holder)


def test_long_names_with_many_modules_still_fit_one_page() -> None:
    modules = tuple(
        CertificateModule(f"M-{i:02d}", f"Module number {i} on a long subject title", 2)
        for i in range(25)
    )
    data = render_certificate(
        make_doc("en", academy_name=ACADEMY_200, holder_name=NAME_200, modules=modules)
    )
    size, words = layout(data)
    assert_inside_and_apart(size, words)
    assert any(w["text"] == "M-24" for w in words)
    # the sheet shrinks as a whole to keep to one page; the name stays readable
    assert min(w["size"] for w in words_of(words, NAME_200)) >= 8


def test_a_kazakh_certificate_with_many_modules_fits_one_page() -> None:
    modules = tuple(
        CertificateModule(f"M-{i:02d}", f"Қауіпсіздік саласындағы әйелдер, {i}-модуль", 2)
        for i in range(25)
    )
    data = render_certificate(
        make_doc("kk", academy_name=ACADEMY_KK_200, holder_name=NAME_KK_200, modules=modules)
    )
    size, words = layout(data)
    assert_inside_and_apart(size, words)
    assert any(w["text"] == "M-24" for w in words)
    words_of(words, ACADEMY_KK_200.upper())
    words_of(words, NAME_KK_200)


@pytest.mark.parametrize(
    ("language", "status", "mark"),
    [
        ("en", "superseded", "SUPERSEDED"),
        ("ru", "superseded", "ЗАМЕНЁН"),
        ("kk", "revoked", "КҮШІ ЖОЙЫЛДЫ"),
        ("kk", "superseded", "АУЫСТЫРЫЛҒАН"),
    ],
)
def test_the_status_stamp_holds_its_word(language: str, status: str, mark: str) -> None:
    (width, _), words = layout(render_certificate(make_doc(language, status=status)))
    stamped = words_of(words, mark)
    # certificate.html: the stamp spans the page less 49 mm each side, inside a 4 pt border
    assert min(w["x0"] for w in stamped) >= 49 * MM + 4
    assert max(w["x1"] for w in stamped) <= width - 49 * MM - 4
    assert len({round(w["top"]) for w in stamped}) == 1  # one line
    assert min(w["size"] for w in stamped) >= 24


def test_a_short_name_keeps_the_design_size() -> None:
    size, words = layout(render_certificate(make_doc("ru")))
    assert_inside_and_apart(size, words)
    assert [w["size"] for w in words_of(words, "Айгерим Сулейменова")] == [pytest.approx(27)] * 2


def test_a_two_line_name_breaks_near_its_middle() -> None:
    bold = ASSETS_DIR / "fonts" / "DejaVuSans-Bold.ttf"
    box = Box(bold, size=11, floor=7.5, width=500, lines=2, upper=True)
    fitted = fit(ACADEMY_93, box)
    assert fitted.size == 11
    assert len(fitted.lines) == 2
    first, second = (len(line) for line in fitted.lines)
    assert abs(first - second) < 15, fitted.lines  # not one word left alone on the second
    assert " ".join(fitted.lines) == ACADEMY_93.upper()


def test_a_double_barrelled_name_breaks_at_its_hyphen() -> None:
    bold = ASSETS_DIR / "fonts" / "DejaVuSans-Bold.ttf"
    fitted = fit("Сулейменова-Кенжебаева", Box(bold, size=27, floor=27, width=300, lines=1))
    assert fitted.lines == ("Сулейменова-", "Кенжебаева")


@pytest.mark.parametrize(
    ("name", "latin"),
    [
        ("Айгерим Сулейменова", "Aigerim Suleimenova"),
        ("Юлия Щукина", "Iuliia Shchukina"),
        ("Пётр Ёлкин", "Petr Elkin"),
        ("Әлия Қасымова", "Aliia Kasymova"),
        ("Нұрсұлтан Өмірбек", "Nursultan Omirbek"),
        ("Ғалым Ұланұлы", "Galym Ulanuly"),
        ("Олена Ґрищенко", "Olena Grishchenko"),  # ICAO's и is i, whatever the language
    ],
)
def test_icao_latin_spelling(name: str, latin: str) -> None:
    assert latin_spelling(name) == latin


def test_a_latin_name_has_no_second_spelling() -> None:
    assert latin_spelling("Maria Fernández") is None
    size, words = layout(render_certificate(make_doc("en", holder_name="Maria Fernández")))
    assert sum(1 for w in words if w["text"] == "Fernández") == 1


def test_a_russian_certificate_prints_the_name_as_written_only() -> None:
    size, words = layout(render_certificate(make_doc("ru")))
    assert not any(w["text"] == "Suleimenova" for w in words)
