"""Stripe webhook verification and mapping, on events built from Stripe's fixture objects and signed
exactly as Stripe signs them."""

from __future__ import annotations

import copy
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import stripe

from tests.support.stripe_stub import StripeStub, sign_stripe_payload
from tests.support.vendor import VendorFileMissing, load_vendor_json
from tools.errors import ConfigurationError
from tools.payments.webhooks import (
    VerifiedEvent,
    WebhookNotConfigured,
    WebhookPayloadInvalid,
    WebhookSignatureInvalid,
    payment_event_from_stripe,
    verify_stripe_event,
)

SECRET = "whsec_test_5f1c2b8a9e"
METADATA = {"patient_id": "pat-1", "statement_id": "st-1", "purpose": "balance", "link_key": "k-1"}


@pytest.fixture
def stub() -> StripeStub:
    """Not started: only its fixture-based builders are used here."""
    try:
        return StripeStub(
            load_vendor_json("stripe", "fixtures3.json"),
            load_vendor_json("stripe", "openapi-checkout-slice.json"),
        )
    except VendorFileMissing as exc:
        pytest.skip(str(exc))


def _session(stub: StripeStub, **changes: Any) -> dict[str, Any]:
    session: dict[str, Any] = copy.deepcopy(stub.fixtures["resources"]["checkout.session"])
    session.update(
        status="complete",
        payment_status="paid",
        amount_total=12_345,
        amount_subtotal=12_345,
        currency="usd",
        metadata=dict(METADATA),
        payment_intent="pi_3PgafyB7WZ01zgkW0abc",
    )
    session.update(changes)
    return session


def _signed(event: dict[str, Any], *, secret: str = SECRET, at: int | None = None) -> tuple[bytes, str]:
    payload = json.dumps(event, indent=2).encode()
    return payload, sign_stripe_payload(payload, secret, int(time.time()) if at is None else at)


def test_our_signer_is_stripes() -> None:
    """The test signer computes exactly the header stripe-python documents for tests."""
    payload = b'{"id": "evt_1", "object": "event"}'
    expected = stripe.WebhookSignature.generate_signature_header(
        payload.decode(), SECRET, timestamp=1_700_000_000
    )
    assert sign_stripe_payload(payload, SECRET, 1_700_000_000) == expected


def test_signed_event_verifies(stub: StripeStub) -> None:
    event = stub.event_for("checkout.session.completed", _session(stub), created=1_721_948_530)
    payload, header = _signed(event)
    verified = verify_stripe_event(payload, header, SECRET)
    assert verified == VerifiedEvent(
        id=event["id"],
        type="checkout.session.completed",
        created=datetime.fromtimestamp(1_721_948_530, UTC),
        livemode=False,
        data_object=event["data"]["object"],
    )


def test_event_becomes_payment_event_with_amount_and_metadata(stub: StripeStub) -> None:
    session = _session(stub)
    event = stub.event_for("checkout.session.completed", session, created=1_721_948_530)
    payload, header = _signed(event)
    payment = payment_event_from_stripe(verify_stripe_event(payload, header, SECRET))
    assert payment is not None
    assert payment.event_id == event["id"]
    assert payment.link_id == session["id"]
    assert (payment.patient_id, payment.statement_id) == ("pat-1", "st-1")
    assert payment.amount_cents == 12_345
    assert payment.external_id == "pi_3PgafyB7WZ01zgkW0abc"
    assert payment.occurred_at == datetime.fromtimestamp(1_721_948_530, UTC)


def test_tampered_payload_is_refused(stub: StripeStub) -> None:
    payload, header = _signed(stub.event_for("checkout.session.completed", _session(stub)))
    tampered = payload.replace(b"12345", b"1")
    assert tampered != payload
    with pytest.raises(WebhookSignatureInvalid) as err:
        verify_stripe_event(tampered, header, SECRET)
    assert err.value.status_code == 400


def test_wrong_secret_is_refused(stub: StripeStub) -> None:
    payload, header = _signed(
        stub.event_for("checkout.session.completed", _session(stub)), secret="whsec_other"
    )
    with pytest.raises(WebhookSignatureInvalid):
        verify_stripe_event(payload, header, SECRET)


def test_old_signature_is_refused_and_recent_one_accepted(stub: StripeStub) -> None:
    event = stub.event_for("checkout.session.completed", _session(stub))
    now = int(time.time())
    old_payload, old_header = _signed(event, at=now - 301)
    with pytest.raises(WebhookSignatureInvalid, match="tolerance"):
        verify_stripe_event(old_payload, old_header, SECRET, tolerance_s=300)
    payload, header = _signed(event, at=now - 200)
    assert verify_stripe_event(payload, header, SECRET, tolerance_s=300).id == event["id"]


@pytest.mark.parametrize(
    "header",
    [None, "", "garbage", "t=notanumber,v1=abc", "t=1700000000", "t=1700000000,v0=deadbeef"],
)
def test_missing_or_malformed_signature_is_refused(stub: StripeStub, header: str | None) -> None:
    payload, _ = _signed(stub.event_for("checkout.session.completed", _session(stub)))
    with pytest.raises(WebhookSignatureInvalid):
        verify_stripe_event(payload, header, SECRET)


@pytest.mark.parametrize("secret", ["", "   "])
def test_empty_secret_refuses_everything(stub: StripeStub, secret: str) -> None:
    """Even a body correctly signed with the empty key: no secret means verification is off."""
    payload, header = _signed(stub.event_for("checkout.session.completed", _session(stub)), secret=secret)
    with pytest.raises(WebhookNotConfigured) as err:
        verify_stripe_event(payload, header, secret)
    assert isinstance(err.value, WebhookSignatureInvalid)
    assert err.value.status_code == 503


def test_zero_tolerance_is_a_configuration_error(stub: StripeStub) -> None:
    """stripe-python treats tolerance 0 as "never too old"; we refuse to be configured that way."""
    payload, header = _signed(stub.event_for("checkout.session.completed", _session(stub)))
    with pytest.raises(ConfigurationError):
        verify_stripe_event(payload, header, SECRET, tolerance_s=0)


def test_signed_body_that_is_not_an_event_is_invalid() -> None:
    for body in (b"not json", b'{"id": "evt_1"}', b"[1, 2]"):
        header = sign_stripe_payload(body, SECRET, int(time.time()))
        with pytest.raises(WebhookPayloadInvalid):
            verify_stripe_event(body, header, SECRET)


def test_non_utf8_body_is_refused() -> None:
    body = b"\xff\xfe{}"
    header = f"t={int(time.time())},v1=00"
    with pytest.raises(WebhookSignatureInvalid):
        verify_stripe_event(body, header, SECRET)


def _event(stub: StripeStub, event_type: str, session: dict[str, Any]) -> VerifiedEvent:
    payload, header = _signed(stub.event_for(event_type, session))
    return verify_stripe_event(payload, header, SECRET)


def test_completed_but_unpaid_then_async_success(stub: StripeStub) -> None:
    pending = _session(stub, payment_status="unpaid")
    assert payment_event_from_stripe(_event(stub, "checkout.session.completed", pending)) is None
    settled = _session(stub, id=pending["id"])
    payment = payment_event_from_stripe(_event(stub, "checkout.session.async_payment_succeeded", settled))
    assert payment is not None
    assert payment.link_id == pending["id"]
    assert payment.amount_cents == 12_345


def test_other_event_types_give_none(stub: StripeStub) -> None:
    fixture_event = copy.deepcopy(stub.fixtures["resources"]["event"])  # a plan.created event
    payload, header = _signed(fixture_event)
    assert payment_event_from_stripe(verify_stripe_event(payload, header, SECRET)) is None
    for event_type in ("checkout.session.expired", "checkout.session.async_payment_failed"):
        assert payment_event_from_stripe(_event(stub, event_type, _session(stub))) is None


def test_session_not_created_by_us_gives_none(stub: StripeStub) -> None:
    foreign = _session(stub, metadata={})
    assert payment_event_from_stripe(_event(stub, "checkout.session.completed", foreign)) is None


def test_plan_payment_without_statement(stub: StripeStub) -> None:
    metadata = {"patient_id": "pat-2", "plan_id": "pl-1", "purpose": "plan_installment", "link_key": "k"}
    payment = payment_event_from_stripe(
        _event(stub, "checkout.session.completed", _session(stub, metadata=metadata, payment_intent=None))
    )
    assert payment is not None
    assert payment.statement_id is None
    assert payment.patient_id == "pat-2"
    assert payment.external_id == payment.link_id  # no PaymentIntent: the session id stands in


@pytest.mark.parametrize(
    "changes",
    [{"currency": "eur"}, {"amount_total": None}, {"amount_total": 0}, {"object": "payment_intent"}],
)
def test_impossible_payment_of_ours_is_invalid(stub: StripeStub, changes: dict[str, Any]) -> None:
    with pytest.raises(WebhookPayloadInvalid):
        payment_event_from_stripe(_event(stub, "checkout.session.completed", _session(stub, **changes)))
