"""Checkpoint stores: SQLite by default (one file, one process), PostgreSQL by URL (several workers).

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

from tools.errors import ConfigurationError

DEFAULT_CHECKPOINT_URL = "sqlite:///var/checkpoints.db"


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
            saver = AsyncSqliteSaver(conn)
            await saver.setup()
            yield saver
        return
    if backend == "postgresql":
        conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        async with AsyncConnectionPool[AsyncConnection[DictRow]](
            conninfo,
            kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
            min_size=1,
            max_size=10,
            open=False,
        ) as pool:
            pg = AsyncPostgresSaver(conn=pool)
            await pg.setup()
            yield pg
        return
    raise ConfigurationError(f"unsupported checkpoint store {backend!r}: use sqlite or postgresql")


def _config(thread_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}


async def prune_thread(saver: BaseCheckpointSaver[str], thread_id: str) -> None:
    """Keep only the newest checkpoint (and its pending writes, e.g. an interrupt) of ``thread_id``."""
    latest = await saver.aget_tuple(_config(thread_id))
    if latest is None:
        return
    keep = latest.config["configurable"]["checkpoint_id"]
    if isinstance(saver, AsyncSqliteSaver):
        async with saver.lock, saver.conn.cursor() as cur:
            await cur.execute(
                "DELETE FROM checkpoints WHERE thread_id = ? AND checkpoint_id <> ?", (thread_id, keep)
            )
            await cur.execute(
                "DELETE FROM writes WHERE thread_id = ? AND checkpoint_id <> ?", (thread_id, keep)
            )
            await saver.conn.commit()
        return
    if isinstance(saver, AsyncPostgresSaver):
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
