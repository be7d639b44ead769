"""A small, deterministic synthetic practice for the ledger tests (independent of tools/demo)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from tools.platforms.ledger.invariants import derive_status
from tools.platforms.ledger.loader import PracticeData
from tools.platforms.models import (
    Adjustment,
    Claim,
    ClaimCode,
    ClaimStatus,
    Coverage,
    GroupCode,
    Installment,
    LineItem,
    Patient,
    Payment,
    PaymentMethod,
    PaymentPlan,
    PaymentSource,
    PlanStatus,
    Practice,
    Statement,
)

TODAY = date(2025, 3, 1)


@dataclass(frozen=True)
class PracticeIds:
    """How the synthetic practice names its records. ``NAMED`` reads well in tests (``p0``,
    ``st-p0-2``); ``NUMERIC`` has the shape DrChrono's ids take (integer patients, payments, line
    items; a statement is ``appt-<appointment>``), so one conformance suite runs on every platform."""

    practice: str
    patient: Callable[[int], str]
    statement: Callable[[int, int], str]
    number: Callable[[int, int], str]
    line: Callable[[int, int, int], str]
    claim: Callable[[int, int], str]
    claim_number: Callable[[int, int], str]
    coverage: Callable[[int], str]
    payment: Callable[[int, int], str]


NAMED = PracticeIds(
    practice="prac",
    patient=lambda n: f"p{n}",
    statement=lambda n, k: f"st-p{n}-{k}",
    number=lambda n, k: f"S{n:05d}-{k}",
    line=lambda n, k, j: f"li-p{n}-{k}-{j}",
    claim=lambda n, k: f"cl-p{n}-{k}",
    claim_number=lambda n, k: f"C{n:05d}{k}",
    coverage=lambda n: f"cov-p{n}",
    payment=lambda n, k: f"pay-p{n}-{k}",
)
NUMERIC = PracticeIds(
    practice="1",
    patient=lambda n: str(1000 + n),
    statement=lambda n, k: f"appt-{2000 + 10 * n + k}",
    number=lambda n, k: f"A{2000 + 10 * n + k}",
    line=lambda n, k, j: str(30000 + 100 * n + 10 * k + j),
    claim=lambda n, k: f"claim-{2000 + 10 * n + k}",
    claim_number=lambda n, k: str(2000 + 10 * n + k),
    coverage=lambda n: f"{1000 + n}-primary",
    payment=lambda n, k: str(4000 + 10 * n + k),
)


def line_item(statement_id: str, item_id: str, claim_id: str | None, day: date) -> LineItem:
    """billed 200.00 = allowed 120.00 + CO 80.00; allowed = insurance 90.00 + patient 30.00."""
    return LineItem(
        id=item_id,
        statement_id=statement_id,
        claim_id=claim_id,
        service_date=day,
        provider_name="Dr. Rivera",
        code="99213",
        code_system="CPT",
        modifiers=("25",),
        description="Office visit",
        billed_cents=20000,
        allowed_cents=12000,
        insurance_paid_cents=9000,
        adjustments=(
            Adjustment(group_code=GroupCode.CO, carc="45", amount_cents=8000),
            Adjustment(group_code=GroupCode.PR, carc="2", rarc="N130", amount_cents=500),
        ),
        deductible_cents=2000,
        coinsurance_cents=500,
        copay_cents=500,
    )


def build_practice(
    patients: int = 3,
    statements_per_patient: int = 3,
    lines_per_statement: int = 2,
    *,
    shared_phone: bool = True,
    ids: PracticeIds = NAMED,
) -> PracticeData:
    """``patients`` patients p0..pN (named by ``ids``); p0 and p1 share a phone when ``shared_phone``.

    Each patient has one coverage and ``statements_per_patient`` statements of
    ``lines_per_statement`` lines (30.00 owed each). The newest statement of every
    patient has one 10.00 payment applied; p1 has an active plan on its oldest statement.
    """
    practice = Practice(
        id=ids.practice, name="Maple Family Medicine", phone="+15555550100", address="1 Main St"
    )
    data = PracticeData(practice=practice)
    for n in range(patients):
        pid = ids.patient(n)
        phone = "+15555550001" if shared_phone and n < 2 else f"+1555555{n + 1000:04d}"
        data.patients.append(
            Patient(
                id=pid,
                practice_id=practice.id,
                first_name=f"First{n}",
                last_name=f"Last{n}",
                date_of_birth=date(1980, 1, 1) + timedelta(days=n),
                phone=phone,
                email=f"p{n}@example.org",
                address_line=f"{n} Elm St",
                city="Springfield",
                state="IL",
                zip_code=f"{62700 + n % 90:05d}",
                sms_consent=n % 2 == 0,
                portal_user_id=f"portal-{n}",
                scenario_tags=("copay_only",),
            )
        )
        data.coverages.append(
            Coverage(
                id=ids.coverage(n),
                patient_id=pid,
                payer_name="Acme Health",
                plan_type="PPO",
                member_id=f"M{n:06d}",
                deductible_cents=150000,
                deductible_met_cents=2000,
                out_of_pocket_max_cents=500000,
                out_of_pocket_met_cents=3000,
                coinsurance_percent=20,
                copay_cents=2500,
            )
        )
        for k in range(statements_per_patient):
            sid = ids.statement(n, k)
            day = TODAY - timedelta(days=30 * (statements_per_patient - k))
            claim_id = ids.claim(n, k)
            lines = tuple(
                line_item(sid, ids.line(n, k, j), claim_id, day) for j in range(lines_per_statement)
            )
            data.claims.append(
                Claim(
                    id=claim_id,
                    patient_id=pid,
                    claim_number=ids.claim_number(n, k),
                    payer_name="Acme Health",
                    status=ClaimStatus.PARTIALLY_PAID,
                    service_date=day,
                    submitted_on=day + timedelta(days=2),
                    adjudicated_on=day + timedelta(days=20),
                    billed_cents=sum(li.billed_cents for li in lines),
                    paid_cents=sum(li.insurance_paid_cents for li in lines),
                    denial_codes=(ClaimCode(group_code=GroupCode.CO, carc="45"),),
                    line_item_ids=tuple(li.id for li in lines),
                )
            )
            payments: tuple[Payment, ...] = ()
            if k == statements_per_patient - 1:
                payments = (
                    Payment(
                        id=ids.payment(n, k),
                        patient_id=pid,
                        statement_id=sid,
                        amount_cents=1000,
                        posted_at=datetime(2025, 2, 20, 15, 0, tzinfo=UTC),
                        method=PaymentMethod.CARD,
                        source=PaymentSource.PORTAL,
                        idempotency_key=f"seed-pay-p{n}-{k}",
                    ),
                )
            balance = sum(li.patient_responsibility_cents for li in lines) - sum(
                p.amount_cents for p in payments
            )
            data.statements.append(
                Statement(
                    id=sid,
                    number=ids.number(n, k),
                    patient_id=pid,
                    statement_date=day + timedelta(days=25),
                    due_date=day + timedelta(days=55),
                    line_items=lines,
                    payments=payments,
                    balance_cents=balance,
                    status=derive_status(balance),
                )
            )
        if n == 1:
            oldest = data.statements[-statements_per_patient]
            half = oldest.balance_cents // 2
            data.plans.append(
                PaymentPlan(
                    id=f"plan-p{n}",
                    patient_id=pid,
                    statement_ids=(oldest.id,),
                    total_cents=oldest.balance_cents,
                    down_payment_cents=0,
                    months=2,
                    installment_cents=half,
                    installments=(
                        Installment(sequence=1, due_date=TODAY, amount_cents=half),
                        Installment(
                            sequence=2,
                            due_date=TODAY + timedelta(days=30),
                            amount_cents=oldest.balance_cents - half,
                        ),
                    ),
                    status=PlanStatus.ACTIVE,
                    created_at=datetime(2025, 2, 1, 12, 0, tzinfo=UTC),
                    idempotency_key=f"seed-plan-p{n}",
                )
            )
    return data
