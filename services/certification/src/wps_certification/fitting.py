"""Fitting a line of user text into a box of the certificate: wrapped first, then shrunk.

xhtml2pdf wraps text at spaces by its own measure, which ignores letter spacing and cannot
break a word wider than the line: an official academy name of 93 capitals, or a double-barrelled
name of 200 characters, ran off the page. Here the text is measured with the same TrueType font
the PDF embeds and broken into lines before it reaches the template, at the largest size (from
the design's size down to a floor, half a point at a time) at which it takes no more lines than
the box allows. Pure and synchronous, like the renderer.
"""

from __future__ import annotations

import pathlib
import re
from dataclasses import dataclass
from functools import cache

from reportlab.pdfbase.pdfmetrics import registerFont, stringWidth
from reportlab.pdfbase.ttfonts import TTFont

__all__ = ["Box", "Fitted", "fit"]

# Break after a space or a hyphen (a double-barrelled name breaks at its hyphen); the hyphen
# stays at the end of its line, the space is dropped.
_PIECES = re.compile(r"[^\s-]*-+|[^\s-]+")


@dataclass(frozen=True)
class Box:
    """Where a text goes: its font (a TTF file), design size and floor in points, the line's
    width in points, how many lines it may take, letter spacing in points, capitals or not."""

    font: pathlib.Path
    size: float
    floor: float
    width: float
    lines: int
    spacing: float = 0.0
    upper: bool = False


@dataclass(frozen=True)
class Fitted:
    lines: tuple[str, ...]
    size: float


@cache
def _font_name(path: pathlib.Path) -> str:
    name = f"wps-fit-{path.stem}"
    registerFont(TTFont(name, str(path)))
    return name


def _width(text: str, font: str, size: float, spacing: float) -> float:
    return stringWidth(text, font, size) + spacing * len(text)


def _split_long(piece: str, font: str, size: float, spacing: float, width: float) -> list[str]:
    """A word wider than the line, cut where it must be: as many characters as fit."""
    parts: list[str] = []
    current = ""
    for char in piece:
        if current and _width(current + char, font, size, spacing) > width:
            parts.append(current)
            current = char
        else:
            current += char
    return [*parts, current] if current else parts


def _wrap(words: list[str], font: str, size: float, spacing: float, width: float) -> list[str]:
    lines: list[str] = []
    for word in words:
        pieces = _PIECES.findall(word)
        for piece in pieces:
            if lines and lines[-1] != "":
                joined = lines[-1] + piece
                if _width(joined, font, size, spacing) <= width:
                    lines[-1] = joined
                    continue
            if _width(piece, font, size, spacing) <= width:
                lines.append(piece)
            else:
                lines.extend(_split_long(piece, font, size, spacing, width))
        # the space between words: kept only if the next word joins this line
        lines[-1] += " "
    return [line.rstrip() for line in lines]


def fit(text: str, box: Box) -> Fitted:
    """`text` as lines of at most `box.width` points, at the largest size from `box.size` down
    to `box.floor` at which they are no more than `box.lines`; at the floor, as many lines as it
    takes (a longer text than the box was made for is still printed whole, never clipped)."""
    shown = " ".join(text.split())
    if box.upper:
        shown = shown.upper()
    words = shown.split(" ") if shown else []
    if not words:
        return Fitted((), box.size)
    font = _font_name(box.font)
    size = box.size
    while True:
        lines = _wrap(words, font, size, box.spacing, box.width)
        if len(lines) <= box.lines or size <= box.floor:
            return Fitted(_balanced(words, font, size, box.spacing, box.width, lines), size)
        size = max(box.floor, size - 0.5)


def _balanced(
    words: list[str], font: str, size: float, spacing: float, width: float, lines: list[str]
) -> tuple[str, ...]:
    """The same number of lines at the narrowest width that still gives that number, so that a
    two-line name breaks near its middle instead of leaving one word on the second line."""
    if len(lines) < 2:
        return tuple(lines)
    # never narrower than the widest piece between breaks: balancing must not cut a word
    widest = max(
        _width(piece, font, size, spacing) for word in words for piece in _PIECES.findall(word)
    )
    low, high = min(max(width / len(lines), widest), width), width
    best = lines
    for _ in range(12):  # to a fraction of a point on a page-wide line
        middle = (low + high) / 2
        trial = _wrap(words, font, size, spacing, middle)
        if len(trial) <= len(lines):
            best, high = trial, middle
        else:
            low = middle
    return tuple(best)
