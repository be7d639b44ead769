"""The outreach decision pass over many accounts: ``python -m bench.outreach [--accounts N]
[--backend sqlite|postgres] [--url URL] [--page P]``.

Builds a synthetic practice of N accounts (each with a coverage, one statement of one line, a third
of them with a payment, some with plans and tickets) in a fresh database, then times one decision pass
from an empty cursor: the ledger's balance-change feed, bulk snapshots, ``decide`` per account, the
step upserts and one audit record per decision. Prints the figures as JSON. The target is 100,000
accounts in 60 s or less on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from agent.outreach.engine import OutreachEngine
from guardrails.audit import AuditTrail
from guardrails.policy import default_policy
from migrations import migrate_service
from tools.db import create_engine, normalize_url
from tools.messaging.consent import SmsConsentStore
from tools.messaging.log import LogMessaging
from tools.outreach.store import OutreachStepRow, OutreachStore
from tools.platforms.ledger import LedgerPlatform, PracticeData, migrate
from tools.platforms.models import (
    Adjustment,
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
    StatementStatus,
)

STATES = (("NY", "100"), ("CA", "941"), ("TX", "750"), ("FL", "331"), ("IL", "606"), ("AZ", "850"))
TODAY = date(2025, 3, 10)


def synthetic_practice(accounts: int) -> PracticeData:
    data = PracticeData(
        practice=Practice(id="prac", name="Bench Clinic", phone="+15555550100", address="1 Main")
    )
    for n in range(accounts):
        pid = f"b{n:06d}"
        state, zip3 = STATES[n % len(STATES)]
        data.patients.append(
            Patient(
                id=pid,
                practice_id="prac",
                first_name=f"F{n}",
                last_name=f"L{n}",
                date_of_birth=date(1970, 1, 1) + timedelta(days=n % 15000),
                phone=f"+1555{n:07d}",
                email=f"{pid}@example.org" if n % 3 else None,
                address_line=f"{n} Main",
                city="Town",
                state=state,
                zip_code=f"{zip3}{n % 100:02d}",
                sms_consent=n % 5 != 0,
            )
        )
        if n % 4:
            data.coverages.append(
                Coverage(
                    id=f"c-{pid}",
                    patient_id=pid,
                    payer_name="Acme",
                    plan_type="PPO",
                    member_id=f"M{n}",
                    deductible_cents=100000,
                    deductible_met_cents=0,
                    out_of_pocket_max_cents=500000,
                    out_of_pocket_met_cents=0,
                    coinsurance_percent=20,
                    copay_cents=0,
                )
            )
        owed = 2000 + (n * 7919) % 150000
        sid = f"s-{pid}"
        day = TODAY - timedelta(days=n % 120)
        line = LineItem(
            id=f"l-{pid}",
            statement_id=sid,
            claim_id=None,
            service_date=day - timedelta(days=20),
            provider_name="Dr. A",
            code="99213",
            code_system="CPT",
            description="Office visit",
            billed_cents=owed + 20000,
            allowed_cents=owed + 9000,
            insurance_paid_cents=9000,
            adjustments=(Adjustment(group_code=GroupCode.CO, carc="45", amount_cents=11000),),
            coinsurance_cents=owed,
        )
        payments: tuple[Payment, ...] = ()
        if n % 3 == 0:
            paid = owed if n % 9 == 0 else owed // 3
            payments = (
                Payment(
                    id=f"p-{pid}",
                    patient_id=pid,
                    statement_id=sid,
                    amount_cents=paid,
                    posted_at=datetime.combine(day + timedelta(days=10), datetime.min.time(), UTC),
                    method=PaymentMethod.CARD,
                    source=PaymentSource.PORTAL,
                    idempotency_key=f"k-{pid}",
                ),
            )
        balance = owed - sum(p.amount_cents for p in payments)
        data.statements.append(
            Statement(
                id=sid,
                number=f"N{n}",
                patient_id=pid,
                statement_date=day,
                due_date=day + timedelta(days=30),
                line_items=(line,),
                payments=payments,
                balance_cents=balance,
                status=StatementStatus.OPEN if balance > 0 else StatementStatus.PAID,
            )
        )
        if n % 11 == 0 and balance > 0:
            half = balance // 2
            data.plans.append(
                PaymentPlan(
                    id=f"plan-{pid}",
                    patient_id=pid,
                    statement_ids=(sid,),
                    total_cents=balance,
                    down_payment_cents=0,
                    months=2,
                    installment_cents=max(half, 1),
                    installments=(
                        Installment(sequence=1, due_date=TODAY, amount_cents=half or balance),
                        *(
                            (
                                Installment(
                                    sequence=2,
                                    due_date=TODAY + timedelta(days=30),
                                    amount_cents=balance - half,
                                ),
                            )
                            if half
                            else ()
                        ),
                    ),
                    status=PlanStatus.ACTIVE,
                    created_at=datetime(2025, 3, 1, tzinfo=UTC),
                    idempotency_key=f"pk-{pid}",
                )
            )
    return data


async def run(url: str, accounts: int, page: int) -> dict[str, object]:
    started = time.perf_counter()
    await migrate(url)
    await migrate_service(url)
    engine = create_engine(url)
    now = datetime(2025, 3, 10, 16, 0, tzinfo=UTC)
    try:
        ledger = LedgerPlatform(engine, clock=lambda: now)
        await ledger.bulk_load(synthetic_practice(accounts))
        setup_s = time.perf_counter() - started

        async def thread_for(phone: str) -> str:
            return f"sms:{phone}"

        outreach = OutreachEngine(
            platform=ledger,
            store=OutreachStore(engine, clock=lambda: now),
            consent=SmsConsentStore(engine),
            audit=AuditTrail(engine, clock=lambda: now),
            policy=default_policy(),
            channels={"sms": LogMessaging()},
            link_for=lambda pid: "https://billing.example.org/",
            thread_for=thread_for,
            clock=lambda: now,
        )
        t0, cpu0 = time.perf_counter(), time.process_time()
        report = await outreach.decide_pass(page_size=page)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        async with engine.connect() as conn:
            steps = int((await conn.execute(select(func.count()).select_from(OutreachStepRow))).scalar_one())
    finally:
        await engine.dispose()
    return {
        "backend": make_url(url).get_backend_name(),
        "accounts": accounts,
        # An account that changed in two pages of the feed is read and decided in each.
        "account_reads": report.accounts,
        "decision_pass_s": round(elapsed, 2),
        "accounts_per_s": round(accounts / elapsed) if elapsed else None,
        "process_cpu_s": round(cpu, 2),  # this process only: the database server's work is not in it
        "steps_stored": steps,
        "target_s": 60,
        "within_target": elapsed <= 60 and report.accounts >= accounts,
        "setup_s": round(setup_s, 1),
        "page": page,
        "reasons": dict(sorted(report.reasons.items())),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.outreach", description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--url", help="PostgreSQL URL (default $TEST_DATABASE_URL); a fresh schema is used")
    parser.add_argument("--page", type=int, default=5000, help="accounts read per page of the change feed")
    args = parser.parse_args(argv)
    if args.backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            print(
                json.dumps(
                    asyncio.run(
                        run(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}", args.accounts, args.page)
                    ),
                    indent=2,
                )
            )
        return 0
    base = args.url or os.environ.get("TEST_DATABASE_URL")
    if not base:
        print("bench.outreach: --url or TEST_DATABASE_URL must name a PostgreSQL database", file=sys.stderr)
        return 2
    schema = f"bench_{secrets.token_hex(6)}"
    conninfo = (
        make_url(normalize_url(base)).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        url = make_url(normalize_url(base)).update_query_dict({"options": f"-csearch_path={schema}"})
        print(
            json.dumps(
                asyncio.run(run(url.render_as_string(hide_password=False), args.accounts, args.page)),
                indent=2,
            )
        )
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
