"""``LlmPhraser``: the ``Phraser`` port over a LangChain chat model (``ChatOpenAI`` against any
OpenAI-compatible server), behind the PHI vault. Imported only when a model is configured."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from agent.phrasing import Emit, PhrasingFailed
from agent.understanding.llm import _FAILURES, CircuitBreaker, IdentifierSource, _reason
from guardrails.phi import KnownIdentifiers, PhiVault

MAX_DRAFT_CHARS = 2400  # the templated answer is cut to this: the prompt has a bounded size
MAX_SOURCE_CHARS = 800
MAX_SOURCES = 3

SYSTEM_PROMPT = (
    "You are a medical practice's billing assistant. Rewrite the DRAFT answer for the patient in plain, "
    "warm, concise language ({language}). Use only the facts in the DRAFT and the SOURCES. Copy every "
    "amount, date, code and percentage exactly as written; never compute, round or add one. Copy "
    "placeholders such as [DATE_1] or [STATEMENT_1] exactly; never guess what they stand for. Give no "
    "medical, legal or tax advice. Reply with the answer only."
)
_LANGUAGES = {"en": "English", "es": "Spanish"}


@dataclass
class LlmPhraser:
    model: BaseChatModel
    identifiers: IdentifierSource | None = None
    timeout_s: float = 8.0
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    fallbacks: Counter[str] = field(default_factory=Counter)
    usage: Counter[str] = field(default_factory=Counter)
    calls: int = 0

    def prompt(self, vault: PhiVault, draft: str, sources: Sequence[str], language: str) -> list[BaseMessage]:
        """The messages sent for a turn: bounded in size, every one tokenized."""
        parts = [f"DRAFT:\n{vault.tokenize(draft[:MAX_DRAFT_CHARS])}"]
        kept = [vault.tokenize(s[:MAX_SOURCE_CHARS]) for s in sources[:MAX_SOURCES]]
        if kept:
            parts.append("SOURCES:\n" + "\n".join(f"- {s}" for s in kept))
        system = SYSTEM_PROMPT.format(language=_LANGUAGES.get(language, "English"))
        return [SystemMessage(system), HumanMessage("\n\n".join(parts))]

    async def phrase(
        self, draft: str, sources: Sequence[str], language: str, patient_id: str | None, emit: Emit
    ) -> str:
        if not self.breaker.allow():
            self.fallbacks["circuit_open"] += 1
            raise PhrasingFailed("circuit_open")
        known = (
            await self.identifiers(patient_id)
            if self.identifiers is not None and patient_id
            else KnownIdentifiers()
        )
        vault = PhiVault(known)
        self.calls += 1
        try:
            text = await self._stream(vault, draft, sources, language, emit)
        except _FAILURES as error:
            self.breaker.failure()
            reason = _reason(error)
            self.fallbacks[reason] += 1
            raise PhrasingFailed(reason) from error
        if not text.strip():
            self.breaker.failure()
            self.fallbacks["empty"] += 1
            raise PhrasingFailed("empty")
        self.breaker.success()
        return text

    async def _stream(
        self, vault: PhiVault, draft: str, sources: Sequence[str], language: str, emit: Emit
    ) -> str:
        restorer = vault.restorer()
        out: list[str] = []
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.timeout_s) as scope:
            async for chunk in self.model.astream(
                self.prompt(vault, draft, sources, language), stream_usage=True
            ):
                scope.reschedule(loop.time() + self.timeout_s)  # the limit is per token, not per reply
                if chunk.usage_metadata is not None:
                    self.usage["input_tokens"] += chunk.usage_metadata["input_tokens"]
                    self.usage["output_tokens"] += chunk.usage_metadata["output_tokens"]
                content = chunk.content if isinstance(chunk.content, str) else ""
                restored = restorer.feed(content) if content else ""
                if restored:
                    out.append(restored)
                    if not emit(restored):
                        return "".join(out)
            tail = restorer.flush()
            if tail:
                out.append(tail)
                emit(tail)
        return "".join(out)
