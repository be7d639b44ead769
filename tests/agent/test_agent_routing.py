"""Typed routing: the decision table, and routers that raise on impossible states."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar, get_args

import pytest

from agent.graph import WRITE_NODES, approval_builder, builder
from agent.nodes.guard import guard_out
from agent.routing import (
    ImpossibleState,
    Route,
    choose_route,
    route_after_auth,
    route_after_fetch,
    route_after_negotiate,
    route_after_understand,
)
from agent.state import ConversationState
from tests.agent.harness import Env

T = TypeVar("T")

REQUIRED = {
    "understand", "auth", "fetch_statement", "claims", "explain", "negotiate_plan", "create_plan",
    "payment_link", "answer_from_kb", "escalate_ticket", "human_relay", "clarify", "smalltalk", "guard_out",
    "record",
}  # fmt: skip


def test_graph_has_every_node_and_routes_only_to_nodes() -> None:
    assert set(builder.nodes) == REQUIRED
    assert set(approval_builder.nodes) == {"await_approval", "apply_plan_decision"}
    assert set(get_args(Route)) <= set(builder.nodes)
    assert set(WRITE_NODES) <= set(builder.nodes) | set(approval_builder.nodes)


_TURN = frozenset({"intent", "confidence", "alternatives", "entities", "is_cancel", "escalation", "reply",
                   "consent", "records", "resumed"})  # fmt: skip


def _s(intent: str, **kw: object) -> ConversationState:
    """A state: ``kw`` names durable fields or fields of the turn's record."""
    turn: dict[str, object] = {"intent": intent, "confidence": 0.9, "alternatives": []}
    base: dict[str, object] = {"identity": "verified", "text": "", "work": turn}
    for key, value in kw.items():
        (turn if key in _TURN else base)[key] = value
    return base  # type: ignore[return-value]  # test literals


@pytest.mark.parametrize(
    ("state", "route"),
    [
        (_s("balance"), "fetch_statement"),
        (_s("explain_charge"), "fetch_statement"),
        (_s("claim_status"), "claims"),
        (_s("denial_reason"), "claims"),
        (_s("payment_plan"), "negotiate_plan"),
        (_s("pay_now"), "payment_link"),
        (_s("payment_methods"), "answer_from_kb"),
        (_s("insurance_terms"), "fetch_statement"),
        (_s("insurance_terms", identity="unverified"), "answer_from_kb"),
        (_s("greeting"), "smalltalk"),
        (_s("balance", identity="unverified"), "auth"),
        (_s("greeting", identity="unverified", expecting="identity"), "auth"),
        (
            _s("request_human", escalation={"reason": "requested_human", "priority": "normal"}),
            "escalate_ticket",
        ),
        # No ticket on a guess: a hand-off without an escalation decided on the patient's words is offered.
        (_s("update_insurance_or_contact"), "smalltalk"),
        (_s("request_human"), "smalltalk"),
        (_s("affirm", expecting="human_offer"), "escalate_ticket"),
        (_s("affirm", expecting="link_offer"), "payment_link"),
        (_s("affirm", expecting="consent", pending={"stage": "consent"}), "negotiate_plan"),
        (_s("balance", expecting="plan_choice", pending={"stage": "choose"}), "fetch_statement"),
        # "never mind that, what do I owe?": the cancel drops the offer and the question is answered.
        (_s("balance", is_cancel=True, pending={"stage": "choose"}), "fetch_statement"),
        (_s("deny", is_cancel=True, pending={"stage": "choose"}), "smalltalk"),
        (
            _s("balance", confidence=0.3, alternatives=[("balance", 0.3), ("pay_now", 0.28)]),
            "clarify",
        ),
    ],
)
def test_choose_route(state: ConversationState, route: str) -> None:
    assert choose_route(state) == route


def test_routers_raise_on_impossible_states() -> None:
    with pytest.raises(ImpossibleState):
        choose_route({"text": "", "identity": "verified"})  # no intent
    with pytest.raises(ImpossibleState):
        choose_route(_s("balance", identity="locked"))
    with pytest.raises(ImpossibleState):
        route_after_negotiate(_s("affirm", consent=True, pending=None))
    with pytest.raises(ImpossibleState):
        route_after_fetch(_s("balance", reply="", records=None))


def test_screen_routes() -> None:
    assert route_after_understand({"text": "", "mode": "human"}) == "human_relay"
    refused = _s("balance", mode="bot", reply="x")  # refused by the screen
    assert route_after_understand(refused) == "guard_out"
    assert route_after_understand(_s("balance", reply="")) == "fetch_statement"
    assert guard_out.__name__ == "guard_out"


@pytest.mark.parametrize(
    ("state", "route"),
    [
        (_s("balance", identity="unverified"), "guard_out"),  # not verified (yet)
        (_s("identity_answer"), "guard_out"),  # verified, nothing asked before
        (_s("balance", resumed=True), "fetch_statement"),  # carries on with the earlier question
        (_s("pay_now", resumed=True), "payment_link"),
        (_s("payment_methods", resumed=True), "guard_out"),  # a general question: asked again
        (
            _s("request_human", resumed=True, escalation={"reason": "x", "priority": "high", "triggers": ""}),
            "escalate_ticket",
        ),
    ],
)
def test_route_after_auth(state: ConversationState, route: str) -> None:
    """Where a verification leads is decided by the router, from what ``auth`` recorded."""
    assert route_after_auth(state) == route


class _CountingPool(ThreadPoolExecutor):
    """The event loop's default thread pool, counting what is handed to it."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.handed: list[str] = []

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        self.handed.append(getattr(fn, "__name__", repr(fn)))
        return super().submit(fn, *args, **kwargs)


async def test_a_turns_routing_runs_on_the_event_loop(env: Env) -> None:
    """Every branch of a turn is decided on the event loop. Given a plain function, LangGraph ran each
    branch of an async graph on the default thread pool, a thread hand-over per branch (2–3 a turn)."""
    pool = _CountingPool()
    asyncio.get_running_loop().set_default_executor(pool)
    try:
        patient = env.patient("copay_only")
        said = await env.say("t-routing", "can you explain my statement?", patient)
        assert said.message is not None
        assert said.message.intent == "explain_statement"
        await env.say("t-routing", "can I split it into payments?", patient)
    finally:
        pool.shutdown(wait=True)
    assert pool.handed == []
