"""The ``PaymentGateway`` port: payment links a patient opens to pay, and the events a gateway reports.

A gateway never moves money on the ledger itself. It creates links and, when one
is paid, reports a ``PaymentEvent``; ``tools.payments.posting.post_payment_event``
records that event on the ``BillingPlatform`` exactly once.

Amounts are integer cents; instants are timezone-aware (UTC).
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from tools.errors import InvalidTransition

LinkPurpose = Literal["balance", "partial", "plan_down_payment", "plan_installment"]
LinkStatus = Literal["open", "paid", "expired"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LinkRequest(_Model):
    """A link to create. ``idempotency_key`` should be derived from domain ids (statement, plan, turn)."""

    patient_id: str = Field(min_length=1)
    statement_id: str | None
    plan_id: str | None
    amount_cents: int
    purpose: LinkPurpose
    description: str
    idempotency_key: str = Field(min_length=1, max_length=200)


class PaymentLink(_Model):
    id: str
    patient_id: str
    statement_id: str | None
    plan_id: str | None
    amount_cents: int = Field(gt=0)
    purpose: LinkPurpose
    url: str
    status: LinkStatus
    created_at: AwareDatetime
    expires_at: AwareDatetime
    idempotency_key: str
    description: str = ""


class PaymentEvent(_Model):
    """What a gateway reports when a link is paid. ``event_id`` is stable across redeliveries."""

    event_id: str
    link_id: str
    patient_id: str
    statement_id: str | None
    amount_cents: int = Field(gt=0)
    external_id: str
    occurred_at: AwareDatetime


class LinkExpired(InvalidTransition):
    """The link passed its expiry before it was paid."""

    code = "link_expired"


@runtime_checkable
class PaymentGateway(Protocol):
    async def create_link(self, req: LinkRequest) -> PaymentLink:
        """Create a payment link, idempotent by ``req.idempotency_key``.

        The same key with the same parameters returns the original link; the same
        key with different parameters raises ``IdempotencyConflict``; a non-positive
        amount raises ``InvalidAmount``.
        """
        ...

    async def get_link(self, link_id: str) -> PaymentLink:
        """The link, with its current status; ``LinkNotFound`` if unknown."""
        ...

    async def list_links(self, patient_id: str) -> list[PaymentLink]:
        """The patient's links, newest first."""
        ...


__all__ = [
    "LinkExpired",
    "LinkPurpose",
    "LinkRequest",
    "LinkStatus",
    "PaymentEvent",
    "PaymentGateway",
    "PaymentLink",
]
