"""``LlmUnderstander``: a chat model reads the patient's message, behind the PHI vault, with the local
engine as the answer whenever the model cannot give a valid one.

Per turn:

1. the local engine reads the message (always: it is the fallback, it extracts the entities money depends
   on, and its reading is what the model's confidence is weighed against);
2. a turn that answers an identity question (date of birth, ZIP, statement number) never goes to the
   model — it is nothing but identifiers, and the local engine reads it well;
3. while the circuit breaker is open (``threshold`` failures in a row) the model is skipped for
   ``cooldown_s``;
4. otherwise the latest message and a bounded window of earlier ones, tokenized by a ``PhiVault`` that
   knows the verified patient's identifiers, go to the model with a structured-output schema;
5. a timeout, a transport or HTTP error (429, 5xx), JSON that does not parse or validate, a refusal or a
   figure out of range counts as a failure and the local reading is returned for the turn.

Every fallback is counted by reason in ``fallbacks``; token usage from the provider adds up in ``usage``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import openai
from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ValidationError

from agent.llm_usage import Tally, token_tally, total_tokens
from agent.understanding.base import Intent, Understander, Understanding, UnderstandingContext
from agent.understanding.calibrate import Calibration
from guardrails.phi import KnownIdentifiers, PhiVault
from tools.platforms.base import BillingPlatform

WINDOW = 4  # earlier patient messages sent with the latest one
MAX_MESSAGE_CHARS = 600  # each message is cut to this before it is sent: the prompt has a bounded size
# When the model and the local engine disagree on the intent, the model's confidence is discounted so
# that a lone reading does not clear the thresholds that act (pay now, hand to staff) as easily.
DISAGREEMENT_DISCOUNT = 0.8

_INTENT_GUIDE = {
    Intent.BALANCE: "asks what they owe",
    Intent.EXPLAIN_STATEMENT: "asks to explain a statement or bill as a whole",
    Intent.EXPLAIN_CHARGE: "asks about one charge or line",
    Intent.INSURANCE_TERMS: "asks what an insurance term means (deductible, coinsurance, EOB...)",
    Intent.CLAIM_STATUS: "asks where an insurance claim stands",
    Intent.DENIAL_REASON: "asks why insurance denied or did not pay",
    Intent.REFUND_OR_CREDIT: "asks about a refund or a credit",
    Intent.PAYMENT_PLAN: "wants to pay over time",
    Intent.PAY_NOW: "wants to pay now",
    Intent.PAYMENT_METHODS: "asks how they can pay",
    Intent.DISPUTE_ALREADY_PAID: "says they already paid",
    Intent.DISPUTE_CHARGE: "contests a charge as wrong",
    Intent.FINANCIAL_HARDSHIP: "cannot afford to pay, asks for assistance",
    Intent.REQUEST_HUMAN: "asks for a person",
    Intent.UPDATE_INSURANCE_OR_CONTACT: "wants to change insurance or contact details",
    Intent.GREETING: "greets",
    Intent.THANKS_GOODBYE: "thanks or says goodbye",
    Intent.AFFIRM: "says yes",
    Intent.DENY: "says no",
    Intent.OUT_OF_SCOPE: "anything else",
    Intent.IDENTITY_ANSWER: "only gives a date of birth, ZIP code or statement number",
}

SYSTEM_PROMPT = (
    "You classify one message a patient sent to a medical practice's billing assistant. Reply with JSON "
    "only, matching the schema. Identifiers have been replaced by placeholders like [PATIENT_NAME] or "
    "[DATE_1]; copy a placeholder if you refer to it, never guess what it stands for.\n"
    "intent, one of:\n"
    + "\n".join(f"- {intent.value}: {meaning}" for intent, meaning in _INTENT_GUIDE.items())
    + "\nconfidence: 0 to 1, how sure you are of the intent. frustration: 0 (calm) to 1 (furious). "
    "month_counts: numbers of months the patient proposes for a plan. statement_refs: statement "
    "placeholders the patient names. reason: at most one short sentence."
)


class ModelEntities(BaseModel):
    month_counts: list[int]
    statement_refs: list[str]


class ModelReading(BaseModel):
    """How the model reads the patient's latest message."""

    intent: Intent
    confidence: float
    frustration: float
    entities: ModelEntities
    reason: str


class InvalidReading(ValueError):
    """The model's reading parsed but is unusable (a refusal, a number out of range)."""


@dataclass
class CircuitBreaker:
    """``threshold`` failures in a row open it for ``cooldown_s``; then one call is let through (half
    open) and its outcome closes or re-opens it."""

    threshold: int = 3
    cooldown_s: float = 30.0
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    opened_at: float | None = None

    def allow(self) -> bool:
        if self.opened_at is None:
            return True
        if self.clock() - self.opened_at >= self.cooldown_s:
            self.opened_at = None  # half open: this call decides
            self.failures = self.threshold - 1
            return True
        return False

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None

    def failure(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold:
            self.opened_at = self.clock()

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None


IdentifierSource = Callable[[str], Awaitable[KnownIdentifiers]]
StructuredOutput = Literal["json_schema", "json_mode", "function_calling"]

# The errors a provider call can end with; anything else is a bug of ours and propagates.
_FAILURES: tuple[type[BaseException], ...] = (
    TimeoutError,
    openai.OpenAIError,
    httpx.HTTPError,
    ValidationError,
    OutputParserException,
    InvalidReading,
)


@dataclass
class EndpointGate:
    """At most ``limit`` requests in flight to one model server; the others wait their turn.

    llama-cpp-python's server runs one generation at a time and, by default, a new request cuts off the
    stream in progress (the cut stream ends with a role chunk and ``[DONE]``: no content, no
    ``finish_reason``). Conversations served concurrently then got empty replies. Queueing in the client
    keeps every stream whole; servers with several slots (``llama-server -np N``, vLLM, hosted APIs) take
    a higher ``limit`` (``BILLING_LLM_MAX_CONCURRENCY``). Waiting longer than ``wait_s`` for a slot is a
    timeout, and the turn falls back like any other failure. One gate is shared by the understanding and
    phrasing clients of an endpoint; it keeps one semaphore per event loop.
    """

    limit: int = 1
    wait_s: float = 30.0
    _semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = field(
        default_factory=weakref.WeakKeyDictionary
    )

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.limit)
        async with asyncio.timeout(self.wait_s):
            await semaphore.acquire()
        try:
            yield
        finally:
            semaphore.release()


@dataclass
class LlmUnderstander:
    model: BaseChatModel
    fallback: Understander
    identifiers: IdentifierSource | None = None
    timeout_s: float = 8.0
    window: int = WINDOW
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    fallbacks: Counter[str] = field(default_factory=Counter)
    usage: Counter[str] = field(default_factory=Counter)
    calls: int = 0
    turn_tokens: Tally = field(default_factory=token_tally)
    # Maps the model's self-reported confidence onto the local engine's scale (``calibrate``); None: raw.
    calibration: Calibration | None = None
    # How the schema is enforced: ``json_schema`` (OpenAI, vLLM, llama.cpp's llama-server), ``json_mode``
    # (servers that only take ``{"type": "json_object"}``, such as llama-cpp-python's: the schema then
    # goes in the system prompt) or ``function_calling``.
    structured_output: StructuredOutput = "json_schema"
    gate: EndpointGate = field(default_factory=EndpointGate)

    def __post_init__(self) -> None:
        self._structured = self.model.with_structured_output(
            ModelReading, method=self.structured_output, include_raw=True
        )
        self._system = SYSTEM_PROMPT
        if self.structured_output == "json_mode":
            schema = json.dumps(ModelReading.model_json_schema(), separators=(",", ":"))
            self._system += f"\nJSON schema of the reply: {schema}"

    async def understand(self, text: str, context: UnderstandingContext) -> Understanding:
        local = await self.fallback.understand(text, context)
        if context.expecting == "identity":
            return local  # identity answers are nothing but identifiers: they stay on the machine
        if not self.breaker.allow():
            self.fallbacks["circuit_open"] += 1
            return local
        known = (
            await self.identifiers(context.patient_id)
            if self.identifiers is not None and context.patient_id
            else KnownIdentifiers()
        )
        vault = PhiVault(known)
        self.calls += 1
        spent = total_tokens(self)
        try:
            async with asyncio.timeout(self.timeout_s):
                reading = await self._ask(vault, text, context)
        except _FAILURES as error:
            self.breaker.failure()
            self.fallbacks[_reason(error)] += 1
            return local
        finally:
            self.turn_tokens.observe(total_tokens(self) - spent)
        self.breaker.success()
        if self.calibration is not None:
            reading = reading.model_copy(update={"confidence": self.calibration.apply(reading.confidence)})
        return _merge(reading, local, vault)

    async def read_raw(self, text: str, context: UnderstandingContext) -> tuple[str, float] | None:
        """The model's own (intent, confidence), uncalibrated and unmerged; None when it gives none.
        What ``calibrate`` fits its map on."""
        known = (
            await self.identifiers(context.patient_id)
            if self.identifiers is not None and context.patient_id
            else KnownIdentifiers()
        )
        try:
            async with asyncio.timeout(self.timeout_s):
                reading = await self._ask(PhiVault(known), text, context)
        except _FAILURES:
            return None
        return reading.intent.value, reading.confidence

    def prompt(self, vault: PhiVault, text: str, context: UnderstandingContext) -> list[BaseMessage]:
        """The messages sent for a turn: bounded in count and size, every one tokenized."""
        earlier = [vault.tokenize(m[:MAX_MESSAGE_CHARS]) for m in context.previous_messages[-self.window :]]
        parts = (
            ["Earlier messages (oldest first):\n" + "\n".join(f"- {m}" for m in earlier)] if earlier else []
        )
        if context.expecting:
            parts.append(f"The assistant last asked for: {context.expecting}.")
        parts.append(f"Latest message:\n{vault.tokenize(text[:MAX_MESSAGE_CHARS])}")
        return [SystemMessage(self._system), HumanMessage("\n\n".join(parts))]

    async def _ask(self, vault: PhiVault, text: str, context: UnderstandingContext) -> ModelReading:
        async with self.gate.slot():
            result: Any = await self._structured.ainvoke(self.prompt(vault, text, context))
        raw = result.get("raw")
        if isinstance(raw, AIMessage) and raw.usage_metadata is not None:
            self.usage["input_tokens"] += raw.usage_metadata["input_tokens"]
            self.usage["output_tokens"] += raw.usage_metadata["output_tokens"]
        if result.get("parsing_error") is not None:
            raise InvalidReading(str(result["parsing_error"]))
        reading = result.get("parsed")
        if not isinstance(reading, ModelReading):
            raise InvalidReading("no reading (refusal or empty reply)")
        if not (0.0 <= reading.confidence <= 1.0 and 0.0 <= reading.frustration <= 1.0):
            raise InvalidReading("confidence or frustration out of range")
        return reading


def _reason(error: BaseException) -> str:
    if isinstance(error, TimeoutError | openai.APITimeoutError):
        return "timeout"
    if isinstance(error, openai.RateLimitError):
        return "rate_limited"
    if isinstance(error, openai.APIStatusError):
        return "server_error" if error.status_code >= 500 else "client_error"
    if isinstance(error, openai.APIConnectionError | httpx.HTTPError):
        return "connection"
    return "invalid_output"


def _merge(reading: ModelReading, local: Understanding, vault: PhiVault) -> Understanding:
    """The model's intent and confidence (and its frustration, when higher); the entities the local
    engine extracted from the patient's own words (amounts and dates are never taken from a model), plus
    the plan lengths and statement references the model found that are the patient's."""
    agree = reading.intent is local.intent
    confidence = (
        max(reading.confidence, local.confidence) if agree else reading.confidence * DISAGREEMENT_DISCOUNT
    )
    others = [(i, p) for i, p in local.alternatives if i is not reading.intent]
    issued = vault.placeholders
    statements = [issued[r] for r in reading.entities.statement_refs if r in issued]
    months = [m for m in reading.entities.month_counts if 1 <= m <= 120]
    entities = local.entities.model_copy(
        update={
            "month_counts": list(dict.fromkeys([*local.entities.month_counts, *months])),
            "statement_numbers": list(dict.fromkeys([*local.entities.statement_numbers, *statements])),
        }
    )
    return local.model_copy(
        update={
            "intent": reading.intent,
            "confidence": round(confidence, 4),
            "alternatives": [(reading.intent, round(confidence, 4)), *others][:3],
            "entities": entities,
            # Never calmer than the local reading, which also weighs repetition across the thread.
            "frustration": max(reading.frustration, local.frustration),
        }
    )


def platform_identifiers(platform: BillingPlatform) -> IdentifierSource:
    """Reads a patient's identifiers from the platform: name, DOB, contact, address, member ids,
    statement and claim numbers."""

    async def identifiers(patient_id: str) -> KnownIdentifiers:
        patient = await platform.get_patient(patient_id)
        coverages = await platform.list_coverages(patient_id)
        statements = await platform.list_statements(patient_id)
        claims = await platform.list_claims(patient_id)
        return KnownIdentifiers.of_patient(
            patient,
            member_ids=[c.member_id for c in coverages],
            statement_numbers=[s.number for s in statements],
            claim_numbers=[c.claim_number for c in claims],
        )

    return identifiers
