"""The Latin spelling of a Cyrillic name, as a passport's machine-readable zone writes it
(ICAO Doc 9303, part 3), for the English certificate of a holder whose name is in Cyrillic."""

from __future__ import annotations

import re

import iuliia

__all__ = ["latin_spelling"]

_CYRILLIC = re.compile("[\u0400-\u04ff]")

# iuliia's ICAO table holds the Russian alphabet. The letters of Doc 9303's table it lacks
# (Ukrainian, Belarusian, Serbian, Macedonian) are added here, and Kazakh's own letters, which
# the table does not name, are written as their base Latin letter, as Kazakhstan's passports do.
_MORE = {
    "ґ": "g",
    "є": "ie",
    "і": "i",
    "ї": "i",
    "ў": "u",
    "ђ": "d",
    "ѓ": "g",
    "ѕ": "dz",
    "ј": "j",
    "љ": "lj",
    "њ": "nj",
    "ћ": "c",
    "ќ": "k",
    "џ": "dz",
    "ә": "a",
    "ғ": "g",
    "қ": "k",
    "ң": "n",
    "ө": "o",
    "ұ": "u",
    "ү": "u",
    "һ": "h",
}
_TABLE = str.maketrans(
    {
        **_MORE,
        **{cyr.upper(): lat.capitalize() for cyr, lat in _MORE.items()},
    }
)


def latin_spelling(name: str) -> str | None:
    """`name` in Latin letters, or None when it has no Cyrillic letter (nothing to add)."""
    if not _CYRILLIC.search(name):
        return None
    return str(iuliia.ICAO_DOC_9303.translate(name.translate(_TABLE)))
