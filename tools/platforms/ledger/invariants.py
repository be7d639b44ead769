"""Ledger invariants as pure functions.

Called by ``bulk_load`` before anything is inserted and by every write before it
commits; each raises ``InvariantViolation`` naming the record and the rule.

Per line item:
    billed = allowed + Σ CO adjustments
    allowed = insurance paid + insurance pending + patient responsibility
Per statement:
    balance = Σ patient responsibility − Σ patient payments applied to it
    status is derived from the balance (open > 0, paid = 0, credit < 0)
"""

from __future__ import annotations

from collections.abc import Iterable

from tools.errors import InvariantViolation
from tools.platforms.models import Installment, LineItem, Payment, Statement, StatementStatus


def derive_status(balance_cents: int) -> StatementStatus:
    """The status a statement with this balance must have."""
    if balance_cents > 0:
        return StatementStatus.OPEN
    if balance_cents == 0:
        return StatementStatus.PAID
    return StatementStatus.CREDIT


def statement_balance(line_items: Iterable[LineItem], payments: Iterable[Payment]) -> int:
    return sum(li.patient_responsibility_cents for li in line_items) - sum(p.amount_cents for p in payments)


def check_line_item(li: LineItem) -> None:
    contractual = li.contractual_adjustment_cents
    if li.billed_cents != li.allowed_cents + contractual:
        raise InvariantViolation(
            f"line item {li.id}: billed {li.billed_cents} != allowed {li.allowed_cents}"
            f" + contractual adjustments {contractual}"
        )
    covered = li.insurance_paid_cents + li.insurance_pending_cents + li.patient_responsibility_cents
    if li.allowed_cents != covered:
        raise InvariantViolation(
            f"line item {li.id}: allowed {li.allowed_cents} != insurance paid {li.insurance_paid_cents}"
            f" + insurance pending {li.insurance_pending_cents}"
            f" + patient responsibility {li.patient_responsibility_cents}"
        )


def check_statement(st: Statement) -> None:
    for li in st.line_items:
        if li.statement_id != st.id:
            raise InvariantViolation(f"line item {li.id} belongs to {li.statement_id}, not statement {st.id}")
        check_line_item(li)
    for p in st.payments:
        if p.statement_id != st.id:
            raise InvariantViolation(f"payment {p.id} is applied to {p.statement_id}, not statement {st.id}")
        if p.patient_id != st.patient_id:
            raise InvariantViolation(f"payment {p.id} of another patient is applied to statement {st.id}")
        check_amount(p.amount_cents, f"payment {p.id}")
    expected = statement_balance(st.line_items, st.payments)
    if st.balance_cents != expected:
        raise InvariantViolation(
            f"statement {st.id}: balance {st.balance_cents} != patient responsibility"
            f" {st.total_patient_responsibility_cents} - payments {st.total_paid_cents}"
        )
    if st.status is not derive_status(expected):
        raise InvariantViolation(
            f"statement {st.id}: status {st.status.value} does not match balance {st.balance_cents}"
        )


def check_amount(amount_cents: int, what: str) -> None:
    if amount_cents <= 0:
        raise InvariantViolation(f"{what}: amount must be positive, got {amount_cents}")


def schedule_total(installments: Iterable[Installment]) -> int:
    return sum(i.amount_cents for i in installments)
