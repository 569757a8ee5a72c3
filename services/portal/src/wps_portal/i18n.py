"""Languages: English, Russian and Kazakh from gettext catalogues (locale/<lang>/LC_MESSAGES/
messages.po, compiled in memory at start), chosen by the switch, the profile or
Accept-Language, with a missing Kazakh string falling back to Russian, then English. Dates and
numbers are formatted by Babel for the chosen locale. The services' texts (titles, an academy's
name) are shown in the page language, else through the signed-in user's academy's languages in
its order, else as the portal falls back."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import NullTranslations, Translations
from starlette.requests import Request

from wps_common.languages import chain, pick

LANGUAGES = ("en", "ru", "kk")
NAMES = {"en": "English", "ru": "Русский", "kk": "Қазақша"}
# A string missing in Kazakh is shown in Russian (the second language of every Kazakh
# academy), and one missing in Russian in English.
FALLBACKS = {"kk": ("ru", "en"), "ru": ("en",), "en": ()}
LOCALE_DIR = Path(__file__).parent / "locale"
# Kazakh as people write it: CLDR's Kazakh gives "2026 ж. 01 мам." and "25.11.26"; a
# four-digit year and a day without its leading zero read naturally.
KAZAKH_DATES = {"short": "dd.MM.y", "medium": "y 'ж'. d MMMM", "long": "y 'ж'. d MMMM"}


def N_(message: str) -> str:  # noqa: N802 (gettext's name for "mark, translate later")
    """Marks a string for extraction where it is defined; it is translated where shown."""
    return message


# The signed-in user's academy's languages in its order (e.g. ("kk", "ru", "en")), set for the
# request once the user is known (web.current_user); empty for users of no academy.
_ACADEMY_LANGUAGES: ContextVar[tuple[str, ...]] = ContextVar("academy_languages", default=())


def use_academy_languages(languages: Iterable[str]) -> None:
    """The order this request's texts fall back through after the page language."""
    _ACADEMY_LANGUAGES.set(tuple(languages))


# The signed-in user's academy's time zone, set with its languages; UTC for users of none.
_ACADEMY_ZONE: ContextVar[str] = ContextVar("academy_zone", default="UTC")


def use_academy_zone(zone: str | None) -> None:
    """The zone this request's instants are dated in: the academy's, as on the staff pages."""
    _ACADEMY_ZONE.set(zone or "UTC")


def academy_zone() -> ZoneInfo:
    try:
        return ZoneInfo(_ACADEMY_ZONE.get())
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def in_language(texts: Any, lang: str) -> tuple[str, str | None]:
    """A service's localised text ({"en": …, "ru": …}) in the page language, else in the
    signed-in user's academy's languages in its order, else as the portal falls back
    (kk→ru→en), else any; with the language it is in (None for a plain string or nothing)."""
    if isinstance(texts, str):
        return texts, None
    if not isinstance(texts, dict) or not texts:
        return "", None
    order = chain(lang, (*_ACADEMY_LANGUAGES.get(), *FALLBACKS.get(lang, ()), "en", "ru"))
    text, code = pick({k: str(v) for k, v in texts.items() if v}, order)
    return text, code


def localised(texts: Any, lang: str, default: str = "") -> str:
    """`in_language` without the language; `default` when there is no text at all."""
    return in_language(texts, lang)[0] or default


def academy_name(academy: Any, lang: str) -> str:
    """An academy's name in the page language, else in the academy's own languages in its
    order, else any name it has, else its official name."""
    if not isinstance(academy, dict):
        return ""
    names = academy.get("names") or {}
    name, _ = pick(names, chain(lang, academy.get("languages") or ()))
    return name or str(academy.get("name") or academy.get("code") or "")


def _catalogue(language: str) -> NullTranslations:
    path = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return NullTranslations()
    with path.open("rb") as source:
        catalogue = read_po(source, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalogue, use_fuzzy=False)
    buffer.seek(0)
    return Translations(fp=buffer)


@cache
def translations(language: str) -> NullTranslations:
    chain = _catalogue(language)
    for fallback in FALLBACKS.get(language, ()):
        chain.add_fallback(_catalogue(fallback))
    return chain


def choose_language(request: Request) -> str:
    """The switch (kept in the session), then the profile (the token's locale), then the
    language a link carries (`?lang=`: a certificate's QR code sends its own), then the
    browser's Accept-Language, then English."""
    session = request.scope.get("session") or {}
    for candidate in (
        session.get("lang"),
        (session.get("user") or {}).get("locale"),
        request.query_params.get("lang"),
    ):
        if candidate in LANGUAGES:
            return str(candidate)
    header = request.headers.get("accept-language", "")
    preferred = [part.split(";")[0].strip().replace("-", "_") for part in header.split(",")]
    try:
        negotiated = Locale.negotiate([p for p in preferred if p], list(LANGUAGES), sep="_")
    except (UnknownLocaleError, ValueError):
        negotiated = None
    return str(negotiated) if negotiated else "en"


@dataclass(frozen=True)
class Language:
    """What a template needs to speak one language."""

    code: str

    @property
    def gettext(self) -> Callable[[str], str]:
        return translations(self.code).gettext

    @property
    def ngettext(self) -> Callable[[str, str, int], str]:
        return translations(self.code).ngettext

    def date(self, value: date | datetime | str | None, form: str = "medium") -> str:
        if value is None or value == "":
            return ""
        if isinstance(value, str):
            value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        if isinstance(value, datetime):
            if self.code == "kk" and form in KAZAKH_DATES:
                moment = format_time(value, format="short", locale=self.code)
                return f"{format_date(value.date(), KAZAKH_DATES[form], locale='kk')}, {moment}"
            return format_datetime(value, format=form, locale=self.code)
        if self.code == "kk" and form in KAZAKH_DATES:
            return format_date(value, KAZAKH_DATES[form], locale="kk")
        return format_date(value, format=form, locale=self.code)

    def day(self, value: str | datetime | None, form: str = "medium") -> str:
        """The date of an instant (the services answer in UTC) in the academy's time zone, so
        a trainee's page and the staff's say the same day."""
        if value is None or value == "":
            return ""
        at = datetime.fromisoformat(value) if isinstance(value, str) else value
        if at.tzinfo is not None:
            at = at.astimezone(academy_zone())
        return self.date(at.date(), form)

    def number(self, value: float | int | None) -> str:
        return "" if value is None else format_decimal(value, locale=self.code)

    def percent(self, value: float | None) -> str:
        return "" if value is None else format_percent(value, locale=self.code)

    def context(self) -> dict[str, Any]:
        return {
            "lang": self.code,
            "gettext": self.gettext,
            "ngettext": self.ngettext,
            "_": self.gettext,
            "format_date": self.date,
            "format_day": self.day,
            "format_number": self.number,
            "format_percent": self.percent,
            "academy_name": lambda academy: academy_name(academy, self.code),
            "languages": NAMES,
        }
