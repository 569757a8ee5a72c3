"""Modules and tracks as two kinds of one thing: numbered versions of hashed content, with the
index columns lists filter, search and sort on derived from that content."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from wps_curriculum.models import Module, ModuleVersion, Track, TrackVersion
from wps_curriculum.schemas import FALLBACK_LANGUAGE

V = TypeVar("V", ModuleVersion, TrackVersion)


@dataclass(frozen=True)
class Kind(Generic[V]):
    """Modules and tracks share one review workflow; this says which one is meant."""

    name: str
    root: type[Module] | type[Track]
    version: type[V]

    @property
    def title(self) -> str:
        return self.name.capitalize()


MODULES = Kind("module", Module, ModuleVersion)
TRACKS = Kind("track", Track, TrackVersion)

LOCALISED_FIELDS = {
    "module": ("title", "summary", "objectives"),
    "track": ("title", "certificate_title", "description"),
}


def content_hash(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def complete_languages(kind: str, content: dict[str, Any]) -> list[str]:
    """Languages every non-empty localised field of the content is available in."""
    languages: set[str] | None = None
    for field in LOCALISED_FIELDS[kind]:
        value = content.get(field) or {}
        if value:
            languages = set(value) if languages is None else languages & set(value)
    return sorted(languages or set())


def _piped(values: Iterable[str]) -> str:
    items = list(values)
    return f"|{'|'.join(items)}|" if items else ""


def _sort_title(title: dict[str, str]) -> str:
    """Titles sort by their English text, or by their first text where there is no English."""
    text = title.get(FALLBACK_LANGUAGE) or next(iter(title.values()), "")
    return text.casefold()[:300]


def index_columns(kind: str, code: str, content: dict[str, Any]) -> dict[str, str]:
    """Columns lists filter, search and sort on, derived from a version's content."""
    words: list[str] = [code]
    for field in LOCALISED_FIELDS[kind]:
        for text in (content.get(field) or {}).values():
            words.extend(text if isinstance(text, list) else [text])
    words.extend(content.get("tags", []))
    words.extend(content.get("references", []))
    columns = {
        "sort_title": _sort_title(content["title"]),
        "search_text": "\n".join(words).casefold(),
        "languages": _piped(complete_languages(kind, content)),
        "tag_index": _piped(content.get("tags", content.get("target_roles", []))),
    }
    if kind == "track":
        columns["module_index"] = _piped(m["code"] for m in content["modules"])
    return columns


def fill(version: ModuleVersion | TrackVersion, kind: str, content: dict[str, Any]) -> None:
    """Set a version's content, its hash and the columns derived from it."""
    version.content = content
    version.content_hash = content_hash(content)
    for column, value in index_columns(kind, version.code, content).items():
        setattr(version, column, value)
