"""The language a certificate is printed in, decided once at issue, and its texts in it: the
certificate's language first, then the academy's languages in the academy's order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from wps_certification.models import Certificate
from wps_certification.pdf import LANGUAGES
from wps_common.languages import chain, pick

__all__ = [
    "LANGUAGES",
    "academy_name_on",
    "certificate_language",
    "printed_language",
    "printed_languages",
    "text_on",
    "title_on",
]


def _written(track: Mapping[str, Any]) -> list[str]:
    """The languages the track has a text in: its certificate title's, then its title's."""
    return [
        code
        for key in ("certificate_title", "title")
        for code, text in (track.get(key) or {}).items()
        if text
    ]


def certificate_language(
    *, preferred: str | None, academy_languages: Sequence[str], track: Mapping[str, Any]
) -> str:
    """The trainee's language when the track has a text in it (its certificate title, or its
    title) and the template has labels in it; else the academy's first language, in the
    academy's order, that both have; else the first the track is written in that the template
    has; else English labels, with whatever text the track has. A certificate whose labels and
    title are in one language, never a Kazakh title under English labels."""
    written = _written(track)
    for code in chain(preferred, [*academy_languages, *written]):
        if code in LANGUAGES and code in written:
            return code
    return "en"


def text_on(
    texts: Mapping[str, str] | None, certificate: Certificate, language: str | None = None
) -> str:
    """A track's or module's text on `certificate`, printed in `language` (its own unless
    another is asked for): in that language, else the academy's next that has it, else any."""
    languages = chain(language or certificate.language, certificate.academy_languages or ())
    return pick(texts, languages)[0]


def academy_name_on(certificate: Certificate, language: str | None = None) -> str:
    """The academy's name on `certificate` printed in `language` (its own unless another is
    asked for), through the academy's languages; else the academy's official name."""
    return text_on(certificate.academy_names, certificate, language) or certificate.academy_name


def printed_languages(certificate: Certificate) -> list[str]:
    """The languages `certificate` can be printed in: its own, then those the track has a text
    in and the template has labels in (labels and title in one language)."""
    written = _written(certificate.track)
    return list(dict.fromkeys([certificate.language, *(c for c in written if c in LANGUAGES)]))


def printed_language(certificate: Certificate, asked: str | None) -> str:
    """The language a PDF of `certificate` is printed in when `asked` for one: that language
    when the track has it, else the certificate's own (never labels in a language the title is
    not in). `asked` is one of LANGUAGES (the API refuses others)."""
    if asked and asked in printed_languages(certificate):
        return asked
    return certificate.language


def title_on(certificate: Certificate, language: str | None = None) -> str:
    """The training's title on `certificate` printed in `language` (its own unless another is
    asked for): its certificate title in that language, else its title in that language (a
    language is chosen for a track that has either), else the certificate title through the
    academy's languages. The labels and the title are then in one language."""
    track = certificate.track
    code = language or certificate.language
    for key in ("certificate_title", "title"):
        text = (track.get(key) or {}).get(code)
        if text:
            return str(text)
    return text_on(track["certificate_title"], certificate, language)
