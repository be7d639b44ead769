"""Typos repaired before the sentence encoder reads a message.

The encoder's tokenizer splits a misspelt word into pieces that mean nothing ("balacne" -> "bala ##c
##ne"), so "what's my balacne" reads as out of scope. A word that is not a whole word of the encoder's
vocabulary (30,522 English word pieces, so ordinary words are left alone) and lies within one edit
(two for words of eight letters or more; a swap of neighbours is one edit) of a word of our training lines
is replaced by that word. Naive Bayes, the entities and the rules keep reading the patient's own text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from guardrails.escalation import edit_distance

_WORD = re.compile(r"[a-z]+")
MIN_LENGTH = 4


class Speller:
    def __init__(self, known: Iterable[str], vocabulary: Iterable[str]) -> None:
        self.known = frozenset(known)  # whole words the encoder knows
        words = sorted({w for w in vocabulary if len(w) >= MIN_LENGTH and w.isalpha()})
        self.by_length: dict[int, list[str]] = {}
        for w in words:
            self.by_length.setdefault(len(w), []).append(w)
        self._cache: dict[str, str] = {}

    def _fix(self, word: str) -> str:
        if len(word) < MIN_LENGTH or word in self.known:
            return word
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        limit = 2 if len(word) >= 8 else 1
        best, best_d = word, limit + 1
        for n in range(len(word) - limit, len(word) + limit + 1):
            for cand in self.by_length.get(n, ()):
                d = edit_distance(word, cand, limit)
                if d < best_d:
                    best, best_d = cand, d
        if len(self._cache) < 10_000:
            self._cache[word] = best
        return best

    def repair(self, text: str) -> str:
        lowered = text.lower()
        return _WORD.sub(lambda m: self._fix(m.group(0)), lowered)
