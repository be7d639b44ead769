"""One-trip units of work on a SQLite file, for the few writes every conversation turn makes.

SQLAlchemy's async engine reaches SQLite through aiosqlite, which runs each cursor open, execute, fetch,
commit and close as its own hand-over to a worker thread (a queue put, a thread wake-up, a GIL hand-over
and an event-loop wake-up). An ``INSERT`` and its commit cost ~1.0 ms that way on the 2-core bench
machine; the same statements run as *one* function on one thread cost ~0.18 ms. A turn appends two
communications, an audit record and, over HTTP, a handful of events, so the difference is most of what a
turn spends above LangGraph itself (``docs/performance.md``).

:func:`sqlite_lane` gives an engine's lane: one worker thread with its own ``sqlite3`` connection to the
same file (WAL, foreign keys, busy timeout and ``synchronous=NORMAL``, as ``tools.db.create_engine``
sets them). :meth:`SqliteLane.write` runs a function of that connection inside ``BEGIN IMMEDIATE`` …
``COMMIT`` — the write lock is taken first, so a read-then-insert inside it (the audit chain's last hash)
is serialised against every other writer of the file, in this process or another. An exception rolls
the transaction back and propagates as the ``sqlite3`` error it is.

Only file databases get a lane (an in-memory database is private to its connection) and PostgreSQL never
does: callers keep their SQLAlchemy path for those, so both paths run in the test suite.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

T = TypeVar("T")

_BUSY_TIMEOUT_S = 30.0

_lanes: weakref.WeakKeyDictionary[AsyncEngine, SqliteLane | None] = weakref.WeakKeyDictionary()
_lanes_lock = threading.Lock()


def from_sqlite_datetime(value: str) -> datetime:
    """The inverse of :func:`sqlite_datetime`: an aware UTC instant."""
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def sqlite_datetime(at: datetime) -> str:
    """``at`` as SQLAlchemy stores a ``UTCDateTime`` on SQLite (naive UTC, microseconds), so rows written
    through a lane read back through the ORM exactly like its own."""
    if at.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return at.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


class SqliteLane:
    """A worker thread that owns one ``sqlite3`` connection to ``path``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-lane")
        self._conn: sqlite3.Connection | None = None  # opened and used on the lane's thread only
        self._orm: Engine | None = None  # a synchronous engine over that one connection (ORM reads)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(
                self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA busy_timeout={int(_BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._conn = conn
        return self._conn

    def _in_transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` in one write transaction on the lane's thread and return its result.

        If the caller is cancelled the function still runs to its end (committed or rolled back): a
        unit of work is never left half done."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._in_transaction, fn)

    def _orm_engine(self) -> Engine:
        if self._orm is None:
            # Every session of this engine uses the lane's own connection (one pool slot).
            self._orm = create_sync_engine("sqlite://", creator=self._connection, poolclass=StaticPool)
        return self._orm

    def _in_snapshot(self, fn: Callable[[Session], T]) -> T:
        conn = self._connection()
        try:
            with Session(self._orm_engine(), expire_on_commit=False) as session:
                # Deferred: a read transaction, one snapshot for every statement of fn. Closing the
                # session rolls the connection back, which ends it.
                session.connection().exec_driver_sql("BEGIN")
                return fn(session)
        finally:
            if conn.in_transaction:  # never leave the lane's connection inside a transaction
                conn.rollback()

    async def orm_read(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn(session)`` with a synchronous ORM session on the lane's thread, in one hand-over and
        one read snapshot: the same query code ``AsyncSession.run_sync`` runs elsewhere, without the
        five or so hand-overs that aiosqlite makes for each of its statements."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._in_snapshot, fn)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` on the lane's thread outside any transaction (each statement reads the
        newest committed data); for reads on a hot path, e.g. an SSE stream catching up."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(self._connection()))


def _file_path(engine: AsyncEngine) -> str | None:
    url = engine.url
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or "mode=memory" in str(url) or database.startswith("file:"):
        return None
    return database


def sqlite_lane(engine: AsyncEngine) -> SqliteLane | None:
    """The lane of ``engine`` (made on first use, gone with the engine), or ``None`` when the engine is
    not on a SQLite file."""
    try:
        return _lanes[engine]
    except KeyError:
        pass
    with _lanes_lock:
        if engine in _lanes:
            return _lanes[engine]
        path = _file_path(engine)
        # No finalizer: when the engine is garbage its entry goes, the lane with it; its executor's
        # thread then exits and the connection closes as they are collected. (A finalizer that submits
        # work can run inside another executor's ``submit`` and deadlock on the module's shutdown lock.)
        lane = SqliteLane(path) if path is not None else None
        _lanes[engine] = lane
        return lane
