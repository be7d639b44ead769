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

from guardrails.screening import edit_distance

_WORD = re.compile(r"[a-z]+")
_LETTERS_ANY = re.compile(r"[^\W\d_]+")  # a word of any letters ("cubrió" is one word, not "cubri" and "ó")
_SUFFIXES = ("ing", "ed", "es", "s", "er", "ers", "ly", "ment", "ments", "ness", "ation", "ations")
MIN_LENGTH = 4


class Speller:
    def __init__(
        self,
        known: Iterable[str],
        vocabulary: Iterable[str],
        targets: Iterable[str] = (),
        *,
        for_rules: bool = False,
    ) -> None:
        self.known = frozenset(known)  # whole words the encoder knows
        # ``for_rules``: the rules' repair, more careful than the encoder's (which must not change: the head
        # was fitted on its output). A known word with an ending ("contesting", "listed") is a word, not a
        # typo; words of four letters are left alone ("casi" is no typo of "cash"); a swap of neighbours
        # wins over a letter lost or added ("deducitble" is "deductible", not Spanish "deducible").
        self.for_rules = for_rules
        self.shortest = MIN_LENGTH + 1 if for_rules else MIN_LENGTH
        words = sorted({w for w in vocabulary if len(w) >= MIN_LENGTH and w.isalpha()})
        # A training line may itself carry a typo ("whats my balnce"): such a word is never a repair target,
        # or "blance" would become "balnce", which the encoder cannot read either. A word the encoder does
        # not know that lies one edit from one of our words it does know is taken for a typo of it.
        plain = frozenset(w for w in words if w in self.known)
        words = [w for w in words if w in plain or not (_one_edit(w) & plain)]
        # ``targets``: words spelt right by definition (the words the rules look for, "tmobile", "roommate").
        words = sorted({*words, *(w for w in targets if len(w) >= MIN_LENGTH and w.isalpha())})
        self.by_length: dict[int, list[str]] = {}
        for w in words:
            self.by_length.setdefault(len(w), []).append(w)
        self._cache: dict[str, str] = {}

    def _fix(self, word: str) -> str:
        if len(word) < self.shortest or word in self.known or (self.for_rules and self._inflected(word)):
            return word
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        limit = 2 if len(word) >= 8 else 1
        best, best_d = word, limit + 1
        lengths = range(len(word) - limit, len(word) + limit + 1)
        if self.for_rules:
            lengths = sorted(lengths, key=lambda n: abs(n - len(word)))  # type: ignore[assignment]
        for n in lengths:
            for cand in self.by_length.get(n, ()):
                d = edit_distance(word, cand, limit)
                if d < best_d:
                    best, best_d = cand, d
        if len(self._cache) < 10_000:
            self._cache[word] = best
        return best

    def _inflected(self, word: str) -> bool:
        for suffix in _SUFFIXES:
            stem = word.removesuffix(suffix)
            if (
                stem != word
                and len(stem) >= 3
                and (
                    stem in self.known
                    or stem + "e" in self.known
                    or (len(stem) > 3 and stem[-1] == stem[-2] and stem[:-1] in self.known)
                )
            ):
                return True
        return False

    def repair(self, text: str) -> str:
        lowered = text.lower()
        return _WORD.sub(lambda m: self._fix(m.group(0)), lowered)

    def repair_keep_case(self, text: str) -> str:
        """``text`` with only its repaired words changed (a capital first letter kept): names, amounts,
        punctuation and every word spelt right stay as written."""

        def fix(m: re.Match[str]) -> str:
            word = m.group(0)
            fixed = self._fix(word.lower())
            if fixed == word.lower():
                return word
            return fixed.capitalize() if word[0].isupper() else fixed

        return _LETTERS_ANY.sub(fix, text)


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _one_edit(word: str) -> set[str]:
    """Every string one edit from ``word``: a deletion, a swap of neighbours, a substitution, an insertion."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    out = {a + b[1:] for a, b in splits if b}
    out |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    out |= {a + c + b[1:] for a, b in splits if b for c in _LETTERS}
    out |= {a + c + b for a, b in splits for c in _LETTERS}
    out.discard(word)
    return out
