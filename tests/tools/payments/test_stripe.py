"""``StripeGateway`` through the real ``stripe`` SDK against a local server speaking Stripe's API.

The stub validates every request body against the request schema of ``POST /v1/checkout/sessions``
from Stripe's OpenAPI spec and answers with Stripe's fixture objects (see tests/support/stripe_stub.py).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import stripe
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.stripe_stub import CHECKOUT_PATH, StripeStub, sign_stripe_payload
from tests.support.vendor import VendorFileMissing, load_vendor_json
from tools.db import Base, create_engine
from tools.errors import ConfigurationError, IdempotencyConflict, InvalidAmount, LinkNotFound
from tools.payments.base import LinkRequest, PaymentGateway
from tools.payments.stripe import StripeCheckoutRow, StripeGateway, stripe_idempotency_key
from tools.payments.webhooks import payment_event_from_stripe, verify_stripe_event

SUCCESS_URL = "https://billing.example/pay/done?session={CHECKOUT_SESSION_ID}"
CANCEL_URL = "https://billing.example/pay/cancelled"


def _vendor() -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        return (
            load_vendor_json("stripe", "fixtures3.json"),
            load_vendor_json("stripe", "openapi-checkout-slice.json"),
        )
    except VendorFileMissing as exc:
        pytest.skip(str(exc))


@pytest.fixture
def stub() -> Iterator[StripeStub]:
    fixtures, spec = _vendor()
    with StripeStub(fixtures, spec).running() as running:
        yield running


@pytest.fixture
async def client(stub: StripeStub) -> AsyncIterator[stripe.StripeClient]:
    http = stripe.AIOHTTPClient()
    yield stripe.StripeClient(
        stub.api_key, base_addresses={"api": stub.url}, http_client=http, max_network_retries=0
    )
    await http.close_async()  # type: ignore[no-untyped-call]  # untyped in stripe


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(database_url)
    async with eng.begin() as conn:
        await conn.run_sync(
            lambda sync: Base.metadata.create_all(
                sync, tables=[Base.metadata.tables[StripeCheckoutRow.__tablename__]]
            )
        )
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
def gateway(client: stripe.StripeClient, engine: AsyncEngine) -> StripeGateway:
    return StripeGateway(client, SUCCESS_URL, CANCEL_URL, timedelta(hours=2), engine=engine)


def _request(key: str = "statement:st-1:balance:turn-7", **changes: Any) -> LinkRequest:
    fields: dict[str, Any] = {
        "patient_id": "pat-1",
        "statement_id": "st-1",
        "plan_id": None,
        "amount_cents": 12_345,
        "purpose": "balance",
        "description": "Statement S-1001",
        "idempotency_key": key,
    }
    fields.update(changes)
    return LinkRequest(**fields)


def test_gateway_satisfies_the_port(gateway: StripeGateway) -> None:
    assert isinstance(gateway, PaymentGateway)


async def test_create_link_sends_a_schema_valid_checkout_session(
    gateway: StripeGateway, stub: StripeStub
) -> None:
    before = datetime.now(UTC)
    link = await gateway.create_link(_request())

    [post] = stub.posts_to(CHECKOUT_PATH)
    assert post.status == 200
    # What we sent passes Stripe's own request schema (the stub validated it; re-check explicitly).
    sent = stub.validate(CHECKOUT_PATH, "post", post.params)
    assert sent["mode"] == "payment"
    assert sent["line_items"] == [
        {
            "price_data": {
                "currency": "usd",
                "unit_amount": 12_345,
                "product_data": {"name": "Statement S-1001"},
            },
            "quantity": 1,
        }
    ]
    expected_metadata = {
        "patient_id": "pat-1",
        "statement_id": "st-1",
        "purpose": "balance",
        "link_key": "statement:st-1:balance:turn-7",
    }
    assert sent["metadata"] == expected_metadata
    assert sent["payment_intent_data"] == {"metadata": expected_metadata}
    assert sent["client_reference_id"] == "pat-1"
    assert sent["success_url"] == SUCCESS_URL
    assert sent["cancel_url"] == CANCEL_URL
    assert post.idempotency_key == stripe_idempotency_key("statement:st-1:balance:turn-7")
    assert "st-1" not in (post.idempotency_key or "")

    session = stub.sessions[link.id]
    assert link.id.startswith("cs_test_")
    assert link.url == session["url"]
    assert link.status == "open"
    assert link.amount_cents == session["amount_total"] == 12_345
    assert (link.patient_id, link.statement_id, link.plan_id) == ("pat-1", "st-1", None)
    assert int(link.expires_at.timestamp()) == sent["expires_at"] == session["expires_at"]
    assert (
        timedelta(hours=2) - timedelta(seconds=5) <= link.expires_at - before <= timedelta(hours=2, seconds=5)
    )


async def test_plan_link_carries_plan_id_and_purpose(gateway: StripeGateway, stub: StripeStub) -> None:
    link = await gateway.create_link(
        _request("plan:pl-9:down", statement_id=None, plan_id="pl-9", purpose="plan_down_payment")
    )
    metadata = stub.sessions[link.id]["metadata"]
    assert metadata == {
        "patient_id": "pat-1",
        "plan_id": "pl-9",
        "purpose": "plan_down_payment",
        "link_key": "plan:pl-9:down",
    }
    assert (link.plan_id, link.statement_id, link.purpose) == ("pl-9", None, "plan_down_payment")


async def test_same_key_returns_the_same_session_and_one_object(
    gateway: StripeGateway, stub: StripeStub
) -> None:
    first = await gateway.create_link(_request())
    again = await gateway.create_link(_request(description="reworded, same terms"))
    assert again.id == first.id
    assert again.url == first.url
    assert len(stub.sessions) == 1
    assert len(stub.posts_to(CHECKOUT_PATH)) == 1


async def test_crash_after_stripe_answered_retries_into_the_same_session(
    client: stripe.StripeClient, engine: AsyncEngine, stub: StripeStub
) -> None:
    """Stripe made the session but the process died before recording it: the row is still pending.
    A new process retries with the stored parameters and the same key and gets the same session."""
    first = StripeGateway(client, SUCCESS_URL, CANCEL_URL, timedelta(hours=2), engine=engine)
    req = _request()
    row = await first._claim(req)
    # The first process's call reaches Stripe, then the process crashes before the update.
    created = await client.v1.checkout.sessions.create_async(
        params=first._session_params(row),
        options={"idempotency_key": stripe_idempotency_key(req.idempotency_key)},
    )

    restarted = StripeGateway(client, SUCCESS_URL, CANCEL_URL, timedelta(hours=2), engine=engine)
    await asyncio.sleep(1.1)  # a later second: a naively recomputed expires_at would differ
    link = await restarted.create_link(req)

    assert link.id == created.id
    assert len(stub.sessions) == 1
    posts = stub.posts_to(CHECKOUT_PATH)
    assert [p.status for p in posts] == [200, 200]
    assert posts[0].params == posts[1].params


async def test_stale_pending_row_is_retried_as_a_new_attempt(
    client: stripe.StripeClient, engine: AsyncEngine, stub: StripeStub
) -> None:
    """A pending row whose expiry can no longer be sent (Stripe needs ≥ 30 min ahead) gets a new
    attempt with a fresh expiry and a new Stripe idempotency key."""
    clock_now = [datetime(2026, 3, 1, 12, 0, tzinfo=UTC)]
    gateway = StripeGateway(
        client, SUCCESS_URL, CANCEL_URL, timedelta(hours=1), engine=engine, clock=lambda: clock_now[0]
    )
    await gateway._claim(_request())
    real_now = datetime.now(UTC).replace(microsecond=0)
    clock_now[0] = real_now
    link = await gateway.create_link(_request())
    [post] = stub.posts_to(CHECKOUT_PATH)
    assert post.idempotency_key == stripe_idempotency_key(_request().idempotency_key, attempt=2)
    assert link.expires_at == real_now + timedelta(hours=1)


async def test_same_key_with_other_terms_is_a_conflict(gateway: StripeGateway, stub: StripeStub) -> None:
    await gateway.create_link(_request())
    with pytest.raises(IdempotencyConflict):
        await gateway.create_link(_request(amount_cents=99))
    assert len(stub.sessions) == 1


async def test_stripe_refuses_a_reused_key_with_other_parameters(
    client: stripe.StripeClient, gateway: StripeGateway, stub: StripeStub
) -> None:
    """The stub honours Stripe's rule; the SDK raises its IdempotencyError, which the gateway maps."""
    link = await gateway.create_link(_request())
    params = gateway._session_params(await gateway._claim(_request()))
    params["client_reference_id"] = "someone-else"
    with pytest.raises(stripe.IdempotencyError):
        await client.v1.checkout.sessions.create_async(
            params=params,
            options={"idempotency_key": stripe_idempotency_key(_request().idempotency_key)},
        )
    assert list(stub.sessions) == [link.id]


async def test_non_positive_amount_is_refused_before_stripe(gateway: StripeGateway, stub: StripeStub) -> None:
    for amount in (0, -500):
        with pytest.raises(InvalidAmount):
            await gateway.create_link(_request(f"k{amount}", amount_cents=amount))
    assert stub.requests == []


async def test_stub_rejects_a_typo_in_our_parameters(client: stripe.StripeClient, stub: StripeStub) -> None:
    """The schema check is real: an unknown or mistyped parameter is a Stripe-style 400."""
    # Typed as Any on purpose: the SDK's TypedDicts would refuse these typos before they are sent.
    top_typo: Any = {"mode": "payment", "success_url": SUCCESS_URL, "expires_after": 3600}
    with pytest.raises(stripe.InvalidRequestError) as top:
        await client.v1.checkout.sessions.create_async(params=top_typo)
    assert top.value.http_status == 400
    assert top.value.param == "expires_after"
    nested_typo: Any = {
        "mode": "payment",
        "success_url": SUCCESS_URL,
        "line_items": [{"price_data": {"currency": "usd", "unit_ammount": 100}, "quantity": 1}],
    }
    with pytest.raises(stripe.InvalidRequestError) as nested:
        await client.v1.checkout.sessions.create_async(params=nested_typo)
    assert nested.value.param == "line_items[0][price_data][unit_ammount]"
    assert "unit_ammount" in (nested.value.user_message or "")
    assert stub.sessions == {}


async def test_get_link_follows_the_session_to_paid(gateway: StripeGateway, stub: StripeStub) -> None:
    link = await gateway.create_link(_request())
    assert (await gateway.get_link(link.id)).status == "open"
    stub.complete_session(link.id)
    paid = await gateway.get_link(link.id)
    assert paid.status == "paid"
    assert paid.url == link.url  # kept although Stripe clears it on completion
    gets = len([r for r in stub.requests if r.method == "GET"])
    assert (await gateway.get_link(link.id)).status == "paid"
    assert len([r for r in stub.requests if r.method == "GET"]) == gets  # final status is cached


async def test_delayed_payment_stays_open_until_it_settles(gateway: StripeGateway, stub: StripeStub) -> None:
    link = await gateway.create_link(_request())
    stub.complete_session(link.id, payment_status="unpaid")
    assert (await gateway.get_link(link.id)).status == "open"
    stub.settle_async_payment(link.id)
    assert (await gateway.get_link(link.id)).status == "paid"


async def test_expire_link(gateway: StripeGateway, stub: StripeStub) -> None:
    link = await gateway.create_link(_request())
    expired = await gateway.expire_link(link.id)
    assert expired.status == "expired"
    assert stub.sessions[link.id]["status"] == "expired"
    assert (await gateway.get_link(link.id)).status == "expired"
    assert (await gateway.expire_link(link.id)).status == "expired"  # idempotent


async def test_expire_a_paid_link_reports_paid(gateway: StripeGateway, stub: StripeStub) -> None:
    link = await gateway.create_link(_request())
    stub.complete_session(link.id)
    assert (await gateway.expire_link(link.id)).status == "paid"


async def test_link_past_its_expiry_reads_expired(
    client: stripe.StripeClient, engine: AsyncEngine, stub: StripeStub
) -> None:
    now = [datetime.now(UTC)]
    gateway = StripeGateway(
        client, SUCCESS_URL, CANCEL_URL, timedelta(minutes=31), engine=engine, clock=lambda: now[0]
    )
    link = await gateway.create_link(_request())
    now[0] += timedelta(minutes=31)
    assert (await gateway.get_link(link.id)).status == "expired"


async def test_unknown_link_is_not_found(gateway: StripeGateway) -> None:
    with pytest.raises(LinkNotFound):
        await gateway.get_link("cs_test_not_ours")


async def test_list_links_is_per_patient_newest_first(
    client: stripe.StripeClient, engine: AsyncEngine, stub: StripeStub
) -> None:
    now = [datetime.now(UTC)]
    gateway = StripeGateway(
        client, SUCCESS_URL, CANCEL_URL, timedelta(hours=2), engine=engine, clock=lambda: now[0]
    )
    older = await gateway.create_link(_request("a"))
    now[0] += timedelta(seconds=10)
    newer = await gateway.create_link(_request("b", amount_cents=500, purpose="partial"))
    other = await gateway.create_link(_request("c", patient_id="pat-2"))
    stub.complete_session(older.id)

    mine = await gateway.list_links("pat-1")
    assert [(link.id, link.status) for link in mine] == [(newer.id, "open"), (older.id, "paid")]
    assert [link.id for link in await gateway.list_links("pat-2")] == [other.id]
    assert await gateway.list_links("pat-3") == []


async def test_unreachable_stripe_is_platform_unavailable(engine: AsyncEngine) -> None:
    from tools.errors import PlatformUnavailable

    http = stripe.AIOHTTPClient()
    client = stripe.StripeClient(
        "sk_test_x", base_addresses={"api": "http://127.0.0.1:9"}, http_client=http, max_network_retries=0
    )
    gateway = StripeGateway(client, SUCCESS_URL, CANCEL_URL, timedelta(hours=2), engine=engine)
    try:
        with pytest.raises(PlatformUnavailable):
            await gateway.create_link(_request())
    finally:
        await http.close_async()  # type: ignore[no-untyped-call]  # untyped in stripe


async def test_wrong_api_key_is_a_configuration_error(engine: AsyncEngine, stub: StripeStub) -> None:
    http = stripe.AIOHTTPClient()
    client = stripe.StripeClient(
        "sk_test_wrong", base_addresses={"api": stub.url}, http_client=http, max_network_retries=0
    )
    gateway = StripeGateway(client, SUCCESS_URL, CANCEL_URL, timedelta(hours=2), engine=engine)
    try:
        with pytest.raises(ConfigurationError):
            await gateway.create_link(_request())
    finally:
        await http.close_async()  # type: ignore[no-untyped-call]  # untyped in stripe


@pytest.mark.parametrize("expires_after", [timedelta(minutes=30), timedelta(hours=24)])
def test_expiry_outside_stripes_window_is_refused(
    client: stripe.StripeClient, engine: AsyncEngine, expires_after: timedelta
) -> None:
    with pytest.raises(ConfigurationError):
        StripeGateway(client, SUCCESS_URL, CANCEL_URL, expires_after, engine=engine)


async def test_paid_link_webhook_round_trip(gateway: StripeGateway, stub: StripeStub) -> None:
    """A link made through the SDK, paid at (stub) Checkout, reported by a signed webhook, becomes the
    PaymentEvent for that link with its amount and ids."""
    link = await gateway.create_link(_request())
    session = stub.complete_session(link.id)
    event = stub.event_for("checkout.session.completed", session)
    payload = json.dumps(event).encode()
    header = sign_stripe_payload(payload, "whsec_round_trip", int(time.time()))

    payment = payment_event_from_stripe(verify_stripe_event(payload, header, "whsec_round_trip"))

    assert payment is not None
    assert payment.link_id == link.id
    assert payment.event_id == event["id"]
    assert (payment.patient_id, payment.statement_id, payment.amount_cents) == ("pat-1", "st-1", 12_345)
    assert payment.external_id == session["payment_intent"]
    assert (await gateway.get_link(link.id)).status == "paid"
