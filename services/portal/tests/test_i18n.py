"""Languages: every string of the portal is translated into Russian and Kazakh, a string
missing in Kazakh falls back to Russian, then English, and dates follow the language."""

from __future__ import annotations

import contextvars
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir

from wps_portal import i18n

PORTAL = Path(i18n.__file__).parent
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}


def _extracted() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(PORTAL),
        METHODS,
        keywords={"_": None, "gettext": None, "ngettext": (1, 2), "N_": None},
        options_map=OPTIONS,
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


@pytest.mark.parametrize("language", ["ru", "kk"])
def test_every_string_is_translated(language: str) -> None:
    catalogue = i18n._catalogue(language)
    untranslated = sorted(m for m in _extracted() if catalogue.gettext(m) == m and m[:1].isalpha())
    # Names and codes read the same in every language; everything else must be translated.
    same_everywhere = {"Academy", "Certificate %(number)s"}
    assert [m for m in untranslated if m not in same_everywhere] == []


def test_a_string_missing_in_kazakh_falls_back_to_russian_then_english(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for language, body in (
        (
            "ru",
            'msgid "Cohorts"\nmsgstr "Группы"\n\nmsgid "Only Russian"\nmsgstr "Только русский"\n',
        ),
        ("kk", 'msgid "Cohorts"\nmsgstr "Топтар"\n'),
    ):
        folder = tmp_path / language / "LC_MESSAGES"
        folder.mkdir(parents=True)
        (folder / "messages.po").write_text(body, encoding="utf-8")
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    i18n.translations.cache_clear()
    try:
        kazakh = i18n.Language("kk")
        assert kazakh.gettext("Cohorts") == "Топтар"
        assert kazakh.gettext("Only Russian") == "Только русский"
        assert kazakh.gettext("Nowhere") == "Nowhere"
    finally:
        i18n.translations.cache_clear()


def test_dates_and_numbers_follow_the_language() -> None:
    day = date(2026, 11, 24)
    assert i18n.Language("en").date(day) == "Nov 24, 2026"
    assert i18n.Language("ru").date(day) == "24 нояб. 2026\u202fг."
    assert "2026" in i18n.Language("kk").date(day) and "қар" in i18n.Language("kk").date(day)
    assert i18n.Language("ru").number(12345.5) == "12\xa0345,5"


def test_kazakh_dates_read_naturally() -> None:
    kazakh = i18n.Language("kk")
    assert kazakh.date(date(2026, 5, 1)) == "2026 ж. 1 мамыр"  # not "2026 ж. 01 мам."
    assert kazakh.date(date(2026, 11, 25), "short") == "25.11.2026"  # not "25.11.26"
    at = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
    assert kazakh.date(at, "short") == "01.05.2026, 09:30"


@pytest.mark.parametrize("language", ["ru", "kk"])
def test_a_date_that_ends_a_sentence_ends_it_once(language: str) -> None:
    """Russian dates end in "г.": a sentence ending in one takes no second full stop."""
    speaks = i18n.Language(language)
    day = speaks.date(date(2026, 12, 25))
    sentences = [
        speaks.ngettext(
            "%(num)s certificate stops counting by %(date)s.",
            "%(num)s certificates stop counting by %(date)s.",
            n,
        )
        for n in (1, 2, 5)
    ] + [
        speaks.ngettext(
            "%(num)s recognised training stops counting by %(date)s.",
            "%(num)s recognised trainings stop counting by %(date)s.",
            n,
        )
        for n in (1, 2, 5)
    ]
    sentences += [
        speaks.gettext("Sent back by %(name)s on %(date)s."),
        speaks.gettext("This certificate expired on %(date)s."),
    ]
    for sentence in sentences:
        said = sentence % {"num": 1, "date": day, "name": "Ф. И."}
        assert said.endswith(".") and not said.endswith(".."), said


def test_an_instant_is_dated_in_the_users_academys_zone() -> None:
    # 20:30 UTC on 24 November is already 25 November in Almaty.
    enrolled = "2026-11-24T20:30:00+00:00"

    def in_almaty() -> tuple[str, str]:
        i18n.use_academy_zone("Asia/Almaty")
        return i18n.Language("en").day(enrolled), i18n.Language("kk").day(enrolled)

    assert contextvars.copy_context().run(in_almaty) == ("Nov 25, 2026", "2026 ж. 25 қараша")
    assert i18n.Language("en").day(enrolled) == "Nov 24, 2026"  # a user of no academy: UTC


def test_texts_fall_back_through_the_users_academys_languages() -> None:
    texts = {"en": "Foundation", "ru": "Основы", "ky": "Негиздер"}
    # Without an academy: the page language, then the portal's own order (kk → ru → en).
    assert i18n.in_language(texts, "kk") == ("Основы", "ru")
    assert i18n.in_language({"en": "Foundation", "kk": "Негіздер"}, "ru") == ("Foundation", "en")

    def in_an_academy(languages: list[str], lang: str) -> tuple[str, str | None]:
        i18n.use_academy_languages(languages)
        return i18n.in_language(texts, lang)

    # A Kyrgyz-first academy's user reading Kazakh sees the Kyrgyz text before the Russian one;
    # the page language still comes first. Each request sets its own (a copied context here).
    assert contextvars.copy_context().run(in_an_academy, ["ky", "ru"], "kk") == ("Негиздер", "ky")
    assert contextvars.copy_context().run(in_an_academy, ["ky", "ru"], "en") == ("Foundation", "en")
    assert i18n.in_language(texts, "kk") == ("Основы", "ru")  # this context set nothing
    assert i18n.in_language({"kk": "Тек қазақша"}, "en") == ("Тек қазақша", "kk")


def test_an_academys_name_in_the_page_language_else_in_its_own_order() -> None:
    academy = {
        "name": "Almaty Police Academy",
        "languages": ["kk", "ru"],
        "names": {"ru": "Алматинская академия полиции", "kk": "Алматы полиция академиясы"},
    }
    assert i18n.academy_name(academy, "ru") == "Алматинская академия полиции"
    assert i18n.academy_name(academy, "en") == "Алматы полиция академиясы"  # its first language
    assert i18n.academy_name({**academy, "languages": ["ru", "kk"]}, "en") == (
        "Алматинская академия полиции"
    )
    assert i18n.academy_name({**academy, "names": {}}, "kk") == "Almaty Police Academy"
    assert i18n.Language("kk").context()["academy_name"](academy) == "Алматы полиция академиясы"
