"""The canonical projection of what a conversation wrote, and the replay of a task's reference actions.

τ-bench hashes the database the agent left and the one its reference actions produce. We do the same on
a projection that keeps what matters for money and escalation and drops generated ids and timestamps:
plans (terms, first due date, status), links (amount, purpose, status), tickets (reason, priority,
context present) and payments, for the task's patient, plus per-table row counts for everyone else (a
write to another patient is a difference).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from evals.facts import PatientSnapshot
from evals.task import AmountSpec, CreateLink, CreatePlan, OpenTicket, ReferenceAction
from guardrails.policy import PlanOption, PracticePolicy, offer_plans, plan_for_monthly, plan_for_months
from tools.payments.base import LinkRequest, PaymentGateway
from tools.platforms.base import BillingPlatform
from tools.platforms.models import (
    Author,
    PaymentPlan,
    PlanRequest,
    TicketRequest,
    TranscriptLine,
)

Row = dict[str, object]

_WRITE_TABLES = ("payment_plans", "payment_links", "tickets", "payments")
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Projection:
    plans: tuple[tuple[tuple[str, object], ...], ...]
    links: tuple[tuple[tuple[str, object], ...], ...]
    tickets: tuple[tuple[tuple[str, object], ...], ...]
    payments: tuple[tuple[tuple[str, object], ...], ...]
    others: tuple[tuple[str, int], ...]  # rows written for other patients, per table

    def as_dict(self) -> dict[str, object]:
        return {
            "plans": [dict(r) for r in self.plans],
            "links": [dict(r) for r in self.links],
            "tickets": [dict(r) for r in self.tickets],
            "payments": [dict(r) for r in self.payments],
            "others": dict(self.others),
        }


def freeze(rows: list[Row]) -> tuple[tuple[tuple[str, object], ...], ...]:
    return tuple(sorted(tuple(sorted(r.items())) for r in rows))


def _plan_row(plan: PaymentPlan) -> Row:
    first = min((i.due_date for i in plan.installments if i.sequence >= 1), default=None)
    return {
        "total_cents": plan.total_cents,
        "down_payment_cents": plan.down_payment_cents,
        "months": plan.months,
        "installment_cents": plan.installment_cents,
        "first_due": first.isoformat() if first else None,
        "status": plan.status.value,
    }


async def patient_counts(engine: AsyncEngine, patient_id: str) -> dict[str, int]:
    """Rows per write table that belong to ``patient_id``."""
    out: dict[str, int] = {}
    async with engine.connect() as conn:
        for table in _WRITE_TABLES:
            result = await conn.execute(
                text(f"SELECT count(*) FROM {table} WHERE patient_id = :p"),  # table: a fixed name above
                {"p": patient_id},
            )
            out[table] = int(result.scalar_one())
    return out


async def write_counts(engine: AsyncEngine, patient_id: str) -> dict[str, int]:
    """Rows per write table that belong to patients other than ``patient_id``."""
    out: dict[str, int] = {}
    async with engine.connect() as conn:
        for table in _WRITE_TABLES:
            result = await conn.execute(
                text(f"SELECT count(*) FROM {table} WHERE patient_id != :p"),  # table: a fixed name above
                {"p": patient_id},
            )
            out[table] = int(result.scalar_one())
    return out


async def project(
    platform: BillingPlatform,
    gateway: PaymentGateway,
    engine: AsyncEngine,
    patient_id: str,
    baseline: PatientSnapshot,
    baseline_others: Mapping[str, int],
) -> Projection:
    """What changed for ``patient_id`` since ``baseline`` (new records only), and for anyone else."""
    old_plans = {p.id for p in baseline.plans}
    old_links = {x.id for x in baseline.links}
    old_tickets = {t.id for t in baseline.tickets}
    old_payments = {p.id for p in baseline.payments}
    all_plans = await platform.list_payment_plans(patient_id)
    plans: list[Row] = [_plan_row(p) for p in all_plans if p.id not in old_plans]
    links: list[Row] = [
        {
            "amount_cents": x.amount_cents,
            "purpose": x.purpose,
            "status": x.status,
            "for_plan": x.plan_id is not None,
        }
        for x in await gateway.list_links(patient_id)
        if x.id not in old_links
    ]
    tickets: list[Row] = [
        {"reason": t.reason.value, "priority": t.priority.value, "status": t.status.value}
        for t in await platform.list_tickets(patient_id)
        if t.id not in old_tickets
    ]
    payments: list[Row] = [
        {"amount_cents": p.amount_cents, "source": p.source.value}
        for p in await platform.list_payments(patient_id)
        if p.id not in old_payments
    ]
    now_others = await write_counts(engine, patient_id)
    deltas = {t: n - baseline_others.get(t, 0) for t, n in now_others.items()}
    others = tuple(sorted((t, d) for t, d in deltas.items() if d))
    return Projection(freeze(plans), freeze(links), freeze(tickets), freeze(payments), others)


def diff(agent: Projection, reference: Projection) -> list[str]:
    """Field-level differences, one line each ("plans: missing {...}" / "links: unexpected {...}")."""
    lines: list[str] = []
    a, r = agent.as_dict(), reference.as_dict()
    for key in ("plans", "links", "tickets", "payments"):
        got = [dict(x) for x in getattr(agent, key)]
        want = [dict(x) for x in getattr(reference, key)]
        for row in want:
            if row in got:
                got.remove(row)
            else:
                lines.append(f"{key}: missing {row}")
        lines.extend(f"{key}: unexpected {row}" for row in got)
    if a["others"] != r["others"]:
        lines.append(f"other patients: wrote {a['others']} (expected {r['others']})")
    return lines


# --------------------------------------------------------------------------- reference replay


def plan_balance(snap: PatientSnapshot, which: str) -> int:
    if which == "statement" and snap.open_statements:
        return snap.open_statements[0].balance_cents
    return snap.summary.balance_cents


def resolve_plan(action: CreatePlan, policy: PracticePolicy, balance: int, today: date) -> PlanOption:
    option: PlanOption | None
    if action.option is not None:
        offers = offer_plans(policy, balance, today)
        option = offers[action.option] if action.option < len(offers) else None
    elif action.months is not None:
        option = plan_for_months(policy, balance, today, action.months)
    else:
        assert action.monthly_cents is not None  # validated: exactly one selector
        option = plan_for_monthly(policy, balance, today, action.monthly_cents)
    if option is None:
        raise ValueError(f"reference plan {action.model_dump(exclude_none=True)} is outside policy")
    return option


def resolve_amount(spec: AmountSpec | int, snap: PatientSnapshot, plan: PlanOption | None) -> int:
    if isinstance(spec, int):
        return spec
    if spec == "balance":
        return snap.summary.balance_cents
    if spec == "statement_balance":
        return plan_balance(snap, "statement")
    if plan is None:
        raise ValueError(f"link amount {spec!r} needs a create_plan action before it")
    if spec == "down_payment":
        return plan.down_payment_cents
    return next(i.amount_cents for i in plan.schedule if i.sequence == 1)


async def replay(
    actions: list[ReferenceAction],
    platform: BillingPlatform,
    gateway: PaymentGateway,
    snap: PatientSnapshot,
    policy: PracticePolicy,
    today: date,
    thread_id: str,
) -> None:
    """Apply the reference actions to a fresh copy of the ledger, as the ideal agent would."""
    patient_id = snap.patient.id
    last_plan: PlanOption | None = None
    plan_id: str | None = None
    for n, action in enumerate(actions):
        key = f"eval-ref:{thread_id}:{n}"
        if isinstance(action, CreatePlan):
            balance = plan_balance(snap, action.balance)
            last_plan = resolve_plan(action, policy, balance, today)
            ids = tuple(s.id for s in snap.open_statements)
            if action.balance == "statement":
                ids = ids[:1]
            plan = await platform.create_payment_plan(
                patient_id,
                PlanRequest(
                    statement_ids=ids,
                    total_cents=last_plan.total_cents,
                    down_payment_cents=last_plan.down_payment_cents,
                    months=last_plan.months,
                    installment_cents=last_plan.installment_cents,
                    installments=last_plan.schedule,
                    requires_approval=last_plan.requires_approval,
                    idempotency_key=key,
                ),
            )
            plan_id = plan.id
        elif isinstance(action, CreateLink):
            amount = resolve_amount(action.amount, snap, last_plan)
            statement = snap.open_statements[0].id if snap.open_statements else None
            await gateway.create_link(
                LinkRequest(
                    patient_id=patient_id,
                    statement_id=statement,
                    plan_id=plan_id if action.purpose.startswith("plan_") else None,
                    amount_cents=amount,
                    purpose=action.purpose,
                    description="reference",
                    idempotency_key=key,
                )
            )
        elif isinstance(action, OpenTicket):
            await platform.create_ticket(
                patient_id,
                TicketRequest(
                    thread_id=thread_id,
                    statement_id=None,
                    reason=action.reason,
                    priority=action.priority,
                    summary="reference",
                    transcript=(TranscriptLine(author=Author.SYSTEM, text="reference", at=_EPOCH),),
                    idempotency_key=key,
                ),
            )
