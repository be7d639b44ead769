"""Posting a gateway's ``PaymentEvent`` to the practice's ``BillingPlatform``, exactly once."""

from __future__ import annotations

import logging

from tools.payments.base import PaymentEvent
from tools.platforms.base import BillingPlatform
from tools.platforms.models import Payment, PaymentMethod, PaymentRequest, PaymentSource

log = logging.getLogger(__name__)


def posting_key(link_id: str) -> str:
    """The platform idempotency key for the payment of a link.

    Keyed by the link, not the event: a link is paid once, so a webhook replay, a
    redelivery under a new event id, or the sandbox page and a webhook reporting
    the same payment all post a single payment.
    """
    return f"payment-link:{link_id}"


async def post_payment_event(platform: BillingPlatform, event: PaymentEvent) -> Payment:
    """Record the payment reported by ``event`` on the patient's account and return it.

    Safe to call any number of times for the same link: the platform returns the
    original payment. Two events for one link with different amounts raise
    ``IdempotencyConflict`` (from the platform) rather than posting twice.
    """
    payment = await platform.record_payment(
        event.patient_id,
        PaymentRequest(
            statement_id=event.statement_id,
            amount_cents=event.amount_cents,
            method=PaymentMethod.CARD,
            source=PaymentSource.PAYMENT_LINK,
            external_id=event.external_id,
            idempotency_key=posting_key(event.link_id),
        ),
    )
    log.info(
        "payments.event.posted",
        extra={"event_id": event.event_id, "link_id": event.link_id, "payment_id": payment.id},
    )
    return payment
