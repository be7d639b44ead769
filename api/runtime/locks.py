"""``ThreadLocks``: one holder per thread at a time, in this process and across workers.

In-process an ``asyncio.Lock`` per thread; on PostgreSQL additionally a session-level
``pg_advisory_lock`` keyed on the thread id. Every advisory lock of the process lives on **one** shared
connection (session locks are per session, any number of keys on one connection), opened while any
thread is held and closed when none is: holding a pooled connection per held thread exhausted the
engine's pool with 50 concurrent conversations (30 held locks, each turn then waiting for a 31st
connection: the ``--workers 2`` bench hang). A worker that dies releases its locks with its connection.
A waiter polls ``pg_try_advisory_lock`` (5 → 50 ms); statements on the shared connection are short and
serialized."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from tenacity import retry, retry_if_result, wait_exponential

log = logging.getLogger(__name__)


def advisory_key(thread_id: str) -> int:
    """A stable signed 64-bit key for ``thread_id`` (PostgreSQL's advisory lock key space)."""
    return int.from_bytes(hashlib.sha256(f"thread:{thread_id}".encode()).digest()[:8], "big", signed=True)


class ThreadLocks:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._local: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}
        self._postgres = engine.dialect.name == "postgresql"
        self._conn: AsyncConnection | None = None
        self._conn_users = 0
        self._statement = asyncio.Lock()

    # Another worker holds the thread's lock: ask again, 5 ms after the first refusal, up to 50 ms apart.
    @retry(retry=retry_if_result(lambda taken: not taken), wait=wait_exponential(0.005, max=0.05))
    async def _acquire(self, key: int) -> bool:
        return await self._scalar("SELECT pg_try_advisory_lock(:k)", key)

    async def _scalar(self, sql: str, key: int) -> bool:
        """Run ``sql`` (one advisory-lock function of ``:k``) on the shared lock connection."""
        async with self._statement:
            if self._conn is None:
                self._conn = await self._engine.connect()
            try:
                value = (await self._conn.execute(text(sql), {"k": key})).scalar()
                await self._conn.commit()
            except DBAPIError:
                # The session is gone, and every advisory lock of this process with it.
                log.warning("locks.connection.lost")
                conn, self._conn = self._conn, None
                with contextlib.suppress(Exception):
                    await conn.invalidate()
                raise
            return bool(value)

    async def _release_connection(self) -> None:
        async with self._statement:
            if self._conn_users == 0 and self._conn is not None:
                conn, self._conn = self._conn, None
                await conn.close()

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
                self._conn_users += 1
                try:
                    # Polled, not waited for: a waiting statement would block the shared connection
                    # (and stall other workers' start-up: ``CREATE INDEX CONCURRENTLY`` waits for it).
                    await self._acquire(key)
                    try:
                        yield
                    finally:
                        with contextlib.suppress(DBAPIError):  # a lost session released it already
                            await self._scalar("SELECT pg_advisory_unlock(:k)", key)
                finally:
                    self._conn_users -= 1
                    if self._conn_users == 0:
                        await self._release_connection()
        finally:
            self._users[thread_id] -= 1
            if self._users[thread_id] == 0:
                del self._users[thread_id]
                self._local.pop(thread_id, None)
