"""``Threads``: conversation threads (one per portal chat, one per SMS phone number) and their inbound
messages, stored before any turn runs so a crash never loses what the patient said."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.runtime.tables import InboundMessageRow, ThreadRow
from tools.db import write_transaction
from tools.errors import NotFound, ThreadLocked

Mode = Literal["bot", "human"]
T = TypeVar("T")
InboundStatus = Literal["queued", "done", "failed"]


class ThreadNotFound(NotFound):
    code = "thread_not_found"


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ThreadRecord:
    id: str
    patient_id: str | None
    channel: str
    phone: str | None
    statement_id: str | None
    mode: Mode
    holder: str | None
    created_at: datetime
    updated_at: datetime
    last_inbound_at: datetime | None
    escalated_at: datetime | None
    escalation_reason: str | None
    escalation_priority: str | None
    ticket_id: str | None
    outreach_step_id: int | None = None


@dataclass(frozen=True)
class InboundMessage:
    id: int
    thread_id: str
    channel: str
    text: str
    external_id: str | None
    status: InboundStatus
    created_at: datetime
    duplicate: bool = False  # True when ``external_id`` was already stored (a redelivery): not re-run

    @property
    def turn_id(self) -> str:
        return str(self.id)


def _thread(row: Any) -> ThreadRecord:
    return ThreadRecord(
        id=row.id,
        patient_id=row.patient_id,
        channel=row.channel,
        phone=row.phone,
        statement_id=row.statement_id,
        mode="human" if row.mode == "human" else "bot",
        holder=row.holder,
        created_at=_utc(row.created_at) or row.created_at,
        updated_at=_utc(row.updated_at) or row.updated_at,
        last_inbound_at=_utc(row.last_inbound_at),
        escalated_at=_utc(row.escalated_at),
        escalation_reason=row.escalation_reason,
        escalation_priority=row.escalation_priority,
        ticket_id=row.ticket_id,
        outreach_step_id=row.outreach_step_id,
    )


async def _read_thread(conn: AsyncConnection, thread_id: str) -> ThreadRecord:
    row = (await conn.execute(select(ThreadRow).where(ThreadRow.id == thread_id))).first()
    if row is None:
        raise ThreadNotFound(f"no thread {thread_id}")
    return _thread(row)


def _inbound(row: Any, *, duplicate: bool = False) -> InboundMessage:
    return InboundMessage(
        id=int(row.id),
        thread_id=row.thread_id,
        channel=row.channel,
        text=row.text,
        external_id=row.external_id,
        status=row.status,
        created_at=_utc(row.created_at) or row.created_at,
        duplicate=duplicate,
    )


class Threads:
    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], datetime] | None = None) -> None:
        self._engine = engine
        self._clock = clock or (lambda: datetime.now(UTC))

    # ------------------------------------------------------------------ threads

    async def create(
        self,
        channel: str,
        *,
        patient_id: str | None = None,
        phone: str | None = None,
        statement_id: str | None = None,
        outreach_step_id: int | None = None,
    ) -> ThreadRecord:
        now = self._clock()
        thread_id = f"th_{secrets.token_urlsafe(16)}"
        values = {
            "id": thread_id,
            "patient_id": patient_id,
            "channel": channel,
            "phone": phone,
            "statement_id": statement_id,
            "outreach_step_id": outreach_step_id,
            "mode": "bot",
            "created_at": now,
            "updated_at": now,
        }
        async with write_transaction(self._engine) as conn:
            await conn.execute(insert(ThreadRow).values(values))
            return await _read_thread(conn, thread_id)

    async def get(self, thread_id: str) -> ThreadRecord:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(ThreadRow).where(ThreadRow.id == thread_id))).first()
        if row is None:
            raise ThreadNotFound(f"no thread {thread_id}")
        return _thread(row)

    async def find_by_phone(self, phone: str, channel: str = "sms") -> ThreadRecord | None:
        """The (oldest) thread of ``phone`` on ``channel``: a patient's SMS conversation is one thread."""
        stmt = (
            select(ThreadRow)
            .where(ThreadRow.phone == phone, ThreadRow.channel == channel)
            .order_by(ThreadRow.created_at, ThreadRow.id)
            .limit(1)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(stmt)).first()
        return _thread(row) if row is not None else None

    async def get_or_create_sms(self, phone: str, *, patient_id: str | None = None) -> ThreadRecord:
        found = await self.find_by_phone(phone)
        return found if found is not None else await self.create("sms", phone=phone, patient_id=patient_id)

    async def list_for_patient(self, patient_id: str) -> list[ThreadRecord]:
        stmt = select(ThreadRow).where(ThreadRow.patient_id == patient_id).order_by(ThreadRow.created_at)
        async with self._engine.connect() as conn:
            return [_thread(r) for r in (await conn.execute(stmt)).all()]

    async def list_escalated(self, limit: int = 200) -> list[ThreadRecord]:
        """Threads with an escalation, oldest escalation first (the console orders by priority)."""
        stmt = (
            select(ThreadRow)
            .where(ThreadRow.escalated_at.is_not(None))
            .order_by(ThreadRow.escalated_at)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            return [_thread(r) for r in (await conn.execute(stmt)).all()]

    async def update(self, thread_id: str, **values: object) -> ThreadRecord:
        """Set columns of a thread (``patient_id``, ``mode``, ``holder``, ``escalated_at``, ...)."""
        allowed = set(ThreadRow.__table__.columns.keys()) - {"id", "created_at"}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"unknown thread columns {sorted(unknown)}")
        stmt = update(ThreadRow).where(ThreadRow.id == thread_id).values(**values, updated_at=self._clock())
        async with write_transaction(self._engine) as conn:
            if (await conn.execute(stmt)).rowcount == 0:
                raise ThreadNotFound(f"no thread {thread_id}")
            return await _read_thread(conn, thread_id)

    async def mark_escalated(
        self, thread_id: str, *, reason: str, priority: str, ticket_id: str
    ) -> ThreadRecord:
        return await self.update(
            thread_id,
            escalated_at=self._clock(),
            escalation_reason=reason,
            escalation_priority=priority,
            ticket_id=ticket_id,
        )

    async def take_over(self, thread_id: str, staff_id: str) -> ThreadRecord:
        """Exclusive: succeeds when nobody (or ``staff_id`` already) holds it; else ``ThreadLocked``."""
        stmt = (
            update(ThreadRow)
            .where(ThreadRow.id == thread_id, (ThreadRow.holder.is_(None)) | (ThreadRow.holder == staff_id))
            .values(mode="human", holder=staff_id, updated_at=self._clock())
        )
        async with write_transaction(self._engine) as conn:
            taken = (await conn.execute(stmt)).rowcount > 0
            current = await _read_thread(conn, thread_id)
        if not taken:
            raise ThreadLocked(f"thread {thread_id} is held by {current.holder}")
        return current

    async def release(self, thread_id: str, staff_id: str) -> ThreadRecord:
        """Hand back to the bot; only the holder may (``ThreadLocked`` otherwise)."""
        stmt = (
            update(ThreadRow)
            .where(ThreadRow.id == thread_id, ThreadRow.holder == staff_id)
            .values(mode="bot", holder=None, updated_at=self._clock())
        )
        async with write_transaction(self._engine) as conn:
            released = (await conn.execute(stmt)).rowcount > 0
            current = await _read_thread(conn, thread_id)
        if not released:
            raise ThreadLocked(f"thread {thread_id} is not held by {staff_id}")
        return current

    # ------------------------------------------------------------------ inbound messages

    async def add_inbound(
        self,
        thread_id: str,
        text: str,
        *,
        external_id: str | None = None,
        channel: str | None = None,
        patient_id: str | None = None,
        admit: Callable[[], None] | None = None,
        also: Callable[[AsyncConnection, InboundMessage], Awaitable[None]] | None = None,
    ) -> InboundMessage:
        """Store a patient's message as ``queued``. A known ``external_id`` on the thread's channel
        returns the stored message with ``duplicate=True`` instead. ``channel`` (the thread's, when the
        caller already read it) saves a read; ``also`` runs in the same transaction after the insert
        (e.g. appending the turn's ``typing`` event, so no worker can start the turn before it exists).

        With ``channel`` and ``patient_id`` given, the thread must be that patient's thread on that
        channel, checked by the transaction's first statement: ``ThreadNotFound`` otherwise (nothing
        stored), the same answer as a thread that does not exist. ``admit`` runs once that is known,
        before anything is committed; what it raises (e.g. a rate limit) stores nothing."""
        if channel is None:
            channel = (await self.get(thread_id)).channel
        now = self._clock()
        owned = ThreadRow.id == thread_id
        if patient_id is not None:
            owned = owned & (ThreadRow.channel == channel) & (ThreadRow.patient_id == patient_id)
        try:
            async with write_transaction(self._engine) as conn:
                # The thread's row first: concurrent messages of one thread then take their ids in
                # the order they commit, and ``also`` sees every earlier one (``others_queued``).
                touched = await conn.execute(
                    update(ThreadRow).where(owned).values(last_inbound_at=now, updated_at=now)
                )
                if touched.rowcount == 0:
                    raise ThreadNotFound(f"no thread {thread_id}")
                if admit is not None:
                    admit()
                result = await conn.execute(
                    insert(InboundMessageRow)
                    .values(
                        thread_id=thread_id,
                        channel=channel,
                        text=text,
                        external_id=external_id,
                        status="queued",
                        created_at=now,
                    )
                    .returning(InboundMessageRow.id)
                )
                new_id = int(result.scalar_one())
                message = InboundMessage(
                    new_id, thread_id, channel, text, external_id, "queued", _utc(now) or now
                )
                if also is not None:
                    await also(conn, message)
        except IntegrityError:
            if external_id is None:
                raise
            return await self._stored_duplicate(channel, external_id)
        return message

    async def _stored_duplicate(self, channel: str, external_id: str) -> InboundMessage:
        """The message already stored with ``external_id`` on ``channel`` (a redelivery lost the race)."""
        stmt = select(InboundMessageRow).where(
            InboundMessageRow.channel == channel, InboundMessageRow.external_id == external_id
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(stmt)).one()
        return _inbound(row, duplicate=True)

    @staticmethod
    async def others_queued(conn: AsyncConnection, thread_id: str, inbound_id: int) -> bool:
        """Inside ``add_inbound``'s transaction: is another message of the thread still waiting for,
        or in, its turn (a turn's message stays ``queued`` until the turn is recorded)?"""
        stmt = (
            select(InboundMessageRow.id)
            .where(
                InboundMessageRow.thread_id == thread_id,
                InboundMessageRow.status == "queued",
                InboundMessageRow.id != inbound_id,
            )
            .limit(1)
        )
        return (await conn.execute(stmt)).first() is not None

    async def get_inbound(self, inbound_id: int) -> InboundMessage:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(select(InboundMessageRow).where(InboundMessageRow.id == inbound_id))
            ).first()
        if row is None:
            raise NotFound(f"no inbound message {inbound_id}")
        return _inbound(row)

    async def next_queued(self, thread_id: str) -> InboundMessage | None:
        """The oldest message of ``thread_id`` still waiting for its turn."""
        stmt = (
            select(InboundMessageRow)
            .where(InboundMessageRow.thread_id == thread_id, InboundMessageRow.status == "queued")
            .order_by(InboundMessageRow.id)
            .limit(1)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(stmt)).first()
        return _inbound(row) if row is not None else None

    async def threads_with_queued(self) -> list[str]:
        stmt = select(InboundMessageRow.thread_id).where(InboundMessageRow.status == "queued").distinct()
        async with self._engine.connect() as conn:
            return [str(r[0]) for r in (await conn.execute(stmt)).all()]

    async def finish_inbound(
        self,
        inbound_id: int,
        status: InboundStatus,
        *,
        also: Callable[[AsyncConnection], Awaitable[T]] | None = None,
    ) -> T | None:
        """Mark the message answered (or failed); ``also`` runs in the same transaction (the turn's
        ``done`` event: one commit instead of two) and its result is returned."""
        async with write_transaction(self._engine) as conn:
            await conn.execute(
                update(InboundMessageRow)
                .where(InboundMessageRow.id == inbound_id)
                .values(status=status, completed_at=self._clock())
            )
            return await also(conn) if also is not None else None

    async def inbound_of(self, thread_id: str, limit: int = 1000) -> list[InboundMessage]:
        stmt = (
            select(InboundMessageRow)
            .where(InboundMessageRow.thread_id == thread_id)
            .order_by(InboundMessageRow.id)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            return [_inbound(r) for r in (await conn.execute(stmt)).all()]
