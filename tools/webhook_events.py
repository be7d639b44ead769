"""Which inbound webhook events (and one-time notices) have been handled: ``processed_webhook_events``.

Vendors redeliver: Stripe retries an event until it gets a 2xx (and may send it twice anyway), Twilio
retries a message webhook that timed out. A row per ``(source, event_id)`` — unique — lets a handler
recognise a redelivery and, through ``claim``, lets exactly one of two concurrent deliveries go on to
a side effect that is not idempotent by itself (telling the patient).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Integer, String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from tools.db import Base, UTCDateTime


class ProcessedWebhookEventRow(Base):
    __tablename__ = "processed_webhook_events"
    __table_args__ = (UniqueConstraint("source", "event_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # "stripe", "twilio", or a notice kind ("payment_notice") keyed by a domain id.
    source: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(80))
    outcome: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


def _utcnow() -> datetime:
    return datetime.now(UTC)


class WebhookEventLog:
    """The processed-events table on ``engine`` (created by the service migrations)."""

    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime] | None = None) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._clock = clock or _utcnow

    async def seen(self, source: str, event_id: str) -> bool:
        async with self._sessions() as session:
            found = await session.scalar(
                select(ProcessedWebhookEventRow.id).where(
                    ProcessedWebhookEventRow.source == source,
                    ProcessedWebhookEventRow.event_id == event_id,
                )
            )
        return found is not None

    async def claim(self, source: str, event_id: str, *, kind: str, outcome: str) -> bool:
        """Record ``(source, event_id)``; ``True`` for the first caller, ``False`` if it was already there."""
        row = ProcessedWebhookEventRow(
            source=source, event_id=event_id, kind=kind, outcome=outcome, created_at=self._clock()
        )
        try:
            async with self._sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            if await self.seen(source, event_id):
                return False
            raise
        return True

    async def count(self, source: str) -> int:
        """How many events of ``source`` were recorded (for metrics and tests)."""
        async with self._sessions() as session:
            ids = await session.scalars(
                select(ProcessedWebhookEventRow.id).where(ProcessedWebhookEventRow.source == source)
            )
            return len(list(ids))
