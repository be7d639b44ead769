"""DrChrono's objects through the adapter, on recorded responses that are validated against DrChrono's
own OpenAPI schemas first (Prism cannot hold state, so the write-then-read cases run here).

``RecordedDrChrono`` answers the adapter's calls from these recordings and keeps what the adapter posts
(each body validated against the spec's object schema), so a payment posted is read back.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jsonschema
import pytest
import yaml

from tests.support.vendor import VendorFileMissing, vendor_file
from tools.errors import IdempotencyConflict, PatientNotFound, PlatformUnavailable, StatementNotFound
from tools.platforms.drchrono import DrChronoPlatform
from tools.platforms.http import HttpPolicy, PlatformHttp
from tools.platforms.models import GroupCode, PaymentMethod, PaymentRequest, PaymentSource, StatementStatus


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    try:
        path = vendor_file("drchrono", "drchrono-rest-api-openapi.yml")
    except VendorFileMissing as exc:
        pytest.skip(str(exc))
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def item_schema(spec: dict[str, Any], path: str) -> dict[str, Any]:
    """The schema of one object of a list endpoint's ``data``, with the spec's components to resolve."""
    page = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    while "$ref" in page:
        page = spec["components"]["schemas"][page["$ref"].split("/")[-1]]
    item = page["properties"]["data"]["items"]
    while "$ref" in item:
        item = spec["components"]["schemas"][item["$ref"].split("/")[-1]]
    return {**item, "components": spec["components"]}


def validate(spec: dict[str, Any], path: str, obj: dict[str, Any], *, writing: bool = False) -> None:
    schema = item_schema(spec, path)
    if writing:  # what we send: only writable fields, each of the right type
        props = schema.get("properties", {})
        for name in obj:
            assert name in props, f"{name} is not a field of {path}"
            assert not props[name].get("readOnly"), f"{name} is read-only on {path}"
        schema = {**schema, "required": []}
    jsonschema.validate(obj, schema)


PATIENT = {
    "id": 101,
    "first_name": "Ana",
    "last_name": "Lopez",
    "date_of_birth": "1984-06-02",
    "cell_phone": "(555) 555-0142",
    "email": "ana@example.org",
    "address": "12 Oak St",
    "city": "Springfield",
    "state": "IL",
    "zip_code": "62704",
    "preferred_language": "spa",
    "disable_sms_messages": False,
    "chart_id": "LOAN000001",
    "doctor": 7,
    "gender": "Female",
    "copay": "25.00",
    "primary_insurance": {
        "insurance_company": "Acme Health",
        "insurance_id_number": "M123",
        "insurance_plan_type": "12",
    },
}
# One visit (appointment 5001): an office visit and a lab. Billed 200.00 and 80.00; Acme allowed 120.00
# and 50.00 and paid 90.00 and 50.00; the patient owes 30.00 on the visit (20.00 deductible, 10.00 copay).
LINES = [
    {
        "id": 9001,
        "appointment": 5001,
        "patient": "101",
        "doctor": "7",
        "code": "99213",
        "procedure_type": "C",
        "modifiers": ["25"],
        "quantity": 1.0,
        "diagnosis_pointers": [],
        "description": "Office visit",
        "service_date": "2025-01-10",
        "posted_date": "2025-01-12",
        "billed": 200.0,
        "price": 200.0,
        "allowed": 120.0,
        "ins1_paid": 90.0,
        "ins2_paid": 0.0,
        "ins3_paid": 0.0,
        "adjustment": 80.0,
        "balance_pt": 30.0,
        "pt_paid": 0.0,
        "balance_ins": 0.0,
        "billing_status": "Paid in Full",
        "denied_flag": False,
    },
    {
        "id": 9002,
        "appointment": 5001,
        "patient": "101",
        "doctor": "7",
        "code": "80053",
        "procedure_type": "C",
        "modifiers": [],
        "quantity": 1.0,
        "diagnosis_pointers": [],
        "description": "Lab panel",
        "service_date": "2025-01-10",
        "posted_date": "2025-01-12",
        "billed": 80.0,
        "price": 80.0,
        "allowed": 50.0,
        "ins1_paid": 50.0,
        "ins2_paid": 0.0,
        "ins3_paid": 0.0,
        "adjustment": 30.0,
        "balance_pt": 0.0,
        "pt_paid": 0.0,
        "balance_ins": 0.0,
        "billing_status": "Paid in Full",
        "denied_flag": False,
    },
]
TRANSACTIONS = [
    {
        "id": 1,
        "line_item": 9001,
        "appointment": 5001,
        "patient": 101,
        "adjustment_group_code": "CO",
        "adjustment_reason": "45",
        "adjustment": 80.0,
        "ins_paid": 90.0,
        "posted_date": "2025-01-20",
    },
    {
        "id": 2,
        "line_item": 9001,
        "appointment": 5001,
        "patient": 101,
        "adjustment_group_code": "PR",
        "adjustment_reason": "1",
        "adjustment": 20.0,
        "ins_paid": 0.0,
        "posted_date": "2025-01-20",
    },
    {
        "id": 3,
        "line_item": 9001,
        "appointment": 5001,
        "patient": 101,
        "adjustment_group_code": "PR",
        "adjustment_reason": "3",
        "adjustment": 10.0,
        "ins_paid": 0.0,
        "posted_date": "2025-01-20",
    },
    {
        "id": 4,
        "line_item": 9002,
        "appointment": 5001,
        "patient": 101,
        "adjustment_group_code": "CO",
        "adjustment_reason": "45",
        "adjustment": 30.0,
        "ins_paid": 50.0,
        "posted_date": "2025-01-20",
    },
]
FRONT_DESK_PAYMENT = {
    "id": 700,
    "patient": 101,
    "appointment": 5001,
    "amount": 5.0,
    "payment_method": "CASH",
    "notes": "paid at the desk",
    "created_at": "2025-01-15T10:00:00",
    "received_date": "2025-01-15",
}


class RecordedDrChrono:
    """Answers from the recordings; line items come in two pages (``data`` then ``results``)."""

    def __init__(self, spec: dict[str, Any], *, fail_posts: int = 0) -> None:
        self.spec = spec
        self.payments: list[dict[str, Any]] = [dict(FRONT_DESK_PAYMENT)]
        self.posts: list[dict[str, Any]] = []
        self.calls: list[str] = []
        self.fail_posts = fail_posts  # answer the first N posts 500 after storing them (a lost response)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        url = urlsplit(str(request.url))
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.calls.append(f"{request.method} {url.path}")
        if request.method == "GET" and url.path == "/api/patients/101":
            return httpx.Response(200, json=PATIENT)
        if request.method == "GET" and url.path.startswith("/api/patients/"):
            return httpx.Response(404)
        if url.path == "/api/line_items" and query.get("cursor") == "2":
            return httpx.Response(200, json={"previous": None, "next": None, "results": LINES[1:]})
        if url.path == "/api/line_items":
            nxt = "http://drchrono.test/api/line_items?patient=101&cursor=2"
            return httpx.Response(200, json={"previous": None, "next": nxt, "data": LINES[:1]})
        if url.path == "/api/transactions":
            return httpx.Response(200, json={"previous": None, "next": None, "data": TRANSACTIONS})
        if url.path == "/api/patient_payments" and request.method == "GET":
            return httpx.Response(200, json={"previous": None, "next": None, "data": self.payments})
        if url.path == "/api/patient_payments" and request.method == "POST":
            body = json.loads(request.content)
            validate(self.spec, "/api/patient_payments", body, writing=True)
            created = {**body, "id": 800 + len(self.payments), "created_at": "2025-03-01T14:00:00"}
            self.payments.append(created)
            self.posts.append(body)
            if self.fail_posts > 0:
                self.fail_posts -= 1
                return httpx.Response(500)
            return httpx.Response(201, json=created)
        return httpx.Response(404)


def adapter(server: RecordedDrChrono) -> DrChronoPlatform:
    http = PlatformHttp(
        "http://drchrono.test",
        transport=httpx.MockTransport(server),
        policy=HttpPolicy(backoff_initial_s=0.001, backoff_max_s=0.002),
    )
    return DrChronoPlatform(http, plans=None, cache_ttl_s=10)


@pytest.fixture
def server(spec: dict[str, Any]) -> RecordedDrChrono:
    return RecordedDrChrono(spec)


def test_recordings_are_valid_against_the_spec(spec: dict[str, Any]) -> None:
    validate(spec, "/api/patients", PATIENT)
    for line in LINES:
        validate(spec, "/api/line_items", line)
    for t in TRANSACTIONS:
        validate(spec, "/api/transactions", t)
    validate(spec, "/api/patient_payments", FRONT_DESK_PAYMENT)


async def test_statement_explains_every_figure_from_line_items_and_transactions(
    server: RecordedDrChrono,
) -> None:
    platform = adapter(server)
    st = await platform.get_statement("101", "appt-5001")
    visit, lab = st.line_items
    assert (visit.billed_cents, visit.allowed_cents, visit.insurance_paid_cents) == (20000, 12000, 9000)
    assert [(a.group_code, a.carc, a.amount_cents) for a in visit.adjustments] == [(GroupCode.CO, "45", 8000)]
    assert (visit.deductible_cents, visit.copay_cents, visit.coinsurance_cents, visit.not_covered_cents) == (
        2000,
        1000,
        0,
        0,
    )
    assert visit.modifiers == ("25",)
    assert lab.patient_responsibility_cents == 0
    assert st.total_patient_responsibility_cents == 3000
    assert [p.amount_cents for p in st.payments] == [500]
    assert (st.balance_cents, st.status, st.number) == (2500, StatementStatus.OPEN, "A5001")
    # Both pages of line items were read (the first in ``data``, the second in ``results``).
    assert server.calls.count("GET /api/line_items") == 2


async def test_a_balance_question_costs_a_few_calls_and_none_when_cached(server: RecordedDrChrono) -> None:
    platform = adapter(server)
    summary = await platform.get_account_summary("101")
    statements = await platform.list_statements("101")
    assert summary.balance_cents == statements[0].balance_cents == 2500
    assert len(server.calls) == 4  # patient, two pages of line items, payments
    await platform.get_account_summary("101")
    assert len(server.calls) == 4


async def test_patient_and_coverage(server: RecordedDrChrono) -> None:
    platform = adapter(server)
    patient = await platform.get_patient("101")
    assert (patient.phone, patient.language.value, patient.sms_consent, patient.portal_user_id) == (
        "+15555550142",
        "es",
        True,
        "LOAN000001",
    )
    [coverage] = await platform.list_coverages("101")
    assert (coverage.payer_name, coverage.member_id, coverage.copay_cents) == ("Acme Health", "M123", 2500)
    assert coverage.plan_type == "PPO"  # X12 claim filing indicator 12
    with pytest.raises(PatientNotFound):
        await platform.get_patient("999")
    with pytest.raises(PatientNotFound):
        await platform.get_patient("p0")  # not a DrChrono id: never sent


def pay(key: str, amount: int = 2500, statement: str | None = "appt-5001") -> PaymentRequest:
    return PaymentRequest(
        statement_id=statement,
        amount_cents=amount,
        method=PaymentMethod.CARD,
        source=PaymentSource.PAYMENT_LINK,
        external_id="ch_1",
        idempotency_key=key,
    )


async def test_payment_posts_once_with_our_key_read_back_first(server: RecordedDrChrono) -> None:
    platform = adapter(server)
    payment = await platform.record_payment("101", pay("link-1"))
    assert (payment.amount_cents, payment.statement_id, payment.idempotency_key) == (
        2500,
        "appt-5001",
        "link-1",
    )
    assert await platform.record_payment("101", pay("link-1")) == payment
    results = await asyncio.gather(*(platform.record_payment("101", pay("link-1")) for _ in range(10)))
    assert {r.id for r in results} == {payment.id}
    assert len(server.posts) == 1
    assert server.posts[0]["payment_method"] == "CRDT"
    assert "link-1" in server.posts[0]["notes"]
    assert (await platform.get_statement("101", "appt-5001")).status is StatementStatus.PAID
    with pytest.raises(IdempotencyConflict):
        await platform.record_payment("101", pay("link-1", amount=999))
    with pytest.raises(StatementNotFound):
        await platform.record_payment("101", pay("link-2", statement="appt-1"))
    assert len(server.posts) == 1


async def test_a_lost_response_is_read_back_not_posted_again(spec: dict[str, Any]) -> None:
    server = RecordedDrChrono(spec, fail_posts=1)
    platform = adapter(server)
    payment = await platform.record_payment("101", pay("link-lost"))
    assert payment.idempotency_key == "link-lost"
    assert len(server.posts) == 1  # the 500 was not retried as a second POST


async def test_a_failed_post_with_nothing_stored_is_an_outage_not_a_payment(spec: dict[str, Any]) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(503)
        return RecordedDrChrono(spec)(request)

    http = PlatformHttp("http://drchrono.test", transport=httpx.MockTransport(down))
    platform = DrChronoPlatform(http, plans=None)
    with pytest.raises(PlatformUnavailable):
        await platform.record_payment("101", pay("link-x"))


def test_pagination_helpers() -> None:
    from tools.platforms.drchrono import mapping as dm

    assert dm.results({"results": [{"id": 1}]}) == [{"id": 1}]
    assert dm.results({"data": [{"id": 2}]}) == [{"id": 2}]
    assert dm.next_url({"next": "string"}) is None
    assert (
        dm.next_url({"next": "https://app.drchrono.com/api/x?cursor=2"})
        == "https://app.drchrono.com/api/x?cursor=2"
    )
