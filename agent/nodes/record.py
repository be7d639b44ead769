"""``record``: the bot's reply onto the platform transcript and one hash-chained audit entry per turn.

The audit payload holds ids, codes, numbers and names only (intent, confidence, tools with their
arguments, resource ids read, guardrail decisions) — never message text.
"""

from __future__ import annotations

from typing import Any

from langgraph.config import get_stream_writer
from langgraph.runtime import Runtime

from agent.context import AgentContext
from agent.nodes.common import ctx, work
from agent.state import ConversationState, Turn, Update
from tools.platforms.models import Author, CommunicationIn, Direction

REFUSALS = frozenset({"injection", "other_patient", "refused", "abuse"})
# The custom stream event that hands the run's outcome (the state it ends with) to ``BillingAgent``: the
# service reads its reply, intent and actions from it instead of streaming every step's whole state.
OUTCOME = "outcome"


async def record(state: ConversationState, runtime: Runtime[AgentContext]) -> Update:
    c = ctx(runtime)
    done = work(state)
    pid = state.get("patient_id") if state.get("identity") == "verified" else None
    turn = state.get("turn", 0)
    reply = done.get("reply") or ""
    if pid is not None and reply:
        await c.ports.log_line(
            pid,
            CommunicationIn(
                thread_id=c.thread_id,
                channel=c.channel,
                direction=Direction.OUTBOUND,
                author=Author.BOT,
                text=reply,
                external_id=f"bot:{c.thread_id}:{turn}",
            ),
        )
    guard = list(done.get("guard") or [])
    payload: dict[str, Any] = {
        "turn": turn,
        "channel": c.channel.value,
        "mode": state.get("mode", "bot"),
        "identity": state.get("identity", "unverified"),
        "intent": done.get("intent") if state.get("mode") != "human" else None,
        "confidence": done.get("confidence", 0.0),
        "tools": [dict(t) for t in done.get("tools") or []],
        "reads": list(done.get("reads") or []),
        "guard": [dict(g) for g in guard],
        "actions": list(done.get("actions") or []),
        "expecting": state.get("expecting"),
    }
    # A run resumed after a crash re-runs this node from its start: its audit record may already be in
    # the chain (the transcript line above is idempotent by its external id).
    await c.ports.audit.append_once(
        "agent.turn", payload, key="turn", thread_id=c.thread_id, patient_id=pid, actor="bot"
    )
    refused = [g for g in guard if g["verdict"] in REFUSALS]
    if refused:
        await c.ports.audit.append(
            "guard.refused",
            {
                "turn": turn,
                "checks": [g["check"] for g in refused],
                "verdicts": [g["verdict"] for g in refused],
            },
            thread_id=c.thread_id,
            patient_id=pid,
            actor="bot",
        )
    # The records read for the answer, and the facts it was checked against, are not kept past the turn.
    cleared: Turn = {"records": None, "facts": [], "fallback": ""}
    get_stream_writer()({OUTCOME: {**state, "work": {**done, **cleared}}})
    return {"work": cleared}
