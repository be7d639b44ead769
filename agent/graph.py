"""The agent's LangGraph state machines (see ../shared/DESIGN.md): the conversation and the staff
approval of a plan, each with its own state.

``builder`` and ``approval_builder`` are the uncompiled graphs; tests and the service compile them with
their own checkpointer via :func:`compile_graph` and :func:`compile_approval_graph`, which compile each once
per process: per-turn work is one run on a thread.

Conversation turn::

    START → understand ─┬─ human_relay ─────────────────────────────────────────────┐
                        ├─ guard_out (screened: empty, too long, injection, locked)   │
                        ├─ auth ─(verified + earlier question)→ task                  │
                        ├─ fetch_statement → explain                                  │
                        ├─ claims → explain                                           │
                        ├─ negotiate_plan ─(consent)→ create_plan                     │
                        ├─ payment_link · answer_from_kb · clarify                    │
                        ├─ escalate_ticket · smalltalk                                │
                        └──────────────→ guard_out → record → END ◄───────────────────┘

``guard_in`` (the input screen) is a plain function run at the start of ``understand``'s step: both only
read, so a checkpoint between them would protect nothing and cost a superstep every turn. Which node runs
next is decided only by the routers of :mod:`agent.routing`.

The routing functions are plain functions (``agent.routing``, tested on their own); :func:`_on_the_loop`
hands them to LangGraph as coroutine functions, which it runs on the event loop: given a plain function,
LangGraph runs a branch of an async graph on a thread pool (a thread hand-over each).

Approval thread (one per conversation, ``<thread>:approval``; :class:`agent.state.ApprovalState`)::

    START → await_approval (interrupt: staff decide) → apply_plan_decision → END
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Hashable

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agent.context import AgentContext
from agent.nodes.approval import apply_plan_decision, await_approval
from agent.nodes.auth import auth
from agent.nodes.conversation import answer_from_kb, clarify, smalltalk
from agent.nodes.guard import guard_out
from agent.nodes.handoff import escalate_ticket, human_relay
from agent.nodes.payments import payment_link
from agent.nodes.plans import create_plan, negotiate_plan
from agent.nodes.record import record
from agent.nodes.statements import claims, explain, fetch_statement
from agent.nodes.understand import understand
from agent.routing import (
    route_after_auth,
    route_after_fetch,
    route_after_negotiate,
    route_after_understand,
)
from agent.state import ApprovalState, ConversationState, TurnInput

AgentGraph = CompiledStateGraph[ConversationState, AgentContext, TurnInput, ConversationState]
ApprovalGraph = CompiledStateGraph[ApprovalState, AgentContext, ApprovalState, ApprovalState]

# Nodes that write to the platform or the gateway (each carries a domain-derived idempotency key).
WRITE_NODES = ("create_plan", "payment_link", "escalate_ticket", "apply_plan_decision")


def _on_the_loop(
    route: Callable[[ConversationState], Hashable],
) -> Callable[[ConversationState], Awaitable[Hashable]]:
    """``route`` as a coroutine function (see the module). It keeps ``route``'s name and annotations, so
    LangGraph reads the branch's destinations from its ``Literal`` return type, as for ``route`` itself."""

    @functools.wraps(route)
    async def branch(state: ConversationState) -> Hashable:
        return route(state)

    return branch


def _build() -> StateGraph[ConversationState, AgentContext, TurnInput, ConversationState]:
    g = StateGraph(ConversationState, context_schema=AgentContext, input_schema=TurnInput)
    g.add_node("understand", understand)
    g.add_node("auth", auth)
    g.add_node("fetch_statement", fetch_statement)
    g.add_node("claims", claims)
    g.add_node("explain", explain)
    g.add_node("negotiate_plan", negotiate_plan)
    g.add_node("create_plan", create_plan)
    g.add_node("payment_link", payment_link)
    g.add_node("answer_from_kb", answer_from_kb)
    g.add_node("escalate_ticket", escalate_ticket)
    g.add_node("human_relay", human_relay)
    g.add_node("clarify", clarify)
    g.add_node("smalltalk", smalltalk)
    g.add_node("guard_out", guard_out)
    g.add_node("record", record)

    g.add_edge(START, "understand")
    g.add_conditional_edges("understand", _on_the_loop(route_after_understand))
    g.add_conditional_edges("auth", _on_the_loop(route_after_auth))
    g.add_conditional_edges("fetch_statement", _on_the_loop(route_after_fetch))
    g.add_edge("claims", "explain")
    g.add_edge("explain", "guard_out")
    g.add_conditional_edges("negotiate_plan", _on_the_loop(route_after_negotiate))
    g.add_edge("create_plan", "guard_out")
    for node in ("payment_link", "answer_from_kb", "escalate_ticket", "clarify", "smalltalk"):
        g.add_edge(node, "guard_out")
    g.add_edge("human_relay", "record")
    g.add_edge("guard_out", "record")
    g.add_edge("record", END)
    return g


def _build_approval() -> StateGraph[ApprovalState, AgentContext, ApprovalState, ApprovalState]:
    g = StateGraph(ApprovalState, context_schema=AgentContext)
    g.add_node("await_approval", await_approval)
    g.add_node("apply_plan_decision", apply_plan_decision)
    g.add_edge(START, "await_approval")
    g.add_edge("await_approval", "apply_plan_decision")
    g.add_edge("apply_plan_decision", END)
    return g


builder = _build()
approval_builder = _build_approval()


@functools.cache
def _compiled() -> AgentGraph:
    return builder.compile(name="billing_agent")


@functools.cache
def _compiled_approval() -> ApprovalGraph:
    return approval_builder.compile(name="plan_approval")


def compile_graph(checkpointer: BaseCheckpointSaver[str] | None) -> AgentGraph:
    """:data:`builder` bound to a checkpointer (``None`` only for tests of a single run). Compiled once per
    process (16 ms, most of it LangGraph reading every node's bytecode for subgraphs); each caller gets a
    copy (``Pregel.copy``) that shares the compiled nodes, which hold no state, and has its own saver."""
    return _compiled().copy({"checkpointer": checkpointer})


def compile_approval_graph(checkpointer: BaseCheckpointSaver[str] | None) -> ApprovalGraph:
    """:data:`approval_builder` bound to a checkpointer (approval threads wait on it for days), as above."""
    return _compiled_approval().copy({"checkpointer": checkpointer})
