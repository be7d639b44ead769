"""Stripe webhooks: verify the signature with the ``stripe`` library, then read a ``PaymentEvent``.

The API's payment webhook calls ``verify_stripe_event`` on the raw request body before anything is
written; ``payment_event_from_stripe`` turns a verified event into our ``PaymentEvent`` (or ``None`` for
an event that reports no payment of ours), which ``tools.payments.posting.post_payment_event`` records
exactly once.

Pure functions: no I/O, no framework.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any, Literal

import stripe
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from tools.errors import BillingError, ConfigurationError
from tools.payments.base import PaymentEvent

log = logging.getLogger(__name__)

DEFAULT_TOLERANCE_S = 300
PAYMENT_EVENT_TYPES = frozenset({"checkout.session.completed", "checkout.session.async_payment_succeeded"})


class WebhookSignatureInvalid(BillingError):
    """The webhook is not provably from Stripe: signature missing, forged, for another payload, or
    older than the tolerance. Nothing may be written for it."""

    status_code = 400
    code = "webhook_signature_invalid"


class WebhookNotConfigured(WebhookSignatureInvalid):
    """No webhook secret is configured, so no event can be verified and every one is refused.

    A 503 rather than a 400: the sender is not at fault, and Stripe keeps retrying a failed
    delivery for three days, so events arrive once the secret is set."""

    status_code = 503
    code = "webhook_not_configured"


class WebhookPayloadInvalid(BillingError):
    """A correctly signed body that is not a Stripe event we can read, or reports a payment of ours
    that cannot be right (not USD, no amount)."""

    status_code = 400
    code = "webhook_payload_invalid"


class VerifiedEvent(BaseModel):
    """A Stripe event whose signature checked out. ``data_object`` is ``data.object`` as Stripe sent it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str = Field(min_length=1)
    type: str = Field(min_length=1)
    created: AwareDatetime
    livemode: bool = False
    data_object: dict[str, Any]

    @field_validator("created", mode="before")
    @classmethod
    def _from_unix(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
        return value


def verify_stripe_event(
    payload: bytes,
    signature_header: str | None,
    secret: str,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> VerifiedEvent:
    """Check ``Stripe-Signature`` over the raw ``payload`` and parse the event.

    Raises ``WebhookNotConfigured`` when ``secret`` is empty (verification is off, so everything is
    refused), ``WebhookSignatureInvalid`` when the header is missing, malformed, does not match, or is
    older than ``tolerance_s`` seconds, and ``WebhookPayloadInvalid`` for a signed body that is not an event.
    """
    if not secret.strip():
        raise WebhookNotConfigured("the Stripe webhook secret is not configured; refusing every event")
    if tolerance_s <= 0:
        # stripe treats a falsy tolerance as "no age check", which would accept replays forever.
        raise ConfigurationError("the webhook tolerance must be a positive number of seconds")
    if not signature_header:
        raise WebhookSignatureInvalid("missing Stripe-Signature header")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WebhookSignatureInvalid("webhook body is not UTF-8") from exc
    try:
        stripe.WebhookSignature.verify_header(text, signature_header, secret, tolerance=tolerance_s)
    except stripe.SignatureVerificationError as exc:
        raise WebhookSignatureInvalid(f"Stripe signature rejected: {exc.user_message}") from exc
    try:
        raw = json.loads(text)
        data = raw["data"]
        return VerifiedEvent.model_validate({**raw, "data_object": data["object"]})
    except (ValueError, KeyError, TypeError, ValidationError) as exc:
        raise WebhookPayloadInvalid("signed webhook body is not a Stripe event") from exc


class _CheckoutSession(BaseModel):
    """The fields of a ``checkout.session`` object we read."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    object: Literal["checkout.session"]
    id: str = Field(min_length=1)
    payment_status: str
    amount_total: int | None = None
    currency: str | None = None
    metadata: dict[str, str] | None = None
    payment_intent: str | dict[str, Any] | None = None


def payment_event_from_stripe(event: VerifiedEvent) -> PaymentEvent | None:
    """The ``PaymentEvent`` a verified Stripe event reports, or ``None`` when it reports no payment of ours.

    ``checkout.session.completed`` with ``payment_status == "paid"`` and
    ``checkout.session.async_payment_succeeded`` are payments; a completed session still ``unpaid``
    (a delayed method settling), any other type, or a session without our ``patient_id`` and
    ``link_key`` metadata (not created by ``StripeGateway``) give ``None``. The link id is the session
    id; the external id is the PaymentIntent (the session id when there is none).
    """
    if event.type not in PAYMENT_EVENT_TYPES:
        return None
    try:
        session = _CheckoutSession.model_validate(event.data_object)
    except ValidationError as exc:
        raise WebhookPayloadInvalid(
            f"{event.type} event {event.id} does not carry a Checkout Session"
        ) from exc
    metadata = session.metadata or {}
    patient_id = metadata.get("patient_id")
    if not patient_id or not metadata.get("link_key"):
        log.info("payments.stripe.event.foreign", extra={"event_id": event.id, "session_id": session.id})
        return None
    if session.payment_status != "paid":
        log.info(
            "payments.stripe.event.unpaid",
            extra={"event_id": event.id, "session_id": session.id, "payment_status": session.payment_status},
        )
        return None
    if session.currency != "usd" or session.amount_total is None or session.amount_total <= 0:
        raise WebhookPayloadInvalid(
            f"event {event.id} reports session {session.id} paid in {session.currency!r} "
            f"with amount {session.amount_total!r}; expected a positive USD amount"
        )
    intent = session.payment_intent
    external_id = intent if isinstance(intent, str) else str((intent or {}).get("id") or session.id)
    return PaymentEvent(
        event_id=event.id,
        link_id=session.id,
        patient_id=patient_id,
        statement_id=metadata.get("statement_id") or None,
        amount_cents=session.amount_total,
        external_id=external_id,
        occurred_at=event.created,
    )
