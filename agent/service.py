"""``BillingAgent``: the one façade the API, the CLI and the evals use to talk to the graph.

Constructed from its dependencies (no globals, no settings). One patient message is one graph run on the
thread; its events stream back as typed :mod:`agent.events`.

Durability, chosen per turn
---------------------------
* **Bot turns run with** ``durability="sync"``: every step's checkpoint is on disk before the next step
  starts. A turn is a handful of steps and the saver is local, so the cost is a few milliseconds (see
  ``python -m bench.measure``), and it buys exact crash recovery: when the process dies inside a write
  node (plan, link, ticket), the last checkpoint is the one *before* that node, its ``next`` names it, and
  :meth:`BillingAgent.recover` re-runs just that node with the same inputs — the domain-derived
  idempotency key then finds the record already made. With ``"async"`` that pre-write checkpoint could
  still be in flight at the crash, and with ``"exit"`` the whole turn would be lost and replayed.
* **Human-mode turns run with** ``durability="exit"``: the bot only relays (``understand``, which only
  screens then, ``→ human_relay → record``), the patient's message is already on the platform before
  the run, and there is no side effect to protect, so one checkpoint at the end is enough.
* **Resuming a staff approval** runs with ``"sync"``: it precedes the plan's status change.

The patient's inbound message is logged as a communication before the run (when the patient is known;
before verification it is held in the state and flushed to the platform by ``auth``), so a crash before
the first checkpoint loses nothing. After each completed turn the thread's older checkpoints are pruned,
so its storage stays one bounded checkpoint.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from typing import Any, Literal, cast

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.types import Command, Durability

from agent import templates
from agent.checkpoint import prune_thread
from agent.context import AgentContext, Ports
from agent.events import (
    AgentEvent,
    DoneEvent,
    Expecting,
    HandoffEvent,
    MessageEvent,
    TokenEvent,
    TypingEvent,
)
from agent.graph import AgentGraph, ApprovalGraph, compile_approval_graph, compile_graph
from agent.nodes.common import line
from agent.nodes.record import OUTCOME
from agent.outreach.replies import OfferLookup
from agent.phrasing import Phraser
from agent.state import ApprovalRequest, ApprovalState, ConversationState, Turn, TurnInput
from agent.state import Expecting as StateExpecting
from agent.understanding.base import Intent, Understander, UnderstandingContext
from guardrails.audit import AuditTrail
from guardrails.policy import PracticePolicy
from tools.codebook import CodeBook
from tools.errors import BillingError, PlatformUnavailable
from tools.handoffs import HandoffQueue, QueuedHandoff
from tools.kb import KnowledgeBase
from tools.outbox import CommunicationOutbox
from tools.payments.base import PaymentGateway
from tools.platforms.base import BillingPlatform
from tools.platforms.models import Author, Channel, CommunicationIn, Direction, TranscriptLine

log = logging.getLogger(__name__)

MAX_LOGGED_CHARS = 10_000
# The checkpoint metadata key naming the runner's turn a run belongs to.
TURN_ID = "turn_id"
# Every internal waiting state has a public name; a link offer is a yes/no to stated terms, like a plan's.
PUBLIC_EXPECTING: dict[StateExpecting, Expecting] = {
    "identity": "identity",
    "plan_choice": "plan_choice",
    "consent": "consent",
    "clarify": "clarify",
    "human_offer": "human_offer",
    "link_offer": "consent",
}


class NoPendingApproval(BillingError):
    status_code = 409
    code = "no_pending_approval"


class ThreadNotFound(BillingError):
    status_code = 404
    code = "thread_not_found"


class _Final:
    """Receives the state a run ended with (``_run`` is a generator, so it cannot return it)."""

    values: ConversationState

    def __init__(self) -> None:
        self.values = cast(ConversationState, {})


# Channels only the older state held (every turn wrote them), never the current one.
_OLD_STATE_CHANNELS = frozenset({"scratch", "reply", "route"})


def _outcome(values: ConversationState) -> list[AgentEvent]:
    """The events a finished run reports: its reply and, when it handed off, the hand-off."""
    events: list[AgentEvent] = []
    turn: Turn = values.get("work") or {}
    reply = turn.get("reply") or ""
    if reply:
        expecting = values.get("expecting")
        events.append(
            MessageEvent(
                text=reply,
                intent=turn.get("intent"),
                confidence=float(turn.get("confidence", 0.0)),
                actions=list(turn.get("actions") or []),
                suggested_replies=list(turn.get("suggestions") or []),
                expecting=PUBLIC_EXPECTING.get(expecting) if expecting else None,
            )
        )
    handoff = turn.get("handoff")
    if handoff:
        events.append(HandoffEvent(**handoff))
    return events


def approval_thread_id(thread_id: str) -> str:
    return f"{thread_id}:approval"


def _config(thread_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id}}


class BillingAgent:
    def __init__(
        self,
        *,
        platform: BillingPlatform,
        gateway: PaymentGateway,
        kb: KnowledgeBase,
        codebook: CodeBook,
        policy: PracticePolicy,
        understander: Understander,
        audit: AuditTrail,
        checkpointer: BaseCheckpointSaver[str],
        clock: Callable[[], datetime] | None = None,
        today: Callable[[], date] | None = None,
        after_side_effect: Callable[[str], None] | None = None,
        prune: bool = True,
        phraser: Phraser | None = None,
        outreach_offers: OfferLookup | None = None,
        outreach_step_offers: OfferLookup | None = None,
        handoffs: HandoffQueue | None = None,
        outbox: CommunicationOutbox | None = None,
    ) -> None:
        self.ports = Ports(
            platform=platform,
            gateway=gateway,
            kb=kb,
            codebook=codebook,
            policy=policy,
            understander=understander,
            audit=audit,
            clock=clock or (lambda: datetime.now(UTC)),
            today=today,
            after_side_effect=after_side_effect,
            phraser=phraser,
            outreach_offers=outreach_offers,
            outreach_step_offers=outreach_step_offers,
            handoffs=handoffs,
            outbox=outbox,
        )
        self.checkpointer = checkpointer
        self.graph: AgentGraph = compile_graph(checkpointer)
        self.approvals: ApprovalGraph = compile_approval_graph(checkpointer)
        self._prune = prune

    # ------------------------------------------------------------------ conversation

    async def turn(
        self,
        thread_id: str,
        text: str,
        *,
        channel: Channel,
        patient_id: str | None,
        phone: str | None,
        statement_id: str | None = None,
        external_id: str | None = None,
        turn_id: str | None = None,
        outreach_step: int | None = None,
    ) -> AsyncIterator[AgentEvent]:
        """One patient message. ``patient_id`` only from a trusted caller (a verified portal session).

        ``turn_id`` (the runner's id of the message) makes the turn exactly-once across a crash: every
        checkpoint of its run carries it in its metadata, so when the same turn is asked for again (the
        process died before the runner recorded it as done) a run that had finished is not run again
        (its outcome is read back from the checkpoint) and one that had not is resumed from its last
        checkpoint, never started over."""
        started = time.perf_counter()
        config = _config(thread_id)
        if turn_id is not None:
            config["metadata"] = {TURN_ID: turn_id}
        context = AgentContext(
            ports=self.ports,
            thread_id=thread_id,
            channel=channel,
            verified_patient_id=patient_id,
            phone=phone,
            statement_id=statement_id,
            outreach_step=outreach_step,
        )
        yield TypingEvent()
        snapshot = await self.graph.aget_state(config)
        if turn_id is not None and (snapshot.metadata or {}).get(TURN_ID) == turn_id:
            ran = _Final()
            if snapshot.next and not snapshot.interrupts:  # died inside this turn's run: finish it
                async for event in self._run(None, config, context, "sync", ran):
                    yield event
            else:  # the run had finished: its outcome is the checkpoint's
                ran.values = cast(ConversationState, snapshot.values or {})
                for event in _outcome(ran.values):
                    yield event
            await self._open_approval(thread_id, ran.values, context)
            if self._prune:
                await prune_thread(self.checkpointer, thread_id)
            log.info("agent.turn.recovered", extra={"thread_id": thread_id, "turn_id": turn_id})
            yield DoneEvent(thread_id=thread_id, mode=ran.values.get("mode", "bot"))
            return
        ran = _Final()
        values = cast(ConversationState, {})
        try:
            values = cast(ConversationState, snapshot.values or {})
            if snapshot.next and not snapshot.interrupts and not await self._left_by_old_state(config):
                # A previous turn died mid-run: finish it first (its reply was never delivered). One left
                # unfinished by the older state is not resumed: this message starts a fresh run over the
                # durable fields it kept.
                ran_before = _Final()
                async for event in self._run(None, config, context, "sync", ran_before):
                    yield event
                await self._open_approval(thread_id, ran_before.values, context)
                snapshot = await self.graph.aget_state(config)
                values = cast(ConversationState, snapshot.values or {})
            else:
                # The last turn made a plan that waits for staff: its approval thread is open, unless the
                # process stopped between that turn and opening it.
                await self._open_approval(thread_id, values, context)
            known = patient_id or (values.get("patient_id") if values.get("identity") == "verified" else None)
            if known is not None:
                # Queued (the outbox, when there is one): the platform write is off the turn's path.
                await self.ports.log_line(
                    known,
                    CommunicationIn(
                        thread_id=thread_id,
                        channel=channel,
                        direction=Direction.INBOUND,
                        author=Author.PATIENT,
                        text=text[:MAX_LOGGED_CHARS],
                        # Idempotent: a turn asked for again after a crash before its run began logs once.
                        external_id=external_id or (f"patient:{thread_id}:{turn_id}" if turn_id else None),
                    ),
                )
            durability: Durability = "exit" if values.get("mode") == "human" else "sync"
            async for event in self._run({"text": text}, config, context, durability, ran):
                yield event
        except PlatformUnavailable as exc:
            # The practice system is down or slow (the adapter already retried and its breaker may be
            # open): say so plainly and offer a person, never a figure from memory. The interrupted run
            # is finished first on the next turn, as after a crash.
            lang: Literal["en", "es"] = "es" if values.get("language") == "es" else "en"
            log.warning("agent.turn.platform_unavailable", extra={"thread_id": thread_id, "reason": exc.code})
            queued = await self._queue_handoff(thread_id, text, channel, patient_id, values)
            if queued is not None:
                hours = self.ports.policy.office_hours
                yield MessageEvent(
                    text=templates.outage_handoff(
                        queued.reference,
                        templates.when_next_open(hours, self.ports.clock(), lang),
                        hours.phone,
                        lang,
                    ),
                    intent=Intent.REQUEST_HUMAN.value,
                    confidence=1.0,
                    actions=["platform_unavailable", "queued_for_staff"],
                )
                yield DoneEvent(thread_id=thread_id, mode="bot")
                return
            yield MessageEvent(
                text=templates.PLATFORM_DOWN[lang],
                intent="platform_unavailable",
                confidence=1.0,
                actions=["platform_unavailable"],
                suggested_replies=list(templates.PLATFORM_DOWN_REPLIES[lang]),
            )
            yield DoneEvent(thread_id=thread_id, mode="bot")
            return
        final = ran.values
        await self._open_approval(thread_id, final, context)
        if self._prune:
            await prune_thread(self.checkpointer, thread_id)
        log.info(
            "agent.turn.completed",
            extra={
                "thread_id": thread_id,
                "intent": (final.get("work") or {}).get("intent"),
                "ms": (time.perf_counter() - started) * 1000,
            },
        )
        yield DoneEvent(thread_id=thread_id, mode=final.get("mode", "bot"))

    async def _queue_handoff(
        self,
        thread_id: str,
        text: str,
        channel: Channel,
        patient_id: str | None,
        values: ConversationState,
    ) -> QueuedHandoff | None:
        """During an outage, a request for a person is queued in the service's own table (to be opened
        on the platform when it is back) instead of failing on the platform. Only the understanding runs
        (it needs no platform); the patient is the verified one, never one guessed without the platform."""
        if self.ports.handoffs is None:
            return None
        understood = await self.ports.understander.understand(
            text, UnderstandingContext(expecting=None, today=self.ports.today() if self.ports.today else None)
        )
        if understood.intent is not Intent.REQUEST_HUMAN:
            return None
        verified = values.get("patient_id") if values.get("identity") == "verified" else None
        now = self.ports.clock()
        transcript = [
            TranscriptLine(author=Author(m["role"]), text=m["text"], at=now)
            for m in (values.get("messages") or [])[-20:]
        ]
        transcript.append(TranscriptLine(author=Author.PATIENT, text=text[:MAX_LOGGED_CHARS], at=now))
        return await self.ports.handoffs.queue(
            thread_id=thread_id,
            channel=channel,
            patient_id=patient_id or verified,
            transcript=transcript,
            idempotency_key=f"outage-handoff:{thread_id}:{now.date().isoformat()}",
        )

    async def recover(
        self, thread_id: str, *, channel: Channel | None = None, phone: str | None = None
    ) -> AsyncIterator[AgentEvent]:
        """Finish a turn a crashed process left unfinished (no-op when there is none)."""
        config = _config(thread_id)
        snapshot = await self.graph.aget_state(config)
        if not snapshot.next or snapshot.interrupts:
            return
        if await self._left_by_old_state(config):
            return  # the next message starts afresh (see ``turn``)
        values = cast(ConversationState, snapshot.values)
        context = AgentContext(
            ports=self.ports,
            thread_id=thread_id,
            channel=channel or Channel(values.get("channel", "portal")),
            verified_patient_id=values.get("patient_id") if values.get("identity") == "verified" else None,
            phone=phone,
        )
        ran = _Final()
        async for event in self._run(None, config, context, "sync", ran):
            yield event
        await self._open_approval(thread_id, ran.values, context)
        if self._prune:
            await prune_thread(self.checkpointer, thread_id)

    async def _left_by_old_state(self, config: RunnableConfig) -> bool:
        """The thread's newest checkpoint was written by the agent's older state, which kept each per-turn
        field in a channel of its own (``reply``, ``scratch``...). Its durable fields have the same names
        and shapes and are read as they are; a run it left unfinished is not resumed, because the per-turn
        data that run would need are not in the new record."""
        newest = await self.checkpointer.aget_tuple(config)
        return newest is not None and not _OLD_STATE_CHANNELS.isdisjoint(newest.checkpoint["channel_values"])

    async def _run(
        self,
        payload: TurnInput | Command[Any] | None,
        config: RunnableConfig,
        context: AgentContext,
        durability: Durability,
        final: _Final | None = None,
    ) -> AsyncIterator[AgentEvent]:
        # ``record``, the last node of every conversation run, hands over the state the run ends with: no
        # re-read (and deserialisation) of the checkpoint after the run, and no copy of the whole state
        # after every step (``stream_mode="values"``).
        last: dict[str, Any] | None = None
        async for _mode, chunk in self.graph.astream(
            payload, config, context=context, stream_mode=["custom"], durability=durability
        ):
            if not isinstance(chunk, dict):
                continue
            if "token" in chunk:
                yield TokenEvent(text=str(chunk["token"]))
            elif OUTCOME in chunk:
                last = chunk[OUTCOME]
        if last is None:  # record did not run (nothing left to do): the checkpoint has the state
            values = cast(ConversationState, (await self.graph.aget_state(config)).values)
        else:
            values = cast(ConversationState, last)
        if final is not None:
            final.values = values
        for event in _outcome(values):
            yield event

    # ------------------------------------------------------------------ staff approval

    async def _open_approval(self, thread_id: str, values: ConversationState, context: AgentContext) -> None:
        """Open the approval thread of a plan the turn created pending approval (once: it is keyed by
        the conversation's thread and checked for the plan first)."""
        plan_id = (values.get("work") or {}).get("approval_plan_id")
        pid = values.get("patient_id")
        if not plan_id or not pid:
            return
        cfg = _config(approval_thread_id(thread_id))
        current = cast(ApprovalState, (await self.approvals.aget_state(cfg)).values or {})
        existing = current.get("approval")
        if existing is not None and existing["plan_id"] == plan_id:
            return  # already waiting (or decided)
        plan = next(p for p in await self.ports.platform.list_payment_plans(pid) if p.id == plan_id)
        request: ApprovalRequest = {
            "conversation_thread_id": thread_id,
            "patient_id": pid,
            "plan_id": plan_id,
            "total_cents": plan.total_cents,
            "months": plan.months,
            "installment_cents": plan.installment_cents,
            "channel": context.channel.value,
            "language": "es" if values.get("language") == "es" else "en",
        }
        opening: ApprovalState = {"approval": request, "approval_outcome": None, "approver": None}
        async for _ in self.approvals.astream(opening, cfg, context=context, durability="sync"):
            pass

    async def pending_approval(self, thread_id: str) -> ApprovalRequest | None:
        snap = await self.approvals.aget_state(_config(approval_thread_id(thread_id)))
        if not snap.interrupts:
            return None
        return cast(ApprovalState, snap.values).get("approval")

    async def resume_plan_decision(self, thread_id: str, approved: bool, approver: str) -> MessageEvent:
        """Staff approve or deny the plan waiting on ``thread_id``; returns the message sent to the patient
        (already logged on the platform)."""
        cfg = _config(approval_thread_id(thread_id))
        snap = await self.approvals.aget_state(cfg)
        values = cast(ApprovalState, snap.values or {})
        request = values.get("approval")
        if not snap.interrupts and snap.next and request is not None:
            pass  # crashed inside apply_plan_decision: resume below re-runs it
        elif not snap.interrupts or request is None:
            raise NoPendingApproval(f"no plan is waiting for approval on thread {thread_id}")
        context = AgentContext(
            ports=self.ports,
            thread_id=thread_id,
            channel=Channel(request["channel"]),
            verified_patient_id=request["patient_id"],
        )
        command: Command[Any] | None = (
            Command(resume={"approved": approved, "approver": approver}) if snap.interrupts else None
        )
        async for _ in self.approvals.astream(command, cfg, context=context, durability="sync"):
            pass
        final = cast(ApprovalState, (await self.approvals.aget_state(cfg)).values)
        if self._prune:
            await prune_thread(self.checkpointer, approval_thread_id(thread_id))
        return MessageEvent(
            text=final.get("reply") or "",
            intent=None,
            confidence=1.0,
            actions=list(final.get("actions") or []),
        )

    # ------------------------------------------------------------------ human mode

    async def _values(self, thread_id: str) -> ConversationState:
        snap = await self.graph.aget_state(_config(thread_id))
        if not snap.values:
            raise ThreadNotFound(f"unknown thread {thread_id}")
        return cast(ConversationState, snap.values)

    async def hand_back(self, thread_id: str, note: str | None = None) -> None:
        """Staff end their session: the bot resumes, with an explicit "human session ended" marker so it
        does not repeat offers or promises made before the hand-off."""
        values = await self._values(thread_id)
        now = self.ports.clock()
        await self.graph.aupdate_state(
            _config(thread_id),
            {
                "mode": "bot",
                "human_session_ended": True,
                "pending": None,
                "expecting": None,
                "messages": [line("system", "human session ended", now)],
            },
            as_node="record",
        )
        pid = values.get("patient_id")
        if pid:
            await self.ports.log_line(
                pid,
                CommunicationIn(
                    thread_id=thread_id,
                    channel=Channel(values.get("channel", "portal")),
                    direction=Direction.OUTBOUND,
                    author=Author.SYSTEM,
                    text="Human session ended." + (f" {note}" if note else ""),
                ),
            )
        await self.ports.audit.append(
            "thread.hand_back", {"mode": "bot"}, thread_id=thread_id, patient_id=pid, actor="staff"
        )

    async def take_over(self, thread_id: str, staff: str) -> None:
        """Staff take the thread from the bot (the console's "take over")."""
        values = await self._values(thread_id)
        await self.graph.aupdate_state(
            _config(thread_id), {"mode": "human", "pending": None, "expecting": None}, as_node="record"
        )
        await self.ports.audit.append(
            "thread.take_over",
            {"staff": staff},
            thread_id=thread_id,
            patient_id=values.get("patient_id"),
            actor="staff",
        )

    async def relay_staff_message(self, thread_id: str, staff: str, text: str) -> None:
        """A staff reply in human mode: onto the platform transcript and into the thread's window."""
        values = await self._values(thread_id)
        pid = values.get("patient_id")
        if not pid:
            raise ThreadNotFound(f"thread {thread_id} has no verified patient")
        await self.ports.log_line(
            pid,
            CommunicationIn(
                thread_id=thread_id,
                channel=Channel(values.get("channel", "portal")),
                direction=Direction.OUTBOUND,
                author=Author.STAFF,
                text=text,
            ),
        )
        await self.graph.aupdate_state(
            _config(thread_id),
            {"messages": [line("staff", text[:500], self.ports.clock())]},
            as_node="record",
        )

    async def state(self, thread_id: str) -> ConversationState:
        """The thread's current state (for the console and tests)."""
        return await self._values(thread_id)


Mode = Literal["bot", "human"]
