"""The graph's state, in the shape of langchain's react-agent template: a narrow input (:class:`TurnInput`,
what a caller hands a run) inside the full state (:class:`ConversationState`).

The full state has two parts:

* **durable** fields: who the patient is and on which channel, the mode (bot or staff), the language, what
  the conversation has open (a plan offer, a link offer, a question asked before verification, a yes/no the
  bot waits for), the bounded message window, the intent history and the repair counters. They carry from
  turn to turn and are small.
* **the turn's work record** (:class:`Turn`, in the one channel ``work``): what this message was understood
  to mean, what the nodes read and did, and the answer. The screen at the start of every turn overwrites it
  with a fresh record, so nothing of it is reset by hand, and ``record`` drops its bulky parts at the end.

Every value is plain data (str, int, bool, lists and dicts of them) except :class:`Records`, the ledger
records a read node hands to ``explain`` within a turn: typed models, never dumped into dicts and validated
again. ``record`` clears them, so a thread's checkpoint between turns holds no custom type and is the same
size after 10 turns and after 10,000. Capabilities (the platform, the gateway, the policy, ...) live in
:mod:`agent.context`, never here.

The staff-approval thread has a state of its own (:class:`ApprovalState`; ``agent.graph.approval_builder``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired, TypedDict

from langgraph.types import Overwrite
from pydantic import BaseModel, ConfigDict, field_serializer

from agent.outreach.offer import OutreachOffer
from tools.platforms.models import AccountSummary, Claim, Coverage, Payment, Statement, StatementSummary

WINDOW = 12
INTENT_HISTORY = 8

Identity = Literal["unverified", "verified", "locked"]
Mode = Literal["bot", "human"]
Role = Literal["patient", "bot", "staff", "system"]
Expecting = Literal["identity", "plan_choice", "consent", "clarify", "human_offer", "link_offer"]
Language = Literal["en", "es"]
# How a pay_now request read: "pay" (the patient asked to pay: a link may follow at once), "discount" (a
# haggle: explain the policy and ask), "unclear" (no word of paying: state terms and ask).
LinkRequest = Literal["pay", "discount", "unclear"]
FactPairs = list[list[str]]  # [kind, normalised value] pairs, see agent.facts


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
    # How many terms outside the policy the patient has asked for in a row (older checkpoints lack it).
    refusals: NotRequired[int]
    # The first option is the plan an outreach text offered: a plain yes means that one.
    offered_first: NotRequired[bool]


class LinkOffer(TypedDict):
    """A payment link the agent proposed and the patient has not yet accepted (nothing written yet)."""

    amount_cents: int
    purpose: Literal["balance", "partial"]
    statement_id: str | None
    target_cents: int  # the balance the amount was computed from; a changed balance voids the offer
    discounted: bool  # the prompt-pay discount is applied


class Escalation(TypedDict):
    """A hand-off the escalation rules decided (``guardrails.escalation``), as names."""

    reason: str
    priority: str
    triggers: str  # comma-separated trigger names


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


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_computed_fields=True)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class Records(BaseModel):
    """The ledger records a read node (``fetch_statement``, ``claims``) hands to ``explain``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    statement: Statement | None = None
    statements: tuple[StatementSummary, ...] | None = None
    summary: AccountSummary | None = None
    coverages: tuple[Coverage, ...] | None = None
    claims: tuple[Claim, ...] | None = None
    payments: tuple[Payment, ...] | None = None  # read when the last payment is asked about

    @field_serializer("*")
    def _as_data(self, value: Any) -> Any:
        # A checkpoint taken between the read and ``explain`` stores the records as data that validates
        # back into the same models (computed fields are left out: they are recomputed, and the ledger's
        # models refuse unknown keys).
        return _plain(value)


class Turn(TypedDict, total=False):
    """The work record of one turn. Begun afresh by the screen; each node's update fills in fields (the
    four trail lists append, see :func:`merge_turn`)."""

    # What the message meant (``understand``; ``auth`` swaps in a question asked before verification).
    intent: str | None
    confidence: float
    alternatives: list[tuple[str, float]]
    entities: dict[str, object]
    frustration: float
    is_correction: bool
    is_cancel: bool
    read_as: str  # the message with typos of known words repaired, when that differs (the KB is searched so)
    escalation: Escalation | None  # a hand-off decided this turn by the escalation rules
    vent: bool  # one swear and no question answered: acknowledged, a person offered (no ticket unasked)
    resumed: bool  # auth verified the patient and carries on with the question asked before it
    # A second question asked in the same message, answered after the first ("balance? also has humana
    # paid the xray": the balance, then the claim's status), as intent names.
    also: list[str]
    last_payment: bool  # the last payment on file asked about ("how much was my last payment")
    # What the nodes read and decided.
    records: Records | None
    consent: bool  # the patient said yes to the plan terms stated last turn
    approval_plan_id: str | None  # a plan created pending approval: the service opens its approval thread
    # The answer.
    preface: str
    reply: str
    fallback: str  # the facts-only template guard_out uses when the reply fails grounding
    facts: FactPairs
    phrase_sources: list[str] | None  # set when a phraser may phrase the reply: the passages it quotes
    suggestions: list[str]
    handoff: Handoff | None
    # The trail the audit entry records (appended by each node).
    actions: list[str]
    tools: list[ToolCall]
    reads: list[str]
    guard: list[GuardDecision]


TRAIL = ("actions", "tools", "reads", "guard")


def merge_turn(current: Turn | None, update: Turn) -> Turn:
    """A node's update of the turn's record: its fields replace, its trail entries append. (The screen
    starts a turn with ``Overwrite(Turn(...))``, which bypasses this.)"""
    out: dict[str, Any] = dict(current or {})
    changes: dict[str, Any] = dict(update)
    for key, value in changes.items():
        out[key] = [*out.get(key, ()), *value] if key in TRAIL else value
    return out  # type: ignore[return-value]  # built from a Turn's own keys


class TurnInput(TypedDict):
    """What a caller hands a conversation run: the patient's message."""

    text: str


class Durable(TypedDict, total=False):
    """The conversation's state that carries from turn to turn."""

    # Who and where.
    identity: Identity
    patient_id: str | None
    channel: str
    language: Language
    auth_failures: int
    auth_dob: str | None  # a date of birth given without a second factor yet (ISO)
    held_lines: list[ChatLine]  # patient lines sent before verification, flushed to the platform after
    # Who answers: the bot, or staff after a hand-off.
    mode: Mode
    human_session_ended: bool  # the explicit marker written by hand-back
    # The conversation so far.
    turn: int
    messages: Annotated[list[ChatLine], window]
    intent_history: list[str]
    low_conf_streak: int
    repair_failures: int
    # What is open.
    statement_id: str | None  # the statement in focus
    line_id: str | None  # the line explained on its own last ("and what did insurance pay on that one?")
    expecting: Expecting | None  # the answer the bot waits for
    clarify_options: list[str]
    pending: PendingOffer | None  # a payment-plan negotiation
    link_offer: LinkOffer | None
    link_request: LinkRequest | None  # how the latest pay_now read (kept across verification)
    pending_intent: str | None  # an account question asked before verification
    pending_also: list[str] | None  # the second question asked beside it (``Turn.also``)
    pending_turn: dict[str, object] | None  # what that question named (an amount, a statement) and asked
    pending_escalation: Escalation | None  # a hand-off decided before verification, opened after it
    disputed: bool
    outreach: OutreachOffer | None  # the outreach text an SMS thread is answering (agent.outreach.replies)


class ConversationState(TurnInput, Durable, total=False):
    """A conversation thread's state: the input, the durable fields and the current turn's record."""

    work: Annotated[Turn, merge_turn]


class Update(Durable, total=False):
    """A node's partial update of :class:`ConversationState`."""

    work: Turn | Overwrite


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


class ApprovalState(TypedDict, total=False):
    """An approval thread's state (``<thread>:approval``): the request, the staff decision and what the
    patient was told."""

    approval: ApprovalRequest  # the request (the run's input)
    approval_outcome: Literal["approved", "denied"] | None
    approver: str | None
    reply: str
    actions: list[str]
