"""What one trial recorded: the user's lines, the agent's messages and the writes each turn made.

Plain pydantic data so a trial serialises to the JSON report and judges can be tested on hand-built
trajectories without running the graph.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

StopReason = Literal["completed", "transfer", "turn_cap", "stuck", "error"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AgentMessage(_Model):
    text: str
    intent: str | None = None
    confidence: float = 0.0
    actions: list[str] = Field(default_factory=list)
    expecting: str | None = None


class HandoffInfo(_Model):
    ticket_id: str
    reason: str
    priority: str


class Writes(_Model):
    """Records created for the task's patient during one turn (counted from the ledger and gateway)."""

    plans: int = 0
    links: int = 0
    tickets: int = 0
    payments: int = 0

    @property
    def any(self) -> bool:
        return bool(self.plans or self.links or self.tickets or self.payments)


class TurnRecord(_Model):
    index: int
    user_text: str
    # "opening", "turn", or "answer:<expecting>" — where in the script the line came from.
    user_kind: str
    expected_intent: str | None = None
    messages: list[AgentMessage] = Field(default_factory=list)
    handoff: HandoffInfo | None = None
    mode: Literal["bot", "human"] = "bot"
    writes: Writes = Field(default_factory=Writes)
    latency_ms: float = 0.0
    # Minutes the clock moved on before this line (a silence), and whether staff handed the thread back
    # to the bot just before it.
    waited_minutes: int = 0
    after_hand_back: bool = False

    @property
    def agent_text(self) -> str:
        return "\n".join(m.text for m in self.messages)

    @property
    def expecting(self) -> str | None:
        return self.messages[-1].expecting if self.messages else None

    @property
    def intent(self) -> str | None:
        return self.messages[-1].intent if self.messages else None


class Trajectory(_Model):
    task_id: str
    trial: int
    seed: int
    patient_id: str
    thread_id: str
    channel: Literal["portal", "sms"]
    turns: list[TurnRecord]
    stop: StopReason
    error: str | None = None
