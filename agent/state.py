"""The graph state: checkpoint-safe data only.

Every value here is plain JSON-like data (str, int, float, bool, None, lists and dicts of them), so the
SQLite and PostgreSQL savers serialise it without pickling and without custom types. Capabilities (the
platform, the gateway, the policy, ...) live in :mod:`agent.context`, never here.

The state is bounded: the message window keeps the last :data:`WINDOW` lines (the full transcript is on
the platform as communications), the intent history the last :data:`INTENT_HISTORY` intents, and every
per-turn field is reset by ``guard_in`` and cleared by ``record`` so that a thread's checkpoint is the
same size after 10 turns and after 10,000.
"""

from __future__ import annotations

import operator
from typing import Annotated, Literal, TypedDict

WINDOW = 12
INTENT_HISTORY = 8

Identity = Literal["unverified", "verified", "locked"]
Mode = Literal["bot", "human"]
Role = Literal["patient", "bot", "staff", "system"]
Expecting = Literal["identity", "plan_choice", "consent", "clarify", "human_offer", "link_offer"]
Language = Literal["en", "es"]


class ChatLine(TypedDict):
    role: Role
    text: str
    at: str  # ISO instant


def window(left: list[ChatLine] | None, right: list[ChatLine] | None) -> list[ChatLine]:
    """Append and keep only the newest :data:`WINDOW` lines."""
    merged = list(left or []) + list(right or [])
    return merged[-WINDOW:]


class OfferOption(TypedDict):
    label: str
    total_cents: int
    down_payment_cents: int
    months: int
    installment_cents: int
    schedule: list[tuple[int, str, int]]  # (sequence, ISO due date, cents)
    requires_approval: bool
    start_date: str  # ISO


class PendingOffer(TypedDict):
    statement_ids: list[str]
    balance_cents: int
    options: list[OfferOption]
    chosen: int | None
    stage: Literal["choose", "consent"]


class LinkOffer(TypedDict):
    """A payment link the agent proposed and the patient has not yet accepted (nothing written yet)."""

    amount_cents: int
    purpose: Literal["balance", "partial"]
    statement_id: str | None
    target_cents: int  # the balance the amount was computed from; a changed balance voids the offer
    discounted: bool  # the prompt-pay discount is applied


LinkRequest = Literal["pay", "discount", "unclear"]


class ApprovalRequest(TypedDict):
    """Input of an approval thread: one plan waiting for a staff decision."""

    conversation_thread_id: str
    patient_id: str
    plan_id: str
    total_cents: int
    months: int
    installment_cents: int
    channel: str
    language: Language


class ToolCall(TypedDict):
    name: str
    args: dict[str, str | int | bool | list[str] | None]


class GuardDecision(TypedDict):
    check: str
    verdict: str


class Handoff(TypedDict):
    ticket_id: str
    reason: str
    priority: str


class AgentState(TypedDict, total=False):
    # -- input of a conversation turn
    text: str
    # -- input of an approval thread (staff decision on a plan above the auto-approve ceiling)
    approval: ApprovalRequest | None
    approval_outcome: str | None

    # -- identity and mode
    identity: Identity
    patient_id: str | None
    channel: str
    auth_failures: int
    auth_dob: str | None  # a date of birth given without a second factor yet (ISO)
    mode: Mode
    human_session_ended: bool  # the explicit marker written by hand-back
    held_lines: list[ChatLine]  # patient lines sent before verification, flushed to the platform after

    # -- understanding of the current turn and history
    turn: int
    intent: str | None
    confidence: float
    language: Language
    frustration: float
    alternatives: list[tuple[str, float]]
    entities: dict[str, object]
    is_correction: bool
    is_cancel: bool
    intent_history: list[str]
    low_conf_streak: int
    repair_failures: int
    escalation: dict[str, str] | None  # {"reason":..., "priority":...} decided by the escalation rules

    # -- focus and conversation memory
    statement_id: str | None
    pending: PendingOffer | None
    pending_intent: str | None  # an account question asked before verification
    pending_escalation: dict[str, str] | None  # a hand-off decided before verification, opened after it
    expecting: Expecting | None
    clarify_options: list[str]
    plan_id: str | None
    approval_plan_id: str | None  # a plan created pending approval; the service opens its approval thread
    consent: bool
    disputed: bool
    # How the last pay_now request read: "pay" (the patient asked to pay: a link may follow at once),
    # "discount" (a haggle: explain the policy and ask), "unclear" (no word of paying: state terms and ask).
    link_request: LinkRequest | None
    link_offer: LinkOffer | None

    # -- working data and output of the current turn (reset every turn)
    route: str | None
    preface: str
    reply: str
    fallback: str
    facts: list[list[str]]  # [kind, normalised value] pairs, see agent.facts
    # Set (to the passages the reply quotes) when a phraser is configured and the reply may be phrased.
    phrase_sources: list[str] | None
    scratch: dict[str, object] | None
    suggestions: list[str]
    handoff: Handoff | None
    actions: Annotated[list[str], operator.add]
    tools: Annotated[list[ToolCall], operator.add]
    reads: Annotated[list[str], operator.add]
    guard: Annotated[list[GuardDecision], operator.add]
    messages: Annotated[list[ChatLine], window]
