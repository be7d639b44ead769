"""Helpers shared by the nodes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Unpack

from langgraph.runtime import Runtime

from agent.context import AgentContext
from agent.state import ChatLine, ConversationState, FactPairs, Language, Role, ToolCall, Turn, Update
from tools.platforms.base import BillingPlatform
from tools.platforms.models import TicketReason, TicketStatus

ArgValue = str | int | bool | None | list[str]


def lang(state: ConversationState) -> Language:
    return "es" if state.get("language") == "es" else "en"


def work(state: ConversationState) -> Turn:
    """The current turn's record (empty before a thread's first turn)."""
    return state.get("work") or {}


def patient_id(state: ConversationState) -> str:
    """The verified patient of the thread; a node that needs it runs only after verification."""
    pid = state.get("patient_id")
    if state.get("identity") != "verified" or not pid:
        raise PermissionError("account data requested on an unverified thread")
    return pid


def call(name: str, **args: ArgValue) -> ToolCall:
    return {"name": name, "args": dict(args)}


def line(role: Role, text: str, at: datetime) -> ChatLine:
    return {"role": role, "text": text, "at": at.isoformat()}


def ctx(runtime: Runtime[AgentContext]) -> AgentContext:
    context = runtime.context
    if context is None:
        raise RuntimeError("the agent graph runs only with an AgentContext")
    return context


def entity_list(state: ConversationState, key: str) -> list[Any]:
    value = work(state).get("entities", {}).get(key)
    return list(value) if isinstance(value, list) else []


def answer(text: str, facts: FactPairs, /, **more: Unpack[Turn]) -> Turn:
    """A node's answer for the turn's record, with the facts it states. Its ``fallback`` (the facts-only
    template guard_out uses if grounding fails) is the text itself unless given."""
    turn: Turn = {"reply": text, "facts": facts, "fallback": text}
    turn.update(more)
    return turn


def reply(text: str, facts: FactPairs, durable: Update | None = None, /, **more: Unpack[Turn]) -> Update:
    """A node's update that answers: ``durable`` changes, and :func:`answer` in the turn's record."""
    update: Update = {**durable} if durable else {}
    update["work"] = answer(text, facts, **more)
    return update


DISPUTE_REASONS = frozenset({TicketReason.DISPUTE_CHARGE, TicketReason.DISPUTE_ALREADY_PAID})


async def account_disputed(state: ConversationState, platform: BillingPlatform, pid: str) -> bool:
    """An open dispute on the account (this thread's or a ticket not yet resolved) blocks every plan and
    link. Checked from the platform in the write nodes themselves, so a misread message can never route
    around it."""
    if state.get("disputed"):
        return True
    tickets = await platform.list_tickets(pid)
    return any(t.reason in DISPUTE_REASONS and t.status is not TicketStatus.RESOLVED for t in tickets)
