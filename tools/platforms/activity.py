"""An account's outreach facts (:class:`AccountActivity`) from what any platform's port reads return.

The embedded ledger computes these facts in set queries over its tables; a remote adapter (DrChrono,
FHIR) has only its reads, so it builds them here from the patient, the statements, payments, plans,
tickets and coverages it already maps onto our models. The rules are the ledger's (``_activity`` in
``ledger/platform.py``): the balance is Σ statement balances − unapplied payments; a payment is on time
when posted on or before its statement's due date and partial when below the statement's patient
responsibility; a plan is in good standing when active with no missed installment; a dispute or
hardship is an unresolved ticket of that reason, a legal flag any legal ticket.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from tools.platforms.models import (
    AccountActivity,
    ChangeKind,
    Coverage,
    InstallmentStatus,
    Patient,
    Payment,
    PaymentPlan,
    PlanStatus,
    Statement,
    StatementStatus,
    Ticket,
    TicketReason,
    TicketStatus,
)

DISPUTE_REASONS = frozenset({TicketReason.DISPUTE_CHARGE, TicketReason.DISPUTE_ALREADY_PAID})


def account_activity(
    patient: Patient,
    statements: Sequence[Statement],
    payments: Sequence[Payment],
    plans: Sequence[PaymentPlan],
    tickets: Sequence[Ticket],
    coverages: Sequence[Coverage],
    last_change: ChangeKind,
    changed_at: datetime,
) -> AccountActivity:
    by_id = {s.id: s for s in statements}
    balance = sum(s.balance_cents for s in statements) - sum(
        p.amount_cents for p in payments if p.statement_id is None
    )
    newest = max(statements, key=lambda s: (s.statement_date, s.id), default=None)
    open_ = [s for s in statements if s.status is StatementStatus.OPEN]
    owing = [s for s in statements if s.balance_cents > 0]
    service_days = [li.service_date for s in owing for li in s.line_items]
    on_time = partial = 0
    days: list[int] = []
    for p in payments:
        st = by_id.get(p.statement_id) if p.statement_id is not None else None
        if st is None:
            continue
        paid_on = p.posted_at.astimezone(UTC).date()
        on_time += paid_on <= st.due_date
        partial += p.amount_cents < st.total_patient_responsibility_cents
        days.append(max(0, (paid_on - st.statement_date).days))
    days.sort()
    unresolved = [t for t in tickets if t.status is not TicketStatus.RESOLVED]
    return AccountActivity(
        patient_id=patient.id,
        balance_cents=balance,
        phone=patient.phone,
        email_on_file=bool(patient.email),
        sms_consent=patient.sms_consent,
        preferred_channel=patient.preferred_channel,
        language=patient.language,
        state=patient.state,
        zip_code=patient.zip_code,
        timezone=patient.timezone,
        last_change=last_change,
        changed_at=changed_at,
        newest_statement_id=newest.id if newest else None,
        newest_statement_date=newest.statement_date if newest else None,
        oldest_open_statement_date=min((s.statement_date for s in open_), default=None),
        oldest_open_service_date=min(service_days, default=None),
        payment_count=len(payments),
        on_time_payment_count=on_time,
        partial_payment_count=partial,
        median_days_to_pay=days[len(days) // 2] if days else None,
        last_payment_at=max((p.posted_at for p in payments), default=None),
        plan_count=len(plans),
        plan_default_count=sum(1 for p in plans if p.status is PlanStatus.DEFAULTED),
        plan_in_good_standing=any(
            p.status is PlanStatus.ACTIVE
            and all(i.status is not InstallmentStatus.MISSED for i in p.installments)
            for p in plans
        ),
        open_dispute=any(t.reason in DISPUTE_REASONS for t in unresolved),
        legal_flag=any(t.reason is TicketReason.LEGAL for t in tickets),
        hardship_review=any(t.reason is TicketReason.FINANCIAL_HARDSHIP for t in unresolved),
        self_pay=not any(c.active for c in coverages),
    )


def encode_cursor(at: datetime, seen: Sequence[str]) -> str:
    """A time cursor for a platform whose change filter is "updated at or after" an instant: the
    instant of the last change read and the changes read at exactly that instant (so a page cut in
    the middle of one instant neither loses nor repeats a change)."""
    return at.astimezone(UTC).isoformat() + "|" + ",".join(sorted(seen))


def decode_cursor(cursor: str | None) -> tuple[datetime | None, frozenset[str]]:
    if not cursor:
        return None, frozenset()
    stamp, _, seen = cursor.partition("|")
    try:
        at = datetime.fromisoformat(stamp)
    except ValueError as exc:
        raise ValueError(f"not a cursor of this platform's feed: {cursor!r}") from exc
    return at, frozenset(s for s in seen.split(",") if s)
