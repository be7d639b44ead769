"""``LlmPhraser``: the ``Phraser`` port over a LangChain chat model (``ChatOpenAI`` against any
OpenAI-compatible server), behind the PHI vault. Imported only when a model is configured.

When ``guard_out`` hands it the read-only look-ups of the thread's verified patient
(``agent.lc_tools_readonly``), they are offered with ``bind_tools`` for at most ``tool_rounds`` rounds:
the model's arguments are restored from their placeholders, the look-up runs for the verified patient
only, its result goes to ``ground`` (its figures become facts of the turn) and back to the model
tokenized. A malformed tool call (arguments that are not JSON, an unknown tool, arguments that do not
validate) or one more round than allowed falls back to the template within the turn.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from agent.lc_tools_readonly import ReadOnlyTools, ToolCallInvalid, ToolRoundsExceeded, tool_definitions
from agent.llm_usage import Tally, first_token_tally, token_tally, total_tokens
from agent.phrasing import Emit, Phrased, PhrasingFailed
from agent.understanding.llm import _FAILURES, CircuitBreaker, EndpointGate, IdentifierSource, _reason
from guardrails.phi import KnownIdentifiers, PhiVault

MAX_DRAFT_CHARS = 2400  # the templated answer is cut to this: the prompt has a bounded size
MAX_SOURCE_CHARS = 800
MAX_SOURCES = 3
TOOL_ROUNDS = 2  # rounds of look-ups before the model must answer

SYSTEM_PROMPT = (
    "You are a medical practice's billing assistant. Rewrite the DRAFT answer for the patient in plain, "
    "warm, concise language ({language}). Use only the facts in the DRAFT and the SOURCES. Copy every "
    "amount, date, code and percentage exactly as written; never compute, round or add one. Copy "
    "placeholders such as [DATE_1] or [STATEMENT_1] exactly; never guess what they stand for. Give no "
    "medical, legal or tax advice. Reply with the answer only."
)
TOOLS_PROMPT = (
    " You may call the read-only tools to explain a code, a line, a claim or a policy in more detail; "
    "their results are facts you may use the same way, placeholders included."
)
_LANGUAGES = {"en": "English", "es": "Spanish"}


class StreamInterrupted(RuntimeError):
    """The server ended a stream before it finished (no ``finish_reason``)."""


@dataclass
class LlmPhraser:
    model: BaseChatModel
    identifiers: IdentifierSource | None = None
    timeout_s: float = 8.0
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    fallbacks: Counter[str] = field(default_factory=Counter)
    usage: Counter[str] = field(default_factory=Counter)
    calls: int = 0
    turn_tokens: Tally = field(default_factory=token_tally)
    first_token_s: Tally = field(default_factory=first_token_tally)
    replacements: int = 0  # replies guard_out replaced with the template
    # Streams stopped early (a figure failed verification): the provider's usage, sent at the end of a
    # stream, never arrives for them, and their tokens are missing from ``usage``.
    streams_cut: int = 0
    tool_rounds: int = TOOL_ROUNDS  # 0: no tools are offered
    # Shared with the understanding client of the same server: requests queue instead of interrupting.
    gate: EndpointGate = field(default_factory=EndpointGate)

    def replaced(self) -> None:
        self.replacements += 1

    def prompt(
        self, vault: PhiVault, draft: str, sources: Sequence[str], language: str, *, tools: bool = False
    ) -> list[BaseMessage]:
        """The messages sent for a turn: bounded in size, every one tokenized."""
        parts = [f"DRAFT:\n{vault.tokenize(draft[:MAX_DRAFT_CHARS])}"]
        kept = [vault.tokenize(s[:MAX_SOURCE_CHARS]) for s in sources[:MAX_SOURCES]]
        if kept:
            parts.append("SOURCES:\n" + "\n".join(f"- {s}" for s in kept))
        system = SYSTEM_PROMPT.format(language=_LANGUAGES.get(language, "English"))
        return [SystemMessage(system + (TOOLS_PROMPT if tools else "")), HumanMessage("\n\n".join(parts))]

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
        spent = total_tokens(self)
        lookups = tools if self.tool_rounds > 0 else None
        try:
            async with self.gate.slot():
                phrased = await self._stream(vault, draft, sources, language, emit, lookups, ground)
        except StreamInterrupted as error:
            self.breaker.failure()
            self.fallbacks["interrupted"] += 1
            raise PhrasingFailed("interrupted") from error
        except ToolCallInvalid as error:
            self.breaker.failure()
            self.fallbacks[error.reason] += 1
            raise PhrasingFailed(error.reason) from error
        except _FAILURES as error:
            self.breaker.failure()
            reason = _reason(error)
            self.fallbacks[reason] += 1
            raise PhrasingFailed(reason) from error
        finally:
            self.turn_tokens.observe(total_tokens(self) - spent)
        if not phrased.text.strip():
            self.breaker.failure()
            self.fallbacks["empty"] += 1
            raise PhrasingFailed("empty")
        self.breaker.success()
        return phrased

    async def _stream(
        self,
        vault: PhiVault,
        draft: str,
        sources: Sequence[str],
        language: str,
        emit: Emit,
        tools: ReadOnlyTools | None,
        ground: Callable[[str], object] | None,
    ) -> Phrased:
        restorer = vault.restorer()
        out: list[str] = []
        raw: list[str] = []
        messages = self.prompt(vault, draft, sources, language, tools=tools is not None)
        model: Any = self.model.bind_tools(tool_definitions()) if tools is not None else self.model
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with asyncio.timeout(self.timeout_s) as scope:
            for round_ in range(self.tool_rounds + 1):
                reply: AIMessageChunk | None = None
                async for chunk in model.astream(messages, stream_usage=True):
                    scope.reschedule(loop.time() + self.timeout_s)  # the limit is per token, not per reply
                    assert isinstance(chunk, AIMessageChunk)
                    reply = chunk if reply is None else reply + chunk
                    if chunk.usage_metadata is not None:
                        self.usage["input_tokens"] += chunk.usage_metadata["input_tokens"]
                        self.usage["output_tokens"] += chunk.usage_metadata["output_tokens"]
                    content = chunk.content if isinstance(chunk.content, str) else ""
                    if content and not raw:
                        self.first_token_s.observe(loop.time() - started)
                    if content:
                        raw.append(content)
                    restored = restorer.feed(content) if content else ""
                    if restored:
                        out.append(restored)
                        if not emit(restored):
                            self.streams_cut += 1
                            return Phrased("".join(out), vault.tokenize("".join(raw)))
                if reply is None or not reply.response_metadata.get("finish_reason"):
                    # A stream that ends without a finish reason was cut off by the server (another
                    # request took its slot), not answered: say so rather than "empty".
                    raise StreamInterrupted("the stream ended without a finish_reason")
                if not (reply.tool_calls or reply.invalid_tool_calls):
                    break
                if tools is None or reply.invalid_tool_calls:
                    raise ToolCallInvalid("a tool call whose arguments are not JSON, or no tools offered")
                if round_ == self.tool_rounds:
                    raise ToolRoundsExceeded(f"more than {self.tool_rounds} rounds of look-ups")
                messages.append(AIMessage(content=reply.content, tool_calls=reply.tool_calls))
                for call in reply.tool_calls:
                    args = {k: vault.restore(v) if isinstance(v, str) else v for k, v in call["args"].items()}
                    result = await tools.run(call["name"], args)
                    if ground is not None:
                        ground(result)
                    messages.append(ToolMessage(vault.tokenize(result), tool_call_id=call["id"] or ""))
            tail = restorer.flush()
            if tail:
                out.append(tail)
                emit(tail)
        # The raw text is screened again: an identifier the model made up is not kept either.
        return Phrased("".join(out), vault.tokenize("".join(raw)))
