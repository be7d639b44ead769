"""The staff-approval graph's nodes: ``await_approval`` (a LangGraph ``interrupt``: staff decide) and
``apply_plan_decision`` (the write after it, idempotent).

An approval thread (``<thread>:approval``) has its own small state (:class:`agent.state.ApprovalState`):
the request, the decision and the message sent to the patient; it never touches the conversation's.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agent import templates as T
from agent.context import AgentContext
from agent.nodes.common import ctx
from agent.state import ApprovalState, Language
from tools.platforms.models import Author, CommunicationIn, Direction, PlanStatus


async def await_approval(state: ApprovalState, runtime: Runtime[AgentContext]) -> ApprovalState:
    """Pause the approval thread until staff decide. Resumed with ``{"approved": bool, "approver": str}``.

    Nothing here has a side effect: on resume the node re-runs from its start and ``interrupt`` returns
    the decision.
    """
    request = state.get("approval")
    if request is None:
        raise RuntimeError("await_approval without a request")
    decision: Any = interrupt({"kind": "plan_approval", **request})
    approved = bool(decision.get("approved")) if isinstance(decision, dict) else False
    approver = str(decision.get("approver", "")) if isinstance(decision, dict) else ""
    return {"approval_outcome": "approved" if approved else "denied", "approver": approver or None}


async def apply_plan_decision(state: ApprovalState, runtime: Runtime[AgentContext]) -> ApprovalState:
    c = ctx(runtime)
    request = state.get("approval")
    outcome = state.get("approval_outcome")
    if request is None or outcome is None:
        raise RuntimeError("apply_plan_decision without a decision")
    pid = request["patient_id"]
    approver = state.get("approver")
    target = PlanStatus.ACTIVE if outcome == "approved" else PlanStatus.DENIED
    plans = {p.id: p for p in await c.ports.platform.list_payment_plans(pid)}
    plan = plans[request["plan_id"]]
    if plan.status is PlanStatus.PENDING_APPROVAL:
        plan = await c.ports.platform.set_plan_status(pid, plan.id, target, approver)
    c.side_effect_done("apply_plan_decision")
    language: Language = request["language"]
    regular = sorted((i.sequence, i.amount_cents) for i in plan.installments if i.sequence > 0)
    final = regular[-1][1] if regular else plan.installment_cents
    terms = T.plan_label(plan.down_payment_cents, plan.months, plan.installment_cents, final, language)
    text = T.plan_decided(outcome == "approved", terms, language)
    marker = f"plan-decision:{plan.id}"
    thread = request["conversation_thread_id"]
    logged = await c.ports.platform.list_communications(pid, thread, 50)
    if not any(m.external_id == marker for m in logged):
        await c.ports.platform.log_communication(
            pid,
            CommunicationIn(
                thread_id=thread, channel=c.channel, direction=Direction.OUTBOUND,
                author=Author.BOT, text=text, external_id=marker,
            ),
        )  # fmt: skip
    await c.ports.audit.append(
        "plan.decision",
        {"plan_id": plan.id, "status": plan.status.value, "approver": approver},
        thread_id=thread,
        patient_id=pid,
        actor=approver or "staff",
    )
    return {"reply": text, "actions": [f"plan_{outcome}"]}
