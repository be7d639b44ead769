"""``ThreadLocks``: one holder per thread at a time, in this process and across workers.

In-process an ``asyncio.Lock`` per thread; on PostgreSQL additionally a session-level
``pg_advisory_lock`` keyed on the thread id, held on a connection of its own for the duration (a worker
that dies releases it with its connection). A waiter polls ``pg_try_advisory_lock`` (5 → 50 ms)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


def advisory_key(thread_id: str) -> int:
    """A stable signed 64-bit key for ``thread_id`` (PostgreSQL's advisory lock key space)."""
    return int.from_bytes(hashlib.sha256(f"thread:{thread_id}".encode()).digest()[:8], "big", signed=True)


class ThreadLocks:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._local: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}
        self._postgres = engine.dialect.name == "postgresql"

    @asynccontextmanager
    async def hold(self, thread_id: str) -> AsyncIterator[None]:
        lock = self._local.setdefault(thread_id, asyncio.Lock())
        self._users[thread_id] = self._users.get(thread_id, 0) + 1
        try:
            async with lock:
                if not self._postgres:
                    yield
                    return
                key = advisory_key(thread_id)
                async with self._engine.connect() as conn:
                    # Polled, not waited for: a waiting statement would stall other workers' start-up
                    # (``CREATE INDEX CONCURRENTLY`` waits for running statements).
                    delay = 0.005
                    while not (
                        await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})
                    ).scalar():
                        await conn.commit()
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, 0.05)
                    await conn.commit()
                    try:
                        yield
                    finally:
                        await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                        await conn.commit()
        finally:
            self._users[thread_id] -= 1
            if self._users[thread_id] == 0:
                del self._users[thread_id]
                self._local.pop(thread_id, None)
