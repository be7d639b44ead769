"""The floor: what LangGraph itself costs per turn with our checkpointing policy and no work at all.

Four no-op nodes in a line, the same checkpointer (:func:`agent.checkpoint.open_checkpointer`), the same
durability (``"sync"``), the same bounded message window (:func:`agent.state.window`) and the same
keep-latest pruning after each turn as :class:`agent.service.BillingAgent`. The turn's input appends the
patient's line and the last node the reply's, so the checkpointed state grows and stops growing as ours.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from itertools import pairwise
from typing import Annotated, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agent.checkpoint import prune_thread
from agent.state import ChatLine, window

NODES = ("a", "b", "c", "d")
REPLY: ChatLine = {"role": "bot", "text": "ok", "at": "2025-01-01T00:00:00+00:00"}


class FloorState(TypedDict, total=False):
    text: str
    messages: Annotated[list[ChatLine], window]


async def _noop(state: FloorState) -> FloorState:
    return {}


async def _reply(state: FloorState) -> FloorState:
    return {"messages": [REPLY]}


FloorGraph = CompiledStateGraph[FloorState, None, FloorState, FloorState]


def compile_floor(checkpointer: BaseCheckpointSaver[str]) -> FloorGraph:
    g = StateGraph(FloorState)
    for name in NODES[:-1]:
        g.add_node(name, _noop)
    g.add_node(NODES[-1], _reply)
    g.add_edge(START, NODES[0])
    for left, right in pairwise(NODES):
        g.add_edge(left, right)
    g.add_edge(NODES[-1], END)
    return g.compile(checkpointer=checkpointer, name="floor")


class Floor:
    def __init__(self, checkpointer: BaseCheckpointSaver[str]) -> None:
        self.checkpointer = checkpointer
        self.graph = compile_floor(checkpointer)

    async def turn(self, thread_id: str, text: str) -> AsyncIterator[object]:
        """One turn; yields each streamed update (the first one is the floor's "first event")."""
        config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
        line: ChatLine = {"role": "patient", "text": text, "at": "2025-01-01T00:00:00+00:00"}
        async for chunk in self.graph.astream(
            {"text": text, "messages": [line]}, config, stream_mode="updates", durability="sync"
        ):
            yield chunk
        await prune_thread(self.checkpointer, thread_id)
