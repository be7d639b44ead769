"""``applied`` and ``merged``: a node that does two steps' work in one (``understand`` runs the screen
first) sees and writes the state exactly as two steps would, reducers and ``Overwrite`` included."""

from __future__ import annotations

from langgraph.types import Overwrite

from agent.nodes.common import applied, merged
from agent.state import WINDOW, AgentState, ChatLine


def _line(n: int) -> ChatLine:
    return {"role": "patient", "text": f"m{n}", "at": "2026-12-04T00:00:00+00:00"}


def test_the_second_half_sees_the_state_after_the_first() -> None:
    state: AgentState = {
        "reply": "old",
        "guard": [{"check": "screen", "verdict": "ok"}],
        "messages": [_line(i) for i in range(WINDOW)],
    }
    after = applied(state, {"reply": "", "guard": Overwrite([]), "messages": [_line(99)]})
    assert after["reply"] == ""
    assert after["guard"] == []  # reset, not appended to
    assert len(after["messages"]) == WINDOW  # the window's reducer, not a plain append
    assert after["messages"][-1]["text"] == "m99"
    assert state["reply"] == "old"  # the node's input is not changed


def test_two_updates_combine_as_two_steps_would() -> None:
    first = {"reply": "", "guard": Overwrite([{"check": "screen", "verdict": "ok"}]), "actions": ["a"]}
    second = {"intent": "balance", "guard": [{"check": "x", "verdict": "y"}], "actions": ["b"]}
    out = merged(first, second)
    assert isinstance(out["guard"], Overwrite)  # the reset stays a reset, with both decisions in it
    assert out["guard"].value == [{"check": "screen", "verdict": "ok"}, {"check": "x", "verdict": "y"}]
    assert out["actions"] == ["a", "b"]
    assert out["intent"] == "balance"
    assert out["reply"] == ""
    later = merged({"guard": [{"check": "a", "verdict": "b"}]}, {"guard": Overwrite([])})
    assert isinstance(later["guard"], Overwrite)
    assert later["guard"].value == []  # a later reset wins
