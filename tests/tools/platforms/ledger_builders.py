"""A small, deterministic synthetic practice for the ledger tests (independent of tools/demo)."""

from __future__ import annotations

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
) -> PracticeData:
    """``patients`` patients p0..pN; p0 and p1 share a phone when ``shared_phone``.

    Each patient has one coverage and ``statements_per_patient`` statements of
    ``lines_per_statement`` lines (30.00 owed each). The newest statement of every
    patient has one 10.00 payment applied; p1 has an active plan on its oldest statement.
    """
    practice = Practice(id="prac", name="Maple Family Medicine", phone="+15555550100", address="1 Main St")
    data = PracticeData(practice=practice)
    for n in range(patients):
        pid = f"p{n}"
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
                id=f"cov-{pid}",
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
            sid = f"st-{pid}-{k}"
            day = TODAY - timedelta(days=30 * (statements_per_patient - k))
            claim_id = f"cl-{pid}-{k}"
            lines = tuple(
                line_item(sid, f"li-{pid}-{k}-{j}", claim_id, day) for j in range(lines_per_statement)
            )
            data.claims.append(
                Claim(
                    id=claim_id,
                    patient_id=pid,
                    claim_number=f"C{n:05d}{k}",
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
                        id=f"pay-{pid}-{k}",
                        patient_id=pid,
                        statement_id=sid,
                        amount_cents=1000,
                        posted_at=datetime(2025, 2, 20, 15, 0, tzinfo=UTC),
                        method=PaymentMethod.CARD,
                        source=PaymentSource.PORTAL,
                        idempotency_key=f"seed-pay-{pid}-{k}",
                    ),
                )
            balance = sum(li.patient_responsibility_cents for li in lines) - sum(
                p.amount_cents for p in payments
            )
            data.statements.append(
                Statement(
                    id=sid,
                    number=f"S{n:05d}-{k}",
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
                    id=f"plan-{pid}",
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
                    idempotency_key=f"seed-plan-{pid}",
                )
            )
    return data
