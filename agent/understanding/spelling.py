"""Typos repaired before the sentence encoder reads a message.

The encoder's tokenizer splits a misspelt word into pieces that mean nothing ("balacne" -> "bala ##c
##ne"), so "what's my balacne" reads as out of scope. A word that is not a whole word of the encoder's
vocabulary (30,522 English word pieces, so ordinary words are left alone) and lies within one edit
(two for words of eight letters or more; a swap of neighbours is one edit) of a word of our training lines
is replaced by that word. Naive Bayes, the entities and the rules keep reading the patient's own text.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable, Mapping

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
        swap_targets: Iterable[str] = (),
        domain: Iterable[str] = (),
        frequency: Mapping[str, int] | None = None,
        swaps_only: bool = False,
    ) -> None:
        self.known = frozenset(known)  # whole words the encoder knows
        # ``swap_targets``: the words of a language (its dictionary and ours). A word that is none of them and
        # becomes one of them when two neighbouring letters change places ("finacnes", "pressrue",
        # "mensaulidades") is that word: the commonest slip of a typing finger, and one that seldom turns one
        # real word into another. Where it could be two words ("seugro": "seguro" or "suegro"), the one of
        # ``domain`` (the words of our lines and rules) is meant. ``frequency`` (a dictionary's word counts):
        # a dictionary word that is a swap of a word of ours a hundred times as common is a typo of it too
        # ("cuneta", a ditch, for "cuenta"; but "cuarto" stays "cuarto", not "cuatro"). ``swaps_only``: no
        # other repair (the Spanish reading, whose dictionary lacks too many inflected forms to tell a typo
        # from a word by distance).
        self.swap_targets = frozenset(w for w in swap_targets if len(w) >= MIN_LENGTH + 1 and w.isalpha())
        self.domain = frozenset(w for w in domain if len(w) >= MIN_LENGTH + 1 and w.isalpha())
        self.frequency = frequency
        self.swaps_only = swaps_only
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
        if len(word) < self.shortest:
            return word
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        if word in self.known or (self.for_rules and self._inflected(word)):
            best = self._likelier(word)
        else:
            best = word if self.swaps_only else self._nearest(word)
            if best == word and word not in self.swap_targets:
                best = self._swapped(word) or word
        if len(self._cache) < 10_000:
            self._cache[word] = best
        return best

    def _swapped(self, word: str) -> str | None:
        found = {w for w in _swaps(word) if w in self.swap_targets or (self.for_rules and self._inflected(w))}
        if len(found) > 1:
            found &= self.domain
        if len(found) > 1 and self.frequency is not None:
            # both words of ours ("seguro", "suegro"): the far commoner one, if one is
            counts = sorted(((self.frequency.get(w, 0), w) for w in found), reverse=True)
            if counts[0][0] >= 10 * max(counts[1][0], 1):
                return counts[0][1]
        return found.pop() if len(found) == 1 else None

    def _likelier(self, word: str) -> str:
        """A known word as written, unless it is a rare dictionary word one swap from a word of ours a
        hundred times as common."""
        if self.frequency is None or word in self.domain:
            return word
        count = self.frequency.get(word)
        if count is None:
            return word
        found = [w for w in _swaps(word) & self.domain if self.frequency.get(w, 0) >= 100 * count]
        return found[0] if len(found) == 1 else word

    def _nearest(self, word: str) -> str:
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


def _swaps(word: str) -> set[str]:
    """Every string ``word`` becomes when two neighbouring letters change places."""
    return {word[:i] + word[i + 1] + word[i] + word[i + 2 :] for i in range(len(word) - 1)}


def plain_words(words: Iterable[str], dictionary: Container[str]) -> frozenset[str]:
    """``words`` less those that look like typos: a word of no dictionary one edit from one that is in
    one ("balnce" of a training line, next to "balance")."""
    words = frozenset(words)
    plain = frozenset(w for w in words if w in dictionary)
    return plain | frozenset(w for w in words - plain if not (_one_edit(w) & plain))


def _one_edit(word: str) -> set[str]:
    """Every string one edit from ``word``: a deletion, a swap of neighbours, a substitution, an insertion."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    out = {a + b[1:] for a, b in splits if b}
    out |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    out |= {a + c + b[1:] for a, b in splits if b for c in _LETTERS}
    out |= {a + c + b for a, b in splits for c in _LETTERS}
    out.discard(word)
    return out
