"""Tickets for a person, queued in the service's own tables while the practice system is down.

A patient who asks for a person during an outage must still reach one: the agent cannot open the ticket
on the platform (its breaker is open, or it times out), so it queues the request here, with the thread,
the channel, the verified patient when there is one (never a patient guessed without the platform) and
the transcript, and tells the patient a person will follow up. :meth:`HandoffQueue.sync` later opens
each queued request as a ticket on the platform, with the same idempotency key, so a sync repeated after
a crash opens it once. A request from a patient not yet verified stays here (it has no account to
attach to); :meth:`HandoffQueue.pending` lists what is queued (the console shows it: "Asked for a person
during an outage").
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import String, Text, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from tools.db import Base, UTCDateTime
from tools.errors import BillingError, PlatformUnavailable
from tools.platforms.base import BillingPlatform
from tools.platforms.models import (
    Author,
    Channel,
    TicketPriority,
    TicketReason,
    TicketRequest,
    TranscriptLine,
)


class OutageHandoffRow(Base):
    __tablename__ = "outage_handoffs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    thread_id: Mapped[str] = mapped_column(String(128), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    patient_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str] = mapped_column(String(40))
    priority: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text)
    transcript: Mapped[str] = mapped_column(Text)  # JSON list of {author, text, at}
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ticket_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # once synced
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)


@dataclass(frozen=True)
class QueuedHandoff:
    id: str  # also the reference the patient is given
    thread_id: str
    channel: Channel
    patient_id: str | None
    reason: TicketReason
    priority: TicketPriority
    summary: str
    transcript: tuple[TranscriptLine, ...]
    created_at: datetime
    idempotency_key: str
    ticket_id: str | None

    @property
    def reference(self) -> str:
        return self.id


@dataclass(frozen=True)
class SyncResult:
    opened: int  # tickets opened on the platform now
    waiting: int  # still queued: the platform is down again, or no verified patient to attach to


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _to_model(row: OutageHandoffRow) -> QueuedHandoff:
    return QueuedHandoff(
        id=row.id,
        thread_id=row.thread_id,
        channel=Channel(row.channel),
        patient_id=row.patient_id,
        reason=TicketReason(row.reason),
        priority=TicketPriority(row.priority),
        summary=row.summary,
        transcript=tuple(
            TranscriptLine(author=Author(x["author"]), text=x["text"], at=datetime.fromisoformat(x["at"]))
            for x in json.loads(row.transcript)
        ),
        created_at=row.created_at,
        idempotency_key=row.idempotency_key,
        ticket_id=row.ticket_id,
    )


class HandoffQueue:
    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime] = _utcnow) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._now = clock

    async def queue(
        self,
        *,
        thread_id: str,
        channel: Channel,
        patient_id: str | None,
        transcript: Sequence[TranscriptLine],
        idempotency_key: str,
        reason: TicketReason = TicketReason.REQUESTED_HUMAN,
        priority: TicketPriority = TicketPriority.HIGH,
    ) -> QueuedHandoff:
        """Queue a request for a person; the same key returns the request already queued."""
        existing = await self._by_key(idempotency_key)
        if existing is not None:
            return existing
        row = OutageHandoffRow(
            id=f"H-{secrets.token_hex(4).upper()}",
            idempotency_key=idempotency_key,
            thread_id=thread_id,
            channel=channel.value,
            patient_id=patient_id,
            reason=reason.value,
            priority=priority.value,
            summary="Asked for a person while the practice system was unavailable.",
            transcript=json.dumps(
                [{"author": t.author.value, "text": t.text, "at": t.at.isoformat()} for t in transcript]
            ),
            created_at=self._now(),
        )
        try:
            async with self._sessions() as s, s.begin():
                s.add(row)
        except IntegrityError:  # a concurrent call with the same key won
            again = await self._by_key(idempotency_key)
            if again is None:
                raise
            return again
        return _to_model(row)

    async def _by_key(self, key: str) -> QueuedHandoff | None:
        async with self._sessions() as s:
            row = await s.scalar(select(OutageHandoffRow).where(OutageHandoffRow.idempotency_key == key))
            return _to_model(row) if row is not None else None

    async def pending(self) -> list[QueuedHandoff]:
        """Requests not yet opened as tickets on the platform, oldest first (the console's list)."""
        async with self._sessions() as s:
            rows = await s.scalars(
                select(OutageHandoffRow)
                .where(OutageHandoffRow.ticket_id.is_(None))
                .order_by(OutageHandoffRow.created_at, OutageHandoffRow.id)
            )
            return [_to_model(r) for r in rows]

    async def sync(self, platform: BillingPlatform) -> SyncResult:
        """Open each queued request of a verified patient as a ticket on the platform (idempotent by the
        request's key); stops at the first sign the platform is still down."""
        opened = 0
        queued = await self.pending()
        for h in queued:
            if h.patient_id is None:
                continue
            try:
                ticket = await platform.create_ticket(
                    h.patient_id,
                    TicketRequest(
                        thread_id=h.thread_id,
                        statement_id=None,
                        reason=h.reason,
                        priority=h.priority,
                        summary=f"{h.summary} Queued as {h.reference}.",
                        transcript=h.transcript,
                        idempotency_key=h.idempotency_key,
                    ),
                )
            except PlatformUnavailable as exc:
                await self._note(h.id, None, exc.code)
                break
            except BillingError as exc:  # e.g. the patient is gone from the platform: staff decide
                await self._note(h.id, None, exc.code)
                continue
            await self._note(h.id, ticket.id, None)
            opened += 1
        return SyncResult(opened=opened, waiting=len(queued) - opened)

    async def _note(self, handoff_id: str, ticket_id: str | None, error: str | None) -> None:
        async with self._sessions() as s, s.begin():
            row = await s.get(OutageHandoffRow, handoff_id)
            if row is None:
                return
            if ticket_id is not None:
                row.ticket_id = ticket_id
                row.synced_at = self._now()
            row.last_error = error[:200] if error else None
