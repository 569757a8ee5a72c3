"""What a field of any API may hold, said once: texts without control characters, names without
bidirectional overrides, integers and dates a database can store — so hostile input is a 422
that names the field, never a 500 — and how text is made safe to print or open in a spreadsheet.

Use the annotated types in request bodies and route parameters alike; a text of another length
is `Annotated[str, SingleLine(100)]` (or `MultiLine(2000, min_length=3)`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, Field, GetCoreSchemaHandler

from wps_common.paging import MAX_LIMIT

__all__ = [
    "BIDI_CONTROLS",
    "FORMULA_TRIGGERS",
    "MAX_DAY",
    "MAX_OFFSET",
    "MIN_DAY",
    "Code",
    "Day",
    "Id",
    "Limit",
    "MultiLine",
    "MultilineText",
    "Name",
    "Offset",
    "Search",
    "SingleLine",
    "Text",
    "Version",
    "from_spreadsheet",
    "multi_line",
    "no_bidi_controls",
    "printable",
    "single_line",
    "spreadsheet_safe",
]

# Characters that reorder the text around them when it is displayed: U+202E makes
# "Ana \u202eavorteP" print as "Ana Petrova" while it sorts, searches and compares as something
# else. Legitimate right-to-left names (Arabic, Hebrew) need none of them.
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_BIDI_CLASS = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"

# Unicode category Cc (C0 controls, DEL, C1 controls) and lone surrogates, which no database
# stores as text (PostgreSQL refuses NUL outright; SQLite keeps it and every reader trips).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_MULTILINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_BIDI = re.compile(f"[{_BIDI_CLASS}]")
_UNPRINTABLE = re.compile(f"[\x00-\x1f\x7f-\x9f\ud800-\udfff{_BIDI_CLASS}]")

# JSON Schema patterns (published in OpenAPI, so clients and fuzzers know the rule); the
# validators below say what is wrong in a sentence, which a pattern mismatch would not.
_TEXT_PATTERN = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
_MULTILINE_PATTERN = "^[^\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f]*$"
_NAME_PATTERN = (
    "^[^\\u0000-\\u001f\\u007f-\\u009f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069]*$"
)

MAX_OFFSET = 1_000_000
MAX_INT32 = 2_147_483_647  # PostgreSQL `integer`
MIN_DAY, MAX_DAY = date(1900, 1, 1), date(2199, 12, 31)


_WHITESPACE_NAMES = {"\t": "a tab", "\n": "a line break", "\r": "a carriage return"}


def _describe(char: str) -> str:
    if "\ud800" <= char <= "\udfff":
        return f"an unpaired surrogate (U+{ord(char):04X}), which is not a character"
    if char == "\x00":
        return "a NUL character (U+0000)"
    if char in _WHITESPACE_NAMES:
        return _WHITESPACE_NAMES[char]
    return f"a control character (U+{ord(char):04X})"


def single_line(value: str) -> str:
    """A line of text: no control characters at all (tab and line breaks included)."""
    found = _CONTROL.search(value)
    if found:
        raise ValueError(
            f"contains {_describe(found.group())} at position {found.start() + 1}; "
            "this field takes a single line of text without control characters"
        )
    return value


def multi_line(value: str) -> str:
    """Text of several lines: tabs and line breaks (CRLF becomes LF), no other controls."""
    value = value.replace("\r\n", "\n")
    found = _CONTROL_MULTILINE.search(value)
    if found:
        raise ValueError(
            f"contains {_describe(found.group())} at position {found.start() + 1}; "
            "only tabs and line breaks may appear among the text"
        )
    return value


def no_bidi_controls(value: str) -> str:
    """Refuses the characters that make a name display differently from what it is."""
    found = _BIDI.search(value)
    if found:
        raise ValueError(
            f"contains the invisible direction control U+{ord(found.group()):04X} at position "
            f"{found.start() + 1}, which would make the name print reordered or reversed "
            "(e.g. on a certificate); remove it"
        )
    return value


def _sensible_day(value: date) -> date:
    if not MIN_DAY <= value <= MAX_DAY:
        raise ValueError(f"must be a date between {MIN_DAY} and {MAX_DAY}")
    return value


# --- types -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SingleLine:
    """One line of text of `min_length`..`max_length` characters: `Annotated[str, SingleLine(100)]`.

    The lengths live inside the rule so that a too-long text is told "at most 100 characters"
    even in an optional field (a length given outside a validated type reads "items")."""

    max_length: int
    min_length: int = 0

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return handler.generate_schema(
            Annotated[
                str,
                Field(
                    min_length=self.min_length or None,
                    max_length=self.max_length,
                    json_schema_extra={"pattern": _TEXT_PATTERN},
                ),
                AfterValidator(single_line),
            ]
        )


@dataclass(frozen=True)
class MultiLine:
    """Text of several lines (tabs and line breaks allowed): `Annotated[str, MultiLine(2000)]`."""

    max_length: int
    min_length: int = 0

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return handler.generate_schema(
            Annotated[
                str,
                Field(
                    min_length=self.min_length or None,
                    max_length=self.max_length,
                    json_schema_extra={"pattern": _MULTILINE_PATTERN},
                ),
                AfterValidator(multi_line),
            ]
        )


Text = Annotated[str, SingleLine(200, min_length=1)]
"""One line of free text (a title, a rank, a unit), 1–200 characters."""

MultilineText = Annotated[str, MultiLine(4000, min_length=1)]
"""A comment, reason, note or description, 1–4000 characters."""

Name = Annotated[
    str,
    Field(min_length=1, max_length=200, json_schema_extra={"pattern": _NAME_PATTERN}),
    AfterValidator(single_line),
    AfterValidator(no_bidi_controls),
]
"""What is printed as a person's or an institution's name (on certificates): one line of
1–200 characters without direction controls."""

Id = Annotated[str, SingleLine(100, min_length=1)]
"""A record's id (a UUID in practice), in a path, a query or a body."""

Code = Annotated[str, SingleLine(40, min_length=1)]
"""A code a filter or a reference names (track, module, requirement) where no stricter pattern
applies."""

Search = Annotated[str, SingleLine(200)]
"""Words to search for, or a free-text filter value."""

Offset = Annotated[int, Field(ge=0, le=MAX_OFFSET, description="items to skip")]
Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT, description="items per page")]
Version = Annotated[int, Field(ge=1, le=MAX_INT32)]
"""A version or revision number (PostgreSQL `integer`)."""

Day = Annotated[date, AfterValidator(_sensible_day)]
"""A calendar date in 1900–2199: anything else is a typing error, and date arithmetic near
year 1 or 9999 overflows."""


# --- text leaving the platform ---------------------------------------------------------------


def printable(value: str) -> str:
    """`value` without control characters and direction controls, for printing where a reader
    must see exactly what is stored (certificates, the verification page) — also for records
    older than the validation above."""
    return _UNPRINTABLE.sub("", value)


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A CSV/XLSX cell that a spreadsheet shows as text: a text starting with a formula trigger
    gets a leading `'` (OWASP). Other values pass unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def from_spreadsheet(value: str) -> str:
    """The inverse on import: one leading `'` is dropped only when a formula trigger follows,
    so an exported file re-imports as it was (a text that really starts with `'=` cannot
    round-trip; no name, number or unit does)."""
    if value.startswith("'") and value[1:].startswith(FORMULA_TRIGGERS):
        return value[1:]
    return value
