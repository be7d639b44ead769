"""A reading set aside for want of support in the patient's words leaves the weaker ones, and routing asks
rather than acting on one of those (a payment link was offered on a 0.06 reading)."""

from __future__ import annotations

from agent.nodes.understand import _in_play, _weighed
from agent.routing import choose_route
from agent.state import Turn
from agent.understanding.base import Intent, Understanding


def _read(text: str) -> Understanding:
    return Understanding(
        intent=Intent.FINANCIAL_HARDSHIP,
        confidence=0.72,
        alternatives=[
            (Intent.FINANCIAL_HARDSHIP, 0.72),
            (Intent.DISPUTE_CHARGE, 0.06),
            (Intent.PAY_NOW, 0.05),
        ],
    )


def test_a_set_aside_hand_off_leaves_only_the_weak_readings_and_the_agent_asks() -> None:
    text = "self-pay patient here, what happens next"
    u = _read(text)
    intent, confidence = _weighed(u, text)
    assert (intent, confidence) == (Intent.PAY_NOW, 0.05)  # no word of hardship: the next reading
    assert _in_play(u, intent) == [("pay_now", 0.05)]
    turn: Turn = {"intent": intent.value, "confidence": confidence, "alternatives": _in_play(u, intent)}
    assert choose_route({"text": text, "identity": "verified", "work": turn}) == "clarify"


def test_a_reading_kept_as_read_keeps_its_alternatives() -> None:
    text = "I lost my job and can't afford this"
    u = _read(text)
    assert _weighed(u, text) == (Intent.FINANCIAL_HARDSHIP, 0.72)
    assert _in_play(u, Intent.FINANCIAL_HARDSHIP) == [
        ("financial_hardship", 0.72),
        ("dispute_charge", 0.06),
        ("pay_now", 0.05),
    ]
