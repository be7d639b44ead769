"""Payments: the sandbox checkout page and Stripe's payment webhook.

* ``GET /v1/pay/sandbox/{link_id}`` — the sandbox gateway's checkout page (the embedded default): the
  link's amount and description and a test-card form. No real money moves.
* ``POST /v1/pay/sandbox/{link_id}`` — pay with a test card: ``SandboxGateway.mark_paid`` →
  ``post_payment_event`` → the patient is told on the thread that created the link. Paying twice posts
  one payment (the link is paid once; the ledger's key is the link's).
* ``POST /v1/payments/stripe/webhook`` — Stripe's events, verified with the ``stripe`` library over the raw
  body before anything is written (forged, tampered or too old → 400; no secret configured → 503),
  deduplicated on the event id (``processed_webhook_events``), posted exactly once whatever the number
  and order of deliveries (the ledger's idempotency key is the Checkout Session), then the patient is
  told, once per link.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from html import escape
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel
from sqlalchemy import select

from agent.templates import money
from api.deps import Services, ServicesDep
from api.errors import error_responses
from guardrails.audit import AuditLogRow
from tools.errors import BillingError, NotFound
from tools.payments.base import PaymentEvent, PaymentGateway, PaymentLink
from tools.payments.posting import post_payment_event
from tools.payments.sandbox import SandboxGateway
from tools.payments.stripe import StripeCheckoutRow
from tools.payments.webhooks import payment_event_from_stripe, verify_stripe_event
from tools.platforms.models import Language, Payment, TicketPriority, TicketReason, TicketRequest
from tools.webhook_events import WebhookEventLog

log = logging.getLogger("api.payments")

router = APIRouter(tags=["payments"])

MAX_WEBHOOK_BYTES = 512 * 1024  # Stripe events are a few kB
LinkId = Annotated[str, Path(min_length=1, max_length=255, description="the payment link's id")]

# Stripe's documented test cards: https://docs.stripe.com/testing
APPROVED_TEST_CARDS = frozenset({"4242424242424242", "5555555555554444", "378282246310005"})
DECLINED_TEST_CARDS = frozenset({"4000000000000002"})

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # The link id in the URL is the only key to the page: never leak it in a Referer.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class CardDeclined(BillingError):
    status_code = 402
    code = "card_declined"


class NotATestCard(BillingError):
    status_code = 422
    code = "not_a_test_card"


class UnsupportedMediaType(BillingError):
    status_code = 415
    code = "unsupported_media_type"


class PayloadTooLarge(BillingError):
    status_code = 413
    code = "payload_too_large"


class WebhookAck(BaseModel):
    received: bool = True
    event_id: str
    duplicate: bool = False
    outcome: Literal["posted", "ignored", "duplicate", "held"]
    payment_id: str | None = None


# --------------------------------------------------------------------------- dependencies


async def get_gateway(services: ServicesDep) -> PaymentGateway:
    return services.gateway


async def get_sandbox(gateway: Annotated[PaymentGateway, Depends(get_gateway)]) -> SandboxGateway:
    if not isinstance(gateway, SandboxGateway):
        raise NotFound("the sandbox checkout is not enabled: payments go through Stripe")
    return gateway


async def get_webhook_log(services: ServicesDep) -> WebhookEventLog:
    return WebhookEventLog(services.engine)


SandboxDep = Annotated[SandboxGateway, Depends(get_sandbox)]
WebhookLogDep = Annotated[WebhookEventLog, Depends(get_webhook_log)]


# --------------------------------------------------------------------------- after a payment


async def settle(services: Services, processed: WebhookEventLog, event: PaymentEvent) -> Payment:
    """Post ``event`` to the ledger (idempotent by link) and tell the patient, once per link."""
    payment = await post_payment_event(services.platform, event)
    if await processed.claim("payment_notice", event.link_id, kind="payment_received", outcome="notified"):
        await _notify(services, event)
    return payment


async def _notify(services: Services, event: PaymentEvent) -> None:
    thread_id = await _thread_of_link(services, event)
    if thread_id is None:
        log.info("payments.notice.no_thread", extra={"link_id": event.link_id})
        return
    patient = await services.platform.get_patient(event.patient_id)
    summary = await services.platform.get_account_summary(event.patient_id)
    spanish = patient.language is Language.ES
    remaining = max(summary.balance_cents, 0)
    paid, left = money(event.amount_cents), money(remaining)
    if spanish:
        text = f"Recibimos su pago de {paid}. Gracias. Su saldo ahora es {left}."
    else:
        text = f"We received your payment of {paid}. Thank you! Your balance is now {left}."
    await services.delivery.post_system_message(
        thread_id, text, intent="payment_received", actions=["payment_posted"]
    )
    log.info("payments.notice.sent", extra={"link_id": event.link_id, "thread_id": thread_id})


async def _thread_of_link(services: Services, event: PaymentEvent) -> str | None:
    """The thread whose turn created the link (its audit record reads ``link:<id>``), else the patient's
    most recent thread."""
    marker = f"link:{event.link_id}"
    stmt = (
        select(AuditLogRow.thread_id, AuditLogRow.payload)
        .where(AuditLogRow.patient_id == event.patient_id, AuditLogRow.event == "agent.turn")
        .order_by(AuditLogRow.seq.desc())
        .limit(500)
    )
    async with services.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    for thread_id, payload in rows:
        reads = payload.get("reads") if isinstance(payload, dict) else None
        if thread_id and isinstance(reads, list) and marker in reads:
            return str(thread_id)
    threads = await services.threads.list_for_patient(event.patient_id)
    return threads[-1].id if threads else None


# --------------------------------------------------------------------------- payments we did not ask for


async def unmatched_session(services: Services, event: PaymentEvent) -> str | None:
    """Why a Stripe payment must not be posted, or ``None`` when it pays a Checkout Session we created,
    for that patient and statement, for exactly the amount we created it for. The event's metadata is
    only what the session's creator wrote: a session made outside this service (the dashboard, a
    leaked key) can name any patient and any amount, so the session must be one of ours."""
    async with services.engine.connect() as conn:
        row = (
            await conn.execute(
                select(
                    StripeCheckoutRow.patient_id,
                    StripeCheckoutRow.statement_id,
                    StripeCheckoutRow.amount_cents,
                ).where(StripeCheckoutRow.session_id == event.link_id)
            )
        ).first()
    if row is None:
        return "unknown_session"
    if row.patient_id != event.patient_id or row.statement_id != event.statement_id:
        return "other_account"
    if row.amount_cents != event.amount_cents:
        return "amount_differs"
    return None


async def hold_for_staff(services: Services, event: PaymentEvent, reason: str) -> None:
    """Audit the held payment and, when it names one of the practice's patients, open a high-priority
    ticket so a person reconciles it in Stripe (refund, or post it by hand). Nothing reaches the ledger."""
    await services.audit.append(
        "payments.stripe.event.held",
        {
            "event_id": event.event_id,
            "session_id": event.link_id,
            "reason": reason,
            "amount_cents": event.amount_cents,
        },
        actor="stripe",
    )
    log.warning(
        "payments.stripe.webhook.held",
        extra={"event_id": event.event_id, "link_id": event.link_id, "reason": reason},
    )
    try:
        await services.platform.get_patient(event.patient_id)
    except NotFound:
        return
    await services.platform.create_ticket(
        event.patient_id,
        TicketRequest(
            thread_id=f"payment-review:{event.link_id}",
            statement_id=None,
            reason=TicketReason.DISPUTE_CHARGE,
            priority=TicketPriority.HIGH,
            summary=(
                f"Stripe reported a payment of {money(event.amount_cents)} on a checkout session "
                f"({reason.replace('_', ' ')}) that this service did not create for this amount. It was "
                "not posted: review it in Stripe, then refund it or post it by hand."
            ),
            transcript=(),
            idempotency_key=f"payment-review:{event.event_id}",
        ),
    )


# --------------------------------------------------------------------------- sandbox checkout


def _page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}}
.amount{{font-size:2rem;font-weight:700}}label{{display:block;margin:.8rem 0 .2rem}}
input{{font-size:1rem;padding:.4rem;width:100%;box-sizing:border-box}}
button{{margin-top:1rem;font-size:1rem;padding:.6rem 1.2rem}}.note{{color:#555;font-size:.9rem}}
.banner{{background:#fff4ce;padding:.5rem;border-radius:4px}}</style></head>
<body><main>{body}</main></body></html>"""
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


def _checkout_body(link: PaymentLink) -> str:
    amount = escape(money(link.amount_cents))
    description = escape(link.description or "Medical bill payment")
    banner = '<p class="banner">Sandbox checkout: test cards only, no real money moves.</p>'
    if link.status == "paid":
        return f"""<h1>Payment received</h1>{banner}
<p class="amount">{amount}</p><p>{description}</p>
<p>Thank you. This link has been paid; you will get a confirmation message.</p>"""
    if link.status == "expired":
        return f"""<h1>Link expired</h1>{banner}
<p>This payment link for {amount} has expired. Ask for a new one in the chat or by text.</p>"""
    expires = escape(link.expires_at.astimezone(UTC).strftime("%B %d, %Y"))
    return f"""<h1>Pay your bill</h1>{banner}
<p class="amount">{amount}</p><p>{description}</p><p class="note">Link valid until {expires}.</p>
<form method="post" autocomplete="off">
<label for="card_number">Card number</label>
<input id="card_number" name="card_number" inputmode="numeric" required
 pattern="[0-9 ]{{13,23}}" value="4242 4242 4242 4242" aria-describedby="card-help">
<p id="card-help" class="note">Test card 4242 4242 4242 4242 pays; 4000 0000 0000 0002 is declined.</p>
<label for="expiry">Expiry (MM/YY)</label>
<input id="expiry" name="expiry" required pattern="[0-9]{{2}}/[0-9]{{2}}" value="12/34">
<label for="cvc">CVC</label>
<input id="cvc" name="cvc" inputmode="numeric" required pattern="[0-9]{{3,4}}" value="123">
<button type="submit">Pay {amount}</button>
</form>"""


@router.get(
    "/v1/pay/sandbox/{link_id}",
    # No response_class: it would document the JSON error bodies below as text/html too.
    responses={
        200: {"description": "The checkout page", "content": {"text/html": {}}},
        **error_responses(404),
    },
    summary="Sandbox checkout page",
)
async def sandbox_checkout(link_id: LinkId, sandbox: SandboxDep) -> HTMLResponse:
    """The checkout page of a sandbox payment link: amount, description and a test-card form."""
    link = await sandbox.get_link(link_id)
    return _page("Pay your bill", _checkout_body(link))


_EXPIRY = re.compile(r"^(0[1-9]|1[0-2])/([0-9]{2})$")


def _check_card(card_number: str, expiry: str, cvc: str, now: datetime) -> None:
    digits = re.sub(r"[ -]", "", card_number)
    if digits in DECLINED_TEST_CARDS:
        raise CardDeclined("the card was declined (test card 4000 0000 0000 0002)")
    if digits not in APPROVED_TEST_CARDS:
        raise NotATestCard("the sandbox takes test cards only, e.g. 4242 4242 4242 4242")
    match = _EXPIRY.match(expiry.strip())
    if match is None:
        raise NotATestCard("expiry must be MM/YY")
    month, year = int(match[1]), 2000 + int(match[2])
    if (year, month) < (now.year, now.month):
        raise CardDeclined("the card has expired")
    if not re.fullmatch(r"[0-9]{3,4}", cvc.strip()):
        raise NotATestCard("the CVC is 3 or 4 digits")


@router.post(
    "/v1/pay/sandbox/{link_id}",
    status_code=303,
    response_class=RedirectResponse,
    responses={
        303: {"description": "Paid: see the checkout page for the receipt"},
        **error_responses(402, 404, 409, 415, 422),
    },
    summary="Pay a sandbox link with a test card",
)
async def sandbox_pay(
    request: Request,
    link_id: LinkId,
    card_number: Annotated[str, Form(max_length=32)],
    expiry: Annotated[str, Form(max_length=8)],
    cvc: Annotated[str, Form(max_length=8)],
    sandbox: SandboxDep,
    services: ServicesDep,
    processed: WebhookLogDep,
) -> RedirectResponse:
    """Pay the link with a test card: the payment is posted to the ledger once, and the patient told."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise UnsupportedMediaType("the checkout form posts application/x-www-form-urlencoded")
    link = await sandbox.get_link(link_id)  # LinkNotFound → 404 before the card is looked at
    if link.status != "paid":
        _check_card(card_number, expiry, cvc, datetime.now(UTC))
    event = await sandbox.mark_paid(link_id)  # idempotent; LinkExpired → 409
    payment = await settle(services, processed, event)
    log.info("payments.sandbox.paid", extra={"link_id": link_id, "payment_id": payment.id})
    return RedirectResponse(f"/v1/pay/sandbox/{link_id}", status_code=303, headers=SECURITY_HEADERS)


# --------------------------------------------------------------------------- Stripe


@router.get("/v1/pay/done", response_class=HTMLResponse, summary="Where Stripe Checkout returns after paying")
async def checkout_done() -> HTMLResponse:
    """The page Stripe Checkout sends the patient back to once they have paid."""
    return _page(
        "Thank you",
        "<h1>Thank you</h1><p>Your payment is being confirmed; you will get a message when it is posted.</p>",
    )


@router.get(
    "/v1/pay/cancelled", response_class=HTMLResponse, summary="Where Stripe Checkout returns on cancel"
)
async def checkout_cancelled() -> HTMLResponse:
    """The page Stripe Checkout sends the patient back to when they cancel."""
    return _page("Payment cancelled", "<h1>Payment cancelled</h1><p>Nothing was charged.</p>")


_STRIPE_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object", "description": "a Stripe event"}}},
    }
}


@router.post(
    "/v1/payments/stripe/webhook",
    response_model=WebhookAck,
    responses=error_responses(400, 404, 409, 413, 415, 503),
    openapi_extra=_STRIPE_BODY,
    summary="Stripe webhook",
)
async def stripe_webhook(request: Request, services: ServicesDep, processed: WebhookLogDep) -> WebhookAck:
    """Stripe's signed events. A paid Checkout Session is posted to the ledger exactly once."""
    secret = services.settings.stripe_webhook_secret
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType("Stripe posts application/json")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_WEBHOOK_BYTES:
        raise PayloadTooLarge(f"a webhook body is at most {MAX_WEBHOOK_BYTES} bytes")
    body = await request.body()
    if len(body) > MAX_WEBHOOK_BYTES:
        raise PayloadTooLarge(f"a webhook body is at most {MAX_WEBHOOK_BYTES} bytes")
    event = verify_stripe_event(
        body,
        request.headers.get("stripe-signature"),
        secret.get_secret_value() if secret is not None else "",
    )
    if await processed.seen("stripe", event.id):
        log.info("payments.stripe.webhook.duplicate", extra={"event_id": event.id})
        return WebhookAck(event_id=event.id, duplicate=True, outcome="duplicate")
    payment_event = payment_event_from_stripe(event)
    if payment_event is None:
        await processed.claim("stripe", event.id, kind=event.type, outcome="ignored")
        return WebhookAck(event_id=event.id, outcome="ignored")
    mismatch = await unmatched_session(services, payment_event)
    if mismatch is not None:
        await hold_for_staff(services, payment_event, mismatch)
        await processed.claim("stripe", event.id, kind=event.type, outcome="held")
        return WebhookAck(event_id=event.id, outcome="held")
    payment = await settle(services, processed, payment_event)
    # Recorded last: a crash before this line lets Stripe's retry finish the work (every step is
    # idempotent), where recording first would drop the payment.
    await processed.claim("stripe", event.id, kind=event.type, outcome="posted")
    log.info(
        "payments.stripe.webhook.posted",
        extra={"event_id": event.id, "link_id": payment_event.link_id, "payment_id": payment.id},
    )
    return WebhookAck(event_id=event.id, outcome="posted", payment_id=payment.id)
