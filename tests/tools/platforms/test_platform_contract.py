"""Conformance suite of the ``BillingPlatform`` port, parametrized over every implementation.

* ``ledger``: the embedded ledger, on SQLite and (with TEST_DATABASE_URL) PostgreSQL;
* ``fhir``: the FHIR R4 adapter against a real FHIR server (sekmet-fhir, SMART Backend Services auth),
  loaded with the same practice as resources validated with ``fhir.resources``;
* ``drchrono``: the DrChrono adapter against ``tests/support/drchrono_fake.py``, a stateful stand-in
  built from DrChrono's own OpenAPI description (every request checked against the spec's operations
  and parameters, every body and every answer against its object schemas; any violation fails the
  test). Prism serves the same description (``test_drchrono_prism.py``, ``--errors``) but answers with
  the spec's examples, so no case here that writes then reads, or that expects the loaded practice's
  figures, could run on it; the stand-in holds the state, and Prism stays the check of our requests by
  the spec's own validator. Plans live in the service's table (DrChrono has none).

The practice uses DrChrono-shaped ids (``NUMERIC``: integer patients, ``appt-<n>`` statements) on every
platform, so the cases are the same for all three. Where DrChrono cannot hold a field (benefit
accumulators, the PR adjustments of a line as separate entries), ``held`` says so and the case compares
what the platform holds; the list is in docs/platforms.md. Every refused write is checked to leave the
platform exactly as it was (``snapshot`` before == after).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy.ext.asyncio import async_sessionmaker

from tests.support.drchrono_fake import BASE_URL, DOCTOR_ID, DrChronoFake
from tests.support.vendor import VendorFileMissing, vendor_file
from tests.tools.platforms.ledger_builders import NUMERIC, TODAY, build_practice
from tools.db import create_engine
from tools.errors import (
    ActivePlanExists,
    IdempotencyConflict,
    InvalidAmount,
    InvalidTransition,
    PatientNotFound,
    PlanNotFound,
    PlanScheduleMismatch,
    StatementNotFound,
    TicketNotFound,
)
from tools.platforms.base import BalanceFeed, BillingPlatform
from tools.platforms.drchrono import DrChronoPlatform
from tools.platforms.fhir import FhirPlatform, SmartBackendCredentials
from tools.platforms.fhir.loader import load_practice
from tools.platforms.fhir.sekmet import SekmetServer
from tools.platforms.http import HttpPolicy, PlatformHttp, RequestBudget
from tools.platforms.keys import PaymentKeys
from tools.platforms.ledger import LedgerPlatform, PracticeData
from tools.platforms.models import (
    Author,
    ChangeKind,
    Channel,
    Claim,
    CommunicationIn,
    Coverage,
    Direction,
    GroupCode,
    Installment,
    Patient,
    PaymentMethod,
    PaymentRequest,
    PaymentSource,
    PlanRequest,
    PlanStatus,
    Statement,
    StatementStatus,
    TicketPriority,
    TicketReason,
    TicketRequest,
    TicketStatus,
    TranscriptLine,
)
from tools.platforms.plans import PlatformPlanRow, ServicePlans

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2025, 3, 1, 14, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: int = 60) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Subject:
    platform: BillingPlatform
    data: PracticeData
    clock: Clock
    drchrono: DrChronoFake | None = None

    def held(self, value: Any) -> Any:
        """``value`` as this platform can hold it (identity but for DrChrono; docs/platforms.md)."""
        if self.drchrono is None:
            return value
        if isinstance(value, Patient):
            # No tags; DrChrono's only channel flag is ``disable_sms_messages``.
            sms = value.sms_consent and value.phone is not None
            return value.model_copy(
                update={"scenario_tags": (), "preferred_channel": Channel.SMS if sms else Channel.PORTAL}
            )
        if isinstance(value, Coverage):  # no benefit accumulators, coinsurance not kept
            zeros = ("deductible", "deductible_met", "out_of_pocket_max", "out_of_pocket_met")
            return value.model_copy(update={f"{k}_cents": 0 for k in zeros} | {"coinsurance_percent": 0})
        if isinstance(value, Statement):
            # The provider is the appointment's doctor id; the PR split (deductible, coinsurance, copay)
            # is kept, its reason codes are not listed as adjustments.
            lines = tuple(
                li.model_copy(
                    update={
                        "provider_name": str(DOCTOR_ID),
                        "adjustments": tuple(a for a in li.adjustments if a.group_code is not GroupCode.PR),
                    }
                )
                for li in value.line_items
            )
            return value.model_copy(update={"line_items": lines})
        raise TypeError(f"no DrChrono view of {type(value).__name__}")


async def _ledger(url: str, data: PracticeData, clock: Clock) -> tuple[BillingPlatform, Callable[[], Any]]:
    engine = create_engine(url)
    ledger = LedgerPlatform(engine, clock=clock)
    await ledger.bulk_load(data)
    return ledger, engine.dispose


async def _fhir(
    server: SekmetServer, data: PracticeData, clock: Clock
) -> tuple[BillingPlatform, Callable[[], Any]]:
    server.wipe()
    credentials = SmartBackendCredentials(
        client_id=server.client_id, private_key_pem=server.private_key_pem, token_url=server.token_url
    )
    http = PlatformHttp(server.base_url, credentials=credentials, policy=HttpPolicy(timeout_s=30))
    await load_practice(http, data)
    platform = FhirPlatform(http, practice_id=data.practice.id, clock=clock, cache_ttl_s=10)
    return platform, platform.aclose


@pytest.fixture(scope="module")
def drchrono_spec() -> dict[str, Any]:
    try:
        path = vendor_file("drchrono", "drchrono-rest-api-openapi.yml")
    except VendorFileMissing as exc:
        pytest.skip(str(exc))
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


async def _drchrono(
    spec: dict[str, Any], url: str, data: PracticeData, clock: Clock
) -> tuple[DrChronoPlatform, DrChronoFake, Callable[[], Any]]:
    fake = DrChronoFake(spec, clock)
    fake.load(data)
    engine = create_engine(url)
    async with async_sessionmaker(engine)() as session, session.begin():
        for plan in data.plans:  # the practice's existing plans, in the service's table
            session.add(
                PlatformPlanRow(
                    id=plan.id,
                    platform="drchrono",
                    patient_id=plan.patient_id,
                    idempotency_key=plan.idempotency_key,
                    status=plan.status.value,
                    requires_approval=False,
                    body=plan.model_dump_json(),
                    created_at=plan.created_at,
                    updated_at=plan.created_at,
                )
            )
    # The request budget is not what these cases check (test_platform_outage.py does): sized so that no
    # case spends it however fast the stand-in answers (twenty concurrent payments send ~60 requests).
    budget = RequestBudget(per_minute=60_000, burst=10_000)
    http = PlatformHttp(
        BASE_URL, transport=httpx.MockTransport(fake), policy=HttpPolicy(attempts=1), budget=budget
    )
    platform = DrChronoPlatform(
        http,
        plans=ServicePlans(engine, "drchrono", clock=clock),
        keys=PaymentKeys(engine, "drchrono", clock=clock),
        office_id=data.practice.id,
        doctor_id=DOCTOR_ID,
        clock=clock,
        cache_ttl_s=10,
    )

    async def close() -> None:
        await platform.aclose()
        await engine.dispose()

    return platform, fake, close


@pytest.fixture(params=["ledger", "fhir", "drchrono"])
async def subject(request: pytest.FixtureRequest, migrated_database_url: str) -> AsyncIterator[Subject]:
    data = build_practice(patients=3, ids=NUMERIC)
    clock = Clock()
    fake: DrChronoFake | None = None
    if request.param == "fhir":
        platform, close = await _fhir(request.getfixturevalue("sekmet"), data, clock)
    elif request.param == "drchrono":
        spec = request.getfixturevalue("drchrono_spec")
        platform, fake, close = await _drchrono(spec, migrated_database_url, data, clock)
    else:
        platform, close = await _ledger(migrated_database_url, data, clock)
    yield Subject(platform, data, clock, fake)
    await close()
    if fake is not None:
        assert fake.violations == [], "requests that break DrChrono's OpenAPI description"


P0, P1, P2 = (NUMERIC.patient(n) for n in range(3))


def sid(n: int, k: int) -> str:
    """Statement ``k`` of patient ``n``."""
    return NUMERIC.statement(n, k)


def num(n: int, k: int) -> str:
    """The printed number of statement ``k`` of patient ``n``."""
    return NUMERIC.number(n, k)


async def snapshot(platform: BillingPlatform, patient_ids: list[str]) -> dict[str, Any]:
    """Everything a caller can observe about these patients."""
    out: dict[str, Any] = {"changes": await platform.list_recent_changes(EPOCH, 10_000)}
    for pid in patient_ids:
        summaries = await platform.list_statements(pid)
        out[pid] = (
            await platform.get_account_summary(pid),
            summaries,
            [await platform.get_statement(pid, s.id) for s in summaries],
            await platform.list_payments(pid),
            await platform.list_payment_plans(pid),
            await platform.list_tickets(pid),
            await platform.list_communications(pid, None, 1000),
        )
    return out


PIDS = [P0, P1, P2]


def pay(statement_id: str | None, amount: int = 500, key: str = "k1", **kw: Any) -> PaymentRequest:
    return PaymentRequest(
        statement_id=statement_id,
        amount_cents=amount,
        method=PaymentMethod.CARD,
        source=PaymentSource.PAYMENT_LINK,
        idempotency_key=key,
        **kw,
    )


def plan_request(statement_ids: tuple[str, ...], total: int, key: str = "plan-1", **kw: Any) -> PlanRequest:
    first = total // 3
    installments = (
        Installment(sequence=0, due_date=TODAY, amount_cents=first),
        Installment(sequence=1, due_date=TODAY + timedelta(days=30), amount_cents=first),
        Installment(sequence=2, due_date=TODAY + timedelta(days=60), amount_cents=total - 2 * first),
    )
    fields: dict[str, Any] = {
        "statement_ids": statement_ids,
        "total_cents": total,
        "down_payment_cents": first,
        "months": 2,
        "installment_cents": first,
        "installments": installments,
        "idempotency_key": key,
    }
    fields.update(kw)
    return PlanRequest(**fields)


def ticket_request(key: str = "t-1", **kw: Any) -> TicketRequest:
    fields: dict[str, Any] = {
        "thread_id": "th-1",
        "statement_id": None,
        "reason": TicketReason.DISPUTE_CHARGE,
        "priority": TicketPriority.HIGH,
        "summary": "Disputes the lab charge",
        "transcript": (
            TranscriptLine(author=Author.PATIENT, text="this is wrong", at=datetime(2025, 3, 1, tzinfo=UTC)),
        ),
        "idempotency_key": key,
    }
    fields.update(kw)
    return TicketRequest(**fields)


# ---------------------------------------------------------------------- identity


async def test_is_a_billing_platform(subject: Subject) -> None:
    assert isinstance(subject.platform, BillingPlatform)


async def test_get_practice(subject: Subject) -> None:
    assert await subject.platform.get_practice() == subject.data.practice


async def test_find_patient_by_portal_identity(subject: Subject) -> None:
    assert await subject.platform.find_patient_by_portal_identity("portal-2") == subject.held(
        subject.data.patients[2]
    )
    assert await subject.platform.find_patient_by_portal_identity("portal-99") is None


@pytest.mark.parametrize(
    "phone", ["+15555550001", "(555) 555-0001", "+1 555 555 0001", "555.555.0001", "15555550001"]
)
async def test_find_patients_by_phone_normalises(subject: Subject, phone: str) -> None:
    found = await subject.platform.find_patients_by_phone(phone)
    assert [p.id for p in found] == [P0, P1]  # a family sharing one number


async def test_find_patients_by_phone_unknown_or_garbage(subject: Subject) -> None:
    assert await subject.platform.find_patients_by_phone("(555) 555-9999") == []
    assert await subject.platform.find_patients_by_phone("call me") == []


async def test_verify_identity(subject: Subject) -> None:
    p0, p1 = subject.data.patients[0], subject.data.patients[1]
    verify = subject.platform.verify_identity
    ok = await verify([P0, P1], p0.date_of_birth, p0.zip_code, None)
    assert (ok.verified, ok.patient_id) == (True, P0)
    by_statement = await verify([P0, P1], p1.date_of_birth, None, num(1, 0))
    assert (by_statement.verified, by_statement.patient_id) == (True, P1)
    refused = [
        await verify([P0, P1], date(1999, 9, 9), p0.zip_code, None),  # wrong DOB
        await verify([P0, P1], p0.date_of_birth, "99999", None),  # wrong ZIP
        await verify([P0, P1], p0.date_of_birth, None, num(1, 0)),  # p1's statement with p0's DOB
        await verify([P0, P1], p0.date_of_birth, None, None),  # no second factor
        await verify([P2], p0.date_of_birth, p0.zip_code, None),  # p0 is not a candidate
        await verify(["nobody"], p0.date_of_birth, p0.zip_code, None),
        await verify([], p0.date_of_birth, p0.zip_code, None),
    ]
    assert all(not r.verified and r.patient_id is None for r in refused)


async def test_get_patient(subject: Subject) -> None:
    assert await subject.platform.get_patient(P1) == subject.held(subject.data.patients[1])
    with pytest.raises(PatientNotFound):
        await subject.platform.get_patient("nobody")


# ---------------------------------------------------------------------- reads


async def test_reads_round_trip_the_loaded_practice(subject: Subject) -> None:
    platform, data = subject.platform, subject.data
    for st in data.statements:
        assert await platform.get_statement(st.patient_id, st.id) == subject.held(st)
        assert await platform.find_statement_by_number(st.patient_id, st.number) == subject.held(st)
    assert await platform.list_coverages(P0) == [
        subject.held(c) for c in data.coverages if c.patient_id == P0
    ]
    claims = sorted(await platform.list_claims(P0), key=lambda c: c.id)
    expected = sorted((c for c in data.claims if c.patient_id == P0), key=lambda c: c.id)
    if subject.drchrono is not None:
        # DrChrono has no claim object: a claim is an appointment's billed lines, so its dates and
        # denial codes are not held; its identity, payer, status and figures are.
        def held(c: Claim) -> tuple[Any, ...]:
            return (
                c.id,
                c.claim_number,
                c.payer_name,
                c.status,
                c.service_date,
                c.billed_cents,
                c.paid_cents,
            )

        assert [held(c) for c in claims] == [held(c) for c in expected]
        assert [c.line_item_ids for c in claims] == [c.line_item_ids for c in expected]
    else:
        assert claims == expected
    assert await platform.list_payment_plans(P1) == data.plans


async def test_list_statements_newest_first_with_totals(subject: Subject) -> None:
    summaries = await subject.platform.list_statements(P0)
    assert [s.id for s in summaries] == [sid(0, 2), sid(0, 1), sid(0, 0)]
    newest = summaries[0]
    assert (newest.total_patient_responsibility_cents, newest.total_paid_cents, newest.balance_cents) == (
        6000,
        1000,
        5000,
    )
    assert newest.status is StatementStatus.OPEN
    assert newest.line_count == 2


async def test_account_summary(subject: Subject) -> None:
    summary = await subject.platform.get_account_summary(P1)
    assert summary.balance_cents == 6000 + 6000 + 5000
    assert summary.open_statement_count == 3
    assert summary.credit_cents == 0
    assert summary.has_active_plan
    assert not summary.has_defaulted_plan
    assert not (await subject.platform.get_account_summary(P0)).has_active_plan


async def test_account_summary_flags_a_defaulted_plan(subject: Subject) -> None:
    await subject.platform.set_plan_status(P1, "plan-p1", PlanStatus.DEFAULTED, None)
    summary = await subject.platform.get_account_summary(P1)
    assert summary.has_defaulted_plan
    assert not summary.has_active_plan


@pytest.mark.parametrize(
    "read",
    [
        "get_account_summary",
        "list_coverages",
        "list_statements",
        "list_claims",
        "list_payments",
        "list_payment_plans",
        "list_tickets",
    ],
)
async def test_patient_reads_of_unknown_patient(subject: Subject, read: str) -> None:
    with pytest.raises(PatientNotFound):
        await getattr(subject.platform, read)("nobody")


async def test_statement_and_transcript_reads_of_unknown_patient(subject: Subject) -> None:
    platform = subject.platform
    with pytest.raises(PatientNotFound):
        await platform.get_statement("nobody", sid(0, 0))
    with pytest.raises(PatientNotFound):
        await platform.find_statement_by_number("nobody", num(0, 0))
    with pytest.raises(PatientNotFound):
        await platform.list_communications("nobody", None, 10)
    # A known patient with nothing to show gets an empty answer, not an error.
    assert await platform.list_communications(P0, "no-such-thread", 10) == []
    with pytest.raises(StatementNotFound):
        await platform.get_statement(P0, "st-missing")


# ---------------------------------------------------------------------- isolation


async def test_isolation_patient_a_never_sees_patient_b(subject: Subject) -> None:
    platform = subject.platform
    await platform.create_ticket(P1, ticket_request(key="iso-t"))
    await platform.log_communication(
        P1,
        CommunicationIn(
            thread_id="th-b",
            channel=Channel.SMS,
            direction=Direction.INBOUND,
            author=Author.PATIENT,
            text="hi",
        ),
    )
    before = await snapshot(platform, PIDS)
    b_statement = sid(1, 0)
    with pytest.raises(StatementNotFound):
        await platform.get_statement(P0, b_statement)
    assert await platform.find_statement_by_number(P0, num(1, 0)) is None
    with pytest.raises(PlanNotFound):
        await platform.set_plan_status(P0, "plan-p1", PlanStatus.CANCELLED, None)
    with pytest.raises(StatementNotFound):
        await platform.record_payment(P0, pay(b_statement, key="iso-pay"))
    with pytest.raises(StatementNotFound):
        await platform.create_payment_plan(P0, plan_request((b_statement,), 6000, key="iso-plan"))
    with pytest.raises(StatementNotFound):
        await platform.create_ticket(P0, ticket_request(key="iso-t2", statement_id=b_statement))
    a_views = [
        *(s.patient_id for s in await platform.list_statements(P0)),
        *(p.patient_id for p in await platform.list_payments(P0)),
        *(p.patient_id for p in await platform.list_payment_plans(P0)),
        *(t.patient_id for t in await platform.list_tickets(P0)),
        *(c.patient_id for c in await platform.list_communications(P0, None, 100)),
        *(c.patient_id for c in await platform.list_claims(P0)),
        *(c.patient_id for c in await platform.list_coverages(P0)),
    ]
    assert a_views
    assert set(a_views) == {P0}
    assert await platform.list_communications(P0, "th-b", 100) == []
    assert await snapshot(platform, PIDS) == before


# ---------------------------------------------------------------------- payments


async def test_record_payment_updates_balance_and_is_idempotent(subject: Subject) -> None:
    platform = subject.platform
    payment = await platform.record_payment(P0, pay(sid(0, 2), 2000, external_id="ch_1"))
    assert payment.amount_cents == 2000
    assert payment.statement_id == sid(0, 2)
    assert payment.posted_at == subject.clock.now
    assert payment.posted_at.tzinfo is not None
    st = await platform.get_statement(P0, sid(0, 2))
    assert st.balance_cents == 3000
    assert st.status is StatementStatus.OPEN
    assert payment in st.payments
    subject.clock.tick()
    assert await platform.record_payment(P0, pay(sid(0, 2), 2000, external_id="ch_1")) == payment
    assert len(await platform.list_payments(P0)) == 2  # the seeded one and ours
    paid = await platform.record_payment(P0, pay(sid(0, 2), 3000, key="k2"))
    assert (await platform.get_statement(P0, sid(0, 2))).status is StatementStatus.PAID
    credit = await platform.record_payment(P0, pay(sid(0, 2), 700, key="k3"))
    st = await platform.get_statement(P0, sid(0, 2))
    assert (st.balance_cents, st.status) == (-700, StatementStatus.CREDIT)
    changes = await platform.list_recent_changes(subject.clock.now - timedelta(hours=1), 10)
    assert [(c.kind, c.resource_id) for c in changes] == [
        (ChangeKind.PAYMENT_POSTED, payment.id),
        (ChangeKind.PAYMENT_POSTED, paid.id),
        (ChangeKind.PAYMENT_POSTED, credit.id),
    ]


async def test_unapplied_payment_counts_in_account_balance(subject: Subject) -> None:
    before = (await subject.platform.get_account_summary(P2)).balance_cents
    payment = await subject.platform.record_payment(P2, pay(None, 1500, key="unapplied"))
    assert payment.statement_id is None
    assert (await subject.platform.get_account_summary(P2)).balance_cents == before - 1500


@pytest.mark.parametrize(
    ("patient_id", "request_", "error"),
    [
        ("nobody", pay(sid(0, 2)), PatientNotFound),
        (P0, pay(sid(0, 2), 0, key="zero"), InvalidAmount),
        (P0, pay(sid(0, 2), -500, key="neg"), InvalidAmount),
        (P0, pay(sid(1, 2), key="other"), StatementNotFound),
        (P0, pay("st-missing", key="missing"), StatementNotFound),
        (P0, pay(sid(0, 2), 999, key="seed-pay-p0-2"), IdempotencyConflict),
    ],
    ids=["unknown-patient", "zero", "negative", "other-patients-statement", "no-statement", "key-reuse"],
)
async def test_record_payment_refusals_leave_ledger_unchanged(
    subject: Subject, patient_id: str, request_: PaymentRequest, error: type[Exception]
) -> None:
    before = await snapshot(subject.platform, PIDS)
    with pytest.raises(error):
        await subject.platform.record_payment(patient_id, request_)
    assert await snapshot(subject.platform, PIDS) == before


async def test_record_payment_same_key_different_amount_conflicts(subject: Subject) -> None:
    await subject.platform.record_payment(P0, pay(sid(0, 2), 2000, key="dup"))
    before = await snapshot(subject.platform, PIDS)
    with pytest.raises(IdempotencyConflict):
        await subject.platform.record_payment(P0, pay(sid(0, 2), 2500, key="dup"))
    with pytest.raises(IdempotencyConflict):
        await subject.platform.record_payment(P1, pay(sid(1, 2), 2000, key="dup"))
    assert await snapshot(subject.platform, PIDS) == before


async def test_twenty_concurrent_payments_with_one_key_post_once(subject: Subject) -> None:
    request = pay(sid(0, 2), 1234, key="race")
    results = await asyncio.gather(*(subject.platform.record_payment(P0, request) for _ in range(20)))
    assert len({r.id for r in results}) == 1
    payments = [p for p in await subject.platform.list_payments(P0) if p.idempotency_key == "race"]
    assert len(payments) == 1
    assert (await subject.platform.get_statement(P0, sid(0, 2))).balance_cents == 5000 - 1234


async def test_concurrent_payments_with_distinct_keys_all_count(subject: Subject) -> None:
    await asyncio.gather(
        *(subject.platform.record_payment(P0, pay(sid(0, 1), 100, key=f"d{i}")) for i in range(10))
    )
    st = await subject.platform.get_statement(P0, sid(0, 1))
    assert (st.total_paid_cents, st.balance_cents) == (1000, 5000)


# ---------------------------------------------------------------------- plans


async def test_create_plan_active_then_idempotent(subject: Subject) -> None:
    request = plan_request((sid(0, 0), sid(0, 1)), 12000)
    plan = await subject.platform.create_payment_plan(P0, request)
    assert plan.status is PlanStatus.ACTIVE
    assert plan.total_cents == 12000
    assert plan.statement_ids == (sid(0, 0), sid(0, 1))
    assert plan.installments == request.installments
    subject.clock.tick()
    assert await subject.platform.create_payment_plan(P0, request) == plan
    assert await subject.platform.list_payment_plans(P0) == [plan]
    assert (await subject.platform.get_account_summary(P0)).has_active_plan
    changes = await subject.platform.list_recent_changes(plan.created_at - timedelta(seconds=1), 10)
    assert [(c.kind, c.patient_id, c.resource_id) for c in changes] == [
        (ChangeKind.PLAN_CREATED, P0, plan.id)
    ]


async def test_create_plan_requiring_approval_and_transitions(subject: Subject) -> None:
    platform = subject.platform
    plan = await platform.create_payment_plan(P2, plan_request((sid(2, 0),), 6000, requires_approval=True))
    assert plan.status is PlanStatus.PENDING_APPROVAL
    approved = await platform.set_plan_status(P2, plan.id, PlanStatus.ACTIVE, "dana")
    assert (approved.status, approved.approver) == (PlanStatus.ACTIVE, "dana")
    before = await snapshot(platform, PIDS)
    with pytest.raises(InvalidTransition):
        await platform.set_plan_status(P2, plan.id, PlanStatus.PENDING_APPROVAL, None)
    with pytest.raises(PlanNotFound):
        await platform.set_plan_status(P2, "plan-nope", PlanStatus.CANCELLED, None)
    with pytest.raises(PatientNotFound):
        await platform.set_plan_status("nobody", plan.id, PlanStatus.CANCELLED, None)
    assert await snapshot(platform, PIDS) == before
    done = await platform.set_plan_status(P2, plan.id, PlanStatus.COMPLETED, None)
    assert done.status is PlanStatus.COMPLETED
    assert done.approver == "dana"
    with pytest.raises(InvalidTransition):
        await platform.set_plan_status(P2, plan.id, PlanStatus.ACTIVE, None)


async def test_denied_plan_frees_the_patient_for_another(subject: Subject) -> None:
    platform = subject.platform
    first = await platform.create_payment_plan(P2, plan_request((sid(2, 0),), 6000, requires_approval=True))
    await platform.set_plan_status(P2, first.id, PlanStatus.DENIED, "dana")
    second = await platform.create_payment_plan(P2, plan_request((sid(2, 0),), 6000, key="plan-2"))
    assert second.status is PlanStatus.ACTIVE


@pytest.mark.parametrize(
    ("patient_id", "request_", "error"),
    [
        ("nobody", plan_request((sid(0, 0),), 6000, key="x1"), PatientNotFound),
        (P0, plan_request((sid(0, 0),), 6000, key="x2", total_cents=6001), PlanScheduleMismatch),
        (P0, plan_request((sid(0, 0),), 6000, key="x3", total_cents=0), InvalidAmount),
        (P0, plan_request((sid(0, 0),), 6000, key="x4", installment_cents=-5), InvalidAmount),
        (P0, plan_request((sid(0, 0),), 6000, key="x5", installments=()), PlanScheduleMismatch),
        (P1, plan_request((sid(1, 1),), 6000, key="x6"), ActivePlanExists),
        (P0, plan_request((sid(2, 0),), 6000, key="x7"), StatementNotFound),
        (P0, plan_request((sid(0, 0),), 6000, key="seed-plan-p1"), IdempotencyConflict),
    ],
    ids=[
        "unknown-patient",
        "schedule-mismatch",
        "zero-total",
        "negative-installment",
        "no-schedule",
        "active-plan-exists",
        "other-patients-statement",
        "key-reuse",
    ],
)
async def test_create_plan_refusals_leave_ledger_unchanged(
    subject: Subject, patient_id: str, request_: PlanRequest, error: type[Exception]
) -> None:
    before = await snapshot(subject.platform, PIDS)
    with pytest.raises(error):
        await subject.platform.create_payment_plan(patient_id, request_)
    assert await snapshot(subject.platform, PIDS) == before


async def test_create_plan_same_key_different_terms_conflicts(subject: Subject) -> None:
    await subject.platform.create_payment_plan(P0, plan_request((sid(0, 0),), 6000, key="same"))
    before = await snapshot(subject.platform, PIDS)
    with pytest.raises(IdempotencyConflict):
        await subject.platform.create_payment_plan(P0, plan_request((sid(0, 0),), 6003, key="same"))
    assert await snapshot(subject.platform, PIDS) == before


async def test_pending_plan_also_blocks_a_second_plan(subject: Subject) -> None:
    await subject.platform.create_payment_plan(P0, plan_request((sid(0, 0),), 6000, requires_approval=True))
    with pytest.raises(ActivePlanExists):
        await subject.platform.create_payment_plan(P0, plan_request((sid(0, 1),), 6000, key="another"))


# ---------------------------------------------------------------------- tickets


async def test_tickets(subject: Subject) -> None:
    platform = subject.platform
    request = ticket_request(statement_id=sid(0, 1))
    ticket = await platform.create_ticket(P0, request)
    assert (ticket.status, ticket.assignee, ticket.transcript) == (
        TicketStatus.OPEN,
        None,
        request.transcript,
    )
    assert await platform.create_ticket(P0, request) == ticket
    assert await platform.list_tickets(P0) == [ticket]
    assigned = await platform.update_ticket(ticket.id, TicketStatus.ASSIGNED, "dana")
    assert (assigned.status, assigned.assignee) == (TicketStatus.ASSIGNED, "dana")
    resolved = await platform.update_ticket(ticket.id, TicketStatus.RESOLVED, None)
    assert (resolved.status, resolved.assignee) == (TicketStatus.RESOLVED, "dana")
    assert await platform.list_tickets(P0) == [resolved]
    before = await snapshot(platform, PIDS)
    with pytest.raises(IdempotencyConflict):
        await platform.create_ticket(P0, ticket_request(summary="something else"))
    with pytest.raises(TicketNotFound):
        await platform.update_ticket("tkt-nope", TicketStatus.RESOLVED, None)
    with pytest.raises(PatientNotFound):
        await platform.create_ticket("nobody", ticket_request(key="t-2"))
    assert await snapshot(platform, PIDS) == before


# ---------------------------------------------------------------------- communications


def message(text: str, thread: str = "th-1", external_id: str | None = None) -> CommunicationIn:
    return CommunicationIn(
        thread_id=thread,
        channel=Channel.SMS,
        direction=Direction.INBOUND,
        author=Author.PATIENT,
        text=text,
        external_id=external_id,
    )


async def test_log_communication_dedupes_and_lists_in_order(subject: Subject) -> None:
    platform = subject.platform
    first = await platform.log_communication(P0, message("one", external_id="SM1"))
    assert await platform.log_communication(P0, message("one again", external_id="SM1")) == first
    second = await platform.log_communication(P0, message("two"))
    third = await platform.log_communication(P0, message("three", thread="th-2"))
    fourth = await platform.log_communication(P0, message("four"))  # same clock instant as the others
    assert [c.text for c in await platform.list_communications(P0, None, 10)] == [
        "one",
        "two",
        "three",
        "four",
    ]
    assert await platform.list_communications(P0, "th-1", 2) == [second, fourth]
    assert await platform.list_communications(P0, "th-2", 10) == [third]
    assert await platform.list_communications(P0, None, 0) == []
    # The same provider id for another patient is another message.
    other = await platform.log_communication(P1, message("one", external_id="SM1"))
    assert other.id != first.id
    assert other.patient_id == P1
    with pytest.raises(PatientNotFound):
        await platform.log_communication("nobody", message("x"))


# ---------------------------------------------------------------------- outreach


async def test_list_recent_changes_reports_loaded_statements_and_respects_limit(subject: Subject) -> None:
    changes = await subject.platform.list_recent_changes(EPOCH, 1000)
    created = {c.resource_id for c in changes if c.kind is ChangeKind.STATEMENT_CREATED}
    assert created == {s.id for s in subject.data.statements}
    assert [c.at for c in changes] == sorted(c.at for c in changes)
    assert len(await subject.platform.list_recent_changes(EPOCH, 2)) == 2
    assert await subject.platform.list_recent_changes(subject.clock.now, 10) == []


# ---------------------------------------------------------------------- balance changes (outreach)


def _feed(subject: Subject) -> BalanceFeed:
    """The platform's balance feed; an adapter without one (outreach cannot run on it yet) skips."""
    if not isinstance(subject.platform, BalanceFeed):
        pytest.skip("this adapter has no balance feed yet")
    return subject.platform


async def _drain(platform: BalanceFeed, cursor: str | None, limit: int = 1000) -> tuple[list[str], str]:
    """Every account named after ``cursor``, page by page, and the cursor after the last page."""
    named: list[str] = []
    while True:
        page = await platform.list_balance_changes(cursor, limit)
        named.extend(a.patient_id for a in page.accounts)
        if page.cursor == cursor:
            return named, page.cursor
        cursor = page.cursor


async def test_balance_changes_name_every_account_once_per_page_with_its_facts(subject: Subject) -> None:
    feed = _feed(subject)
    subject.clock.tick(3600)  # the loaded history has settled
    page = await feed.list_balance_changes(None, 1000)
    assert [a.patient_id for a in page.accounts] == PIDS
    p1 = next(a for a in page.accounts if a.patient_id == P1)
    assert p1.balance_cents == (await subject.platform.get_account_summary(P1)).balance_cents == 17000
    assert p1.plan_in_good_standing
    assert p1.plan_count == 1
    assert p1.plan_default_count == 0
    assert p1.newest_statement_id == sid(1, 2)
    assert p1.payment_count == 1
    assert p1.partial_payment_count == 1
    assert not (p1.open_dispute)
    assert not (p1.legal_flag)
    assert not (p1.hardship_review)
    assert not (p1.self_pay)
    p0 = next(a for a in page.accounts if a.patient_id == P0)
    assert not p0.plan_in_good_standing
    # Nothing changed since: the same cursor, no account.
    again = await feed.list_balance_changes(page.cursor, 1000)
    assert again.accounts == ()
    assert again.cursor == page.cursor


async def test_balance_changes_page_by_cursor_without_losing_an_account(subject: Subject) -> None:
    feed = _feed(subject)
    subject.clock.tick(3600)
    named, _ = await _drain(feed, None, limit=2)
    assert set(named) == set(PIDS)


async def test_a_payment_a_plan_and_a_default_each_name_the_account(subject: Subject) -> None:
    feed = _feed(subject)
    subject.clock.tick(3600)
    _, cursor = await _drain(feed, None)
    await subject.platform.record_payment(P2, pay(sid(2, 0), 700, key="feed-pay"))
    subject.clock.tick(10)
    page = await feed.list_balance_changes(cursor, 100)
    assert [(a.patient_id, a.last_change) for a in page.accounts] == [(P2, ChangeKind.PAYMENT_POSTED)]
    assert page.accounts[0].balance_cents == (await subject.platform.get_account_summary(P2)).balance_cents
    await subject.platform.set_plan_status(P1, "plan-p1", PlanStatus.DEFAULTED, None)
    subject.clock.tick(10)
    page = await feed.list_balance_changes(page.cursor, 100)
    (p1,) = page.accounts
    assert (p1.patient_id, p1.last_change, p1.plan_in_good_standing, p1.plan_default_count) == (
        P1,
        ChangeKind.PLAN_STATUS_CHANGED,
        False,
        1,
    )


async def test_account_activity_flags_disputes_and_legal_tickets(subject: Subject) -> None:
    feed = _feed(subject)
    await subject.platform.create_ticket(P0, ticket_request("dispute"))
    await subject.platform.create_ticket(P2, ticket_request("legal", reason=TicketReason.LEGAL))
    activity = {a.patient_id: a for a in await feed.get_account_activity([P0, P2, "nobody"])}
    assert set(activity) == {P0, P2}
    assert activity[P0].open_dispute
    assert not activity[P0].legal_flag
    assert activity[P2].legal_flag
    assert not activity[P2].open_dispute
    # Isolation: the flags are the patient's own.
    (p1,) = await feed.get_account_activity([P1])
    assert not (p1.open_dispute)
    assert not (p1.legal_flag)
