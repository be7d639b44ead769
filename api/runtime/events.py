"""``EventStore``: every event of every thread, in order, the source of truth for SSE streams.

The bus only says "something new on thread X"; a stream then reads ``after(thread_id, last_id)`` from
here. Because ids are global and increasing, a client that reconnects with ``Last-Event-ID`` gets
exactly what it missed, whichever worker wrote it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.runtime.tables import ThreadEventRow
from tools.db import write_transaction

# Appends take this transaction-scoped advisory lock on PostgreSQL so that ids commit in id order: a
# reader that has seen id N can never later find a smaller id appear (no gaps to skip over).
APPEND_LOCK_KEY = 0x7468726561645F65  # "thread_e"
EVENT_TYPES = frozenset({"typing", "token", "message", "handoff", "staff_message", "error", "done", "mode"})


@dataclass(frozen=True)
class StoredEvent:
    id: int
    thread_id: str
    turn_id: str | None
    type: str
    data: dict[str, Any]
    created_at: datetime


def _stored(row: Any) -> StoredEvent:
    created = row.created_at
    return StoredEvent(
        id=int(row.id),
        thread_id=row.thread_id,
        turn_id=row.turn_id,
        type=row.type,
        data=dict(row.data),
        created_at=created if created.tzinfo else created.replace(tzinfo=UTC),
    )


def _checked(event: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    kind = str(event.get("type", ""))
    if kind not in EVENT_TYPES:
        raise ValueError(f"unknown event type {kind!r}")
    return kind, {k: v for k, v in event.items() if k != "type"}


# PostgreSQL: the lock, the insert and the bus hint in one statement (three round trips before; an HTTP
# turn appends about six events). The insert reads its one row from the lock's CTE, so the lock is held
# before ``nextval`` gives the id; nothing in it reads other rows, so the statement's snapshot, taken
# before the lock, decides nothing. The hint is sent at commit, like any ``NOTIFY``.
_PG_APPEND_ROW = (
    "WITH locked AS (SELECT pg_advisory_xact_lock(:k)),"
    " appended AS (INSERT INTO thread_events (thread_id, turn_id, type, data, created_at)"
    " SELECT CAST(:thread_id AS VARCHAR), CAST(:turn_id AS VARCHAR), CAST(:type AS VARCHAR),"
    " CAST(:data AS JSON), CAST(:created_at AS TIMESTAMP WITH TIME ZONE) FROM locked RETURNING id)"
)
_PG_APPEND = text(_PG_APPEND_ROW + " SELECT id FROM appended")
_PG_APPEND_NOTIFY = text(
    _PG_APPEND_ROW
    + " SELECT id, pg_notify(:c, CAST(id AS TEXT) || ':' || CAST(:thread_id AS TEXT)) FROM appended"
)


class EventStore:
    """``notify_channel`` (PostgreSQL): every append also sends the ``PostgresBus`` hint
    (``NOTIFY``) inside its own transaction: delivered at commit, in commit order, never for an event
    that did not commit, with no extra round trip or connection (``notifies`` is then true and the
    caller does not publish)."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        clock: Callable[[], datetime] | None = None,
        notify_channel: str | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock or (lambda: datetime.now(UTC))
        self._notify = notify_channel if engine.dialect.name == "postgresql" else None

    @property
    def notifies(self) -> bool:
        """Whether appends send their bus hint themselves (see the class)."""
        return self._notify is not None

    async def append(self, thread_id: str, turn_id: str | None, event: Mapping[str, Any]) -> StoredEvent:
        """Store ``event`` (a dict with a ``type`` key, e.g. ``AgentEvent.model_dump()``)."""
        async with write_transaction(self._engine) as conn:
            return await self.append_on(conn, thread_id, turn_id, event)

    async def append_on(
        self, conn: AsyncConnection, thread_id: str, turn_id: str | None, event: Mapping[str, Any]
    ) -> StoredEvent:
        """Like :meth:`append`, inside the caller's open transaction on ``conn`` (the event becomes
        visible when, and only if, that transaction commits)."""
        kind, data = _checked(event)
        now = self._clock()
        if conn.dialect.name == "postgresql":
            params = {
                "k": APPEND_LOCK_KEY,
                "thread_id": thread_id,
                "turn_id": turn_id,
                "type": kind,
                "data": json.dumps(data),
                "created_at": now,
            }
            if self._notify is None:
                result = await conn.execute(_PG_APPEND, params)
            else:
                result = await conn.execute(_PG_APPEND_NOTIFY, {**params, "c": self._notify})
        else:
            result = await conn.execute(
                insert(ThreadEventRow)
                .values(thread_id=thread_id, turn_id=turn_id, type=kind, data=data, created_at=now)
                .returning(ThreadEventRow.id)
            )
        event_id = int(result.scalars().one())
        return StoredEvent(event_id, thread_id, turn_id, kind, data, now)

    async def after(self, thread_id: str, last_id: int, limit: int = 500) -> list[StoredEvent]:
        """Events of ``thread_id`` with ``id > last_id``, oldest first."""
        stmt = (
            select(ThreadEventRow)
            .where(ThreadEventRow.thread_id == thread_id, ThreadEventRow.id > last_id)
            .order_by(ThreadEventRow.id)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [_stored(r) for r in rows]

    async def has(self, thread_id: str, turn_id: str, kind: str) -> bool:
        """Whether the turn already has an event of type ``kind``."""
        stmt = (
            select(ThreadEventRow.id)
            .where(
                ThreadEventRow.thread_id == thread_id,
                ThreadEventRow.turn_id == turn_id,
                ThreadEventRow.type == kind,
            )
            .limit(1)
        )
        async with self._engine.connect() as conn:
            return (await conn.execute(stmt)).first() is not None

    async def since(self, last_id: int, limit: int = 500) -> list[StoredEvent]:
        """Events of every thread with ``id > last_id``, oldest first (the console's live feed)."""
        stmt = (
            select(ThreadEventRow).where(ThreadEventRow.id > last_id).order_by(ThreadEventRow.id).limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [_stored(r) for r in rows]

    @staticmethod
    async def last_id_on(conn: AsyncConnection, thread_id: str) -> int:
        """:meth:`last_id` of ``thread_id``, inside the caller's transaction."""
        stmt = select(func.max(ThreadEventRow.id)).where(ThreadEventRow.thread_id == thread_id)
        return int((await conn.execute(stmt)).scalar_one_or_none() or 0)

    async def last_id(self, thread_id: str | None = None) -> int:
        """The newest event id (of ``thread_id``, or of all threads); 0 when there is none."""
        stmt = select(func.max(ThreadEventRow.id))
        if thread_id is not None:
            stmt = stmt.where(ThreadEventRow.thread_id == thread_id)
        async with self._engine.connect() as conn:
            value = (await conn.execute(stmt)).scalar_one_or_none()
        return int(value or 0)

    async def of_types(self, thread_id: str, types: frozenset[str], limit: int = 1000) -> list[StoredEvent]:
        """A thread's events of the given types, oldest first (history views)."""
        stmt = (
            select(ThreadEventRow)
            .where(ThreadEventRow.thread_id == thread_id, ThreadEventRow.type.in_(sorted(types)))
            .order_by(ThreadEventRow.id)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [_stored(r) for r in rows]
