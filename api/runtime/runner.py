"""``TurnRunner``: stores a patient's message, then runs the thread's turns one at a time, in arrival
order, in a background task that does not belong to any HTTP request (a client that disconnects never
cancels a turn).

Ordering holds across workers: a thread's worker loop runs under ``ThreadLocks.hold`` (an advisory lock
on PostgreSQL) and always takes the oldest ``queued`` message from the database, whichever worker
stored it. Every ``AgentEvent`` of a turn is appended to the ``EventStore`` (its id is the SSE id) and
published on the bus; the turn id is the inbound message id. The final ``done`` is appended only after
the turn is fully recorded (thread updated, SMS delivered, message marked done).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from agent.events import AgentEvent, DoneEvent, HandoffEvent, MessageEvent
from agent.service import BillingAgent
from api.runtime.bus import EventBus
from api.runtime.delivery import Delivery
from api.runtime.events import EventStore, StoredEvent
from api.runtime.locks import ThreadLocks
from api.runtime.metrics import Metrics
from api.runtime.threads import InboundMessage, ThreadRecord, Threads
from tools.platforms.models import Channel

log = logging.getLogger(__name__)

LOW_CONFIDENCE = 0.45


class ServiceClosing(Exception):
    """Raised by ``submit`` after ``drain`` began (the message is stored and resumes at next start)."""


class TurnRunner:
    def __init__(
        self,
        *,
        agent: BillingAgent,
        threads: Threads,
        events: EventStore,
        bus: EventBus,
        locks: ThreadLocks,
        metrics: Metrics,
        delivery: Delivery | None = None,
    ) -> None:
        self.agent = agent
        self.threads = threads
        self.events = events
        self.bus = bus
        self.locks = locks
        self.metrics = metrics
        self.delivery = delivery
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._dirty: set[str] = set()
        self._closing = False

    async def emit(self, thread_id: str, event: Mapping[str, Any], turn_id: str | None = None) -> StoredEvent:
        """Append ``event`` to the store and wake every follower of the thread (on every worker)."""
        stored = await self.events.append(thread_id, turn_id, event)
        await self.bus.publish(thread_id, stored.id)
        return stored

    async def submit(self, thread_id: str, text: str, *, external_id: str | None = None) -> InboundMessage:
        """Store the message (``queued``) and make sure the thread's worker will answer it. A redelivered
        ``external_id`` returns the stored message (``duplicate=True``) and runs nothing."""
        message = await self.threads.add_inbound(thread_id, text, external_id=external_id)
        if not message.duplicate:
            self.kick(thread_id)
        return message

    def kick(self, thread_id: str) -> None:
        """Run the queued messages of ``thread_id`` (no-op while shutting down: they stay queued)."""
        if self._closing:
            return
        self._dirty.add(thread_id)
        task = self._workers.get(thread_id)
        if task is None or task.done():
            task = asyncio.create_task(self._work(thread_id), name=f"turns:{thread_id}")
            self._workers[thread_id] = task
            task.add_done_callback(lambda t: self._forget(thread_id, t))

    def _forget(self, thread_id: str, task: asyncio.Task[None]) -> None:
        if self._workers.get(thread_id) is task:
            del self._workers[thread_id]

    async def resume(self) -> int:
        """At start-up: run messages a previous process stored but never answered."""
        pending = await self.threads.threads_with_queued()
        for thread_id in pending:
            self.kick(thread_id)
        return len(pending)

    def in_flight(self) -> int:
        return sum(1 for t in self._workers.values() if not t.done())

    async def drain(self, grace_s: float = 30.0) -> None:
        """Stop taking new work and let running turns (and their thread's queue) finish."""
        self._closing = True
        tasks = [t for t in self._workers.values() if not t.done()]
        if not tasks:
            return
        log.info("runner.draining", extra={"threads": len(tasks)})
        _, pending = await asyncio.wait(tasks, timeout=grace_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
            log.warning("runner.drain.timeout", extra={"cancelled": len(pending)})

    async def _work(self, thread_id: str) -> None:
        async with self.locks.hold(thread_id):
            while True:
                self._dirty.discard(thread_id)
                message = await self.threads.next_queued(thread_id)
                if message is None:
                    if thread_id in self._dirty:
                        continue
                    return
                await self._run_turn(message)

    async def _run_turn(self, message: InboundMessage) -> None:
        started = time.perf_counter()
        thread = await self.threads.get(message.thread_id)
        channel = thread.channel
        turn_id = message.turn_id
        collected: list[AgentEvent] = []
        done: DoneEvent | None = None
        failed = False
        try:
            async for event in self.agent.turn(
                thread.id,
                message.text,
                channel=Channel(channel),
                patient_id=thread.patient_id if channel == Channel.PORTAL.value else None,
                phone=thread.phone,
                statement_id=thread.statement_id,
                external_id=message.external_id,
            ):
                if isinstance(event, DoneEvent):
                    done = event  # appended last, once the turn is recorded
                    continue
                collected.append(event)
                await self.emit(thread.id, event.model_dump(mode="json"), turn_id)
            thread = await self._record(thread, collected, done)
            if self.delivery is not None:
                await self.delivery.after_turn(thread, collected)
        except Exception as exc:  # the boundary of a turn: shown as an `error` event, counted, never silent
            failed = True
            log.error(
                "runner.turn.failed",
                extra={"thread_id": thread.id, "turn_id": turn_id, "error_type": type(exc).__name__},
            )
            self.metrics.errors.labels(channel=channel).inc()
            await self.emit(
                thread.id,
                {
                    "type": "error",
                    "error": "turn_failed",
                    "detail": "Sorry, something went wrong. Please try again.",
                },
                turn_id,
            )
        await self.threads.finish_inbound(message.id, "failed" if failed else "done")
        mode = done.mode if done is not None else thread.mode
        await self.emit(thread.id, DoneEvent(thread_id=thread.id, mode=mode).model_dump(mode="json"), turn_id)
        elapsed = time.perf_counter() - started
        self.metrics.turns.labels(channel=channel, outcome="error" if failed else "ok").inc()
        self.metrics.turn_seconds.labels(channel=channel).observe(elapsed)
        log.info(
            "runner.turn.completed",
            extra={
                "thread_id": thread.id,
                "turn_id": turn_id,
                "ms": round(elapsed * 1000, 1),
                "failed": failed,
            },
        )

    async def _record(
        self, thread: ThreadRecord, events: list[AgentEvent], done: DoneEvent | None
    ) -> ThreadRecord:
        changes: dict[str, object] = {}
        for event in events:
            if isinstance(event, HandoffEvent):
                self.metrics.handoffs.labels(channel=thread.channel).inc()
                thread = await self.threads.mark_escalated(
                    thread.id, reason=event.reason, priority=event.priority, ticket_id=event.ticket_id
                )
            elif isinstance(event, MessageEvent) and (
                event.intent is None or event.confidence < LOW_CONFIDENCE
            ):
                self.metrics.fallbacks.labels(channel=thread.channel).inc()
        if done is not None and done.mode != thread.mode:
            changes["mode"] = done.mode
        if thread.patient_id is None:
            state = await self.agent.state(thread.id)
            if state.get("identity") == "verified" and state.get("patient_id"):
                changes["patient_id"] = state.get("patient_id")
        return await self.threads.update(thread.id, **changes) if changes else thread
