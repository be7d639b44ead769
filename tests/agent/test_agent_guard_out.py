"""guard_out: a reply whose figure is not in its facts is replaced by the templated answer."""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agent.context import AgentContext
from agent.facts import FactSet
from agent.nodes.guard import guard_out
from agent.state import ConversationState, Turn
from tests.agent.harness import Env
from tools.platforms.models import Channel


def _graph() -> CompiledStateGraph[ConversationState, AgentContext, ConversationState, ConversationState]:
    """A one-node graph around the real node."""
    g = StateGraph(ConversationState, context_schema=AgentContext)
    g.add_node("guard_out", guard_out)
    g.add_edge(START, "guard_out")
    g.add_edge("guard_out", END)
    return g.compile()


async def test_one_cent_off_is_replaced_by_the_template(env: Env) -> None:
    facts = FactSet().amounts(15000, 10000, 5000).pairs()
    template = "The visit was billed at $150.00; the contracted rate is $100.00, so $50.00 was written off."
    drifted = template.replace("$50.00", "$50.01")
    ctx = AgentContext(ports=env.agent.ports, thread_id="g-1", channel=Channel.PORTAL)
    turn: Turn = {"reply": drifted, "fallback": template, "facts": facts}
    out = (await _graph().ainvoke({"text": "", "work": turn}, context=ctx))["work"]
    assert out["reply"] == template
    assert {"check": "grounding", "verdict": "replaced_with_template"} in out["guard"]
    turn = {"reply": template, "fallback": template, "facts": facts}
    ok = (await _graph().ainvoke({"text": "", "work": turn}, context=ctx))["work"]
    assert ok["reply"] == template
    assert {"check": "grounding", "verdict": "ok"} in ok["guard"]


async def test_sms_reply_fits_the_policy_segments(env: Env) -> None:
    from guardrails.compliance import sms_segments

    long = " ".join(["Your statement has several charges and we can explain each one."] * 20)
    ctx = AgentContext(ports=env.agent.ports, thread_id="g-2", channel=Channel.SMS)
    out = await _graph().ainvoke(
        {"text": "", "work": {"reply": long, "fallback": long, "facts": []}}, context=ctx
    )
    assert sms_segments(out["work"]["reply"]) <= env.agent.ports.policy.sms_max_segments
