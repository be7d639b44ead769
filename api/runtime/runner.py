"""``TurnRunner``: stores a patient's message, then runs the thread's turns one at a time, in arrival
order, in a background task that does not belong to any HTTP request (a client that disconnects never
cancels a turn).

Ordering holds across workers: a thread's worker loop runs under ``ThreadLocks.hold`` (an advisory lock
on PostgreSQL) and always takes the oldest ``queued`` message from the database, whichever worker
stored it. Every ``AgentEvent`` of a turn is appended to the ``EventStore`` (its id is the SSE id) and
published on the bus; the turn id is the inbound message id. The final ``done`` is appended only after
the turn is fully recorded (thread updated, SMS delivered, message marked done).

A turn is answered exactly once, even when the process is killed (SIGKILL) anywhere inside it: its
message stays ``queued`` until its ``done`` is stored, so the next process (``resume``) takes it again;
the agent then resumes the turn's run from its last checkpoint, or reads back the outcome of a run that
had finished (the checkpoints carry the turn id), and an event of the reply already stored before the
crash is not stored again. An SMS reply is therefore sent at most once: a crash between storing the
reply and sending it loses that text (the portal and the console still show it).

Three things keep the time to the first event short and the cost per turn low:

* when the thread has no other message waiting or in its turn, the turn's ``typing`` event is appended
  in the same transaction that stores the message (``accept``), straight from the request handler, so
  the stream has its first event before the turn queues behind other threads' work (the agent's own
  ``typing`` is then not stored again). A message queued behind its own thread's turn gets its
  ``typing`` when its turn starts, so a thread's turns never interleave in the event order;
* ``token`` events are coalesced: one append + one publish per sentence or per ``TOKEN_FLUSH_S``, not
  per word. Their concatenation is still exactly the reply's text, in order;
* a request that posts a message runs inside :meth:`TurnRunner.urgent`: such requests are served first
  come first served, a few at a time, and turns yield to them at their next step (bounded), because
  turns are CPU-bound on the same event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncConnection

from agent.events import AgentEvent, DoneEvent, HandoffEvent, MessageEvent, TokenEvent, TypingEvent
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
TOKEN_FLUSH_S = 0.03  # at most this long between a token and its append (unless a sentence ends first)
SENTENCE_END = (".", "!", "?", ":", ";", "\n")
TYPING: Mapping[str, Any] = {"type": "typing"}
# Turns that run at once in one process. Turns are CPU-bound on one event loop: 50 of them sharing it
# made every other await (a request's reads, the SSE writes) wait behind a step of each; a few at a
# time keep the loop responsive and finish turns first-come first-served, at the same throughput.
MAX_CONCURRENT_TURNS = 4
# Turns whose ``typing`` this process stored, remembered to skip one look-up each (the newest this many).
ANNOUNCED_KEPT = 1024
# Requests that store a message and answer its first event (``urgent``) run at most this many at once,
# first come first served: a burst of them then completes one by one instead of all together at its end.
MAX_CONCURRENT_ACCEPTS = 4
# While such requests are in flight, turns wait (at most this long each time) before their next step.
YIELD_MAX_S = 0.1


# Events of a turn that reach the patient: each is stored at most once per turn, crash or not.
REPLY_KINDS = ("token", "message", "handoff")


def _stored_already(event: AgentEvent, stored: frozenset[str]) -> bool:
    """Whether ``event`` repeats what a turn begun before a crash already stored. Its tokens are the
    message's text: once the message (or any token) is stored, new tokens would show the text twice."""
    if not stored:
        return False
    if isinstance(event, TokenEvent):
        return "token" in stored or "message" in stored
    if isinstance(event, MessageEvent):
        return "message" in stored
    if isinstance(event, HandoffEvent):
        return "handoff" in stored
    return False


@dataclass(frozen=True)
class Accepted:
    """A stored message and where its turn's stream starts (``typing``, when stored, has id
    ``cursor + 1``)."""

    message: InboundMessage
    typing: StoredEvent | None
    cursor: int


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
        max_concurrent_turns: int = MAX_CONCURRENT_TURNS,
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
        self._slots = asyncio.Semaphore(max_concurrent_turns)
        # Turns whose ``typing`` ``accept`` stored (this process), oldest first. Bounded: a turn another
        # worker ran is never looked up here, and a set of them grew for the life of the process.
        self._announced: OrderedDict[str, None] = OrderedDict()
        self._closing = False
        self._accepts = asyncio.Semaphore(MAX_CONCURRENT_ACCEPTS)
        self.yield_max_s = YIELD_MAX_S
        self._urgent = 0
        self._no_urgent = asyncio.Event()
        self._no_urgent.set()

    async def enter_urgent(self) -> Callable[[], None]:
        """Begin a request a patient is waiting on for its first event (authenticate, store the
        message, its ``typing``); call the returned function (idempotent) when it has it. Such requests
        go first come first served, a few at a time, and turns yield to them at their next step (for at
        most ``yield_max_s`` each time, so a stream of requests never starves the turns). Turns are
        CPU-bound on the same event loop: without this, a new message waited behind the steps of every
        running turn, and a burst of messages all got their first event near the end of the burst."""
        self._urgent += 1
        self._no_urgent.clear()
        try:
            await self._accepts.acquire()
        except BaseException:
            self._leave_urgent()
            raise
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._accepts.release()
                self._leave_urgent()

        return release

    def _leave_urgent(self) -> None:
        self._urgent -= 1
        if self._urgent == 0:
            self._no_urgent.set()

    @asynccontextmanager
    async def urgent(self) -> AsyncIterator[None]:
        """:meth:`enter_urgent` as a context manager."""
        release = await self.enter_urgent()
        try:
            yield
        finally:
            release()

    async def _yield_to_requests(self) -> None:
        if self._urgent:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.yield_max_s):
                    await self._no_urgent.wait()

    async def emit(self, thread_id: str, event: Mapping[str, Any], turn_id: str | None = None) -> StoredEvent:
        """Append ``event`` to the store and wake every follower of the thread (on every worker)."""
        stored = await self.events.append(thread_id, turn_id, event)
        await self._publish(thread_id, stored.id)
        return stored

    async def _publish(self, thread_id: str, event_id: int) -> None:
        if not self.events.notifies:  # else the append's transaction sent the hint (PostgreSQL)
            await self.bus.publish(thread_id, event_id)

    async def submit(self, thread_id: str, text: str, *, external_id: str | None = None) -> InboundMessage:
        """Store the message (``queued``) and make sure the thread's worker will answer it. A redelivered
        ``external_id`` returns the stored message (``duplicate=True``) and runs nothing."""
        return (await self.accept(thread_id, text, external_id=external_id)).message

    async def accept(
        self,
        thread_id: str,
        text: str,
        *,
        external_id: str | None = None,
        channel: str | None = None,
        patient_id: str | None = None,
        admit: Callable[[], None] | None = None,
    ) -> Accepted:
        """:meth:`submit`, also returning where the turn's stream starts: on an idle thread its
        ``typing`` event (stored with the message, in one transaction: every later event of the turn
        has a greater id); behind a turn of its own thread, the newest event id of the thread at that
        moment (the turn's events all come after it).

        ``channel`` + ``patient_id``: the thread must be that patient's (``ThreadNotFound`` otherwise,
        checked in the same transaction, no read before it). ``admit`` runs once that is known, before
        anything is committed; what it raises (e.g. a rate limit) stores nothing."""
        typing: list[StoredEvent] = []
        cursor: list[int] = []

        async def announce(conn: AsyncConnection, message: InboundMessage) -> None:
            if await self.threads.others_queued(conn, thread_id, message.id):
                cursor.append(await self.events.last_id_on(conn, thread_id))
            else:
                typing.append(await self.events.append_on(conn, thread_id, message.turn_id, TYPING))

        message = await self.threads.add_inbound(
            thread_id,
            text,
            external_id=external_id,
            channel=channel,
            patient_id=patient_id,
            admit=admit,
            also=announce,
        )
        if message.duplicate:
            return Accepted(message, None, 0)
        if typing:
            self._announced[message.turn_id] = None
            if len(self._announced) > ANNOUNCED_KEPT:
                self._announced.popitem(last=False)
            await self._publish(thread_id, typing[0].id)
        self.kick(thread_id)
        return Accepted(message, typing[0] if typing else None, typing[0].id - 1 if typing else cursor[0])

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
        try:
            # Until no message is signalled (``kick``) after the last look: also one stored while the
            # lock was being let go (a round trip on PostgreSQL), whose kick found this task alive.
            while thread_id in self._dirty:
                async with self.locks.hold(thread_id):
                    while True:
                        self._dirty.discard(thread_id)
                        # The slot first: threads waiting for one do no work at all (in a burst of
                        # messages, dozens of look-ups competed with the requests for the event loop).
                        async with self._slots:
                            await self._yield_to_requests()
                            message = await self.threads.next_queued(thread_id)
                            if message is not None:
                                await self._run_turn(message)
                                continue
                        if thread_id not in self._dirty:
                            break
        except Exception as exc:  # e.g. the database went away: the message stays queued for a retry
            log.error(
                "runner.worker.failed", extra={"thread_id": thread_id, "error_type": type(exc).__name__}
            )

    async def _run_turn(self, message: InboundMessage) -> None:
        started = time.perf_counter()
        thread_id, turn_id, channel = message.thread_id, message.turn_id, message.channel
        collected: list[AgentEvent] = []
        done: DoneEvent | None = None
        failed = False
        mode: Literal["bot", "human"] = "bot"
        pending: list[str] = []  # token texts not yet appended
        pending_since = 0.0

        async def flush() -> None:
            if pending:
                text = "".join(pending)
                pending.clear()
                await self.emit(thread_id, {"type": "token", "text": text}, turn_id)

        try:
            thread = await self.threads.get(thread_id)
            mode = thread.mode
            stored_before: frozenset[str] = frozenset()
            if turn_id in self._announced:
                del self._announced[turn_id]
                announced = True
            else:  # queued behind its thread's turn, accepted by another worker, or begun before a crash
                announced = await self.events.has(thread_id, turn_id, "typing")
                if announced:
                    stored_before = await self._stored_kinds(thread_id, turn_id)
            async for event in self.agent.turn(
                thread.id,
                message.text,
                channel=Channel(channel),
                patient_id=thread.patient_id if channel == Channel.PORTAL.value else None,
                phone=thread.phone,
                statement_id=thread.statement_id,
                external_id=message.external_id,
                turn_id=turn_id,
                outreach_step=thread.outreach_step_id if channel == Channel.PORTAL.value else None,
            ):
                await self._yield_to_requests()
                if isinstance(event, TypingEvent) and announced:
                    continue  # stored with the message (``accept``)
                if _stored_already(event, stored_before):
                    continue  # a process that died before this turn's ``done`` stored it: never twice
                if isinstance(event, DoneEvent):
                    done = event  # appended last, once the turn is recorded
                    continue
                collected.append(event)
                if isinstance(event, TokenEvent):
                    now = time.perf_counter()
                    if not pending:
                        pending_since = now
                    pending.append(event.text)
                    if event.text.rstrip(" ").endswith(SENTENCE_END) or now - pending_since >= TOKEN_FLUSH_S:
                        await flush()
                    continue
                await flush()
                await self.emit(thread.id, event.model_dump(mode="json"), turn_id)
            await flush()
            thread = await self._record(thread, collected, done)
            mode = thread.mode
            if self.delivery is not None:
                await self.delivery.after_turn(thread, collected)
        except Exception as exc:  # the boundary of a turn: shown as an `error` event, counted, never silent
            failed = True
            log.error(
                "runner.turn.failed",
                extra={"thread_id": thread_id, "turn_id": turn_id, "error_type": type(exc).__name__},
            )
            self.metrics.errors.labels(channel=channel).inc()
            await self.emit(
                thread_id,
                {
                    "type": "error",
                    "error": "turn_failed",
                    "detail": "Sorry, something went wrong. Please try again.",
                },
                turn_id,
            )
        final_mode = done.mode if done is not None else mode
        final = DoneEvent(thread_id=thread_id, mode=final_mode).model_dump(mode="json")

        async def append_done(conn: AsyncConnection) -> StoredEvent:
            return await self.events.append_on(conn, thread_id, turn_id, final)

        # Counted before ``done`` is stored: on PostgreSQL the storing transaction already wakes the
        # client, and a client that has seen ``done`` must find its turn in /metrics.
        elapsed = time.perf_counter() - started
        self.metrics.turns.labels(channel=channel, outcome="error" if failed else "ok").inc()
        self.metrics.turn_seconds.labels(channel=channel).observe(elapsed)
        # The message leaves ``queued`` and its ``done`` is stored in one transaction.
        stored = await self.threads.finish_inbound(
            message.id, "failed" if failed else "done", also=append_done
        )
        assert stored is not None
        await self._publish(thread_id, stored.id)
        log.info(
            "runner.turn.completed",
            extra={
                "thread_id": thread_id,
                "turn_id": turn_id,
                "ms": round(elapsed * 1000, 1),
                "failed": failed,
            },
        )

    async def _stored_kinds(self, thread_id: str, turn_id: str) -> frozenset[str]:
        """The reply events a turn already has in the store: only a turn begun by a process that died
        before its ``done`` has any (its reply was stored, perhaps streamed, before the crash)."""
        kinds = [k for k in REPLY_KINDS if await self.events.has(thread_id, turn_id, k)]
        return frozenset(kinds)

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
