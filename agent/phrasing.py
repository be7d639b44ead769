"""Phrasing with a language model: the templated answer of a turn, rewritten in plain words and streamed.

``Phraser`` is an optional port (``Ports.phraser``; ``None`` keeps the local templates). ``explain`` and
``answer_from_kb`` mark their reply as phraseable; ``guard_out`` then asks the phraser, checks every
restored chunk against the turn's facts and releases only verified text (see ``agent.nodes.guard``).

``agent.llm_phrasing.LlmPhraser`` hands the model nothing but the turn's facts: the templated answer
(built only from the ledger records, the code book and the knowledge base) and the source passages it
quotes, all tokenized by a ``PhiVault`` that knows the verified patient's identifiers. The reply
streams back through a ``StreamRestorer`` (a placeholder split across two chunks is held until it
closes). A timeout (first token or between tokens), a transport or HTTP error (429, 5xx), a refusal or
an empty reply raises ``PhrasingFailed``; the caller answers with the template within the same turn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from agent.lc_tools_readonly import ReadOnlyTools
from guardrails.phi import PLACEHOLDER

# Called with each restored chunk; returns False to stop the model (the text failed verification).
Emit = Callable[[str], bool]


class PhrasingFailed(Exception):
    """The model gave no usable reply; ``reason`` is a counter name (``timeout``, ``empty``...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Phrased:
    """A model's reply: ``text`` restored (what the patient may see), ``raw`` as the model wrote it
    (placeholders, never restored: what the audit may keep)."""

    text: str
    raw: str


class Phraser(Protocol):
    async def phrase(
        self,
        draft: str,
        sources: Sequence[str],
        language: str,
        patient_id: str | None,
        emit: Emit,
        *,
        tools: ReadOnlyTools | None = None,
        ground: Callable[[str], object] | None = None,
    ) -> Phrased:
        """Stream a rephrasing of ``draft`` to ``emit`` (restored text) and return it whole.

        ``tools``: read-only look-ups bound to the verified patient the model may call; each result is
        passed to ``ground`` (its figures become facts of the turn) before the model continues.
        Returns early (with what was produced) when ``emit`` returns False; raises ``PhrasingFailed``."""
        ...

    def replaced(self) -> None:
        """``guard_out`` replaced the reply with the template (a figure, placeholder or advice that is
        not in the turn's facts); counted beside the phraser's fallbacks."""
        ...


def has_placeholder(text: str) -> bool:
    """A placeholder left in restored text: one the vault never issued (the model invented it)."""
    return PLACEHOLDER.search(text) is not None
