"""``EventBus``: wakes up whoever follows a thread when an event of it is stored.

The bus carries event ids only, as hints; the ``EventStore`` holds the events. A follower subscribes
*before* reading the store, then on every hint reads ``EventStore.after(thread_id, cursor)``, so a hint
that is lost, coalesced or duplicated never loses or repeats an event. A hint of ``0`` means "you may
have missed something (the bus reconnected): read the store".

* ``InProcessBus``: one process (the SQLite default).
* ``PostgresBus``: several workers on PostgreSQL: ``NOTIFY`` on publish, one ``LISTEN`` connection per
  process fanning out to local subscribers (psycopg ``AsyncConnection.notifies``).

Subscribe to :data:`ALL_THREADS` to hear every thread (the console's live feed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from typing import Protocol

import psycopg
from psycopg import sql
from tenacity import retry, retry_if_exception_type, stop_after_attempt

log = logging.getLogger(__name__)

ALL_THREADS = "*"
RESYNC = 0  # the hint sent after a reconnection
QUEUE_SIZE = 256
CHANNEL = "billing_thread_events"  # PostgresBus's LISTEN channel (``EventStore(notify_channel=...)``)


class Subscription:
    """An ``AsyncIterator[int]`` of event-id hints, registered from the moment it is created."""

    def __init__(self, registry: _Registry, thread_id: str) -> None:
        self.thread_id = thread_id
        self._registry = registry
        self.queue: asyncio.Queue[int] = asyncio.Queue(maxsize=QUEUE_SIZE)
        registry.add(self)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> int:
        return await self.queue.get()

    async def next(self, wait_s: float) -> int | None:
        """The next hint, or ``None`` after ``wait_s`` seconds without one."""
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for drops a cancellation that arrives as the
        # hint does, and the SSE loop above this then never ends (a hung shutdown).
        try:
            async with asyncio.timeout(wait_s):
                return await self.queue.get()
        except TimeoutError:
            return None

    async def news(self, cursor: int, wait_s: float) -> None:
        """Wait for a hint of an event after ``cursor`` (at most ``wait_s`` seconds for each hint). A
        hint of an event at or before ``cursor`` is spent (the follower's last read already returned
        it: event ids commit in id order), so it is skipped instead of costing a read of the store that
        finds nothing; a burst of a thread's events otherwise left one such read per event. Never
        skipped: a resync, and any hint while the queue is full (a newer hint may have been dropped)."""
        while True:
            full = self.queue.full()
            hint = await self.next(wait_s)
            if hint is None or hint == RESYNC or hint > cursor or full:
                return

    def close(self) -> None:
        self._registry.remove(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Registry:
    def __init__(self) -> None:
        self._subs: dict[str, set[Subscription]] = defaultdict(set)

    def add(self, sub: Subscription) -> None:
        self._subs[sub.thread_id].add(sub)

    def remove(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.thread_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.thread_id]

    def deliver(self, thread_id: str, event_id: int) -> None:
        for key in (thread_id, ALL_THREADS):
            for sub in tuple(self._subs.get(key, ())):
                # A full queue already holds hints: the follower reads the store and catches up.
                with contextlib.suppress(asyncio.QueueFull):
                    sub.queue.put_nowait(event_id)

    def resync(self) -> None:
        for subs in tuple(self._subs.values()):
            for sub in tuple(subs):
                with contextlib.suppress(asyncio.QueueFull):
                    sub.queue.put_nowait(RESYNC)

    def count(self) -> int:
        return sum(len(s) for s in self._subs.values())


class EventBus(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, thread_id: str, event_id: int) -> None: ...

    def subscribe(self, thread_id: str) -> Subscription:
        """Registered on return; iterate it for hints; ``close()`` (or ``with``) when done."""
        ...

    def subscribers(self) -> int: ...


class InProcessBus:
    def __init__(self) -> None:
        self._registry = _Registry()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._registry.resync()

    async def publish(self, thread_id: str, event_id: int) -> None:
        self._registry.deliver(thread_id, event_id)

    def subscribe(self, thread_id: str) -> Subscription:
        return Subscription(self._registry, thread_id)

    def subscribers(self) -> int:
        return self._registry.count()


class PostgresBus:
    """LISTEN/NOTIFY on ``channel``; payload ``"<event_id>:<thread_id>"``."""

    def __init__(self, conninfo: str, *, channel: str = CHANNEL) -> None:
        self._conninfo = conninfo
        self._channel = channel
        self.channel = channel
        self._registry = _Registry()
        self._publisher: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._publish_lock = asyncio.Lock()
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._closed = False

    async def start(self) -> None:
        self._listener = asyncio.create_task(self._listen(), name="postgres-bus-listener")
        # Wait until LISTEN is in place so no publish after start() can be missed by this process.
        async with asyncio.timeout(10):
            await self._listening.wait()

    async def close(self) -> None:
        self._closed = True
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        if self._publisher is not None:
            await self._publisher.close()
        self._registry.resync()

    async def _listen(self) -> None:
        while not self._closed:
            try:
                async with await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True) as conn:
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
                    if self._listening.is_set():
                        self._registry.resync()  # reconnected: hints sent meanwhile are lost
                    self._listening.set()
                    async for note in conn.notifies():
                        event_id, _, thread_id = note.payload.partition(":")
                        if event_id.isdigit() and thread_id:
                            self._registry.deliver(thread_id, int(event_id))
            except psycopg.Error as exc:
                log.warning("bus.listener.reconnecting", extra={"error_type": type(exc).__name__})
                await asyncio.sleep(0.5)

    async def publish(self, thread_id: str, event_id: int) -> None:
        payload = f"{event_id}:{thread_id}"
        async with self._publish_lock:
            await self._notify(payload)

    # A publisher connection the server dropped while idle fails once: the second try reconnects.
    @retry(retry=retry_if_exception_type(psycopg.OperationalError), stop=stop_after_attempt(2), reraise=True)
    async def _notify(self, payload: str) -> None:
        try:
            if self._publisher is None or self._publisher.closed:
                self._publisher = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
            await self._publisher.execute("SELECT pg_notify(%s, %s)", (self._channel, payload))
        except psycopg.OperationalError:
            self._publisher = None
            raise

    def subscribe(self, thread_id: str) -> Subscription:
        return Subscription(self._registry, thread_id)

    def subscribers(self) -> int:
        return self._registry.count()
