"""Payments through HTTP: the sandbox checkout page, and Stripe's webhook signed exactly as Stripe signs
it (events built from Stripe's fixture objects by the local Stripe stub, which the real ``stripe`` SDK
talks to when the Stripe gateway creates the Checkout Session)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
import stripe
from asgi_lifespan import LifespanManager
from pydantic import SecretStr

from api.deps import Services
from api.main import create_app
from api.settings import Settings
from tests.support.lifespan import STARTUP_S
from tests.support.stripe_stub import StripeStub, sign_stripe_payload
from tests.support.vendor import VendorFileMissing, load_vendor_json
from tools.db import create_engine
from tools.demo import generate_practice
from tools.payments.base import LinkRequest, PaymentLink
from tools.payments.stripe import StripeGateway
from tools.platforms.ledger import LedgerPlatform
from tools.platforms.models import Patient
from tools.webhook_events import WebhookEventLog

WEBHOOK_SECRET = "whsec_test_api_5f1c2b8a9e"
PUBLIC_BASE = "http://testserver"


@dataclass
class Pay:
    http: httpx.AsyncClient
    services: Services
    patient: Patient

    async def ledger(self) -> tuple[int, list[tuple[str, int]]]:
        """The patient's balance and payments (id, amount): what must not change unexpectedly."""
        platform = self.services.platform
        summary = await platform.get_account_summary(self.patient.id)
        payments = await platform.list_payments(self.patient.id)
        return summary.balance_cents, sorted((p.id, p.amount_cents) for p in payments)

    async def link(self, amount_cents: int = 2_500, key: str = "test-link-1") -> PaymentLink:
        statements = await self.services.platform.list_statements(self.patient.id)
        open_ = next(s for s in statements if s.balance_cents >= amount_cents)
        return await self.services.gateway.create_link(
            LinkRequest(
                patient_id=self.patient.id,
                statement_id=open_.id,
                plan_id=None,
                amount_cents=amount_cents,
                purpose="partial",
                description="partial payment",
                idempotency_key=key,
            )
        )


async def _seed(url: str) -> Patient:
    engine = create_engine(url)
    ledger = LedgerPlatform(engine)
    await ledger.bulk_load(generate_practice(patients=30, seed=3))
    patients = await ledger.list_patients(limit=100, offset=0)
    chosen = None
    for p in patients:
        if (await ledger.get_account_summary(p.id)).balance_cents >= 5_000 and p.portal_user_id:
            chosen = p
            break
    await engine.dispose()
    assert chosen is not None
    return chosen


async def _app(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    app = create_app(settings)
    async with (
        LifespanManager(app, startup_timeout=STARTUP_S, shutdown_timeout=STARTUP_S),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_BASE) as http,
    ):
        yield http, app.state.services


@pytest.fixture
async def pay(migrated_database_url: str) -> AsyncIterator[Pay]:
    patient = await _seed(migrated_database_url)
    settings = Settings(
        database_url=migrated_database_url,
        environment="test",
        public_base_url=PUBLIC_BASE,
        stripe_webhook_secret=SecretStr(WEBHOOK_SECRET),
    )
    async for http, services in _app(settings):
        yield Pay(http, services, patient)


CARD = {"card_number": "4242 4242 4242 4242", "expiry": "12/34", "cvc": "123"}


# --------------------------------------------------------------------------- sandbox checkout


async def test_checkout_page_shows_the_amount_with_security_headers(pay: Pay) -> None:
    link = await pay.link(2_500)
    page = await pay.http.get(f"/v1/pay/sandbox/{link.id}")
    assert page.status_code == 200
    assert "$25.00" in page.text
    assert "partial payment" in page.text
    assert "<form" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"


async def test_paying_twice_posts_one_payment_and_tells_the_patient_once(pay: Pay) -> None:
    thread = await pay.services.threads.create("portal", patient_id=pay.patient.id)
    balance, payments = await pay.ledger()
    link = await pay.link(2_500)
    first = await pay.http.post(f"/v1/pay/sandbox/{link.id}", data=CARD)
    assert first.status_code == 303
    assert first.headers["location"] == f"/v1/pay/sandbox/{link.id}"
    second = await pay.http.post(f"/v1/pay/sandbox/{link.id}", data=CARD)
    assert second.status_code == 303
    new_balance, new_payments = await pay.ledger()
    assert new_balance == balance - 2_500
    assert len(new_payments) == len(payments) + 1
    receipt = await pay.http.get(f"/v1/pay/sandbox/{link.id}")
    assert "Payment received" in receipt.text
    notices = await pay.services.events.of_types(thread.id, frozenset({"message"}))
    assert len(notices) == 1
    assert "$25.00" in notices[0].data["text"]
    assert notices[0].data["intent"] == "payment_received"


async def test_unknown_link_is_404_with_our_error_shape(pay: Pay) -> None:
    before = await pay.ledger()
    for response in (
        await pay.http.get("/v1/pay/sandbox/pl_00000000000000000000000000000000"),
        await pay.http.post("/v1/pay/sandbox/pl_00000000000000000000000000000000", data=CARD),
    ):
        assert response.status_code == 404
        assert response.json() == {"error": "link_not_found", "detail": response.json()["detail"]}
    assert await pay.ledger() == before


async def test_declined_card_and_bad_bodies_post_nothing(pay: Pay) -> None:
    link = await pay.link(2_500)
    before = await pay.ledger()
    declined = await pay.http.post(
        f"/v1/pay/sandbox/{link.id}", data={**CARD, "card_number": "4000000000000002"}
    )
    assert declined.status_code == 402
    assert declined.json()["error"] == "card_declined"
    real_card = await pay.http.post(
        f"/v1/pay/sandbox/{link.id}", data={**CARD, "card_number": "4111111111111112"}
    )
    assert real_card.status_code == 422
    assert real_card.json()["error"] == "not_a_test_card"
    as_json = await pay.http.post(f"/v1/pay/sandbox/{link.id}", json=CARD)
    assert as_json.status_code == 422
    assert set(as_json.json()) == {"error", "detail"}
    missing = await pay.http.post(f"/v1/pay/sandbox/{link.id}", data={"card_number": "4242424242424242"})
    assert missing.status_code == 422
    assert missing.json()["error"] == "invalid_request"
    assert await pay.ledger() == before
    assert (await pay.services.gateway.get_link(link.id)).status == "open"


# --------------------------------------------------------------------------- Stripe webhook


@pytest.fixture
def stub() -> Iterator[StripeStub]:
    try:
        fixtures = load_vendor_json("stripe", "fixtures3.json")
        spec = load_vendor_json("stripe", "openapi-checkout-slice.json")
    except VendorFileMissing as exc:
        pytest.skip(str(exc))
    with StripeStub(fixtures, spec).running() as running:
        yield running


@pytest.fixture
async def stripe_gateway(stub: StripeStub, pay: Pay) -> AsyncIterator[StripeGateway]:
    http = stripe.AIOHTTPClient()
    client = stripe.StripeClient(
        stub.api_key, base_addresses={"api": stub.url}, http_client=http, max_network_retries=0
    )
    yield StripeGateway(
        client,
        f"{PUBLIC_BASE}/v1/pay/done",
        f"{PUBLIC_BASE}/v1/pay/cancelled",
        timedelta(hours=2),
        engine=pay.services.engine,
    )
    await http.close_async()  # type: ignore[no-untyped-call]  # untyped in stripe


async def _stripe_link(pay: Pay, gateway: StripeGateway, amount: int = 3_000) -> PaymentLink:
    statements = await pay.services.platform.list_statements(pay.patient.id)
    open_ = next(s for s in statements if s.balance_cents >= amount)
    return await gateway.create_link(
        LinkRequest(
            patient_id=pay.patient.id,
            statement_id=open_.id,
            plan_id=None,
            amount_cents=amount,
            purpose="partial",
            description="partial payment",
            idempotency_key=f"stripe-test:{open_.id}:{amount}",
        )
    )


def _signed(
    event: dict[str, Any], *, secret: str = WEBHOOK_SECRET, at: int | None = None
) -> tuple[bytes, dict[str, str]]:
    payload = json.dumps(event).encode()
    header = sign_stripe_payload(payload, secret, int(time.time()) if at is None else at)
    return payload, {"Stripe-Signature": header, "Content-Type": "application/json"}


async def _post(pay: Pay, payload: bytes, headers: dict[str, str]) -> httpx.Response:
    return await pay.http.post("/v1/payments/stripe/webhook", content=payload, headers=headers)


async def test_webhook_replayed_ten_times_posts_one_payment(
    pay: Pay, stub: StripeStub, stripe_gateway: StripeGateway
) -> None:
    thread = await pay.services.threads.create("portal", patient_id=pay.patient.id)
    link = await _stripe_link(pay, stripe_gateway)
    balance, payments = await pay.ledger()
    event = stub.event_for("checkout.session.completed", stub.complete_session(link.id))
    payload, headers = _signed(event)
    outcomes = []
    for _ in range(10):
        response = await _post(pay, payload, headers)
        assert response.status_code == 200, response.text
        outcomes.append(response.json()["outcome"])
    assert outcomes == ["posted"] + ["duplicate"] * 9
    new_balance, new_payments = await pay.ledger()
    assert new_balance == balance - 3_000
    assert len(new_payments) == len(payments) + 1
    posted_id = (await _post(pay, payload, headers)).json()
    assert posted_id["outcome"] == "duplicate"
    assert [amount for _, amount in set(new_payments) - set(payments)] == [3_000]
    assert len(await pay.services.events.of_types(thread.id, frozenset({"message"}))) == 1


async def test_events_in_any_order_post_once(
    pay: Pay, stub: StripeStub, stripe_gateway: StripeGateway
) -> None:
    link = await _stripe_link(pay, stripe_gateway)
    balance, payments = await pay.ledger()
    unpaid = stub.complete_session(link.id, payment_status="unpaid")
    completed = stub.event_for("checkout.session.completed", unpaid)
    succeeded = stub.event_for("checkout.session.async_payment_succeeded", stub.settle_async_payment(link.id))
    # The success arrives first, then the (older) completion, then a redelivery of the success.
    results = [await _post(pay, *_signed(e)) for e in (succeeded, completed, succeeded)]
    assert [r.json()["outcome"] for r in results] == ["posted", "ignored", "duplicate"]
    new_balance, new_payments = await pay.ledger()
    assert new_balance == balance - 3_000
    assert len(new_payments) == len(payments) + 1


async def test_forged_tampered_or_old_webhooks_are_400_and_write_nothing(
    pay: Pay, stub: StripeStub, stripe_gateway: StripeGateway
) -> None:
    link = await _stripe_link(pay, stripe_gateway)
    before = await pay.ledger()
    event = stub.event_for("checkout.session.completed", stub.complete_session(link.id))
    forged = _signed(event, secret="whsec_not_ours")
    payload, headers = _signed(event)
    tampered = payload.replace(b'"amount_total": 3000', b'"amount_total": 30')
    assert tampered != payload
    old = _signed(event, at=int(time.time()) - 3_600)
    for body, hdrs in (forged, (tampered, headers), old, (payload, {"Content-Type": "application/json"})):
        response = await _post(pay, body, hdrs)
        assert response.status_code == 400
        assert response.json()["error"] == "webhook_signature_invalid"
    assert await pay.ledger() == before
    assert await WebhookEventLog(pay.services.engine).count("stripe") == 0


async def test_malformed_or_wrong_type_bodies_are_4xx_with_our_error_shape(pay: Pay) -> None:
    before = await pay.ledger()
    payload = b"{not json"
    response = await _post(
        pay,
        payload,
        _signed({})[1] | {"Stripe-Signature": sign_stripe_payload(payload, WEBHOOK_SECRET, int(time.time()))},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "webhook_payload_invalid"
    form = await pay.http.post("/v1/payments/stripe/webhook", data={"id": "evt_1"})
    assert form.status_code == 415
    assert set(form.json()) == {"error", "detail"}
    assert await pay.ledger() == before


async def test_no_webhook_secret_disables_the_endpoint(migrated_database_url: str) -> None:
    await _seed(migrated_database_url)
    settings = Settings(database_url=migrated_database_url, environment="test", public_base_url=PUBLIC_BASE)
    async for http, _services in _app(settings):
        payload = json.dumps({"id": "evt_1", "type": "checkout.session.completed"}).encode()
        response = await http.post(
            "/v1/payments/stripe/webhook",
            content=payload,
            headers={
                "Content-Type": "application/json",
                "Stripe-Signature": sign_stripe_payload(payload, "", int(time.time())),
            },
        )
        assert response.status_code == 503
        assert response.json()["error"] == "webhook_not_configured"
