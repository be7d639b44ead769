"""Text normalisation shared by the local understanding engine."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
_REPEATS = re.compile(r"(\w)\1{2,}")


def fold_accents(text: str) -> str:
    """Drop diacritics: "olvídalo" -> "olvidalo", "mañana" -> "manana"."""
    if text.isascii():  # most messages: NFKD leaves ASCII as it is and it has no combining marks
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def normalize(text: str) -> str:
    """Lowercase, fold accents, squeeze letters repeated 3+ times and whitespace.

    Used for duplicate detection between the training set and held-out or eval lines.
    """
    out = fold_accents(text).lower().replace("’", "'").replace("¿", " ").replace("¡", " ")
    out = _REPEATS.sub(r"\1\1", out)
    out = re.sub(r"[^\w\s$]", " ", out)
    return _SPACES.sub(" ", out).strip()
