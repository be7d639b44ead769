"""Threads checkpointed by an agent whose state had one channel per field (and a per-turn ``scratch``).

Decision: such a thread is read tolerantly. The durable fields kept their names and shapes (identity,
patient, channel, language, mode, window, offers, counters), so the new graph reads them as they are; the
old per-turn channels have no channel in the new graph and are ignored; the new turn record starts at
the next message. A run that such a version left unfinished (a crash mid-turn) is not resumed: its
reply was never delivered and its per-turn data are gone, so the next message starts a fresh run over the
durable fields. The fixture is the newest checkpoint of a real thread taken on that version, mid-way
through a plan negotiation (options offered, the second chosen, waiting for the patient's yes).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import empty_checkpoint

from agent.events import MessageEvent
from tests.agent.harness import Env
from tools.platforms.models import PlanStatus

FIXTURE = Path(__file__).parent / "data" / "old_checkpoint_offer.json"


async def _put_old(env: Env, thread: str, values: dict[str, Any], *, next_node: str | None = None) -> None:
    """Store ``values`` as the thread's newest checkpoint, channel by channel, as the old graph did."""
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = dict(values)
    versions: dict[str, str | int | float] = {
        name: env.checkpointer.get_next_version(None, None) for name in values
    }
    if next_node is not None:  # a run stopped before ``next_node`` ran
        checkpoint["channel_values"][f"branch:to:{next_node}"] = None
        versions[f"branch:to:{next_node}"] = env.checkpointer.get_next_version(None, None)
    checkpoint["channel_versions"] = versions
    config: RunnableConfig = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
    await env.checkpointer.aput(config, checkpoint, {"source": "loop", "step": 4, "parents": {}}, versions)


def _fixture() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FIXTURE.read_text())
    return data


async def test_a_thread_from_the_old_state_carries_on_where_it_was(env: Env) -> None:
    data = _fixture()
    old = data["channel_values"]
    assert "scratch" in old  # really the old shape
    assert "work" not in old
    pid = data["patient_id"]
    patient = await env.platform.get_patient(pid)
    await _put_old(env, "old-1", old)

    state = await env.agent.state("old-1")
    assert state.get("identity") == "verified"
    assert state.get("expecting") == "consent"
    assert "scratch" not in state  # the old per-turn channels are not read
    assert "reply" not in state

    said = await env.say("old-1", "yes", patient)
    assert said.message is not None
    assert "created_plan" in said.message.actions
    chosen = old["pending"]["options"][old["pending"]["chosen"]]
    plans = [p for p in await env.platform.list_payment_plans(pid) if p.status is PlanStatus.ACTIVE]
    assert [(p.months, p.installment_cents, p.down_payment_cents) for p in plans] == [
        (chosen["months"], chosen["installment_cents"], chosen["down_payment_cents"])
    ]
    after = await env.agent.state("old-1")
    assert after.get("turn") == old["turn"] + 1
    assert len(after.get("messages") or []) == len(old["messages"]) + 2  # the window kept, two lines on


async def test_a_run_the_old_state_left_unfinished_is_not_resumed(env: Env) -> None:
    """An old crash just before ``create_plan``: the write is not replayed from the old record; the new
    message is answered from the durable state (the offer still waits for a yes)."""
    data = _fixture()
    old = {**data["channel_values"], "consent": True}
    pid = data["patient_id"]
    patient = await env.platform.get_patient(pid)
    await _put_old(env, "old-2", old, next_node="create_plan")
    assert (await env.agent.graph.aget_state({"configurable": {"thread_id": "old-2"}})).next == (
        "create_plan",
    )

    events = [e async for e in env.agent.recover("old-2")]
    assert events == []  # nothing to finish
    said = await env.say("old-2", "what is my balance?", patient)
    assert said.message is not None
    assert said.message.intent == "balance"
    assert await env.platform.list_payment_plans(pid) == []  # the unconsented-this-turn write did not run
    state = await env.agent.state("old-2")
    assert state.get("expecting") is not None or state.get("pending") is not None
    snapshot = await env.agent.graph.aget_state({"configurable": {"thread_id": "old-2"}})
    assert snapshot.next == ()


class _Died(Exception):
    """The process "dies" right after a write node's side effect, before its checkpoint."""


def _die_after(node: str) -> Callable[[str], None]:
    def hook(done: str) -> None:
        if done == node:
            raise _Died(done)

    return hook


async def test_a_migrated_thread_recovers_from_a_crash_like_any_other(env: Env) -> None:
    """Once the thread has had a turn on the current state, a run that dies inside a write node is
    finished by the next process as for any thread: the plan is made once and the patient told."""
    data = _fixture()
    pid = data["patient_id"]
    patient = await env.platform.get_patient(pid)
    await _put_old(env, "old-3", data["channel_values"])
    await env.say("old-3", "what is my balance?", patient)  # the first turn on the current state
    await env.say("old-3", "I'd like a payment plan", patient)
    await env.say("old-3", "option 2", patient)
    dying = env.make_agent(env.checkpointer, after_side_effect=_die_after("create_plan"))
    with pytest.raises(_Died):
        await env.say("old-3", "yes", patient, agent=dying)
    assert (await env.agent.graph.aget_state({"configurable": {"thread_id": "old-3"}})).next == (
        "create_plan",
    )
    finished = [e async for e in env.agent.recover("old-3")]
    messages = [e for e in finished if isinstance(e, MessageEvent)]
    assert [m.actions for m in messages] == [["created_plan"]]
    assert len(await env.platform.list_payment_plans(pid)) == 1
