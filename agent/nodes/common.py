"""Helpers shared by the nodes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, cast, get_origin, get_type_hints

from langgraph.runtime import Runtime
from langgraph.types import Overwrite
from pydantic import BaseModel

from agent.context import AgentContext
from agent.state import AgentState, ChatLine, Language, Role, ToolCall
from tools.platforms.base import BillingPlatform
from tools.platforms.models import TicketReason, TicketStatus

ArgValue = str | int | bool | None | list[str]

Update = dict[str, Any]


# The state's reducer channels (``messages``: the window; ``actions``, ``tools``, ``reads``, ``guard``:
# appended).
REDUCERS: dict[str, Callable[[Any, Any], Any]] = {
    name: hint.__metadata__[0]
    for name, hint in get_type_hints(AgentState, include_extras=True).items()
    if get_origin(hint) is Annotated
}


def applied(state: AgentState, update: Update) -> AgentState:
    """``state`` as the graph would hold it after ``update`` (reducers and ``Overwrite`` included): for a
    node that does the work of two steps in one."""
    out: dict[str, Any] = dict(state)
    for key, value in update.items():
        if isinstance(value, Overwrite):
            out[key] = value.value
        elif key in REDUCERS:
            out[key] = REDUCERS[key](out.get(key) or [], value)
        else:
            out[key] = value
    return cast(AgentState, out)


def merged(first: Update, second: Update) -> Update:
    """One update with the effect of ``first`` then ``second`` (a node may write a channel once a step)."""
    out = dict(first)
    for key, value in second.items():
        earlier = out.get(key)
        if key not in out or key not in REDUCERS or isinstance(value, Overwrite):
            out[key] = value
        elif isinstance(earlier, Overwrite):
            out[key] = Overwrite(REDUCERS[key](earlier.value, value))
        else:
            out[key] = REDUCERS[key](earlier, value)
    return out


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
