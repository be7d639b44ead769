"""Feature extraction for the local classifier: word unigrams/bigrams and in-word character n-grams.

Amounts, dates, codes and numbers become shape tokens first so that "$150" and "$89.50" look alike.
"""

from __future__ import annotations

import itertools
import re

from agent.understanding.text import fold_accents

_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b\d{4}-\d{1,2}-\d{1,2}\b"), " zdate "),
    (re.compile(r"\b\d{1,2}[/.]\d{1,2}(?:[/.]\d{2,4})?\b"), " zdate "),
    (re.compile(r"\$\s?\d[\d,]*(?:\.\d+)?k?|\b\d[\d,]*(?:\.\d+)?\s*(?:dollars?|bucks|dolares?)\b"), " zamt "),
    (re.compile(r"\b(?:co|pr|oa|pi)\s?-?\s?\d{1,3}\b"), " zadj "),
    (re.compile(r"\b[mn]a?\d{2,3}\b"), " zrarc "),
    (re.compile(r"\b[a-z]\d{4}\b"), " zhcpcs "),
    (re.compile(r"\bs-?\d{5,8}\b"), " zstmt "),
    (re.compile(r"\b\d{5}\b"), " znum5 "),
    (re.compile(r"\b\d{4}\b"), " znum4 "),
    (re.compile(r"\b\d+(?:\.\d+)?\b"), " znum "),
)
_REPEATS = re.compile(r"([a-z])\1{2,}")
_NON_WORD = re.compile(r"[^a-z0-9? ]+")
_SPACES = re.compile(r"\s+")

CHAR_MIN = 3
CHAR_MAX = 5


def shape_text(text: str) -> str:
    """Lowercase, accent-fold, shape numbers, keep letters, digits and '?'."""
    out = fold_accents(text).lower().replace("’", "'").replace("'", "")
    for regex, token in _SHAPES:
        out = regex.sub(token, out)
    out = _REPEATS.sub(r"\1\1", out)
    out = out.replace("?", " ? ")
    out = _NON_WORD.sub(" ", out)
    return _SPACES.sub(" ", out).strip()


def tokens(text: str) -> list[str]:
    shaped = shape_text(text)
    return shaped.split() if shaped else []


def featurize(toks: list[str]) -> tuple[list[str], list[str]]:
    """(word features, character features) of a token list; each list has no duplicates."""
    words: list[str] = []
    for tok in toks:
        words.append("w:" + tok)
    padded = ["<s>", *toks, "</s>"]
    for a, b in itertools.pairwise(padded):
        words.append("b:" + a + "_" + b)
    chars: list[str] = []
    for tok in toks:
        if tok in SHAPE_TOKENS or tok == "?":
            continue
        w = " " + tok + " "
        n_max = min(CHAR_MAX, len(w))
        for n in range(CHAR_MIN, n_max + 1):
            for i in range(len(w) - n + 1):
                chars.append(w[i : i + n])
    return list(dict.fromkeys(words)), list(dict.fromkeys(chars))


SHAPE_TOKENS = frozenset(token.strip() for _, token in _SHAPES)
