"""SMS consent by phone number: every opt-out, opt-in and help request a patient texts, recorded.

The table ``sms_consent_events`` is append-only: a phone's current standing is its newest opt-out or
opt-in event (help requests are recorded but change nothing). A number that never texted STOP has not
withdrawn consent: a patient who texts the practice may be answered. Nothing may be sent to a number
whose newest change is an opt-out (``SmsConsentStore.allows``) — the API's SMS route and the delivery
of replies both ask before sending.

Each event carries the Twilio ``MessageSid`` that caused it (unique), so a redelivered STOP is
recorded once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import Integer, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from tools.db import Base, UTCDateTime

log = logging.getLogger(__name__)

ConsentAction = Literal["opt_out", "opt_in", "help"]
ConsentSource = Literal["keyword", "advanced_opt_out", "free_text", "staff"]
ConsentStanding = Literal["opted_out", "opted_in", "unknown"]


class SmsConsentEventRow(Base):
    __tablename__ = "sms_consent_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    phone: Mapped[str] = mapped_column(String(32), index=True)
    action: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(32))
    # The inbound message that caused the change; null for changes made by staff.
    message_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    thread_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


@dataclass(frozen=True)
class ConsentEvent:
    id: int
    phone: str
    action: ConsentAction
    source: ConsentSource
    message_sid: str | None
    created_at: datetime


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SmsConsentStore:
    """Consent changes on ``engine`` (the table comes from the service migrations)."""

    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime] | None = None) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._clock = clock or _utcnow

    async def record(
        self,
        phone: str,
        action: ConsentAction,
        source: ConsentSource,
        *,
        message_sid: str | None = None,
        thread_id: str | None = None,
    ) -> bool:
        """Record one change; ``False`` when ``message_sid`` was already recorded (a redelivery)."""
        row = SmsConsentEventRow(
            phone=phone,
            action=action,
            source=source,
            message_sid=message_sid,
            thread_id=thread_id,
            created_at=self._clock(),
        )
        try:
            async with self._sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            if message_sid is not None and await self._by_sid(message_sid):
                return False
            raise
        log.info("sms.consent.recorded", extra={"action": action, "source": source, "event_id": row.id})
        return True

    async def standing(self, phone: str) -> ConsentStanding:
        """``opted_out`` or ``opted_in`` by the newest change, ``unknown`` when there is none."""
        async with self._sessions() as session:
            action = await session.scalar(
                select(SmsConsentEventRow.action)
                .where(SmsConsentEventRow.phone == phone, SmsConsentEventRow.action != "help")
                .order_by(SmsConsentEventRow.id.desc())
                .limit(1)
            )
        if action == "opt_out":
            return "opted_out"
        if action == "opt_in":
            return "opted_in"
        return "unknown"

    async def standings(self, phones: Sequence[str]) -> dict[str, ConsentStanding]:
        """``standing`` of many numbers at once (outreach decides for thousands of accounts a page)."""
        out: dict[str, ConsentStanding] = dict.fromkeys(phones, "unknown")
        wanted = sorted(set(phones))
        async with self._sessions() as session:
            for i in range(0, len(wanted), 2000):
                rows = await session.execute(
                    select(SmsConsentEventRow.phone, SmsConsentEventRow.action)
                    .where(
                        SmsConsentEventRow.phone.in_(wanted[i : i + 2000]),
                        SmsConsentEventRow.action != "help",
                    )
                    .order_by(SmsConsentEventRow.id)
                )
                for phone, action in rows:  # the newest change of each number is the last one read
                    out[phone] = "opted_out" if action == "opt_out" else "opted_in"
        return out

    async def allows(self, phone: str) -> bool:
        """Whether a text may be sent to ``phone``: not after an opt-out that no opt-in followed."""
        return await self.standing(phone) != "opted_out"

    async def history(self, phone: str) -> list[ConsentEvent]:
        """The phone's changes, oldest first (for the console and tests)."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(SmsConsentEventRow)
                .where(SmsConsentEventRow.phone == phone)
                .order_by(SmsConsentEventRow.id)
            )
            return [_event(r) for r in rows]

    async def _by_sid(self, message_sid: str) -> bool:
        async with self._sessions() as session:
            found = await session.scalar(
                select(SmsConsentEventRow.id).where(SmsConsentEventRow.message_sid == message_sid)
            )
        return found is not None


_ACTIONS: dict[str, ConsentAction] = {"opt_out": "opt_out", "opt_in": "opt_in", "help": "help"}
_SOURCES: dict[str, ConsentSource] = {
    "keyword": "keyword",
    "advanced_opt_out": "advanced_opt_out",
    "free_text": "free_text",
    "staff": "staff",
}


def _event(row: SmsConsentEventRow) -> ConsentEvent:
    return ConsentEvent(
        id=row.id,
        phone=row.phone,
        action=_ACTIONS[row.action],
        source=_SOURCES[row.source],
        message_sid=row.message_sid,
        created_at=row.created_at,
    )
