"""The scripted conversation mix: about half explanation and balance turns, the rest plans, payments,
claims and escalations (what a billing office's portal traffic looks like). Each conversation is one new
thread of one demo patient, verified by the portal session."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Conversation:
    kind: str
    messages: tuple[str, ...]


BALANCE = Conversation(
    "explain",
    ("what is my balance?", "can you explain my statement?", "what does the first line mean?", "thanks"),
)
TERMS = Conversation(
    "explain", ("how much of my deductible have I met?", "what payment methods do you accept?")
)
PLAN = Conversation("plan", ("I'd like to set up a payment plan", "the first one", "yes", "thanks"))
CLAIM = Conversation("claim", ("why was my claim denied?", "when will insurance pay?", "ok thanks"))
PAY = Conversation("payment", ("I want to pay my bill now", "thanks"))
ESCALATE = Conversation("escalation", ("I want to talk to a person",))  # last: the thread goes to a human

# One cycle: 10 explanation/balance turns, 10 others (4 plan, 3 claim, 2 payment, 1 escalation).
CYCLE: tuple[Conversation, ...] = (BALANCE, PLAN, TERMS, CLAIM, BALANCE, PAY, ESCALATE)

# Growth: one long thread that never leaves bot mode.
GROWTH_SCRIPT: tuple[str, ...] = (
    "what is my balance?",
    "can you explain my statement?",
    "what payment methods do you accept?",
    "how much of my deductible have I met?",
    "thanks",
)


def conversations(start: int = 0) -> Iterator[tuple[int, Conversation]]:
    """An endless stream of ``(sequence number, conversation)`` following :data:`CYCLE`."""
    n = start
    while True:
        yield n, CYCLE[n % len(CYCLE)]
        n += 1
