"""``StripeGateway``: payment links as Stripe Checkout Sessions, through the real ``stripe`` SDK.

A link is one Checkout Session in ``payment`` mode with a single ``price_data`` line item (USD cents),
our ids in ``metadata`` (``patient_id``, ``statement_id``, ``plan_id``, ``purpose``, ``link_key``) and
on the PaymentIntent, an ``expires_at`` and the patient id as ``client_reference_id``. The link id is the
session id (``cs_...``), which is also what Stripe's webhooks carry.

Local table. Stripe cannot list sessions by metadata, and a session's ``url`` is cleared once it
completes or expires, so each link is recorded in ``stripe_checkout_sessions`` (on ``tools.db.Base``).
The row is written *before* Stripe is called, holding the exact parameters sent, and the Stripe
idempotency key is derived from the request's ``idempotency_key``: a crash between Stripe's answer and
our commit is retried with identical parameters and the same key, so Stripe returns the session it
already made instead of a second one. Stripe keeps idempotency keys for 24 hours; a pending row older
than that (its expiry no longer creatable) is retried under a new attempt number — the patient never
received the first session's URL, and it expires by itself.

Statuses ``paid`` and ``expired`` are final and cached in the row; an ``open`` link is refreshed from
Stripe on every read.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import stripe
from sqlalchemy import BigInteger, Integer, String, Text, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column
from stripe.params.checkout import SessionCreateParams

from tools.db import Base, UTCDateTime
from tools.errors import (
    ConfigurationError,
    IdempotencyConflict,
    InvalidAmount,
    LinkNotFound,
    PlatformUnavailable,
)
from tools.payments.base import LinkRequest, LinkStatus, PaymentLink

log = logging.getLogger(__name__)

T = TypeVar("T")

CURRENCY = "usd"
# Stripe accepts an ``expires_at`` 30 minutes to 24 hours after it creates the session. Our lifetimes keep
# a minute inside that window for clock skew between us and Stripe and for request latency.
STRIPE_MIN_EXPIRY = timedelta(minutes=30)
STRIPE_MAX_EXPIRY = timedelta(hours=24)
_SKEW = timedelta(minutes=1)
MIN_EXPIRY = STRIPE_MIN_EXPIRY + _SKEW
MAX_EXPIRY = STRIPE_MAX_EXPIRY - _SKEW
_PAID_STATUSES = frozenset({"paid", "no_payment_required"})


class StripeCheckoutRow(Base):
    """One Checkout Session we created (or are creating: ``session_id`` is null until Stripe answers)."""

    __tablename__ = "stripe_checkout_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    statement_id: Mapped[str | None] = mapped_column(String(64))
    plan_id: Mapped[str | None] = mapped_column(String(64))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    purpose: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str | None] = mapped_column(Text)
    # "pending" (Stripe not yet answered), "open", "paid" or "expired" as last seen.
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


def stripe_idempotency_key(link_key: str, attempt: int = 1) -> str:
    """The ``Idempotency-Key`` sent to Stripe for a link: a digest of our key, so no domain id leaves
    in a header, and stable across retries of the same attempt."""
    digest = hashlib.sha256(link_key.encode("utf-8")).hexdigest()
    return f"pba-checkout-{digest}-{attempt}"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _status_of(session: stripe.checkout.Session, now: datetime, expires_at: datetime) -> LinkStatus:
    if session.status == "complete" and session.payment_status in _PAID_STATUSES:
        return "paid"
    if session.status == "expired" or (session.status == "open" and now >= expires_at):
        return "expired"
    # "open", or "complete" with a delayed payment (ACH) still settling: not paid yet.
    return "open"


class StripeGateway:
    """A ``PaymentGateway`` on Stripe Checkout.

    ``client`` is a configured ``stripe.StripeClient`` (tests point its ``base_addresses`` at a local
    server). ``success_url`` and ``cancel_url`` are where Checkout sends the patient afterwards (Stripe
    replaces ``{CHECKOUT_SESSION_ID}`` in them). ``expires_after`` must be 31 minutes to 23 h 59 min:
    Stripe's 30 min to 24 h window, a minute inside for clock skew. ``engine`` holds the
    ``stripe_checkout_sessions`` table.
    """

    def __init__(
        self,
        client: stripe.StripeClient,
        success_url: str,
        cancel_url: str,
        expires_after: timedelta,
        *,
        engine: AsyncEngine,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        for name, url in (("success_url", success_url), ("cancel_url", cancel_url)):
            if not url.startswith(("http://", "https://")):
                raise ConfigurationError(f"Stripe {name} must be an http(s) URL: {url!r}")
        if not MIN_EXPIRY <= expires_after <= MAX_EXPIRY:
            raise ConfigurationError(
                "Stripe Checkout links must expire 31 minutes to 23 hours 59 minutes after creation"
            )
        self._client = client
        self._success_url = success_url
        self._cancel_url = cancel_url
        self._expires_after = expires_after
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._clock = clock or _utcnow

    # ------------------------------------------------------------------ port

    async def create_link(self, req: LinkRequest) -> PaymentLink:
        if req.amount_cents <= 0:
            raise InvalidAmount(f"a payment link needs a positive amount, got {req.amount_cents} cents")
        row = await self._claim(req)
        if row.session_id is not None:
            return await self._refresh(row)
        now = self._now()
        if row.expires_at - now < STRIPE_MIN_EXPIRY + _SKEW / 2:
            row = await self._next_attempt(row, now)
        try:
            session = await self._call(
                self._client.v1.checkout.sessions.create_async(
                    params=self._session_params(row),
                    options={"idempotency_key": stripe_idempotency_key(row.idempotency_key, row.attempt)},
                )
            )
        except stripe.InvalidRequestError as exc:
            # Our parameters were refused: a configuration or programming fault, not the patient's.
            raise ConfigurationError(f"Stripe refused the Checkout Session: {exc.user_message}") from exc
        if session.url is None:
            raise PlatformUnavailable("Stripe created a Checkout Session without a URL")
        status = _status_of(session, now, row.expires_at)
        async with self._sessions.begin() as db:
            await db.execute(
                update(StripeCheckoutRow)
                .where(StripeCheckoutRow.id == row.id)
                .values(session_id=session.id, url=session.url, status=status)
            )
        row.session_id, row.url, row.status = session.id, session.url, status
        log.info(
            "payments.stripe.link.created",
            extra={"link_id": session.id, "patient_id": req.patient_id, "attempt": row.attempt},
        )
        return self._to_link(row, status)

    async def get_link(self, link_id: str) -> PaymentLink:
        async with self._sessions() as db:
            row = await db.scalar(select(StripeCheckoutRow).where(StripeCheckoutRow.session_id == link_id))
        if row is None:
            raise LinkNotFound(f"no payment link {link_id!r}")
        return await self._refresh(row)

    async def list_links(self, patient_id: str) -> list[PaymentLink]:
        async with self._sessions() as db:
            rows = list(
                await db.scalars(
                    select(StripeCheckoutRow)
                    .where(
                        StripeCheckoutRow.patient_id == patient_id,
                        StripeCheckoutRow.session_id.is_not(None),
                    )
                    .order_by(StripeCheckoutRow.created_at.desc(), StripeCheckoutRow.id.desc())
                )
            )
        return list(await asyncio.gather(*(self._refresh(row) for row in rows)))

    # ------------------------------------------------------------------ beyond the port

    async def expire_link(self, link_id: str) -> PaymentLink:
        """Expire an open link now (e.g. when a new amount supersedes it). A link that is already paid
        or expired is returned as it is."""
        link = await self.get_link(link_id)
        if link.status != "open":
            return link
        try:
            session = await self._call(self._client.v1.checkout.sessions.expire_async(link_id))
        except stripe.InvalidRequestError as exc:
            if exc.code != "checkout_session_expire_not_open":
                raise ConfigurationError(f"Stripe refused to expire {link_id}: {exc.user_message}") from exc
            # Completed in the meantime: report what it is now.
            return await self.get_link(link_id)
        async with self._sessions() as db:
            row = await db.scalar(select(StripeCheckoutRow).where(StripeCheckoutRow.session_id == link_id))
        if row is None:
            raise LinkNotFound(f"no payment link {link_id!r}")
        return await self._store_status(row, _status_of(session, self._now(), row.expires_at))

    # ------------------------------------------------------------------ helpers

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ConfigurationError("the gateway clock must return timezone-aware instants")
        return now.astimezone(UTC)

    async def _claim(self, req: LinkRequest) -> StripeCheckoutRow:
        """The row for ``req.idempotency_key``: the existing one (same terms, or ``IdempotencyConflict``)
        or a new pending one holding the parameters we are about to send."""
        existing = await self._by_key(req.idempotency_key)
        if existing is None:
            now = self._now().replace(microsecond=0)  # Stripe's timestamps are whole seconds
            row = StripeCheckoutRow(
                idempotency_key=req.idempotency_key,
                attempt=1,
                patient_id=req.patient_id,
                statement_id=req.statement_id,
                plan_id=req.plan_id,
                amount_cents=req.amount_cents,
                purpose=req.purpose,
                description=req.description,
                status="pending",
                created_at=now,
                expires_at=now + self._expires_after,
            )
            try:
                async with self._sessions.begin() as db:
                    db.add(row)
                return row
            except IntegrityError:
                # A concurrent request with the same key inserted first: continue with its row.
                existing = await self._by_key(req.idempotency_key)
                if existing is None:
                    raise
        stored = (existing.patient_id, existing.statement_id, existing.plan_id, existing.amount_cents)
        asked = (req.patient_id, req.statement_id, req.plan_id, req.amount_cents)
        if stored != asked or existing.purpose != req.purpose:
            raise IdempotencyConflict(
                f"idempotency key {req.idempotency_key!r} was already used for a different payment link"
            )
        return existing

    async def _next_attempt(self, row: StripeCheckoutRow, now: datetime) -> StripeCheckoutRow:
        now = now.replace(microsecond=0)
        attempt, expires_at = row.attempt + 1, now + self._expires_after
        async with self._sessions.begin() as db:
            await db.execute(
                update(StripeCheckoutRow)
                .where(StripeCheckoutRow.id == row.id, StripeCheckoutRow.attempt == row.attempt)
                .values(attempt=attempt, created_at=now, expires_at=expires_at)
            )
        fresh = await self._by_key(row.idempotency_key)
        if fresh is None:
            raise LinkNotFound(f"payment link row for {row.idempotency_key!r} vanished")
        return fresh

    async def _by_key(self, key: str) -> StripeCheckoutRow | None:
        async with self._sessions() as db:
            row: StripeCheckoutRow | None = await db.scalar(
                select(StripeCheckoutRow).where(StripeCheckoutRow.idempotency_key == key)
            )
            return row

    def _session_params(self, row: StripeCheckoutRow) -> SessionCreateParams:
        metadata = {
            "patient_id": row.patient_id,
            "purpose": row.purpose,
            "link_key": row.idempotency_key,
        }
        if row.statement_id is not None:
            metadata["statement_id"] = row.statement_id
        if row.plan_id is not None:
            metadata["plan_id"] = row.plan_id
        name = row.description.strip() or "Medical bill payment"
        return {
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": CURRENCY,
                        "unit_amount": row.amount_cents,
                        "product_data": {"name": name[:250]},
                    },
                    "quantity": 1,
                }
            ],
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "client_reference_id": row.patient_id,
            "expires_at": int(row.expires_at.timestamp()),
            "success_url": self._success_url,
            "cancel_url": self._cancel_url,
        }

    async def _refresh(self, row: StripeCheckoutRow) -> PaymentLink:
        if row.session_id is None:
            raise LinkNotFound(f"payment link for {row.idempotency_key!r} is still being created")
        if row.status in ("paid", "expired"):
            final: LinkStatus = "paid" if row.status == "paid" else "expired"
            return self._to_link(row, final)
        try:
            session = await self._call(self._client.v1.checkout.sessions.retrieve_async(row.session_id))
        except stripe.InvalidRequestError as exc:
            if exc.code == "resource_missing":
                raise LinkNotFound(f"Stripe has no Checkout Session {row.session_id}") from exc
            raise ConfigurationError(f"Stripe refused to read {row.session_id}: {exc.user_message}") from exc
        return await self._store_status(row, _status_of(session, self._now(), row.expires_at))

    async def _store_status(self, row: StripeCheckoutRow, status: LinkStatus) -> PaymentLink:
        if status != row.status:
            async with self._sessions.begin() as db:
                await db.execute(
                    update(StripeCheckoutRow).where(StripeCheckoutRow.id == row.id).values(status=status)
                )
            row.status = status
        return self._to_link(row, status)

    @staticmethod
    async def _call(request: Awaitable[T]) -> T:
        """Await a Stripe call, turning its transport and account failures into our typed errors.
        ``InvalidRequestError`` is left to the caller, which knows what a refusal means there."""
        try:
            return await request
        except stripe.IdempotencyError as exc:
            raise IdempotencyConflict(
                "Stripe refused a reused idempotency key with different parameters"
            ) from exc
        except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as exc:
            raise PlatformUnavailable("the payment gateway is unavailable; try again shortly") from exc
        except (stripe.AuthenticationError, stripe.PermissionError) as exc:
            raise ConfigurationError("Stripe refused the configured API key") from exc

    def _to_link(self, row: StripeCheckoutRow, status: LinkStatus) -> PaymentLink:
        if row.session_id is None or row.url is None:
            raise LinkNotFound(f"payment link for {row.idempotency_key!r} is still being created")
        return PaymentLink(
            id=row.session_id,
            patient_id=row.patient_id,
            statement_id=row.statement_id,
            plan_id=row.plan_id,
            amount_cents=row.amount_cents,
            purpose=row.purpose,  # pydantic validates it against LinkPurpose
            url=row.url,
            status=status,
            created_at=row.created_at,
            expires_at=row.expires_at,
            idempotency_key=row.idempotency_key,
            description=row.description,
        )
