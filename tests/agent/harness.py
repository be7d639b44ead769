"""Harness for the agent tests: a real ledger seeded with the demo practice, the sandbox gateway, the
real audit trail, the local understander and a real SQLite checkpointer — nothing of ours is mocked."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver
from sqlalchemy.ext.asyncio import AsyncEngine

from agent.events import AgentEvent, HandoffEvent, MessageEvent, TokenEvent
from agent.service import BillingAgent
from agent.understanding.local import LocalUnderstander
from guardrails.audit import AuditTrail
from guardrails.policy import default_policy
from tools.codebook import CodeBook
from tools.db import create_engine
from tools.demo.generator import DEMO_TODAY
from tools.handoffs import HandoffQueue
from tools.kb import KnowledgeBase
from tools.outbox import CommunicationOutbox
from tools.payments.sandbox import SandboxGateway
from tools.platforms.ledger import LedgerPlatform, PracticeData
from tools.platforms.models import Channel, Patient, Statement, StatementStatus

# Monday of the demo practice, 10:00 in the office's time zone: the office is open.
NOW = datetime.combine(DEMO_TODAY, time(15, 0), tzinfo=UTC)


def typed_dob(d: date) -> str:
    """A date of birth as a patient types it to verify: MM/DD/YYYY."""
    return f"{d.month:02d}/{d.day:02d}/{d.year}"


def clock() -> datetime:
    return NOW


@dataclass
class Said:
    text: str
    message: MessageEvent | None
    handoff: HandoffEvent | None
    events: list[AgentEvent] = field(default_factory=list)

    @property
    def streamed(self) -> str:
        return "".join(e.text for e in self.events if isinstance(e, TokenEvent))


@dataclass
class Env:
    engine: AsyncEngine
    platform: LedgerPlatform
    gateway: SandboxGateway
    audit: AuditTrail
    data: PracticeData
    checkpointer: BaseCheckpointSaver[str]
    checkpoint_path: Path
    agent: BillingAgent

    def make_agent(
        self,
        checkpointer: BaseCheckpointSaver[str],
        after_side_effect: Callable[[str], None] | None = None,
        *,
        prune: bool = True,
    ) -> BillingAgent:
        return build_agent(
            self.platform, self.gateway, self.audit, checkpointer, after_side_effect, prune=prune
        )

    def patient(self, tag: str, *, exclude: tuple[str, ...] = ()) -> Patient:
        for p in self.data.patients:
            if tag in p.scenario_tags and not set(exclude) & set(p.scenario_tags):
                return p
        raise LookupError(tag)

    async def writes(self, pid: str) -> tuple[int, int, int]:
        """The patient's plans, payment links and tickets, counted."""
        return (
            len(await self.platform.list_payment_plans(pid)),
            len(await self.gateway.list_links(pid)),
            len(await self.platform.list_tickets(pid)),
        )

    async def open_statement(self, pid: str) -> Statement:
        """The patient's first open statement, whole."""
        statements = await self.platform.list_statements(pid)
        summary = next(s for s in statements if s.status is StatementStatus.OPEN)
        return await self.platform.get_statement(pid, summary.id)

    async def say(
        self,
        thread: str,
        text: str,
        patient: Patient | None = None,
        *,
        channel: Channel = Channel.PORTAL,
        phone: str | None = None,
        agent: BillingAgent | None = None,
    ) -> Said:
        events: list[AgentEvent] = []
        async for ev in (agent or self.agent).turn(
            thread,
            text,
            channel=channel,
            patient_id=patient.id if (patient is not None and channel is Channel.PORTAL) else None,
            phone=phone,
        ):
            events.append(ev)
        message = next((e for e in events if isinstance(e, MessageEvent)), None)
        handoff = next((e for e in events if isinstance(e, HandoffEvent)), None)
        return Said(message.text if message else "", message, handoff, events)


def build_agent(
    platform: LedgerPlatform,
    gateway: SandboxGateway,
    audit: AuditTrail,
    checkpointer: BaseCheckpointSaver[str],
    after_side_effect: Callable[[str], None] | None = None,
    handoffs: HandoffQueue | None = None,
    outbox: CommunicationOutbox | None = None,
    *,
    prune: bool = True,
) -> BillingAgent:
    return BillingAgent(
        platform=platform,
        gateway=gateway,
        kb=KnowledgeBase.default(),
        codebook=CodeBook.default(),
        policy=default_policy(),
        understander=LocalUnderstander.default(),
        audit=audit,
        checkpointer=checkpointer,
        clock=clock,
        today=lambda: DEMO_TODAY,
        after_side_effect=after_side_effect,
        handoffs=handoffs,
        outbox=outbox,
        prune=prune,
    )


async def seeded_engine(url: str, practice: PracticeData) -> tuple[AsyncEngine, LedgerPlatform]:
    engine = create_engine(url)
    platform = LedgerPlatform(engine, clock=clock)
    await platform.bulk_load(practice)
    return engine, platform
