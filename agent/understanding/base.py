"""The understanding port: what the agent learns from one patient message.

Both engines (the local, model-free one in ``local.py`` and an LLM-backed one) return the same
frozen ``Understanding``; the graph routes on ``intent`` and ``confidence`` and reads entities, never
raw text.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field


class Intent(StrEnum):
    BALANCE = "balance"
    EXPLAIN_STATEMENT = "explain_statement"
    EXPLAIN_CHARGE = "explain_charge"
    INSURANCE_TERMS = "insurance_terms"
    CLAIM_STATUS = "claim_status"
    DENIAL_REASON = "denial_reason"
    REFUND_OR_CREDIT = "refund_or_credit"
    PAYMENT_PLAN = "payment_plan"
    PAY_NOW = "pay_now"
    PAYMENT_METHODS = "payment_methods"
    DISPUTE_ALREADY_PAID = "dispute_already_paid"
    DISPUTE_CHARGE = "dispute_charge"
    FINANCIAL_HARDSHIP = "financial_hardship"
    REQUEST_HUMAN = "request_human"
    UPDATE_INSURANCE_OR_CONTACT = "update_insurance_or_contact"
    GREETING = "greeting"
    THANKS_GOODBYE = "thanks_goodbye"
    AFFIRM = "affirm"
    DENY = "deny"
    OUT_OF_SCOPE = "out_of_scope"
    # A message that is only a date of birth, ZIP code or statement number, sent when identity was asked.
    IDENTITY_ANSWER = "identity_answer"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LineRef(_Frozen):
    """How a patient points at one line of a statement.

    ``ordinal`` is 1-based; ``-1`` means "the last one".
    """

    ordinal: int | None = None
    amount_cents: int | None = None
    keyword: str | None = None


class Entities(_Frozen):
    amounts_cents: list[int] = Field(default_factory=list)
    months: list[int] = Field(default_factory=list)  # month numbers 1-12 named in the text
    month_counts: list[int] = Field(default_factory=list)  # "6 months" -> 6, "over a year" -> 12
    dates: list[date] = Field(default_factory=list)
    statement_numbers: list[str] = Field(default_factory=list)
    line_refs: list[LineRef] = Field(default_factory=list)
    date_of_birth: date | None = None
    zip_code: str | None = None


class Understanding(_Frozen):
    intent: Intent
    confidence: float = Field(ge=0.0, le=1.0)
    # The top three intents with their probabilities, best first (the chosen intent is the first).
    alternatives: list[tuple[Intent, float]] = Field(default_factory=list)
    entities: Entities = Field(default_factory=Entities)
    frustration: float = Field(default=0.0, ge=0.0, le=1.0)
    language: Literal["en", "es"] = "en"
    is_correction: bool = False
    is_cancel: bool = False
    # The message as the engine read it, with its typos of known words repaired ("my tmboile bill" ->
    # "my tmobile bill"), when that differs from what was written: the rules after the engine read it too.
    read_as: str | None = None


class UnderstandingContext(_Frozen):
    """What the agent asked for last: ``"identity"``, ``"plan_choice"``, ``"consent"``, … or ``None``."""

    expecting: str | None = None
    last_intent: Intent | None = None
    # Earlier patient messages in this thread, oldest first (used to notice repetition).
    previous_messages: tuple[str, ...] = ()
    # "Today" for dates written without a year and two-digit years; None means the system date.
    today: date | None = None
    # The verified patient of the thread, if any: an engine that sends text off the machine uses it to
    # find the patient's identifiers to withhold (the local engine ignores it).
    patient_id: str | None = None


class Understander(Protocol):
    async def understand(self, text: str, context: UnderstandingContext) -> Understanding: ...
