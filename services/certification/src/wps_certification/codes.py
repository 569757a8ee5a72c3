"""Verification codes: 80 random bits, typed easily (Crockford base32, grouped, unambiguous)."""

from __future__ import annotations

import re
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # no I, L, O, U
_GROUPS, _GROUP_SIZE = 4, 4  # 16 symbols × 5 bits = 80 bits
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SHAPE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{16}$")


def new_verification_code() -> str:
    # One draw of 80 bits, five per symbol: the same codes as a draw per symbol, at a twentieth of
    # the cost (a batch of completions draws thousands).
    bits = secrets.randbits(_GROUPS * _GROUP_SIZE * 5)
    symbols = "".join(ALPHABET[(bits >> 5 * i) & 31] for i in range(_GROUPS * _GROUP_SIZE))
    return "-".join(symbols[i : i + _GROUP_SIZE] for i in range(0, len(symbols), _GROUP_SIZE))


def normalise(typed: str) -> str | None:
    """The canonical form of what a person typed (any case, spaces, O for 0), or None."""
    compact = re.sub(r"[\s-]", "", typed.upper()).translate(_LOOKALIKES)
    if not _SHAPE.match(compact):
        return None
    return "-".join(compact[i : i + _GROUP_SIZE] for i in range(0, len(compact), _GROUP_SIZE))
