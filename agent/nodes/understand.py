"""``understand``: the understanding port (local engine or LLM) plus the conversation-repair bookkeeping
and the escalation rules. It records what the patient meant; :mod:`agent.routing` decides where to go."""

from __future__ import annotations

from langgraph.runtime import Runtime

from agent.context import AgentContext
from agent.nodes.common import Update, ctx
from agent.routing import LOW_CONFIDENCE, choose_route
from agent.state import INTENT_HISTORY, AgentState
from agent.understanding.base import Intent, UnderstandingContext
from guardrails.escalation import EscalationSignals, decide

# Intents whose meaning survives a correction ("no, I meant the March statement" keeps explaining).
_CONTENT_INTENTS = frozenset(
    {
        Intent.BALANCE,
        Intent.EXPLAIN_STATEMENT,
        Intent.EXPLAIN_CHARGE,
        Intent.CLAIM_STATUS,
        Intent.DENIAL_REASON,
        Intent.INSURANCE_TERMS,
        Intent.PAYMENT_PLAN,
        Intent.PAY_NOW,
    }
)


async def understand(state: AgentState, runtime: Runtime[AgentContext]) -> Update:
    c = ctx(runtime)
    text = state.get("text") or ""
    history = list(state.get("intent_history") or [])
    last = Intent(history[-1]) if history else None
    previous = tuple(m["text"] for m in (state.get("messages") or [])[:-1] if m["role"] == "patient")
    u = await c.ports.understander.understand(
        text,
        UnderstandingContext(
            expecting=state.get("expecting") or ("identity" if state.get("identity") != "verified" else None),
            last_intent=last,
            previous_messages=previous,
            today=c.today(),
        ),
    )
    intent = u.intent
    ents = u.entities.model_dump(mode="json")
    if (
        u.is_correction
        and intent in (Intent.DENY, Intent.AFFIRM, Intent.OUT_OF_SCOPE)
        and last in _CONTENT_INTENTS
    ):
        intent = last  # a correction keeps the task and changes its object (statement, month, line)
    if intent is Intent.EXPLAIN_STATEMENT and u.is_correction and last is Intent.BALANCE:
        intent = Intent.BALANCE
    low = u.confidence < LOW_CONFIDENCE
    streak = state.get("low_conf_streak", 0) + 1 if low else 0
    update: Update = {
        "intent": intent.value,
        "confidence": round(u.confidence, 4),
        "alternatives": [(i.value, round(p, 4)) for i, p in u.alternatives[:3]],
        "entities": ents,
        "language": u.language,
        "frustration": round(u.frustration, 4),
        "is_correction": u.is_correction,
        "is_cancel": u.is_cancel,
        "intent_history": ([*history, intent.value])[-INTENT_HISTORY:],
        "low_conf_streak": streak,
    }
    if not low and intent not in (Intent.OUT_OF_SCOPE,):
        update["repair_failures"] = 0
    if u.is_cancel:
        update.update(pending=None, expecting=None, clarify_options=[])
    decision = decide(
        EscalationSignals(
            intent=intent.value,
            confidence=u.confidence,
            previous_low_confidence=state.get("low_conf_streak", 0) > 0,
            frustration=u.frustration,
            repair_failures=state.get("repair_failures", 0),
            text=text,
            explicit_human_request=intent is Intent.REQUEST_HUMAN,
            dispute=intent in (Intent.DISPUTE_ALREADY_PAID, Intent.DISPUTE_CHARGE),
            hardship=intent is Intent.FINANCIAL_HARDSHIP,
        )
    )
    if decision.escalate and decision.reason is not None:
        update["escalation"] = {"reason": decision.reason.value, "priority": decision.priority.value}
    merged: AgentState = {**state, **update}  # type: ignore[typeddict-item]  # a full state view for routing
    update["route"] = choose_route(merged)
    return update
