"""The event protocol of a turn, the same for the local engine and an LLM: ``typing``, ``token`` deltas of
the final reply, one ``message`` with its metadata, ``handoff`` when a human takes over, then ``done``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

# What the agent's message waits for: an identity answer, a plan option, a yes/no to terms it just stated
# (a plan, or a payment link with its amount), which of two readings the patient meant ("clarify"), or a
# yes/no to its offer of a person ("human_offer").
Expecting = Literal["identity", "plan_choice", "consent", "clarify", "human_offer"]


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TypingEvent(_Event):
    type: Literal["typing"] = "typing"


class TokenEvent(_Event):
    type: Literal["token"] = "token"
    text: str


class MessageEvent(_Event):
    type: Literal["message"] = "message"
    text: str
    intent: str | None
    confidence: float
    actions: list[str] = Field(default_factory=list)
    suggested_replies: list[str] = Field(default_factory=list)
    expecting: Expecting | None = None


class HandoffEvent(_Event):
    type: Literal["handoff"] = "handoff"
    ticket_id: str
    reason: str
    priority: str


class DoneEvent(_Event):
    type: Literal["done"] = "done"
    thread_id: str
    mode: Literal["bot", "human"] = "bot"


AgentEvent = Annotated[
    TypingEvent | TokenEvent | MessageEvent | HandoffEvent | DoneEvent, Field(discriminator="type")
]
