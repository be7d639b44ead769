"""Email consent by address, beside SMS consent: unsubscribes, bounces, complaints and opt-ins, recorded.

The table ``email_consent_events`` is append-only and keyed by a keyed hash of the address
(``tools.messaging.email.address_key``), never the address itself. An address's standing is its newest
event that changes it: ``unsubscribe``, ``hard_bounce`` and ``complaint`` stop all later email until an
``opt_in`` (the patient asking again, or staff after a corrected address); ``soft_bounce`` is recorded and
changes nothing. ``preference`` rows record the channel a patient asked to be reached on (``email`` or
``sms``) and do not change whether email may be sent.

``external_id`` (a provider's bounce or complaint event id) is unique, so a redelivered webhook is
recorded once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from pydantic import SecretStr
from sqlalchemy import Integer, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from tools.db import Base, UTCDateTime
from tools.messaging.email import address_key

log = logging.getLogger(__name__)

EmailAction = Literal["unsubscribe", "hard_bounce", "soft_bounce", "complaint", "opt_in", "preference"]
EmailSource = Literal["one_click", "link", "bounce_webhook", "smtp", "command", "staff", "patient"]
EmailStanding = Literal["unsubscribed", "bounced", "complained", "opted_in", "unknown"]
ChannelPreference = Literal["email", "sms"]

_STOPS: dict[str, EmailStanding] = {
    "unsubscribe": "unsubscribed",
    "hard_bounce": "bounced",
    "complaint": "complained",
}
_CHANGES = ("unsubscribe", "hard_bounce", "complaint", "opt_in")


class EmailConsentEventRow(Base):
    __tablename__ = "email_consent_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    address_key: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(32))
    # "email" or "sms" for a preference row, the bounce's SMTP status ("5.1.1") for a bounce.
    detail: Mapped[str | None] = mapped_column(String(64))
    external_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


@dataclass(frozen=True)
class EmailConsentEvent:
    id: int
    action: str
    source: str
    detail: str | None
    created_at: datetime


def _utcnow() -> datetime:
    return datetime.now(UTC)


class EmailConsentStore:
    """Consent changes on ``engine``; ``secret`` keys the address hash (the portal token secret)."""

    def __init__(
        self, engine: AsyncEngine, secret: SecretStr, clock: Callable[[], datetime] | None = None
    ) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._secret = secret
        self._clock = clock or _utcnow

    def key(self, address: str) -> str:
        return address_key(self._secret, address)

    async def record_key(
        self,
        key: str,
        action: EmailAction,
        source: EmailSource,
        *,
        detail: str | None = None,
        external_id: str | None = None,
    ) -> bool:
        """Record one event for an address key; ``False`` when ``external_id`` was already recorded."""
        row = EmailConsentEventRow(
            address_key=key,
            action=action,
            source=source,
            detail=detail,
            external_id=external_id,
            created_at=self._clock(),
        )
        try:
            async with self._sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            if external_id is not None:
                async with self._sessions() as session:
                    found = await session.scalar(
                        select(EmailConsentEventRow.id).where(EmailConsentEventRow.external_id == external_id)
                    )
                if found is not None:
                    return False
            raise
        log.info("email.consent.recorded", extra={"action": action, "source": source, "event_id": row.id})
        return True

    async def record(
        self,
        address: str,
        action: EmailAction,
        source: EmailSource,
        *,
        detail: str | None = None,
        external_id: str | None = None,
    ) -> bool:
        return await self.record_key(
            self.key(address), action, source, detail=detail, external_id=external_id
        )

    async def set_preference(self, address: str, channel: ChannelPreference, source: EmailSource) -> None:
        await self.record(address, "preference", source, detail=channel)

    async def standing_key(self, key: str) -> EmailStanding:
        async with self._sessions() as session:
            action = await session.scalar(
                select(EmailConsentEventRow.action)
                .where(EmailConsentEventRow.address_key == key, EmailConsentEventRow.action.in_(_CHANGES))
                .order_by(EmailConsentEventRow.id.desc())
                .limit(1)
            )
        if action is None:
            return "unknown"
        return _STOPS.get(action, "opted_in")

    async def standing(self, address: str) -> EmailStanding:
        return await self.standing_key(self.key(address))

    async def standings(self, addresses: Sequence[str]) -> dict[str, EmailStanding]:
        """``standing`` of many addresses at once (outreach decides for thousands of accounts a page)."""
        keys = {a: self.key(a) for a in addresses}
        by_key: dict[str, EmailStanding] = {}
        wanted = sorted(set(keys.values()))
        async with self._sessions() as session:
            for i in range(0, len(wanted), 2000):
                rows = await session.execute(
                    select(EmailConsentEventRow.address_key, EmailConsentEventRow.action)
                    .where(
                        EmailConsentEventRow.address_key.in_(wanted[i : i + 2000]),
                        EmailConsentEventRow.action.in_(_CHANGES),
                    )
                    .order_by(EmailConsentEventRow.id)
                )
                for k, action in rows:  # the newest change of each address is the last one read
                    by_key[k] = _STOPS.get(action, "opted_in")
        return {a: by_key.get(k, "unknown") for a, k in keys.items()}

    async def allows(self, address: str) -> bool:
        """Whether email may be sent to ``address``: not after an unsubscribe, hard bounce or complaint
        that no opt-in followed."""
        return await self.standing(address) in ("opted_in", "unknown")

    async def preference(self, address: str) -> ChannelPreference | None:
        async with self._sessions() as session:
            detail = await session.scalar(
                select(EmailConsentEventRow.detail)
                .where(
                    EmailConsentEventRow.address_key == self.key(address),
                    EmailConsentEventRow.action == "preference",
                )
                .order_by(EmailConsentEventRow.id.desc())
                .limit(1)
            )
        return "email" if detail == "email" else "sms" if detail == "sms" else None

    async def history(self, address: str) -> list[EmailConsentEvent]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(EmailConsentEventRow)
                .where(EmailConsentEventRow.address_key == self.key(address))
                .order_by(EmailConsentEventRow.id)
            )
            return [EmailConsentEvent(r.id, r.action, r.source, r.detail, r.created_at) for r in rows]
