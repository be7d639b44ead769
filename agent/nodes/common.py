"""Helpers shared by the nodes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from langgraph.runtime import Runtime
from pydantic import BaseModel

from agent.context import AgentContext
from agent.state import AgentState, ChatLine, Language, Role, ToolCall
from tools.platforms.base import BillingPlatform
from tools.platforms.models import TicketReason, TicketStatus

ArgValue = str | int | bool | None | list[str]

Update = dict[str, Any]


def lang(state: AgentState) -> Language:
    return "es" if state.get("language") == "es" else "en"


def patient_id(state: AgentState) -> str:
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


def entity_list(state: AgentState, key: str) -> list[Any]:
    ents = state.get("entities") or {}
    value = ents.get(key)
    return list(value) if isinstance(value, list) else []


def reply(text: str, facts: list[list[str]], *, fallback: str | None = None, **extra: Any) -> Update:
    """A node's answer. ``fallback`` is the facts-only template guard_out uses if grounding fails."""
    update: Update = {"reply": text, "facts": facts, "fallback": fallback if fallback is not None else text}
    update.update(extra)
    return update


def dump(model: BaseModel) -> dict[str, Any]:
    """A ledger model as checkpoint-safe JSON data (computed fields are recomputed on load)."""
    return model.model_dump(mode="json", exclude_computed_fields=True)


DISPUTE_REASONS = frozenset({TicketReason.DISPUTE_CHARGE, TicketReason.DISPUTE_ALREADY_PAID})


async def account_disputed(state: AgentState, platform: BillingPlatform, pid: str) -> bool:
    """An open dispute on the account (this thread's or a ticket not yet resolved) blocks every plan and
    link. Checked from the platform in the write nodes themselves, so a misread message can never route
    around it."""
    if state.get("disputed"):
        return True
    tickets = await platform.list_tickets(pid)
    return any(t.reason in DISPUTE_REASONS and t.status is not TicketStatus.RESOLVED for t in tickets)
