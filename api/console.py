"""The staff console's use cases: the queue, a thread with its patient's context, take over, reply, hand
back, resolve, plan approvals and the analytics. HTTP lives in ``api.routes.console``; this module knows
nothing of requests, cookies or roles beyond the ``StaffUser`` it is handed.

Every action is audited as ``actor=f"staff:{id}"`` with ids only in the payload (the audit trail refuses
free text). Thread events the console causes (``staff_message``, ``mode``, a plan decision's ``message``)
go through the runtime's ``EventStore`` and bus, so they reach the patient's stream and every console,
on whichever worker they are connected.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from agent.service import BillingAgent
from api.runtime.bus import EventBus
from api.runtime.delivery import Delivery
from api.runtime.events import EventStore, StoredEvent
from api.runtime.locks import ThreadLocks
from api.runtime.tables import ThreadEventRow, ThreadRow
from api.runtime.threads import ThreadRecord, Threads
from api.staff import Role, StaffDirectory, StaffUser
from guardrails.audit import AuditTrail, JsonValue
from tools.errors import BillingError, ThreadLocked
from tools.handoffs import QueuedHandoff
from tools.platforms.base import BillingPlatform
from tools.platforms.models import (
    AccountSummary,
    Author,
    Claim,
    Communication,
    PaymentPlan,
    Statement,
    Ticket,
    TicketStatus,
)

PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
QueueState = Literal["waiting", "held", "bot"]
MAX_STATEMENTS = 12
TRANSCRIPT_LIMIT = 500
APPROVAL_LOOKBACK = timedelta(days=30)


class NotHolder(ThreadLocked):
    """The action needs the thread to be held by the caller (take it over first)."""

    code = "not_holder"


class NothingToResolve(BillingError):
    status_code = 409
    code = "not_escalated"


# --------------------------------------------------------------------------- views


@dataclass(frozen=True)
class QueueItem:
    thread: ThreadRecord
    state: QueueState
    holder_email: str | None
    waiting_s: float


@dataclass(frozen=True)
class TranscriptEntry:
    author: str
    text: str
    at: datetime


@dataclass(frozen=True)
class PatientContext:
    patient_id: str
    name: str
    language: str
    preferred_channel: str
    summary: AccountSummary
    statements: list[Statement]
    claims: list[Claim]
    plans: list[PaymentPlan]
    tickets: list[Ticket]


@dataclass(frozen=True)
class ThreadView:
    thread: ThreadRecord
    holder_email: str | None
    transcript: list[TranscriptEntry]
    patient: PatientContext | None
    ticket: Ticket | None
    pending_approval: dict[str, Any] | None


@dataclass(frozen=True)
class PlanDecision:
    thread_id: str
    plan_id: str
    approved: bool
    plan: PaymentPlan | None
    event: StoredEvent


@dataclass(frozen=True)
class DayStats:
    day: date
    conversations: int
    handoffs: int
    resolved_without_human: int
    median_first_human_reply_s: float | None


@dataclass(frozen=True)
class Analytics:
    since: date
    until: date
    conversations: int
    handoffs: int
    resolved_without_human: int
    resolution_rate: float
    handoff_rate: float
    median_first_human_reply_s: float | None
    top_intents: list[tuple[str, int]]
    by_day: list[DayStats] = field(default_factory=list)


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# --------------------------------------------------------------------------- the console


class Console:
    def __init__(
        self,
        *,
        engine: AsyncEngine,
        threads: Threads,
        events: EventStore,
        bus: EventBus,
        agent: BillingAgent,
        platform: BillingPlatform,
        audit: AuditTrail,
        staff: StaffDirectory,
        delivery: Delivery,
        locks: ThreadLocks,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._engine = engine
        self._threads = threads
        self._events = events
        self._bus = bus
        self._agent = agent
        self._platform = platform
        self._audit = audit
        self._staff = staff
        self._delivery = delivery
        self._locks = locks
        self._clock = clock or (lambda: datetime.now(UTC))

    # ------------------------------------------------------------------ helpers

    async def _audit_action(
        self, staff: StaffUser, event: str, thread: ThreadRecord, payload: dict[str, JsonValue]
    ) -> None:
        await self._audit.append(
            event, payload, thread_id=thread.id, patient_id=thread.patient_id, actor=staff.actor
        )

    async def _emit(self, thread_id: str, event: dict[str, Any]) -> StoredEvent:
        stored = await self._events.append(thread_id, None, event)
        await self._bus.publish(thread_id, stored.id)
        return stored

    async def _holder_email(self, holder: str | None) -> str | None:
        if holder is None or not holder.startswith("staff:") or not holder[6:].isdigit():
            return None
        member = await self._staff.get(int(holder[6:]))
        return member.email if member is not None else None

    # ------------------------------------------------------------------ queue

    async def queue(self) -> list[QueueItem]:
        """Escalated, unresolved threads: most urgent first, then the longest waiting."""
        now = self._clock()
        threads = await self._threads.list_escalated(limit=500)
        emails: dict[str, str | None] = {}
        items: list[QueueItem] = []
        for t in threads:
            if t.holder is not None and t.holder not in emails:
                emails[t.holder] = await self._holder_email(t.holder)
            state: QueueState = "held" if t.holder else ("waiting" if t.mode == "human" else "bot")
            since = t.escalated_at or t.created_at
            items.append(
                QueueItem(
                    thread=t,
                    state=state,
                    holder_email=emails.get(t.holder) if t.holder else None,
                    waiting_s=max(0.0, (now - since).total_seconds()),
                )
            )
        items.sort(
            key=lambda i: (
                PRIORITY_RANK.get(i.thread.escalation_priority or "normal", 2),
                i.thread.escalated_at or i.thread.created_at,
            )
        )
        return items

    # ------------------------------------------------------------------ thread view

    async def _transcript(self, thread: ThreadRecord) -> list[TranscriptEntry]:
        if thread.patient_id is not None:
            # Lines still in the outbox (the drain logs them on the platform within moments, or once an
            # outage ends) are shown after the platform's, each once (read first, matched by key).
            outbox = self._agent.ports.outbox
            waiting = await outbox.pending(thread_id=thread.id, include_dead=False) if outbox else []
            comms: list[Communication] = await self._platform.list_communications(
                thread.patient_id, thread.id, TRANSCRIPT_LIMIT
            )
            logged = {c.external_id for c in comms if c.external_id}
            shown = [TranscriptEntry(c.author.value, c.text, c.created_at) for c in comms] + [
                TranscriptEntry(w.communication.author.value, w.communication.text, w.created_at)
                for w in waiting
                if w.key not in logged
            ]
            if shown:
                return shown
        # Before verification the platform has nothing yet: the runtime's own records.
        entries = [
            TranscriptEntry(Author.PATIENT.value, m.text, m.created_at)
            for m in await self._threads.inbound_of(thread.id, TRANSCRIPT_LIMIT)
        ]
        for ev in await self._events.of_types(thread.id, frozenset({"message", "staff_message"})):
            author = Author.STAFF.value if ev.type == "staff_message" else Author.BOT.value
            entries.append(TranscriptEntry(author, str(ev.data.get("text", "")), ev.created_at))
        entries.sort(key=lambda e: _aware(e.at))
        return entries

    async def _patient(self, patient_id: str) -> PatientContext:
        p = self._platform
        patient = await p.get_patient(patient_id)
        summaries = await p.list_statements(patient_id)
        statements = [await p.get_statement(patient_id, s.id) for s in summaries[:MAX_STATEMENTS]]
        return PatientContext(
            patient_id=patient.id,
            name=f"{patient.first_name} {patient.last_name}",
            language=patient.language.value,
            preferred_channel=patient.preferred_channel.value,
            summary=await p.get_account_summary(patient_id),
            statements=statements,
            claims=await p.list_claims(patient_id),
            plans=await p.list_payment_plans(patient_id),
            tickets=await p.list_tickets(patient_id),
        )

    async def thread_view(self, staff: StaffUser, thread_id: str) -> ThreadView:
        thread = await self._threads.get(thread_id)
        patient = await self._patient(thread.patient_id) if thread.patient_id else None
        ticket = None
        if patient is not None and thread.ticket_id:
            ticket = next((t for t in patient.tickets if t.id == thread.ticket_id), None)
        pending = await self._agent.pending_approval(thread_id)
        view = ThreadView(
            thread=thread,
            holder_email=await self._holder_email(thread.holder),
            transcript=await self._transcript(thread),
            patient=patient,
            ticket=ticket,
            pending_approval=dict(pending) if pending is not None else None,
        )
        await self._audit_action(staff, "console.thread_viewed", thread, {})
        return view

    # ------------------------------------------------------------------ take over / reply / hand back

    async def take_over(self, staff: StaffUser, thread_id: str) -> ThreadRecord:
        before = await self._threads.get(thread_id)
        try:
            thread = await self._threads.take_over(thread_id, staff.actor)
        except ThreadLocked as exc:
            current = await self._threads.get(thread_id)
            email = await self._holder_email(current.holder)
            who = f"{email} ({current.holder})" if email else str(current.holder)
            raise ThreadLocked(f"this thread is already taken over by {who}") from exc
        if before.holder == staff.actor:
            return thread  # already ours: nothing changes, nothing to audit twice
        try:
            async with self._locks.hold(thread_id):  # never in the middle of a bot turn
                await self._agent.take_over(thread_id, staff.actor)
        except BillingError:
            await self._threads.release(thread_id, staff.actor)
            raise
        if thread.ticket_id is not None:
            await self._platform.update_ticket(thread.ticket_id, TicketStatus.ASSIGNED, staff.actor)
        await self._emit(thread_id, {"type": "mode", "mode": "human"})
        payload: dict[str, JsonValue] = {"ticket_id": thread.ticket_id}
        await self._audit_action(staff, "console.take_over", thread, payload)
        return thread

    async def _held_by(self, staff: StaffUser, thread_id: str) -> ThreadRecord:
        thread = await self._threads.get(thread_id)
        if thread.holder != staff.actor:
            holder = await self._holder_email(thread.holder) if thread.holder else None
            raise NotHolder(
                f"take the thread over first (it is held by {holder or thread.holder})"
                if thread.holder
                else "take the thread over first"
            )
        return thread

    async def reply(self, staff: StaffUser, thread_id: str, text: str) -> StoredEvent:
        thread = await self._held_by(staff, thread_id)
        stored = await self._delivery.post_staff_message(thread_id, staff.actor, text)
        await self._audit_action(staff, "console.reply", thread, {"event_id": stored.id})
        return stored

    async def hand_back(self, staff: StaffUser, thread_id: str, note: str | None) -> ThreadRecord:
        await self._held_by(staff, thread_id)
        async with self._locks.hold(thread_id):
            thread = await self._threads.release(thread_id, staff.actor)
            await self._agent.hand_back(thread_id, note)
        await self._emit(thread_id, {"type": "mode", "mode": "bot"})
        await self._audit_action(staff, "console.hand_back", thread, {"ticket_id": thread.ticket_id})
        return thread

    async def resolve(self, staff: StaffUser, thread_id: str) -> ThreadRecord:
        thread = await self._threads.get(thread_id)
        if thread.escalated_at is None:
            raise NothingToResolve("this thread has no open escalation")
        if thread.holder is not None and thread.holder != staff.actor and not staff.can(Role.MANAGER):
            holder = await self._holder_email(thread.holder)
            raise ThreadLocked(f"this thread is taken over by {holder or thread.holder}")
        async with self._locks.hold(thread_id):
            if thread.mode == "human":
                await self._agent.hand_back(thread_id, None)
            updated = await self._threads.update(thread_id, mode="bot", holder=None, escalated_at=None)
        if thread.ticket_id is not None:
            await self._platform.update_ticket(thread.ticket_id, TicketStatus.RESOLVED, staff.actor)
        if thread.mode == "human":
            await self._emit(thread_id, {"type": "mode", "mode": "bot"})
        await self._audit_action(staff, "console.resolve", thread, {"ticket_id": thread.ticket_id})
        return updated

    # ------------------------------------------------------------------ plan approvals

    async def approvals(self) -> list[tuple[ThreadRecord, dict[str, Any]]]:
        """Plans waiting for a staff decision, oldest request first."""
        since = self._clock() - APPROVAL_LOOKBACK
        stmt = (
            select(ThreadEventRow.thread_id, ThreadEventRow.data)
            .where(ThreadEventRow.type == "message", ThreadEventRow.created_at >= since)
            .order_by(ThreadEventRow.id)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        candidates: list[str] = []
        for thread_id, data in rows:
            actions = data.get("actions") if isinstance(data, dict) else None
            if isinstance(actions, list) and "requested_approval" in actions and thread_id not in candidates:
                candidates.append(thread_id)
        waiting: list[tuple[ThreadRecord, dict[str, Any]]] = []
        for thread_id in candidates:
            request = await self._agent.pending_approval(thread_id)
            if request is not None:
                waiting.append((await self._threads.get(thread_id), dict(request)))
        return waiting

    async def outage_handoffs(self) -> list[QueuedHandoff]:
        """Requests for a person queued while the practice system was down, not yet opened as tickets
        there (``serve`` opens them once it is back; one from a patient never verified stays here)."""
        queue = self._agent.ports.handoffs
        return await queue.pending() if queue is not None else []

    async def decide_plan(self, staff: StaffUser, thread_id: str, approved: bool) -> PlanDecision:
        thread = await self._threads.get(thread_id)
        request = await self._agent.pending_approval(thread_id)
        async with self._locks.hold(thread_id):
            message = await self._agent.resume_plan_decision(thread_id, approved, staff.actor)
        plan_id = str(request["plan_id"]) if request is not None else ""
        patient_id = str(request["patient_id"]) if request is not None else thread.patient_id or ""
        plans = await self._platform.list_payment_plans(patient_id) if patient_id else []
        plan = next((pl for pl in plans if pl.id == plan_id), None)
        # Already on the platform transcript: live to the portal's stream, and texted on SMS threads.
        stored = await self._emit(thread_id, message.model_dump(mode="json"))
        await self._delivery.after_turn(thread, [message])
        await self._audit_action(
            staff,
            "console.plan_approved" if approved else "console.plan_denied",
            thread,
            {
                "plan_id": plan_id or None,
                "approved": approved,
                "status": plan.status.value if plan is not None else None,
                "event_id": stored.id,
            },
        )
        return PlanDecision(thread_id, plan_id, approved, plan, stored)

    # ------------------------------------------------------------------ analytics

    async def analytics(self, days: int, today: date | None = None) -> Analytics:
        until = today or self._clock().date()
        since = until - timedelta(days=days - 1)
        start = datetime.combine(since, datetime.min.time(), tzinfo=UTC)
        end = datetime.combine(until + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        async with self._engine.connect() as conn:
            threads = (
                await conn.execute(
                    select(ThreadRow.id, ThreadRow.created_at, ThreadRow.escalation_reason).where(
                        ThreadRow.created_at >= start, ThreadRow.created_at < end
                    )
                )
            ).all()
            ids = [t.id for t in threads]
            events = (
                (
                    await conn.execute(
                        select(
                            ThreadEventRow.thread_id,
                            ThreadEventRow.type,
                            ThreadEventRow.data,
                            ThreadEventRow.created_at,
                        )
                        .where(
                            ThreadEventRow.thread_id.in_(ids),
                            ThreadEventRow.type.in_(["message", "handoff", "staff_message"]),
                        )
                        .order_by(ThreadEventRow.id)
                    )
                ).all()
                if ids
                else []
            )
        handoff_at: dict[str, datetime] = {}
        first_staff_at: dict[str, datetime] = {}
        answered: set[str] = set()
        intents: Counter[str] = Counter()
        for thread_id, kind, data, at in events:
            at = _aware(at)
            if kind == "handoff":
                handoff_at.setdefault(thread_id, at)
            elif kind == "staff_message":
                first_staff_at.setdefault(thread_id, at)
            else:
                answered.add(thread_id)
                intent = data.get("intent") if isinstance(data, dict) else None
                if isinstance(intent, str) and intent:
                    intents[intent] += 1
        per_day: dict[date, list[str]] = {since + timedelta(days=i): [] for i in range(days)}
        for t in threads:
            per_day.setdefault(_aware(t.created_at).date(), []).append(t.id)
        escalated = {t.id for t in threads if t.escalation_reason is not None} | set(handoff_at)
        human = escalated | set(first_staff_at)

        def reply_times(thread_ids: list[str]) -> list[float]:
            out: list[float] = []
            for tid in thread_ids:
                if tid in first_staff_at:
                    start_at = handoff_at.get(tid)
                    if start_at is not None and first_staff_at[tid] >= start_at:
                        out.append((first_staff_at[tid] - start_at).total_seconds())
            return out

        def without_human(thread_ids: list[str]) -> int:
            return sum(1 for tid in thread_ids if tid in answered and tid not in human)

        by_day = [
            DayStats(
                day=d,
                conversations=len(tids),
                handoffs=sum(1 for tid in tids if tid in escalated),
                resolved_without_human=without_human(tids),
                median_first_human_reply_s=_median(reply_times(tids)),
            )
            for d, tids in sorted(per_day.items())
        ]
        total = len(ids)
        resolved = without_human(ids)
        return Analytics(
            since=since,
            until=until,
            conversations=total,
            handoffs=len(escalated),
            resolved_without_human=resolved,
            resolution_rate=_rate(resolved, total),
            handoff_rate=_rate(len(escalated), total),
            median_first_human_reply_s=_median(reply_times(ids)),
            top_intents=intents.most_common(5),
            by_day=by_day,
        )
