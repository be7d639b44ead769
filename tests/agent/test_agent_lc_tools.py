"""LangChain tools: the patient comes from the verified state, never from the model."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, ToolMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode

from agent.context import AgentContext
from tests.agent.harness import Env
from tools.lc_tools import READ_TOOLS, WRITE_TOOLS
from tools.platforms.models import Channel


class ToolState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    identity: str
    patient_id: str
    log: Annotated[list[str], operator.add]


def _graph():  # type: ignore[no-untyped-def]  # a one-node graph around the real ToolNode
    g = StateGraph(ToolState, context_schema=AgentContext)
    g.add_node("tools", ToolNode([*READ_TOOLS, *WRITE_TOOLS], handle_tool_errors=True))
    g.add_edge(START, "tools")
    g.add_edge("tools", END)
    return g.compile()


async def _call(
    env: Env, pid: str, name: str, args: dict[str, Any], identity: str = "verified"
) -> ToolMessage:
    ctx = AgentContext(ports=env.agent.ports, thread_id="tool-1", channel=Channel.PORTAL)
    call = AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": "c1", "type": "tool_call"}])
    out = await _graph().ainvoke({"messages": [call], "identity": identity, "patient_id": pid}, context=ctx)
    msg = out["messages"][-1]
    assert isinstance(msg, ToolMessage)
    return msg


def test_no_tool_exposes_a_patient_argument() -> None:
    for t in (*READ_TOOLS, *WRITE_TOOLS):
        schema = t.tool_call_schema.model_json_schema()  # type: ignore[union-attr]  # pydantic schemas
        props = set(schema.get("properties", {}))
        assert not {"patient_id", "patient", "account_id", "runtime"} & props, (t.name, props)
    assert {t.name for t in READ_TOOLS}.isdisjoint({t.name for t in WRITE_TOOLS})


async def test_balance_tool_reads_the_verified_patient(env: Env) -> None:
    a = env.patient("copay_only")
    summary = await env.platform.get_account_summary(a.id)
    msg = await _call(env, a.id, "get_account_balance", {})
    assert f'"balance_cents": {summary.balance_cents},' in str(msg.content)


async def test_wrong_patient_cannot_be_reached(env: Env) -> None:
    a = env.patient("copay_only")
    b_statement = next(s for s in env.data.statements if s.patient_id != a.id)
    # The model names another patient's statement: it reads as not found.
    msg = await _call(env, a.id, "get_statement_details", {"statement_number": b_statement.number})
    assert msg.status == "error"
    assert b_statement.number in str(msg.content)
    assert str(b_statement.balance_cents) not in str(msg.content).replace(b_statement.number, "")
    # The model tries to pass a patient id: the argument is not part of the tool.
    smuggled = await _call(env, a.id, "get_account_balance", {"patient_id": b_statement.patient_id})
    summary_a = await env.platform.get_account_summary(a.id)
    assert f'"balance_cents": {summary_a.balance_cents},' in str(smuggled.content)
    # No verified patient: nothing is read.
    unverified = await _call(env, a.id, "get_account_balance", {}, identity="unverified")
    assert unverified.status == "error"


async def test_write_tool_refuses_more_than_the_balance(env: Env) -> None:
    a = env.patient("copay_only")
    summary = await env.platform.get_account_summary(a.id)
    msg = await _call(env, a.id, "create_payment_link", {"amount_cents": summary.balance_cents + 1})
    assert msg.status == "error"
    assert await env.gateway.list_links(a.id) == []
    ok = await _call(env, a.id, "create_payment_link", {"amount_cents": summary.balance_cents})
    assert ok.status != "error"
    assert [lk.amount_cents for lk in await env.gateway.list_links(a.id)] == [summary.balance_cents]
