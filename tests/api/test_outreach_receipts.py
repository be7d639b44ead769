"""Delivery receipts of outreach texts: an outreach send asks Twilio for status callbacks, and the signed
callback (``POST /v1/sms/status``) records delivered/undelivered on the step sent with that sid; the
console's counters read them. Twilio's REST API is a local server speaking its Messages call (the real
``twilio`` client talks to it); signatures come from the real ``twilio`` ``RequestValidator``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from twilio.request_validator import RequestValidator

from api.deps import Services
from guardrails.audit import JsonValue
from tests.api.test_outreach_http import ACCOUNT_SID, outreach_service
from tests.api.test_sms_webhook import AUTH_TOKEN, PUBLIC_BASE
from tests.support.outreach import statement
from tests.support.twilio_recorder import Recorder, run_recorder
from tools.outreach.store import StoredStep
from tools.platforms.models import PaymentMethod, PaymentRequest, PaymentSource

STATUS_URL = f"{PUBLIC_BASE}/v1/sms/status"


def signed(form: dict[str, str], url: str = STATUS_URL, token: str = AUTH_TOKEN) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, form)}


def receipt(sid: str, status: str, error: str | None = None) -> dict[str, str]:
    """The fields of a Twilio status callback."""
    form = {
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "AccountSid": ACCOUNT_SID,
        "From": "+15555550100",
        "To": "+15555552000",
        "ApiVersion": "2010-04-01",
    }
    if error is not None:
        form["ErrorCode"] = error
    return form


@pytest.fixture(scope="module")
def twilio() -> Iterator[Recorder]:
    with run_recorder() as rec:
        yield rec


@dataclass
class Console:
    http: httpx.AsyncClient
    services: Services
    csrf: str

    async def post(self, path: str, json: object | None = None) -> httpx.Response:
        return await self.http.post(path, json=json, headers={"X-CSRF-Token": self.csrf})

    async def counters(self) -> dict[str, object]:
        response = await self.http.get("/v1/console/outreach/counters")
        assert response.status_code == 200, response.text
        data: dict[str, object] = response.json()
        return data

    async def step(self, step_id: int) -> StoredStep:
        return next(s for s in await self.services.outreach.store.steps() if s.id == step_id)

    async def audit_events(self, event: str) -> list[dict[str, JsonValue]]:
        return [r.payload for r in await self.services.audit.records(limit=10_000) if r.event == event]


@pytest.fixture
async def console(migrated_database_url: str, twilio: Recorder, tmp_path: Path) -> AsyncIterator[Console]:
    async with outreach_service(migrated_database_url, tmp_path, twilio.url) as (http, services, _, csrf):
        yield Console(http, services, csrf)


async def _send_one_text(c: Console, twilio: Recorder) -> StoredStep:
    """A statement posts, a manager approves the templates, one outreach text reaches "Twilio"."""
    ledger = c.services.ledger
    assert ledger is not None
    await ledger.post_statement(statement("omar", "st-omar-2", 64000, day=datetime.now(UTC).date()))
    for t in (await c.http.get("/v1/console/outreach/templates")).json():
        path = f"/v1/console/outreach/templates/{t['key']}/{t['language']}/{t['version']}/approve"
        assert (await c.post(path)).status_code == 200
    run = (await c.post("/v1/console/outreach/run")).json()
    assert run["sent"] == 1, run
    (sent,) = await c.services.outreach.store.steps(status="sent")
    assert sent.external_id is not None
    (message,) = [m for m in twilio.messages if m["sid"] == sent.external_id]
    # The send asked Twilio for delivery receipts at the URL the callback route validates.
    assert message["StatusCallback"] == STATUS_URL
    return sent


async def test_a_signed_delivered_receipt_marks_the_step_and_shows_in_the_counters(
    console: Console, twilio: Recorder
) -> None:
    sent = await _send_one_text(console, twilio)
    before = await console.counters()
    assert (before["sent"], before["delivered"]) == (1, 0)

    for status in ("sent", "delivered"):
        form = receipt(sent.external_id or "", status)
        response = await console.http.post("/v1/sms/status", data=form, headers=signed(form))
        assert response.status_code == 204, response.text
    step = await console.step(sent.id)
    assert step.delivery_status == "delivered"
    assert step.delivered_at is not None

    counters = await console.counters()
    assert (counters["sent"], counters["delivered"], counters["undelivered"]) == (1, 1, 0)
    by_segment = counters["by_segment"]
    assert isinstance(by_segment, dict)
    assert by_segment[sent.segment or ""]["delivered"] == 1
    by_channel = counters["by_channel"]
    assert isinstance(by_channel, dict)
    assert by_channel["sms"]["delivered"] == 1
    # The console lists the patient, and the timeline shows the receipt to staff.
    listed = (await console.http.get("/v1/console/outreach/patients")).json()
    assert [(p["patient_id"], p["patient_name"], p["paused"]) for p in listed] == [
        ("omar", "Omar Smithson", False)
    ]
    timeline = (await console.http.get("/v1/console/outreach/patients/omar/timeline")).json()
    assert [s["delivery_status"] for s in timeline["steps"] if s["status"] == "sent"] == ["delivered"]

    # A late "sent" (callbacks arrive out of order) and a repeat change nothing.
    for status in ("sent", "delivered"):
        form = receipt(sent.external_id or "", status)
        assert (await console.http.post("/v1/sms/status", data=form, headers=signed(form))).status_code == 204
    again = await console.step(sent.id)
    assert (again.delivery_status, again.delivered_at) == ("delivered", step.delivered_at)
    assert (await console.counters())["delivered"] == 1


async def test_a_forged_or_unsigned_receipt_is_refused_and_writes_nothing(
    console: Console, twilio: Recorder
) -> None:
    sent = await _send_one_text(console, twilio)
    form = receipt(sent.external_id or "", "delivered")
    forged = signed(form, token="0" * 32)
    assert (await console.http.post("/v1/sms/status", data=form, headers=forged)).status_code == 403
    assert (await console.http.post("/v1/sms/status", data=form)).status_code == 403
    # Signed for another URL (the inbound webhook's) is not a signature of this one.
    other = signed(form, url=f"{PUBLIC_BASE}/v1/sms/inbound")
    assert (await console.http.post("/v1/sms/status", data=form, headers=other)).status_code == 403
    # Signed, then tampered with.
    tampered = {**form, "MessageStatus": "undelivered", "ErrorCode": "30006"}
    assert (await console.http.post("/v1/sms/status", data=tampered, headers=signed(form))).status_code == 403
    assert (await console.step(sent.id)).delivery_status is None
    assert (await console.counters())["delivered"] == 0


async def test_a_receipt_for_an_unknown_sid_is_acknowledged_and_writes_nothing(
    console: Console, twilio: Recorder
) -> None:
    sent = await _send_one_text(console, twilio)
    audit_before = len(await console.services.audit.records(limit=10_000))
    form = receipt("SM" + "f" * 32, "undelivered", "30006")
    response = await console.http.post("/v1/sms/status", data=form, headers=signed(form))
    assert response.status_code == 204
    assert (await console.step(sent.id)).delivery_status is None
    assert len(await console.services.audit.records(limit=10_000)) == audit_before
    counters = await console.counters()
    assert (counters["delivered"], counters["undelivered"]) == (0, 0)
    # Not a status callback at all, though signed: a 400, nothing written.
    bad = {"MessageSid": sent.external_id or "", "MessageStatus": "exploded"}
    assert (await console.http.post("/v1/sms/status", data=bad, headers=signed(bad))).status_code == 400
    assert (await console.step(sent.id)).delivery_status is None


async def test_a_permanent_failure_is_counted_and_audited_once(console: Console, twilio: Recorder) -> None:
    sent = await _send_one_text(console, twilio)
    form = receipt(sent.external_id or "", "undelivered", "30006")  # a landline
    for _ in range(2):  # Twilio may post it again: recorded and audited once
        assert (await console.http.post("/v1/sms/status", data=form, headers=signed(form))).status_code == 204
    step = await console.step(sent.id)
    assert (step.delivery_status, step.delivery_error) == ("undelivered", "30006")
    counters = await console.counters()
    assert (counters["delivered"], counters["undelivered"], counters["undelivered_permanent"]) == (0, 1, 1)
    assert await console.audit_events("outreach.undelivered") == [
        {"key": sent.key, "status": "undelivered", "code": "30006", "permanent": True}
    ]
    # A later "delivered" cannot overwrite a final status.
    late = receipt(sent.external_id or "", "delivered")
    assert (await console.http.post("/v1/sms/status", data=late, headers=signed(late))).status_code == 204
    assert (await console.step(sent.id)).delivery_status == "undelivered"


async def _pending(console: Console) -> list[tuple[str, str]]:
    timeline = (await console.http.get("/v1/console/outreach/patients/omar/timeline")).json()
    return [(s["channel"], s["status"]) for s in timeline["steps"] if s["status"] in ("scheduled", "open")]


async def test_a_number_that_cannot_take_texts_moves_the_next_step_to_a_staff_call_at_once(
    console: Console, twilio: Recorder
) -> None:
    sent = await _send_one_text(console, twilio)
    assert await _pending(console) == [("sms", "scheduled")]  # the follow-up text
    form = receipt(sent.external_id or "", "undelivered", "21614")  # not a mobile number
    assert (await console.http.post("/v1/sms/status", data=form, headers=signed(form))).status_code == 204
    # The service texts only here, so a person calls instead (the console's call queue shows it now).
    assert await _pending(console) == [("call", "open")]
    assert await console.services.outreach.store.steps(status="open")
    # The next pass does not put the text back, nor send anything.
    texts = len(twilio.messages)
    await console.post("/v1/console/outreach/run")
    assert await _pending(console) == [("call", "open")]
    assert len(twilio.messages) == texts


async def test_a_temporary_failure_is_undelivered_but_not_permanent(
    console: Console, twilio: Recorder
) -> None:
    sent = await _send_one_text(console, twilio)
    form = receipt(sent.external_id or "", "failed", "30003")  # the handset was off
    assert (await console.http.post("/v1/sms/status", data=form, headers=signed(form))).status_code == 204
    counters = await console.counters()
    assert (counters["undelivered"], counters["undelivered_permanent"]) == (1, 0)
    assert await console.audit_events("outreach.undelivered") == [
        {"key": sent.key, "status": "failed", "code": "30003", "permanent": False}
    ]
    assert await _pending(console) == [("sms", "scheduled")]  # the follow-up text stays: it may pass


async def test_counters_are_read_from_the_ledger_and_consent(console: Console, twilio: Recorder) -> None:
    sent = await _send_one_text(console, twilio)
    assert (await console.counters())["paid_within_7_days"] == 0
    ledger = console.services.ledger
    assert ledger is not None
    await ledger.record_payment(
        "omar",
        PaymentRequest(
            statement_id="st-omar-2",
            amount_cents=64000,
            source=PaymentSource.PORTAL,
            method=PaymentMethod.CARD,
            idempotency_key="receipts-test-payment",
        ),
    )
    counters = await console.counters()
    assert (counters["paid_within_7_days"], counters["paid_within_30_days"]) == (1, 1)
    segment = counters["by_segment"]
    assert isinstance(segment, dict)
    assert segment[sent.segment or ""]["paid_within_7_days"] == 1
    # A STOP after the text is an opt-out of the patient texted.
    assert counters["opt_outs"] == 0
    await console.services.outreach.consent.record("+15555552000", "opt_out", "keyword")
    assert (await console.counters())["opt_outs"] == 1
