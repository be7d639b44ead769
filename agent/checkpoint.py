"""Checkpoint stores: SQLite by default (one file, one process), PostgreSQL by URL (several workers).

Also the two maintenance operations the service needs to keep a thread's checkpoint bounded:
:func:`prune_thread` keeps only the newest checkpoint of a thread (the state already carries everything
a turn needs; history lives on the platform as communications), and :func:`checkpoint_bytes` measures
the serialized size of a thread's newest checkpoint.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

import aiosqlite
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_checkpoint_metadata,
)
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.checkpoint.sqlite.utils import load_pending_writes, pending_writes_sql
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.engine import make_url

from tools.errors import ConfigurationError
from tools.sqlite_lane import is_busy

DEFAULT_CHECKPOINT_URL = "sqlite:///var/checkpoints.db"
# Commits on the event loop's connection between two WAL checkpoints on aiosqlite's thread (a turn makes
# about a dozen; 256 commits of a ~5 kB checkpoint keep the WAL file to a few MB).
WAL_CHECKPOINT_EVERY = 256

log = logging.getLogger(__name__)


T = TypeVar("T")

_SELECT_CHECKPOINT = (
    "SELECT thread_id, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata FROM checkpoints "
    "WHERE thread_id = ? AND checkpoint_ns = ?"
)
_INSERT_CHECKPOINT = (
    "INSERT OR REPLACE INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, "
    "type, checkpoint, metadata) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_WRITE_COLUMNS = "(thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, value)"
_REPLACE_WRITES = f"INSERT OR REPLACE INTO writes {_WRITE_COLUMNS} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
_IGNORE_WRITES = f"INSERT OR IGNORE INTO writes {_WRITE_COLUMNS} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"


# The newest checkpoint of a thread, as ``AsyncSqliteSaver.aget_tuple`` picks it (ids are time-ordered).
_SQLITE_NEWEST = (
    "SELECT checkpoint_id FROM checkpoints WHERE thread_id = :t AND checkpoint_ns = '' "
    "ORDER BY checkpoint_id DESC LIMIT 1"
)
# Writes first: their statement still sees the checkpoint rows it compares with. With no checkpoint the
# subquery is NULL, ``<> NULL`` matches nothing, and nothing is deleted.
_SQLITE_PRUNE = (
    f"DELETE FROM writes WHERE thread_id = :t AND checkpoint_id <> ({_SQLITE_NEWEST})",
    f"DELETE FROM checkpoints WHERE thread_id = :t AND checkpoint_id <> ({_SQLITE_NEWEST})",
)

# PostgreSQL keep-latest in one statement (one snapshot, one round trip): the checkpoints and pending
# writes older than the thread's newest checkpoint, and every blob that checkpoint does not reference.
# ``AsyncPostgresSaver.aprune`` does the same in a dozen statements plus one DELETE per channel (it handles
# subgraph namespaces and delta channels, which our graphs do not use): with our 50-channel state it took
# 9.5 ms a turn. Ids are time-ordered, so "older than the head" never reaches a checkpoint saved after
# this statement's snapshot; such a checkpoint's new blobs are not visible to it either, and the blobs it
# shares with its parent are the head's, which are kept. Root namespace only.
_PG_KEEP_LATEST = """
WITH head AS (
    SELECT checkpoint_id, checkpoint FROM checkpoints
    WHERE thread_id = %(t)s AND checkpoint_ns = ''
    ORDER BY checkpoint_id DESC LIMIT 1
), old_checkpoints AS (
    DELETE FROM checkpoints c USING head
    WHERE c.thread_id = %(t)s AND c.checkpoint_ns = '' AND c.checkpoint_id < head.checkpoint_id
), old_writes AS (
    DELETE FROM checkpoint_writes w USING head
    WHERE w.thread_id = %(t)s AND w.checkpoint_ns = '' AND w.checkpoint_id < head.checkpoint_id
)
DELETE FROM checkpoint_blobs b USING head
WHERE b.thread_id = %(t)s AND b.checkpoint_ns = ''
  AND NOT EXISTS (
    SELECT 1 FROM jsonb_each_text(head.checkpoint -> 'channel_versions') v
    WHERE v.key = b.channel AND v.value = b.version
  )
"""


class SqliteSaver(AsyncSqliteSaver):
    """``AsyncSqliteSaver`` whose hot operations run as one function on the event loop's thread, with
    aiosqlite's worker thread kept for the cases where SQLite would make it wait.

    The library's saver awaits every cursor step separately (open, execute, fetch, commit, close): three
    to six hand-offs between the event loop and the SQLite thread per ``aput``, ``aput_writes`` and
    ``aget_tuple``, and a turn makes a dozen of those calls under ``durability="sync"``. Here the same
    SQL, in the same transactions, runs as one function; rows and serialisation are exactly the
    library's (``INSERT OR REPLACE``/``IGNORE`` as it chooses them, the same columns), so stores stay
    interchangeable with ``AsyncSqliteSaver``.

    **Where it runs.** On a SQLite file that function runs on the event loop itself, on a connection of
    its own (``path``), with ``busy_timeout=0``. That is safe to do because none of the work can wait:

    * *Locks.* In WAL mode readers never wait, and the only writer to wait for is another process on the
      same file (the service is the one process that writes it; a CLI command may open it too). An
      operation that meets a lock gets ``SQLITE_BUSY`` at once, and is run again on aiosqlite's thread,
      whose connection waits up to the busy timeout, so the event loop never freezes on another
      process's transaction.
    * *Disk.* With ``synchronous=NORMAL`` a commit writes to the WAL and does not fsync. The one fsync
      left, the WAL checkpoint, is switched off on this connection and run on aiosqlite's thread after
      every :data:`WAL_CHECKPOINT_EVERY` commits (``PRAGMA wal_checkpoint(PASSIVE)``, under the saver's
      lock so that it finishes and the WAL file starts over; operations wait for it on the lock, the
      loop does not), so the WAL file stays bounded.

    A hand-off to the thread cost ~0.2–0.5 ms an operation on the bench machine against ~0.05 ms for the
    work itself; run on the loop, a bench turn took 9.5–9.8 ms instead of 11.1–11.9, and the floor 2.0
    instead of 3.8 (``docs/performance.md``, sixth pass). An in-memory store (private to one connection) and a
    saver built without ``path`` keep the thread for everything.
    """

    def __init__(
        self,
        conn: aiosqlite.Connection,
        *,
        path: str | None = None,
        serde: Any = None,
    ) -> None:
        super().__init__(conn, serde=serde)
        self._path = path if path not in (None, "", ":memory:") else None
        self._inline: sqlite3.Connection | None = None
        self._commits = 0  # inline commits since the last WAL checkpoint was started
        self._wal_checkpoint: asyncio.Task[None] | None = None

    def _inline_connection(self) -> sqlite3.Connection | None:
        if self._path is None:
            return None
        if self._inline is None:
            # Used on the saver's event loop only (under its lock); check_same_thread=False so that
            # ``aclose`` may run wherever that loop is shut down.
            conn = sqlite3.connect(self._path, timeout=0, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=0")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA wal_autocheckpoint=0")
            self._inline = conn
        return self._inline

    async def _in_thread(self, work: Callable[[sqlite3.Connection], T], *, writes: bool = False) -> T:
        """``work(connection)`` in one step: on the loop when nothing makes SQLite wait, else on
        aiosqlite's thread (the caller holds ``self.lock``)."""
        db = self._inline_connection()
        if db is not None:
            try:
                result = work(db)
            except sqlite3.OperationalError as exc:
                if db.in_transaction:
                    db.rollback()
                if not is_busy(exc):
                    raise
                # Another process holds the write lock: wait for it on the thread, not on the loop.
            except BaseException:
                if db.in_transaction:
                    db.rollback()
                raise
            else:
                if writes:
                    self._committed()
                return result
        conn = self.conn

        def run() -> T:
            return work(conn._conn)  # the sqlite3 connection, used only on its own thread

        # aiosqlite's queue to its thread (private, but the whole library is built on it).
        return cast(T, await conn._execute(run))  # type: ignore[no-untyped-call]  # aiosqlite leaves it untyped

    def _committed(self) -> None:
        self._commits += 1
        if self._commits < WAL_CHECKPOINT_EVERY or (
            self._wal_checkpoint is not None and not self._wal_checkpoint.done()
        ):
            return
        self._commits = 0
        self._wal_checkpoint = asyncio.get_running_loop().create_task(self._checkpoint_wal())

    async def _checkpoint_wal(self) -> None:
        """Copy the WAL into the database on aiosqlite's thread (its fsyncs never run on the loop)."""
        conn = self.conn

        def run() -> None:
            conn._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

        try:
            # Under the saver's lock: no commit of ours lands while it copies, so it copies every frame
            # and the next commit starts the WAL file over (writes never caught up with a checkpoint
            # that ran beside them: the file grew without bound). Operations wait for it on the lock,
            # asynchronously; the loop keeps running.
            async with self.lock:
                await conn._execute(run)  # type: ignore[no-untyped-call]
        except sqlite3.Error:
            # A busy or failed checkpoint is retried after the next batch of commits; the WAL only
            # grows meanwhile, nothing is lost.
            log.warning("checkpoint store: WAL checkpoint failed", exc_info=True)

    async def aclose(self) -> None:
        """Finish a running WAL checkpoint and close the loop's connection (aiosqlite's is the caller's)."""
        if self._wal_checkpoint is not None:
            await self._wal_checkpoint
        if self._inline is not None:
            self._inline.close()
            self._inline = None

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        await self.setup()
        thread_id = str(config["configurable"]["thread_id"])
        checkpoint_ns = config["configurable"].get("checkpoint_ns", "")
        wanted = get_checkpoint_id(config)
        writes_sql = pending_writes_sql(self._has_task_path)

        def read(db: sqlite3.Connection) -> tuple[Any, list[Any]] | None:
            if wanted:
                cur = db.execute(
                    f"{_SELECT_CHECKPOINT} AND checkpoint_id = ?", (thread_id, checkpoint_ns, wanted)
                )
            else:
                cur = db.execute(
                    f"{_SELECT_CHECKPOINT} ORDER BY checkpoint_id DESC LIMIT 1", (thread_id, checkpoint_ns)
                )
            row = cur.fetchone()
            if row is None:
                return None
            return row, db.execute(writes_sql, (thread_id, checkpoint_ns, row[1])).fetchall()

        async with self.lock:
            found = await self._in_thread(read)
        if found is None:
            return None
        (thread_id, checkpoint_id, parent_id, type_, checkpoint, metadata), writes = found
        if not wanted:
            config = {
                "configurable": {
                    "thread_id": thread_id,
                    "checkpoint_ns": checkpoint_ns,
                    "checkpoint_id": checkpoint_id,
                }
            }
        parent: RunnableConfig | None = (
            {
                "configurable": {
                    "thread_id": thread_id,
                    "checkpoint_ns": checkpoint_ns,
                    "checkpoint_id": parent_id,
                }
            }
            if parent_id
            else None
        )
        return CheckpointTuple(
            config,
            self.serde.loads_typed((type_, checkpoint)),
            cast(CheckpointMetadata, json.loads(metadata) if metadata is not None else {}),
            parent,
            load_pending_writes(writes, self.serde),
        )

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        await self.setup()
        thread_id = config["configurable"]["thread_id"]
        checkpoint_ns = config["configurable"]["checkpoint_ns"]
        type_, blob = self.serde.dumps_typed(checkpoint)
        meta = json.dumps(get_checkpoint_metadata(config, metadata), ensure_ascii=False).encode(
            "utf-8", "ignore"
        )
        row = (
            str(thread_id),
            checkpoint_ns,
            checkpoint["id"],
            config["configurable"].get("checkpoint_id"),
            type_,
            blob,
            meta,
        )

        def write(db: sqlite3.Connection) -> None:
            db.execute(_INSERT_CHECKPOINT, row)
            db.commit()

        async with self.lock:
            await self._in_thread(write, writes=True)
        return {
            "configurable": {
                "thread_id": thread_id,
                "checkpoint_ns": checkpoint_ns,
                "checkpoint_id": checkpoint["id"],
            }
        }

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        query = _REPLACE_WRITES if all(w[0] in WRITES_IDX_MAP for w in writes) else _IGNORE_WRITES
        await self.setup()
        rows = [
            (
                str(config["configurable"]["thread_id"]),
                str(config["configurable"]["checkpoint_ns"]),
                str(config["configurable"]["checkpoint_id"]),
                task_id,
                task_path,
                WRITES_IDX_MAP.get(channel, idx),
                channel,
                *self.serde.dumps_typed(value),
            )
            for idx, (channel, value) in enumerate(writes)
        ]

        def write(db: sqlite3.Connection) -> None:
            db.executemany(query, rows)
            db.commit()

        async with self.lock:
            await self._in_thread(write, writes=True)

    async def keep_latest(self, thread_id: str) -> None:
        """Keep only the newest checkpoint of ``thread_id`` (see :func:`prune_thread`)."""

        def delete(db: sqlite3.Connection) -> None:
            for sql in _SQLITE_PRUNE:
                db.execute(sql, {"t": thread_id})
            db.commit()

        async with self.lock:
            await self._in_thread(delete, writes=True)


def _sqlite_path(url: str) -> str:
    if "://" not in url:
        return url  # a plain file path
    parsed = make_url(url)
    return parsed.database or ":memory:"


@asynccontextmanager
async def open_checkpointer(url: str | None = None) -> AsyncIterator[BaseCheckpointSaver[str]]:
    """A ready checkpointer for ``url`` (``sqlite:///path``, a file path, or ``postgresql://...``)."""
    url = url or DEFAULT_CHECKPOINT_URL
    backend = make_url(url).get_backend_name() if "://" in url else "sqlite"
    if backend == "sqlite":
        path = _sqlite_path(url)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        async with aiosqlite.connect(path) as conn:
            if path != ":memory:":
                await conn.execute("PRAGMA journal_mode=WAL")
                # Durability trade-off, chosen deliberately: in WAL mode ``synchronous=NORMAL`` fsyncs at
                # checkpoints of the WAL, not at every commit. The database stays consistent and every
                # committed checkpoint survives a *process* crash (what ``durability="sync"`` and
                # ``BillingAgent.recover`` are for); only the last commits before a power loss or an OS
                # crash can be lost (the turn then re-runs from the previous checkpoint). The ledger's
                # engine (``tools/db.py``) makes the same choice. FULL cost an fsync per superstep.
                await conn.execute("PRAGMA synchronous=NORMAL")
            await conn.execute("PRAGMA busy_timeout=30000")
            saver = SqliteSaver(conn, path=path)
            await saver.setup()
            try:
                yield saver
            finally:
                await saver.aclose()
        return
    if backend == "postgresql":
        conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        async with AsyncConnectionPool[AsyncConnection[DictRow]](
            conninfo,
            kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
            configure=_asynchronous_commit,
            min_size=1,
            max_size=10,
            open=False,
        ) as pool:
            pg = AsyncPostgresSaver(conn=pool)
            await pg.setup()
            yield pg
        return
    raise ConfigurationError(f"unsupported checkpoint store {backend!r}: use sqlite or postgresql")


async def _asynchronous_commit(conn: AsyncConnection[DictRow]) -> None:
    """The durability trade-off of SQLite's ``synchronous=NORMAL`` (above), made the same way for every
    session of the PostgreSQL checkpoint store: a checkpoint's commit returns before its WAL record is
    flushed to disk. A committed checkpoint survives any crash of *this* process (what
    ``durability="sync"`` and ``BillingAgent.recover`` need); a crash of the PostgreSQL server itself can
    lose the last fraction of a second of checkpoints (never corrupt them): the thread then resumes from
    the one before, and a write node re-run finds its idempotency key. The ledger, the audit trail and
    the events keep synchronous commits. Measured: the PostgreSQL floor 12.5 -> 9.4 ms a turn, a full
    turn 38 -> 32 ms (``bench --backend postgres --no-http``). A ``SET`` per new connection, not the
    ``options`` connection parameter: that would replace the URL's own (``-csearch_path=...``)."""
    await conn.execute("SET synchronous_commit = off")


def _config(thread_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}


async def prune_thread(saver: BaseCheckpointSaver[str], thread_id: str) -> None:
    """Keep only the newest checkpoint (and its pending writes, e.g. an interrupt) of ``thread_id``."""
    if isinstance(saver, SqliteSaver):
        await saver.keep_latest(thread_id)
        return
    if isinstance(saver, AsyncSqliteSaver):
        # Two statements and a commit; no read and deserialisation of the checkpoint just to learn its id.
        async with saver.lock:
            for sql in _SQLITE_PRUNE:
                await (await saver.conn.execute(sql, {"t": thread_id})).close()
            await saver.conn.commit()
        return
    if isinstance(saver, AsyncPostgresSaver):
        if isinstance(saver.conn, AsyncConnectionPool):
            async with saver.conn.connection() as conn:  # autocommit: the statement is its transaction
                await conn.execute(_PG_KEEP_LATEST, {"t": str(thread_id)})
        else:  # one connection, shared: the saver's lock orders its users
            async with saver.lock:
                await saver.conn.execute(_PG_KEEP_LATEST, {"t": str(thread_id)})


async def checkpoint_bytes(saver: BaseCheckpointSaver[str], thread_id: str) -> int:
    """Serialized size of the newest checkpoint of ``thread_id`` (0 when there is none)."""
    latest = await saver.aget_tuple(_config(thread_id))
    if latest is None:
        return 0
    _, blob = saver.serde.dumps_typed(latest.checkpoint)
    _, meta = saver.serde.dumps_typed(latest.metadata)
    return len(blob) + len(meta)


async def stored_bytes(saver: BaseCheckpointSaver[str], thread_id: str) -> int:
    """Bytes a thread occupies in a SQLite checkpoint store (all checkpoints and writes); 0 elsewhere."""
    if not isinstance(saver, AsyncSqliteSaver):
        return 0
    async with saver.conn.execute(
        "SELECT COALESCE(SUM(LENGTH(checkpoint) + LENGTH(metadata)), 0) FROM checkpoints WHERE thread_id = ?",
        (thread_id,),
    ) as cur:
        row = await cur.fetchone()
        cps = int(row[0]) if row else 0
    async with saver.conn.execute(
        "SELECT COALESCE(SUM(LENGTH(value)), 0) FROM writes WHERE thread_id = ?", (thread_id,)
    ) as cur:
        row = await cur.fetchone()
        writes = int(row[0]) if row else 0
    return cps + writes
