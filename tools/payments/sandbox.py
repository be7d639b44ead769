"""``SandboxGateway``: a real, self-contained ``PaymentGateway`` for development, demos and tests.

Links live in the ``payment_links`` table (on ``tools.db.Base``, so the shared
migrations create it). The sandbox checkout page calls ``mark_paid`` when the
patient presses "pay"; nothing leaves the process. Link ids are 128 random bits,
so a link URL cannot be guessed from another one.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, String, Text, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from tools.db import Base, UTCDateTime, write_transaction
from tools.errors import ConfigurationError, IdempotencyConflict, InvalidAmount, LinkNotFound
from tools.payments.base import LinkExpired, LinkRequest, LinkStatus, PaymentEvent, PaymentLink

log = logging.getLogger(__name__)

DEFAULT_LINK_TTL = timedelta(days=7)


class PaymentLinkRow(Base):
    __tablename__ = "payment_links"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    statement_id: Mapped[str | None] = mapped_column(String(64))
    plan_id: Mapped[str | None] = mapped_column(String(64))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    purpose: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text, default="")
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    # "open" or "paid"; "expired" is derived from expires_at when read.
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    event_id: Mapped[str | None] = mapped_column(String(80))
    external_id: Mapped[str | None] = mapped_column(String(80))


def _utcnow() -> datetime:
    return datetime.now(UTC)


def event_id_for(link_id: str) -> str:
    """The sandbox's event id for a paid link: one link is paid once, so one event."""
    return f"evt_{link_id}"


def external_id_for(link_id: str) -> str:
    """The sandbox's payment id for a paid link (what Stripe would call the payment intent)."""
    return f"sbxpay_{link_id}"


class SandboxGateway:
    """A ``PaymentGateway`` whose checkout is a page of our own API.

    ``base_url`` is the public origin of the API (``https://billing.example``); link URLs are
    ``{base_url}/v1/pay/sandbox/{link_id}``. ``clock`` returns the current aware instant.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        base_url: str,
        clock: Callable[[], datetime] | None = None,
        *,
        link_ttl: timedelta = DEFAULT_LINK_TTL,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigurationError(f"payment link base URL must be http(s): {base_url!r}")
        if link_ttl <= timedelta(0):
            raise ConfigurationError("payment link lifetime must be positive")
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._base_url = base_url.rstrip("/")
        self._clock = clock or _utcnow
        self._ttl = link_ttl

    # ------------------------------------------------------------------ port

    async def create_link(self, req: LinkRequest) -> PaymentLink:
        if req.amount_cents <= 0:
            raise InvalidAmount(f"a payment link needs a positive amount, got {req.amount_cents} cents")
        existing = await self._by_key(req.idempotency_key)
        if existing is not None:
            return self._replay(existing, req)
        now = self._now()
        link_id = f"pl_{secrets.token_hex(16)}"
        values: dict[str, Any] = {
            "id": link_id,
            "patient_id": req.patient_id,
            "statement_id": req.statement_id,
            "plan_id": req.plan_id,
            "amount_cents": req.amount_cents,
            "purpose": req.purpose,
            "description": req.description,
            "idempotency_key": req.idempotency_key,
            "status": "open",
            "created_at": now,
            "expires_at": now + self._ttl,
        }
        row = PaymentLinkRow(**values)
        try:
            async with write_transaction(self._engine) as conn:
                await conn.execute(insert(PaymentLinkRow).values(values))
        except IntegrityError:
            # A concurrent request with the same key won the insert: answer as a replay.
            existing = await self._by_key(req.idempotency_key)
            if existing is None:
                raise
            return self._replay(existing, req)
        log.info("payments.link.created", extra={"link_id": link_id, "patient_id": req.patient_id})
        return self._to_link(row, now)

    async def get_link(self, link_id: str) -> PaymentLink:
        return self._to_link(await self._row(link_id), self._now())

    async def list_links(self, patient_id: str) -> list[PaymentLink]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(PaymentLinkRow)
                .where(PaymentLinkRow.patient_id == patient_id)
                .order_by(PaymentLinkRow.created_at.desc(), PaymentLinkRow.id.desc())
            )
            now = self._now()
            return [self._to_link(row, now) for row in rows]

    # ------------------------------------------------------------------ sandbox checkout

    async def mark_paid(self, link_id: str) -> PaymentEvent:
        """Pay the link (what the sandbox checkout page calls). Idempotent: a paid link
        returns its original event. Raises ``LinkNotFound`` or ``LinkExpired``."""
        row = await self._row(link_id)
        if row.status != "paid":
            now = self._now()
            if now >= row.expires_at:
                raise LinkExpired(f"payment link {link_id} expired at {row.expires_at.isoformat()}")
            # Conditional update: when two checkouts race, the first one's instant wins.
            pay = (
                update(PaymentLinkRow)
                .where(PaymentLinkRow.id == link_id, PaymentLinkRow.status == "open")
                .values(
                    status="paid",
                    paid_at=now,
                    event_id=event_id_for(link_id),
                    external_id=external_id_for(link_id),
                )
            )
            async with write_transaction(self._engine) as conn:
                await conn.execute(pay)
            row = await self._row(link_id)
            log.info("payments.link.paid", extra={"link_id": link_id, "patient_id": row.patient_id})
        return self._to_event(row)

    # ------------------------------------------------------------------ helpers

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ConfigurationError("the gateway clock must return timezone-aware instants")
        return now.astimezone(UTC)

    async def _by_key(self, key: str) -> PaymentLinkRow | None:
        async with self._sessions() as session:
            row: PaymentLinkRow | None = await session.scalar(
                select(PaymentLinkRow).where(PaymentLinkRow.idempotency_key == key)
            )
            return row

    async def _row(self, link_id: str) -> PaymentLinkRow:
        async with self._sessions() as session:
            row = await session.get(PaymentLinkRow, link_id)
        if row is None:
            raise LinkNotFound(f"no payment link {link_id!r}")
        return row

    def _replay(self, row: PaymentLinkRow, req: LinkRequest) -> PaymentLink:
        # The description is wording, not terms: only the money-relevant parameters must match.
        stored: tuple[Any, ...] = (
            row.patient_id,
            row.statement_id,
            row.plan_id,
            row.amount_cents,
            row.purpose,
        )
        asked: tuple[Any, ...] = (
            req.patient_id,
            req.statement_id,
            req.plan_id,
            req.amount_cents,
            req.purpose,
        )
        if stored != asked:
            raise IdempotencyConflict(
                f"idempotency key {req.idempotency_key!r} was already used for a different payment link"
            )
        return self._to_link(row, self._now())

    def _to_link(self, row: PaymentLinkRow, now: datetime) -> PaymentLink:
        status: LinkStatus = (
            "paid" if row.status == "paid" else "expired" if now >= row.expires_at else "open"
        )
        return PaymentLink(
            id=row.id,
            patient_id=row.patient_id,
            statement_id=row.statement_id,
            plan_id=row.plan_id,
            amount_cents=row.amount_cents,
            purpose=row.purpose,  # pydantic validates it against LinkPurpose
            url=f"{self._base_url}/v1/pay/sandbox/{row.id}",
            status=status,
            created_at=row.created_at,
            expires_at=row.expires_at,
            idempotency_key=row.idempotency_key,
            description=row.description,
        )

    @staticmethod
    def _to_event(row: PaymentLinkRow) -> PaymentEvent:
        if row.paid_at is None or row.event_id is None or row.external_id is None:
            raise ValueError(f"payment link {row.id} is marked paid without its payment details")
        return PaymentEvent(
            event_id=row.event_id,
            link_id=row.id,
            patient_id=row.patient_id,
            statement_id=row.statement_id,
            amount_cents=row.amount_cents,
            external_id=row.external_id,
            occurred_at=row.paid_at,
        )
