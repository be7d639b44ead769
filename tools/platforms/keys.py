"""Payment idempotency keys held by the service, for a platform that cannot find a payment by its key.

DrChrono keeps our key in a patient payment's ``notes`` and cannot search notes, so the adapter can look
for a key among one patient's payments only. This table closes the rest: before a payment is posted its
key is claimed here with the patient and what the payment is; the same key for another patient, or for
another amount, statement, method, source or charge, is an ``IdempotencyConflict`` and nothing is posted.
A claim repeated with the same patient and payment (a retry) is allowed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from tools.db import Base, UTCDateTime
from tools.errors import IdempotencyConflict
from tools.platforms.models import PaymentRequest


class PaymentKeyRow(Base):
    __tablename__ = "platform_payment_keys"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    patient_id: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(400))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


def _utcnow() -> datetime:
    return datetime.now(UTC)


def fingerprint(request: PaymentRequest) -> str:
    return "|".join(
        [
            request.statement_id or "",
            str(request.amount_cents),
            request.method.value,
            request.source.value,
            request.external_id or "",
        ]
    )[:400]


class PaymentKeys:
    def __init__(self, engine: AsyncEngine, platform: str, clock: Callable[[], datetime] = _utcnow) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.platform = platform
        self._now = clock

    async def claim(self, patient_id: str, request: PaymentRequest) -> None:
        """Claim ``request``'s key for this patient and payment, or raise ``IdempotencyConflict``."""
        wanted = (self.platform, patient_id, fingerprint(request))
        try:
            async with self._sessions() as s, s.begin():
                row = await s.get(PaymentKeyRow, request.idempotency_key)
                if row is None:
                    s.add(
                        PaymentKeyRow(
                            key=request.idempotency_key,
                            platform=self.platform,
                            patient_id=patient_id,
                            fingerprint=wanted[2],
                            created_at=self._now(),
                        )
                    )
                    return
        except IntegrityError:  # a concurrent claim of the same key won: compare with it
            pass
        async with self._sessions() as s:
            row = await s.scalar(select(PaymentKeyRow).where(PaymentKeyRow.key == request.idempotency_key))
        if row is None or (row.platform, row.patient_id, row.fingerprint) != wanted:
            raise IdempotencyConflict(
                f"idempotency key {request.idempotency_key!r} was used for another payment"
            )
