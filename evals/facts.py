"""What the judges know about a patient: a snapshot of their ledger data, the template values task lines
use, and the set of values an agent message may mention (tool outputs and policy computations)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from guardrails.grounding import Facts
from guardrails.policy import (
    PracticePolicy,
    offer_plans,
    plan_for_monthly,
    plan_for_months,
    prompt_pay_amount,
)
from guardrails.policy import required_down_payment as policy_down_payment
from tools.payments.base import PaymentGateway, PaymentLink
from tools.platforms.base import BillingPlatform
from tools.platforms.models import (
    AccountSummary,
    Claim,
    Coverage,
    Patient,
    Payment,
    PaymentPlan,
    Statement,
    StatementStatus,
    Ticket,
)


@dataclass(frozen=True)
class PatientSnapshot:
    """A patient's data as the platform and the gateway report it."""

    patient: Patient
    summary: AccountSummary
    coverages: tuple[Coverage, ...]
    statements: tuple[Statement, ...]  # newest first
    claims: tuple[Claim, ...]
    payments: tuple[Payment, ...]
    plans: tuple[PaymentPlan, ...]
    tickets: tuple[Ticket, ...]
    links: tuple[PaymentLink, ...]

    @property
    def open_statements(self) -> tuple[Statement, ...]:
        return tuple(s for s in self.statements if s.status is StatementStatus.OPEN)


async def collect_snapshot(
    platform: BillingPlatform, gateway: PaymentGateway, patient_id: str
) -> PatientSnapshot:
    summaries = await platform.list_statements(patient_id)
    statements = [await platform.get_statement(patient_id, s.id) for s in summaries]
    return PatientSnapshot(
        patient=await platform.get_patient(patient_id),
        summary=await platform.get_account_summary(patient_id),
        coverages=tuple(await platform.list_coverages(patient_id)),
        statements=tuple(statements),
        claims=tuple(await platform.list_claims(patient_id)),
        payments=tuple(await platform.list_payments(patient_id)),
        plans=tuple(await platform.list_payment_plans(patient_id)),
        tickets=tuple(await platform.list_tickets(patient_id)),
        links=tuple(await gateway.list_links(patient_id)),
    )


def money(cents: int) -> str:
    """``$1,234.50`` — how task facts render amounts (commas are ignored when matching)."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}${cents // 100:,}.{cents % 100:02d}"


def template_values(snap: PatientSnapshot) -> dict[str, str]:
    """Values a task line or fact may name in braces, e.g. ``{balance}`` or ``{statement_number}``."""
    p = snap.patient
    values: dict[str, str] = {
        "first_name": p.first_name,
        "last_name": p.last_name,
        "zip": p.zip_code,
        "balance": money(snap.summary.balance_cents),
        "credit": money(snap.summary.credit_cents),
        "open_statement_count": str(snap.summary.open_statement_count),
        "phone_last4": (p.phone or "")[-4:],
    }
    latest = snap.open_statements[0] if snap.open_statements else (snap.statements or (None,))[0]
    if latest is not None:
        values["statement_number"] = latest.number
        values["statement_balance"] = money(latest.balance_cents)
        values["statement_date"] = latest.statement_date.isoformat()
        values["due_date"] = latest.due_date.isoformat()
        if latest.line_items:
            li = max(latest.line_items, key=lambda x: x.billed_cents)
            values["line_code"] = li.code
            values["line_billed"] = money(li.billed_cents)
            values["line_patient"] = money(li.patient_responsibility_cents)
            values["line_allowed"] = money(li.allowed_cents)
            values["line_insurance_paid"] = money(li.insurance_paid_cents)
            values["line_description"] = li.description
    for i, st in enumerate(snap.open_statements[:3]):
        values[f"statement_{i + 1}_number"] = st.number
        values[f"statement_{i + 1}_balance"] = money(st.balance_cents)
    if snap.coverages:
        cov = snap.coverages[0]
        values["payer"] = cov.payer_name
        values["deductible"] = money(cov.deductible_cents)
        values["deductible_met"] = money(cov.deductible_met_cents)
        values["deductible_remaining"] = money(max(0, cov.deductible_cents - cov.deductible_met_cents))
        values["coinsurance_percent"] = f"{cov.coinsurance_percent}%"
        values["copay"] = money(cov.copay_cents)
    if snap.claims:
        claim = snap.claims[0]
        values["claim_number"] = claim.claim_number
        values["claim_status"] = claim.status.value.replace("_", " ")
        denied = next((c for c in snap.claims if c.denial_codes), None)
        if denied is not None:
            code = denied.denial_codes[0]
            values["denial_carc"] = code.carc
            values["denial_code"] = f"{code.group_code.value}-{code.carc}"
    if snap.payments:
        values["last_payment"] = money(max(snap.payments, key=lambda x: x.posted_at).amount_cents)
    return values


# --------------------------------------------------------------------------- groundedness


@dataclass
class AllowedValues:
    """Normalised values an agent message may mention: cents, ISO dates, upper-case codes, ints."""

    amounts: set[int] = field(default_factory=set)
    dates: set[date] = field(default_factory=set)
    codes: set[str] = field(default_factory=set)
    percents: set[int] = field(default_factory=set)
    months: set[int] = field(default_factory=set)

    def add_amounts(self, values: Iterable[int]) -> None:
        for v in values:
            self.amounts.add(abs(v))

    def add_codes(self, values: Iterable[str]) -> None:
        for v in values:
            self.codes.add(v.upper())


def plan_balance_candidates(snap: PatientSnapshot) -> set[int]:
    """Balances a plan or a link may be for: the account, each open statement, runs of them."""
    open_balances = [s.balance_cents for s in snap.open_statements]
    out = {snap.summary.balance_cents, sum(b for b in open_balances if b > 0), *open_balances}
    out.update(s.balance_cents for s in snap.statements)
    # Any run of open statements (a patient may plan or pay the newest ones together).
    for i in range(len(open_balances)):
        out.add(sum(open_balances[: i + 1]))
    return {b for b in out if b > 0}


def _add_plan_terms(allowed: AllowedValues, policy: PracticePolicy, balance: int, today: date) -> None:
    allowed.amounts.add(balance)
    down = policy_down_payment(policy, balance)
    allowed.amounts.update({down, balance - down})
    pay_today = prompt_pay_amount(policy, balance)
    if pay_today is not None:
        allowed.amounts.update({pay_today, balance - pay_today})
    options = list(offer_plans(policy, balance, today))
    for months in range(1, policy.max_months_for(balance) + 1):
        option = plan_for_months(policy, balance, today, months)
        if option is not None:
            options.append(option)
    for option in options:
        allowed.amounts.update(
            {option.total_cents, option.down_payment_cents, option.installment_cents, option.total_cents}
        )
        allowed.amounts.add(option.total_cents - option.down_payment_cents)
        for inst in option.schedule:
            allowed.amounts.add(inst.amount_cents)
            allowed.dates.add(inst.due_date)
        # Labels say "5 monthly payments of $X and a final payment of $Y" for a 6-month plan.
        allowed.months.update({option.months, option.months - 1})


def allowed_values(
    snap: PatientSnapshot,
    policy: PracticePolicy,
    today: date,
    *,
    user_amounts: Iterable[int] = (),
    user_month_counts: Iterable[int] = (),
) -> AllowedValues:
    """Everything the tools returned for this patient, and what the policy engine derives from it.

    Values the patient said themselves (a counter-offer of "$5 a month") may be repeated back, and the
    policy engine's answer to each such proposal is derived and allowed too.
    """
    a = AllowedValues()
    summary = snap.summary
    a.add_amounts([summary.balance_cents, summary.credit_cents])
    for cov in snap.coverages:
        a.add_amounts(
            [
                cov.deductible_cents,
                cov.deductible_met_cents,
                cov.deductible_cents - cov.deductible_met_cents,
                cov.out_of_pocket_max_cents,
                cov.out_of_pocket_met_cents,
                cov.out_of_pocket_max_cents - cov.out_of_pocket_met_cents,
                cov.copay_cents,
            ]
        )
        a.percents.update({cov.coinsurance_percent, 100 - cov.coinsurance_percent})
    for st in snap.statements:
        a.add_amounts(
            [st.balance_cents, st.total_patient_responsibility_cents, st.total_paid_cents]
            + [p.amount_cents for p in st.payments]
        )
        a.dates.update({st.statement_date, st.due_date})
        a.dates.update(p.posted_at.date() for p in st.payments)
        a.codes.add(st.number.upper())
        billed = allowed_sum = ins = 0
        for li in st.line_items:
            billed += li.billed_cents
            allowed_sum += li.allowed_cents
            ins += li.insurance_paid_cents
            a.add_amounts(
                [
                    li.billed_cents,
                    li.allowed_cents,
                    li.insurance_paid_cents,
                    li.insurance_pending_cents,
                    li.deductible_cents,
                    li.coinsurance_cents,
                    li.copay_cents,
                    li.not_covered_cents,
                    li.patient_responsibility_cents,
                    li.contractual_adjustment_cents,
                    li.billed_cents - li.allowed_cents,
                    li.billed_cents - li.patient_responsibility_cents,
                    li.allowed_cents - li.insurance_paid_cents,
                ]
                + [adj.amount_cents for adj in li.adjustments]
            )
            a.dates.add(li.service_date)
            a.add_codes([li.code, *li.modifiers, *(f"{li.code}-{m}" for m in li.modifiers)])
            for adj in li.adjustments:
                a.add_codes([adj.group_code.value, adj.carc, f"{adj.group_code.value}-{adj.carc}"])
                a.add_codes([f"{adj.group_code.value}{adj.carc}"])
                if adj.rarc:
                    a.add_codes([adj.rarc])
        a.add_amounts([billed, allowed_sum, ins, billed - allowed_sum])
    for claim in snap.claims:
        a.add_amounts([claim.billed_cents, claim.paid_cents, claim.billed_cents - claim.paid_cents])
        a.dates.update(d for d in (claim.service_date, claim.submitted_on, claim.adjudicated_on) if d)
        a.codes.add(claim.claim_number.upper())
        for code in claim.denial_codes:
            g = code.group_code.value
            a.add_codes([g, code.carc, f"{g}-{code.carc}", f"{g}{code.carc}"])
            if code.rarc:
                a.add_codes([code.rarc])
    for pay in snap.payments:
        a.amounts.add(pay.amount_cents)
        a.dates.add(pay.posted_at.date())
    a.add_amounts([sum(p.amount_cents for p in snap.payments)])
    for plan in snap.plans:
        a.add_amounts([plan.total_cents, plan.down_payment_cents, plan.installment_cents])
        a.months.add(plan.months)
        for inst in plan.installments:
            a.amounts.add(inst.amount_cents)
            a.dates.add(inst.due_date)
        remaining = sum(i.amount_cents for i in plan.installments if i.status.value != "paid")
        a.amounts.add(remaining)
    for link in snap.links:
        a.amounts.add(link.amount_cents)
        a.dates.update({link.expires_at.date(), link.created_at.date()})

    # Policy constants and computations on every balance the patient could mean.
    a.add_amounts(
        [
            policy.min_monthly_payment_cents,
            policy.down_payment_min_cents,
            policy.auto_approve_ceiling_cents,
            policy.min_plan_balance_cents,
            policy.min_online_payment_cents,
        ]
        + [t.max_balance_cents for t in policy.tiers if t.max_balance_cents is not None]
    )
    a.percents.update({policy.down_payment_percent, 100})
    if policy.prompt_pay_discount_percent:
        a.percents.add(policy.prompt_pay_discount_percent)
    a.months.update(range(policy.min_months, max(t.max_months for t in policy.tiers) + 1))
    a.months.update(t.max_months for t in policy.tiers)
    a.dates.update({today, today + timedelta(days=7), today + timedelta(days=30)})
    for balance in plan_balance_candidates(snap):
        _add_plan_terms(a, policy, balance, today)
        # A monthly ask under the policy's minimum is countered with the plan at that minimum
        # (guardrails.policy.evaluate_counter): its terms are the policy's own.
        for monthly in [*user_amounts, policy.min_monthly_payment_cents]:
            option = plan_for_monthly(policy, balance, today, monthly)
            if option is not None:
                a.months.add(option.months)
                a.add_amounts([option.installment_cents, *(i.amount_cents for i in option.schedule)])
    a.add_amounts(user_amounts)
    a.months.update(user_month_counts)
    return a


def to_facts(allowed: AllowedValues) -> Facts:
    """The same values as ``guardrails.grounding.Facts`` (so the judge and guard_out agree on format)."""
    return (
        Facts.empty()
        .with_amounts(*sorted(allowed.amounts))
        .with_dates(*sorted(allowed.dates))
        .with_codes(*sorted(allowed.codes))
        .with_percents(*sorted(allowed.percents))
        .with_months(*sorted(allowed.months))
    )
