"""One-trip units of work on a SQLite file: every write the service makes to one.

SQLAlchemy's async engine reaches SQLite through aiosqlite, which runs each cursor open, execute, fetch,
commit and close as its own hand-over to a worker thread (a queue put, a thread wake-up, a GIL hand-over
and an event-loop wake-up). An ``INSERT`` and its commit cost ~1.0 ms that way on the 2-core bench
machine; the same statements run as *one* function on one thread cost ~0.18 ms. A turn appends two
communications, an audit record and, over HTTP, a handful of events, so the difference is most of what a
turn spends above LangGraph itself (``docs/performance.md``).

:func:`sqlite_lane` gives an engine's lane. :meth:`SqliteLane.write` runs a function of a ``sqlite3``
connection inside ``BEGIN IMMEDIATE`` … ``COMMIT`` — the write lock is taken first, so a read-then-insert
inside it (the audit chain's last hash) is serialised against every other writer of the file, in this
process or another. An exception rolls the transaction back and propagates as the ``sqlite3`` error it
is. Connections are set up as ``tools.db.create_engine`` sets them (WAL, foreign keys,
``synchronous=NORMAL``).

:meth:`SqliteLane.core_write` and :meth:`SqliteLane.orm_write` run SQLAlchemy Core or ORM code the
same way (a synchronous ``Connection`` or ``Session`` over the same connection, inside the same
``BEGIN IMMEDIATE``), and :func:`run_write` picks the lane on a SQLite file and ``run_sync`` on the async
engine elsewhere, so one body of code serves both. Since the seventh pass no write transaction on a
SQLite file goes through aiosqlite: one held the file's write lock across each statement's hand-over to
aiosqlite's thread, for as long as the event loop was busy in between (a thread creation 7.5 ms at the
median and up to 438 ms under the bench's load), and every other writer queued behind it.

**Where the work runs.** A unit of work is a few statements and, with ``synchronous=NORMAL`` in WAL mode,
a commit that writes to the WAL without an fsync: ~0.05 ms, where a hand-over to a thread costs ~0.2 ms.
So it runs on the calling thread (the event loop), on a connection of that thread's own with
``busy_timeout=0``, and only goes to the lane's worker thread when it would have to wait:

* *Another writer holds the lock* (another connection of this process — the async ORM's — or another
  process): ``BEGIN IMMEDIATE`` fails at once with ``SQLITE_BUSY`` and the unit runs on the worker
  thread, whose connection waits up to the busy timeout. The event loop never waits on a lock.
* *The WAL checkpoint* (the one fsync left) is off on the loop's connections; every
  :data:`WAL_CHECKPOINT_EVERY` commits the worker thread runs ``PRAGMA wal_checkpoint(PASSIVE)``, and
  writes made meanwhile queue behind it on that thread, so it copies every frame and the WAL file starts
  over instead of growing.

Measured on the bench (``docs/performance.md``, sixth pass): HTTP turns/s +11%, server CPU per turn −10%,
the first SSE event of a 35-post burst 72–80 → 45–53 ms.

Only file databases get a lane (an in-memory database is private to its connection) and PostgreSQL never
does: callers keep their SQLAlchemy path for those, so both paths run in the test suite.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

T = TypeVar("T")

_BUSY_TIMEOUT_S = 30.0
# Commits on callers' connections between two WAL checkpoints on the worker thread (SQLite's own
# automatic checkpoint comes at ~1,000 pages; a commit here writes two to four).
WAL_CHECKPOINT_EVERY = 256

log = logging.getLogger(__name__)

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


def is_busy(exc: sqlite3.OperationalError) -> bool:
    """SQLite would have to wait for a lock (``SQLITE_BUSY``/``SQLITE_LOCKED``, extended codes too)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return "locked" in str(exc) or "busy" in str(exc)
    return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class SqliteLane:
    """Units of work on ``path``: on the caller's thread when SQLite need not wait, else on a worker
    thread that owns a connection of its own."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-lane")
        self._conn: sqlite3.Connection | None = None  # opened and used on the lane's thread only
        self._orm: Engine | None = None  # a synchronous engine over that one connection (ORM reads)
        # Each calling thread's own connection (an event loop's; a test may run loops in two threads).
        self._local = threading.local()
        self._commits = 0  # commits on callers' connections since the last WAL checkpoint was started
        self._wal_checkpoint: Future[None] | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = _connect(self.path, _BUSY_TIMEOUT_S)
        return self._conn

    def _caller_connection(self) -> tuple[sqlite3.Connection, Engine]:
        """The calling thread's connection (``busy_timeout=0``, no automatic WAL checkpoint) and an ORM
        engine over it."""
        found: tuple[sqlite3.Connection, Engine] | None = getattr(self._local, "conn", None)
        if found is None:
            conn = _connect(self.path, 0)
            conn.execute("PRAGMA wal_autocheckpoint=0")
            found = conn, _engine_over(conn)
            self._local.conn = found
        return found

    def _checkpointing(self) -> bool:
        return self._wal_checkpoint is not None and not self._wal_checkpoint.done()

    def _committed(self) -> None:
        self._commits += 1
        if self._commits >= WAL_CHECKPOINT_EVERY and not self._checkpointing():
            self._commits = 0
            self._wal_checkpoint = self._executor.submit(self._checkpoint_wal)

    def _checkpoint_wal(self) -> None:
        try:
            self._connection().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            # Retried after the next batch of commits; the WAL only grows meanwhile, nothing is lost.
            log.warning("sqlite lane: WAL checkpoint of %s failed", self.path, exc_info=True)

    def _in_transaction(self, unit: Callable[[sqlite3.Connection, Engine], T]) -> T:
        conn, engine = self._connection(), self._orm_engine()  # the engine first: see _engine_over
        conn.execute("BEGIN IMMEDIATE")
        return unit(conn, engine)

    async def _run_write(self, unit: Callable[[sqlite3.Connection, Engine], T]) -> T:
        """``unit(connection, engine over it)`` after ``BEGIN IMMEDIATE``; it ends the transaction."""
        if not self._checkpointing():
            try:
                conn, engine = self._caller_connection()
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if not is_busy(exc):
                    raise
            else:
                result = unit(conn, engine)
                self._committed()
                return result
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._in_transaction, unit)

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` in one write transaction and return its result.

        On the caller's thread it runs to its end before anything else can (no await inside it); on the
        worker thread, if the caller is cancelled, it still runs to its end (committed or rolled back).
        Either way a unit of work is never left half done."""
        return await self._run_write(lambda conn, _engine: _finish(conn, fn))

    async def core_write(self, fn: Callable[[Connection], T]) -> T:
        """:meth:`write` for SQLAlchemy code: ``fn`` gets a synchronous ``Connection`` over the same
        connection inside the same ``BEGIN IMMEDIATE``, so the statements, their column types (UTC
        datetimes) and their errors (``sqlalchemy.exc.IntegrityError``) are those of the async engine."""
        return await self.orm_write(lambda session: fn(session.connection()))

    async def orm_write(self, fn: Callable[[Session], T]) -> T:
        """:meth:`write` for ORM code: ``fn`` gets a synchronous ``Session`` over the same connection
        inside the same ``BEGIN IMMEDIATE``; the session's commit (its flush first) ends the unit."""
        return await self._run_write(lambda conn, engine: _finish_orm(conn, engine, fn))

    def _orm_engine(self) -> Engine:
        if self._orm is None:
            # Every session of this engine uses the lane's own connection (one pool slot).
            self._orm = _engine_over(self._connection())
        return self._orm

    def _in_snapshot(self, fn: Callable[[Session], T]) -> T:
        return _snapshot(self._connection(), self._orm_engine(), fn)

    async def orm_read(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn(session)`` with a synchronous ORM session in one read snapshot: the same query code
        ``AsyncSession.run_sync`` runs elsewhere, without the five or so hand-overs that aiosqlite makes
        for each of its statements. A reader in WAL mode waits for nobody; in the rare case SQLite says
        busy, the read runs again on the worker thread."""
        try:
            conn, engine = self._caller_connection()
            return _snapshot(conn, engine, fn)
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._in_snapshot, fn)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` outside any transaction (each statement reads the newest committed
        data); for reads on a hot path, e.g. an SSE stream catching up."""
        try:
            return fn(self._caller_connection()[0])
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(self._connection()))


def _engine_over(conn: sqlite3.Connection) -> Engine:
    """A synchronous engine whose one pool slot is ``conn``, connected once at once: SQLAlchemy's first
    connection initialises the dialect and commits, which inside a unit of work would commit its
    first half."""
    engine = create_sync_engine("sqlite://", creator=lambda: conn, poolclass=StaticPool)
    with engine.connect():
        pass
    return engine


def _connect(path: str, busy_timeout_s: float) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _finish(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """The body and the end of a write transaction ``conn`` has begun."""
    try:
        result = fn(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


def _finish_orm(conn: sqlite3.Connection, engine: Engine, fn: Callable[[Session], T]) -> T:
    """:func:`_finish` through an ORM session: its ``commit`` (a flush first) ends the transaction
    ``conn`` has begun, and closing the session after an exception rolls it back. Objects stay loaded
    after the commit, as the async sessions' ``expire_on_commit=False`` leaves them."""
    try:
        with Session(engine, expire_on_commit=False) as session:
            result = fn(session)
            session.commit()
        return result
    finally:
        if conn.in_transaction:  # never leave the connection inside a transaction
            conn.rollback()


def _snapshot(conn: sqlite3.Connection, engine: Engine, fn: Callable[[Session], T]) -> T:
    try:
        with Session(engine, expire_on_commit=False) as session:
            # Deferred: a read transaction, one snapshot for every statement of fn. Closing the session
            # rolls the connection back, which ends it.
            session.connection().exec_driver_sql("BEGIN")
            return fn(session)
    finally:
        if conn.in_transaction:  # never leave the connection inside a transaction
            conn.rollback()


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


async def run_write(engine: AsyncEngine, fn: Callable[[Connection], T]) -> T:
    """Run ``fn`` (synchronous SQLAlchemy Core code) in one write transaction of ``engine``: on a SQLite
    file as one unit on its lane (:meth:`SqliteLane.core_write`), else through the async engine
    (``AsyncConnection.run_sync``). On the async SQLite path a write transaction holds the file's write
    lock across each of its statements' hand-overs, i.e. for as long as the event loop is busy with
    other work between them: 7.5 ms at the median and up to 440 ms under the bench's load, during which
    every other writer waited (``docs/performance.md``, seventh pass)."""
    lane = sqlite_lane(engine)
    if lane is not None:
        return await lane.core_write(fn)
    async with engine.begin() as conn:
        return await conn.run_sync(fn)
