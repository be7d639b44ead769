"""Typed routers: the only place that decides which node runs next. Each is a pure function of the state
that returns a ``Literal`` of node names and raises :class:`ImpossibleState` on a state the graph cannot
produce. Nodes record what they found (an intent, a verification, a consent); they never name a route.

The decision after ``understand`` (:func:`choose_route`) is tested on its own, without a graph. Which node
runs is decided here, by code, never by a model.
"""

from __future__ import annotations

from typing import Literal, cast, get_args

from agent.state import ConversationState, Turn
from agent.understanding.base import Intent

Route = Literal[
    "auth",
    "fetch_statement",
    "claims",
    "negotiate_plan",
    "payment_link",
    "answer_from_kb",
    "escalate_ticket",
    "clarify",
    "smalltalk",
]
AfterAuth = Literal[
    "fetch_statement", "claims", "negotiate_plan", "payment_link", "escalate_ticket", "guard_out"
]
AfterUnderstand = Route | Literal["human_relay", "guard_out"]  # the screen's answers go straight on
AfterNegotiate = Literal["create_plan", "guard_out"]
AfterRecord = Literal["__end__"]

ROUTES: frozenset[str] = frozenset(get_args(Route))

LOW_CONFIDENCE = 0.45
CLARIFY_MARGIN = 0.12

# Intents that need an account fact, hence a verified identity.
ACCOUNT_INTENTS: dict[Intent, Route] = {
    Intent.BALANCE: "fetch_statement",
    Intent.EXPLAIN_STATEMENT: "fetch_statement",
    Intent.EXPLAIN_CHARGE: "fetch_statement",
    Intent.REFUND_OR_CREDIT: "fetch_statement",
    Intent.CLAIM_STATUS: "claims",
    Intent.DENIAL_REASON: "claims",
    Intent.PAYMENT_PLAN: "negotiate_plan",
    Intent.PAY_NOW: "payment_link",
    Intent.DISPUTE_ALREADY_PAID: "escalate_ticket",
    Intent.DISPUTE_CHARGE: "escalate_ticket",
    Intent.FINANCIAL_HARDSHIP: "escalate_ticket",
    Intent.REQUEST_HUMAN: "escalate_ticket",
    Intent.UPDATE_INSURANCE_OR_CONTACT: "escalate_ticket",
}

GENERAL_INTENTS: dict[Intent, Route] = {
    Intent.PAYMENT_METHODS: "answer_from_kb",
    Intent.GREETING: "smalltalk",
    Intent.THANKS_GOODBYE: "smalltalk",
    Intent.OUT_OF_SCOPE: "smalltalk",
}


_NOT_A_REQUEST = frozenset(
    {
        Intent.DENY,
        Intent.AFFIRM,
        Intent.OUT_OF_SCOPE,
        Intent.GREETING,
        Intent.THANKS_GOODBYE,
        Intent.IDENTITY_ANSWER,
    }
)


class ImpossibleState(RuntimeError):
    """A router met a state the graph cannot produce: a bug, never a patient's doing."""


def _work(state: ConversationState) -> Turn:
    return state.get("work") or {}


def _intent(state: ConversationState) -> Intent:
    raw = _work(state).get("intent")
    if raw is None:
        raise ImpossibleState("routing after understand without an intent")
    return Intent(raw)


def choose_route(state: ConversationState) -> Route:
    """Where a understood message goes. Order matters: safety first, then identity, then the task."""
    intent = _intent(state)
    turn = _work(state)
    verified = state.get("identity") == "verified"
    if state.get("identity") == "locked":
        raise ImpossibleState("a locked thread reached understand")
    if verified and turn.get("escalation") is not None:
        # "forget it, this is pointless and I'm so annoyed": the upset (or the dispute, the legal words)
        # goes to a person; the cancel in the same words cancels nothing of that.
        return "escalate_ticket"
    if turn.get("is_cancel") and intent in _NOT_A_REQUEST:
        return "smalltalk"  # a bare cancel; "never mind, what do I owe?" goes on to the question
    if not verified:
        if (
            state.get("expecting") == "identity"
            or intent is Intent.IDENTITY_ANSWER
            or intent in ACCOUNT_INTENTS
            or turn.get("escalation") is not None
        ):
            return "auth"
        if intent is Intent.INSURANCE_TERMS:
            return "answer_from_kb"
    if verified and turn.get("escalation") is not None:
        return "escalate_ticket"
    if verified and turn.get("vent"):
        return "smalltalk"  # "this is such BS": acknowledged, and a person offered
    expecting = state.get("expecting")
    if (
        expecting == "human_offer"
        and state.get("pending") is not None
        and intent in (Intent.AFFIRM, Intent.PAYMENT_PLAN)
        and _has_terms(state)
    ):
        return "negotiate_plan"  # offered a person beside the plans, the patient picked a plan instead
    if expecting == "human_offer" and intent is Intent.AFFIRM:
        return "escalate_ticket" if verified else "auth"
    if expecting == "link_offer" and intent is Intent.AFFIRM:
        return "payment_link"
    if state.get("pending") is not None and (
        expecting in ("plan_choice", "consent")
        and (
            intent in (Intent.AFFIRM, Intent.DENY, Intent.PAYMENT_PLAN, Intent.FINANCIAL_HARDSHIP)
            # "I'd like a person to confirm something first": a person asked for, whatever "first" reads as
            or (_has_terms(state) and intent is not Intent.REQUEST_HUMAN)
        )
    ):
        return "negotiate_plan"
    if (
        state.get("pending") is not None
        and expecting == "human_offer"
        and (intent in (Intent.PAYMENT_PLAN, Intent.FINANCIAL_HARDSHIP) or _has_terms(state))
    ):
        return "negotiate_plan"  # a person offered beside the plans; the patient still talks terms
    if turn.get("confidence", 0.0) < LOW_CONFIDENCE and _close_alternatives(turn):
        return "clarify"
    if intent in ACCOUNT_INTENTS:
        target = ACCOUNT_INTENTS[intent]
        # No ticket on a guess: without an escalation decided on the patient's words (a request for a
        # person, a dispute, hardship, legal action on this bill), the agent offers a person and waits
        # for a yes (smalltalk asks).
        return "smalltalk" if target == "escalate_ticket" else target
    if intent is Intent.INSURANCE_TERMS:
        return "fetch_statement"
    if intent in GENERAL_INTENTS:
        return GENERAL_INTENTS[intent]
    if intent in (Intent.AFFIRM, Intent.DENY, Intent.IDENTITY_ANSWER):
        return "smalltalk"
    raise ImpossibleState(f"no route for intent {intent}")


def _has_terms(state: ConversationState) -> bool:
    ents = _work(state).get("entities") or {}
    return bool(ents.get("amounts_cents") or ents.get("month_counts") or ents.get("line_refs"))


def _close_alternatives(turn: Turn) -> bool:
    alts = turn.get("alternatives") or []
    if len(alts) < 2:
        return True
    return (alts[0][1] - alts[1][1]) < CLARIFY_MARGIN or alts[0][1] < LOW_CONFIDENCE


def route_after_understand(state: ConversationState) -> AfterUnderstand:
    if state.get("mode") == "human":
        return "human_relay"
    if _work(state).get("reply"):
        return "guard_out"  # the screen answered already (empty, too long, injection, locked, opted out)
    return choose_route(state)


ROUTE_FOR_PENDING: dict[Intent, Route] = {**ACCOUNT_INTENTS, Intent.INSURANCE_TERMS: "fetch_statement"}


def route_after_auth(state: ConversationState) -> AfterAuth:
    """After a successful verification, carry on with the question (or the hand-off) from before it."""
    turn = _work(state)
    if state.get("identity") != "verified" or not turn.get("resumed"):
        return "guard_out"
    if turn.get("escalation") is not None:
        return "escalate_ticket"
    target = ROUTE_FOR_PENDING.get(_intent(state))
    if target is None or target == "escalate_ticket":
        # A general question: the confirmation is the answer, the patient asks again. A hand-off reading
        # with no escalation decided on the patient's words is a guess: no ticket on it.
        return "guard_out"
    for candidate in get_args(AfterAuth):
        if candidate == target:
            return cast(AfterAuth, candidate)
    raise ImpossibleState(f"no route after verification to {target!r}")


def route_after_negotiate(state: ConversationState) -> AfterNegotiate:
    if _work(state).get("consent"):
        pending = state.get("pending")
        if pending is None or pending.get("chosen") is None:
            raise ImpossibleState("consent without a chosen option")
        return "create_plan"
    return "guard_out"


AfterFetch = Literal["explain", "guard_out"]


def route_after_fetch(state: ConversationState) -> AfterFetch:
    """A refused statement number already has its answer; otherwise explain what was read."""
    turn = _work(state)
    if turn.get("reply"):
        return "guard_out"
    if turn.get("records") is None:
        raise ImpossibleState("fetch_statement read nothing and said nothing")
    return "explain"
