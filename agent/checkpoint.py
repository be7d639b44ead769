"""Checkpoint stores: LangGraph's own savers, as released. SQLite by default (``AsyncSqliteSaver``, one
file), PostgreSQL by URL (``AsyncPostgresSaver``, several workers).

Also the two maintenance operations the service needs to keep a thread's checkpoint bounded:
:func:`prune_thread` keeps only the newest checkpoint of a thread (the state already carries everything
a turn needs; history lives on the platform as communications), and :func:`checkpoint_bytes` measures
the serialized size of a thread's newest checkpoint.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.engine import make_url

from tools.db import SQLITE_BUSY_TIMEOUT_S
from tools.errors import ConfigurationError

DEFAULT_CHECKPOINT_URL = "sqlite:///var/checkpoints.db"

# SQLite keep-latest: the checkpoints of a thread's root namespace older than its newest one (ids are
# time-ordered; the newest is the one ``aget_tuple`` returns) and their pending writes. Writes first:
# their statement still sees the checkpoint rows it compares with. With no checkpoint the subquery is
# NULL, ``<> NULL`` matches nothing, and nothing is deleted. ``AsyncSqliteSaver`` has no ``aprune``.
_SQLITE_NEWEST = (
    "SELECT checkpoint_id FROM checkpoints WHERE thread_id = :t AND checkpoint_ns = '' "
    "ORDER BY checkpoint_id DESC LIMIT 1"
)
_SQLITE_KEEP_LATEST = (
    f"DELETE FROM writes WHERE thread_id = :t AND checkpoint_ns = '' AND checkpoint_id <> ({_SQLITE_NEWEST})",
    f"DELETE FROM checkpoints WHERE thread_id = :t AND checkpoint_ns = '' "
    f"AND checkpoint_id <> ({_SQLITE_NEWEST})",
)

# PostgreSQL keep-latest in one statement (one snapshot, one round trip): the checkpoints and pending
# writes older than the thread's newest checkpoint, and every blob that checkpoint does not reference.
# ``AsyncPostgresSaver.aprune`` leaves the same rows (tested) but makes one DELETE per channel, several
# milliseconds a turn with our state. Ids are time-ordered, so "older than the head" never reaches a
# checkpoint saved after this statement's snapshot; such a checkpoint's new blobs are not visible to it
# either, and the blobs it shares with its parent are the head's, which are kept. Root namespace only.
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


def _sqlite_path(url: str) -> str:
    if "://" not in url:
        return url  # a plain file path
    parsed = make_url(url)
    return parsed.database or ":memory:"


@asynccontextmanager
async def open_sqlite_saver(path: str) -> AsyncIterator[AsyncSqliteSaver]:
    """``AsyncSqliteSaver`` on the file ``path`` (or ``:memory:``), its connection set up once.

    Durability trade-off, chosen deliberately: in WAL mode ``synchronous=NORMAL`` fsyncs at checkpoints
    of the WAL, not at every commit. The database stays consistent and every committed checkpoint
    survives a *process* crash (what ``durability="sync"`` and ``BillingAgent.recover`` are for); only
    the last commits before a power loss or an OS crash can be lost (the turn then re-runs from the
    previous checkpoint). The ledger's engine (``tools/db.py``) makes the same choice. Another writer of
    the file (a CLI command) is waited for on aiosqlite's thread, up to the busy timeout."""
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    async with aiosqlite.connect(path, timeout=SQLITE_BUSY_TIMEOUT_S) as conn:
        if path != ":memory:":
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        saver = AsyncSqliteSaver(conn)
        await saver.setup()
        yield saver


@asynccontextmanager
async def open_postgres_saver(url: str) -> AsyncIterator[AsyncPostgresSaver]:
    """``AsyncPostgresSaver`` over a connection pool for ``url`` (its ``options``, e.g. a
    ``search_path``, kept), every session committing asynchronously (see :func:`_asynchronous_commit`)."""
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    async with AsyncConnectionPool[AsyncConnection[DictRow]](
        conninfo,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        configure=_asynchronous_commit,
        min_size=1,
        max_size=10,
        open=False,
    ) as pool:
        saver = AsyncPostgresSaver(conn=pool)
        await saver.setup()
        yield saver


@asynccontextmanager
async def open_checkpointer(url: str | None = None) -> AsyncIterator[BaseCheckpointSaver[str]]:
    """A ready checkpointer for ``url`` (``sqlite:///path``, a file path, or ``postgresql://...``)."""
    url = url or DEFAULT_CHECKPOINT_URL
    backend = make_url(url).get_backend_name() if "://" in url else "sqlite"
    if backend == "sqlite":
        async with open_sqlite_saver(_sqlite_path(url)) as sqlite_saver:
            yield sqlite_saver
        return
    if backend == "postgresql":
        async with open_postgres_saver(url) as pg_saver:
            yield pg_saver
        return
    raise ConfigurationError(f"unsupported checkpoint store {backend!r}: use sqlite or postgresql")


async def _asynchronous_commit(conn: AsyncConnection[DictRow]) -> None:
    """The durability trade-off of SQLite's ``synchronous=NORMAL`` (above), made the same way for every
    session of the PostgreSQL checkpoint store: a checkpoint's commit returns before its WAL record is
    flushed to disk. A committed checkpoint survives any crash of *this* process (what
    ``durability="sync"`` and ``BillingAgent.recover`` need); a crash of the PostgreSQL server itself can
    lose the last fraction of a second of checkpoints (never corrupt them): the thread then resumes from
    the one before, and a write node re-run finds its idempotency key. The ledger, the audit trail and
    the events keep synchronous commits. A ``SET`` per new connection, not the ``options`` connection
    parameter: that would replace the URL's own (``-csearch_path=...``)."""
    await conn.execute("SET synchronous_commit = off")


def _config(thread_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}


async def prune_thread(saver: BaseCheckpointSaver[str], thread_id: str) -> None:
    """Keep only the newest checkpoint (and its pending writes, e.g. an interrupt) of ``thread_id``."""
    if isinstance(saver, AsyncSqliteSaver):
        async with saver.lock:  # the saver's one connection: its lock orders its users
            for sql in _SQLITE_KEEP_LATEST:
                # one trip to aiosqlite's thread per statement (``execute`` + ``close`` would be two)
                await saver.conn.execute_fetchall(sql, {"t": thread_id})
            await saver.conn.commit()
        return
    if isinstance(saver, AsyncPostgresSaver):
        if isinstance(saver.conn, AsyncConnectionPool):
            async with saver.conn.connection() as conn:  # autocommit: the statement is its transaction
                await conn.execute(_PG_KEEP_LATEST, {"t": str(thread_id)})
        else:  # one connection, shared: the saver's lock orders its users
            async with saver.lock:
                await saver.conn.execute(_PG_KEEP_LATEST, {"t": str(thread_id)})
        return
    await saver.aprune([thread_id], strategy="keep_latest")


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
    async with saver.lock:
        async with saver.conn.execute(
            "SELECT COALESCE(SUM(LENGTH(checkpoint) + LENGTH(metadata)), 0) FROM checkpoints "
            "WHERE thread_id = ?",
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
