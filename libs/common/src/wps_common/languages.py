"""Which of several texts to show: the reader's language, then the academy's languages in the
order the academy set them (its fallback chain, e.g. kk → ru → en), then any text there is.
English is one language among others, not a required one."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def chain(preferred: str | None, academy_languages: Iterable[str] = ()) -> tuple[str, ...]:
    """The languages to try, best first, each once."""
    order: list[str] = []
    for code in (preferred, *academy_languages):
        if code and code not in order:
            order.append(code)
    return tuple(order)


def pick(texts: Mapping[str, str] | None, languages: Iterable[str]) -> tuple[str, str | None]:
    """The first non-empty text in `languages`, else the first non-empty text at all; with
    the language it is in (None when there is no text)."""
    if not texts:
        return "", None
    for code in (*languages, *texts):
        text = texts.get(code)
        if text:
            return text, code
    return "", None
