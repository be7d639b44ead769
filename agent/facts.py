"""The facts a reply was built from, as checkpoint-safe ``[kind, value]`` pairs.

Nodes add the ledger values they format into a reply; ``guard_out`` turns the pairs back into
``guardrails.grounding.Facts`` and checks the reply against them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from guardrails.grounding import Facts, extract_mentions

FactPairs = list[list[str]]


class FactSet:
    def __init__(self, initial: Iterable[list[str]] | None = None) -> None:
        self._facts = Facts.empty()
        if initial:
            self._facts = Facts(frozenset((p[0], p[1]) for p in initial))  # type: ignore[misc]  # kinds come from Facts itself

    def amounts(self, *cents: int) -> FactSet:
        self._facts = self._facts.with_amounts(*(abs(c) for c in cents))
        return self

    def dates(self, *days: date) -> FactSet:
        self._facts = self._facts.with_dates(*days)
        return self

    def codes(self, *codes: str) -> FactSet:
        self._facts = self._facts.with_codes(*codes)
        return self

    def percents(self, *values: int) -> FactSet:
        self._facts = self._facts.with_percents(*values)
        return self

    def months(self, *values: int) -> FactSet:
        self._facts = self._facts.with_months(*values)
        return self

    def text(self, source: str) -> FactSet:
        """Allow every figure stated in a trusted source (a knowledge-base passage, a code book entry)."""
        extra = Facts(frozenset((m.kind, m.value) for m in extract_mentions(source)))
        self._facts = self._facts.merge(extra)
        return self

    def merge(self, other: FactSet) -> FactSet:
        self._facts = self._facts.merge(other._facts)
        return self

    def pairs(self) -> FactPairs:
        return [[k, v] for k, v in sorted(self._facts.allowed)]

    @property
    def facts(self) -> Facts:
        return self._facts
