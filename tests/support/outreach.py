"""A small practice for the outreach tests: one patient per situation outreach must tell apart, each with
one statement, plus the engine wired to the real ledger, step store, consent store and audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from agent.outreach.engine import OutreachEngine, Pacer
from guardrails.audit import AuditTrail
from guardrails.policy import PracticePolicy, default_policy
from tools.messaging.base import Messaging
from tools.messaging.consent import SmsConsentStore
from tools.outreach.store import OutreachStore
from tools.platforms.ledger import LedgerPlatform, PracticeData
from tools.platforms.models import (
    Adjustment,
    Coverage,
    GroupCode,
    Installment,
    LineItem,
    Patient,
    PaymentPlan,
    PlanStatus,
    Practice,
    Statement,
    StatementStatus,
    TicketPriority,
    TicketReason,
    TicketRequest,
)

TEMPLATES_FILE = Path(__file__).resolve().parents[2] / "guardrails" / "data" / "outreach_templates.yaml"
STATEMENT_DAY = date(2025, 3, 3)  # a Monday
# 15:00 UTC is 10:00 in New York and 07:00 in Los Angeles (before the window opens there).
START = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)

# id → (first name, state, ZIP, balance cents, sms consent, extra)
PEOPLE: dict[str, tuple[str, str, str, int, bool, str]] = {
    "karen": ("Karen", "NY", "10001", 21500, True, ""),
    "omar": ("Omar", "NY", "10002", 64000, True, ""),
    "lena": ("Lena", "CA", "94105", 9000, True, ""),
    "paid": ("Paula", "NY", "10003", 0, True, ""),
    "disputed": ("Dana", "NY", "10004", 30000, True, "dispute"),
    "attorney": ("Artie", "NY", "10005", 30000, True, "legal"),
    "onplan": ("Pia", "NY", "10006", 60000, True, "plan"),
    "noconsent": ("Nico", "NY", "10007", 21500, False, ""),
}


def phone_of(pid: str, people: dict[str, tuple[str, str, str, int, bool, str]] | None = None) -> str:
    return f"+1555555{list(people or PEOPLE).index(pid) + 2000:04d}"


def _line(sid: str, n: int, responsibility: int) -> LineItem:
    return LineItem(
        id=f"li-{sid}-{n}",
        statement_id=sid,
        claim_id=None,
        service_date=STATEMENT_DAY - timedelta(days=20),
        provider_name="Dr. Rivera",
        code="99213",
        code_system="CPT",
        description="Office visit, established patient",
        billed_cents=responsibility + 20000,
        allowed_cents=responsibility + 9000,
        insurance_paid_cents=9000,
        adjustments=(Adjustment(group_code=GroupCode.CO, carc="45", amount_cents=11000),),
        coinsurance_cents=responsibility,
    )


def statement(pid: str, sid: str, balance: int, day: date = STATEMENT_DAY) -> Statement:
    lines = (_line(sid, 0, balance),) if balance > 0 else (_line(sid, 0, 0),)
    return Statement(
        id=sid,
        number=f"N-{sid}",
        patient_id=pid,
        statement_date=day,
        due_date=day + timedelta(days=30),
        line_items=lines,
        payments=(),
        balance_cents=balance,
        status=StatementStatus.OPEN if balance > 0 else StatementStatus.PAID,
    )


def practice(people: dict[str, tuple[str, str, str, int, bool, str]] | None = None) -> PracticeData:
    people = people or PEOPLE
    data = PracticeData(
        practice=Practice(id="prac", name="Maple Family Medicine", phone="+15555550100", address="1 Main St")
    )
    for pid, (first, state, zip_code, balance, consent, extra) in people.items():
        data.patients.append(
            Patient(
                id=pid,
                practice_id="prac",
                first_name=first,
                last_name="Smithson",
                date_of_birth=date(1980, 5, 17),
                phone=phone_of(pid, people),
                email=f"{pid}@example.org",
                address_line="12 Elm Street",
                city="Town",
                state=state,
                zip_code=zip_code,
                sms_consent=consent,
                portal_user_id=f"portal-{pid}",
            )
        )
        data.coverages.append(
            Coverage(
                id=f"cov-{pid}",
                patient_id=pid,
                payer_name="Acme Health",
                plan_type="PPO",
                member_id=f"M-{pid}",
                deductible_cents=100000,
                deductible_met_cents=0,
                out_of_pocket_max_cents=500000,
                out_of_pocket_met_cents=0,
                coinsurance_percent=20,
                copay_cents=0,
            )
        )
        data.statements.append(statement(pid, f"st-{pid}", balance))
        if extra == "plan":
            data.plans.append(
                PaymentPlan(
                    id=f"plan-{pid}",
                    patient_id=pid,
                    statement_ids=(f"st-{pid}",),
                    total_cents=balance,
                    down_payment_cents=0,
                    months=2,
                    installment_cents=balance // 2,
                    installments=(
                        Installment(
                            sequence=1, due_date=STATEMENT_DAY + timedelta(days=30), amount_cents=balance // 2
                        ),
                        Installment(
                            sequence=2,
                            due_date=STATEMENT_DAY + timedelta(days=60),
                            amount_cents=balance - balance // 2,
                        ),
                    ),
                    status=PlanStatus.ACTIVE,
                    created_at=datetime(2025, 3, 3, 12, tzinfo=UTC),
                    idempotency_key=f"seed-plan-{pid}",
                )
            )
    return data


def tickets_for(data: PracticeData) -> list[tuple[str, TicketReason]]:
    return [
        (pid, TicketReason.DISPUTE_CHARGE if extra == "dispute" else TicketReason.LEGAL)
        for pid, (*_, extra) in PEOPLE.items()
        if extra in ("dispute", "legal") and any(p.id == pid for p in data.patients)
    ]


class Clock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


def templates() -> dict[str, dict[str, str]]:
    loaded: dict[str, dict[str, str]] = yaml.safe_load(TEMPLATES_FILE.read_text(encoding="utf-8"))
    return loaded


@dataclass
class World:
    ledger: LedgerPlatform
    store: OutreachStore
    consent: SmsConsentStore
    audit: AuditTrail
    engine: OutreachEngine
    clock: Clock
    slept: list[float]


def build_world(
    engine_db: Any,
    ledger: LedgerPlatform,
    channels: dict[str, Messaging],
    clock: Clock,
    *,
    policy: PracticePolicy | None = None,
    worker: str = "w1",
) -> World:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def thread_for(phone: str) -> str:
        return f"sms-thread:{phone}"

    store = OutreachStore(engine_db, clock=clock)
    consent = SmsConsentStore(engine_db, clock=clock)
    audit = AuditTrail(engine_db, clock=clock)
    engine = OutreachEngine(
        platform=ledger,
        store=store,
        consent=consent,
        audit=audit,
        policy=policy or default_policy(),
        channels=channels,
        link_for=lambda pid: "https://billing.example.org/pay",
        thread_for=thread_for,
        worker=worker,
        clock=clock,
        sleep=sleep,
        pacer=Pacer(1.0, monotonic=lambda: 0.0, sleep=sleep),
        retry_base_s=0.5,
    )
    return World(ledger, store, consent, audit, engine, clock, slept)


async def open_tickets(ledger: LedgerPlatform, data: PracticeData) -> None:
    for pid, reason in tickets_for(data):
        await ledger.create_ticket(
            pid,
            TicketRequest(
                thread_id=f"t-{pid}",
                statement_id=None,
                reason=reason,
                priority=TicketPriority.HIGH,
                summary="flag",
                transcript=(),
                idempotency_key=f"seed-ticket-{pid}",
            ),
        )


async def approve_all(store: OutreachStore) -> None:
    await store.seed_templates(templates())
    for t in await store.templates():
        await store.approve_template(t.key, t.language, t.version, "manager@example.org")
