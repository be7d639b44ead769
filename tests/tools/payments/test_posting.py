from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tools.db import Base, create_engine
from tools.errors import IdempotencyConflict, StatementNotFound
from tools.payments import LinkRequest, PaymentEvent, SandboxGateway, post_payment_event, posting_key
from tools.payments.sandbox import PaymentLinkRow
from tools.platforms.ledger import LedgerPlatform, PracticeData, bulk_load
from tools.platforms.models import (
    Adjustment,
    GroupCode,
    LineItem,
    Patient,
    PaymentMethod,
    PaymentSource,
    Practice,
    Statement,
    StatementStatus,
)

PAID_AT = datetime(2025, 3, 3, 15, 0, tzinfo=UTC)


def statement(patient_id: str, number: str) -> Statement:
    """One office visit: billed 200.00 = allowed 120.00 + CO 80.00; insurance 70.00, patient 50.00."""
    sid = f"st-{number}"
    line = LineItem(
        id=f"li-{number}",
        statement_id=sid,
        claim_id=None,
        service_date=date(2025, 1, 10),
        provider_name="Dr. Okafor",
        code="99214",
        code_system="CPT",
        description="Office visit",
        billed_cents=20_000,
        allowed_cents=12_000,
        insurance_paid_cents=7_000,
        adjustments=(Adjustment(group_code=GroupCode.CO, carc="45", amount_cents=8_000),),
        deductible_cents=3_000,
        coinsurance_cents=2_000,
    )
    return Statement(
        id=sid,
        number=number,
        patient_id=patient_id,
        statement_date=date(2025, 2, 1),
        due_date=date(2025, 3, 3),
        line_items=(line,),
        payments=(),
        balance_cents=5_000,
        status=StatementStatus.OPEN,
    )


def practice() -> PracticeData:
    data = PracticeData(
        practice=Practice(
            id="rfm", name="Riverside Family Medicine", phone="+15550102000", address="1 River Rd"
        )
    )
    for n, pid in enumerate(["pat-a", "pat-b"]):
        data.patients.append(
            Patient(
                id=pid,
                practice_id="rfm",
                first_name=f"First{n}",
                last_name=f"Last{n}",
                date_of_birth=date(1980, 5, 1 + n),
                address_line=f"{n} Elm St",
                city="Riverside",
                state="NY",
                zip_code="12000",
            )
        )
    data.statements.extend([statement("pat-a", "S-1"), statement("pat-a", "S-2"), statement("pat-b", "S-3")])
    return data


@pytest.fixture
async def ledger_engine(migrated_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(migrated_database_url)
    await bulk_load(engine, practice())
    links = Base.metadata.tables[PaymentLinkRow.__tablename__]
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: Base.metadata.create_all(sync, tables=[links]))
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def ledger(ledger_engine: AsyncEngine) -> LedgerPlatform:
    return LedgerPlatform(ledger_engine)


def event(
    link_id: str, statement_id: str | None = "st-S-1", amount_cents: int = 5_000, **kw: str
) -> PaymentEvent:
    return PaymentEvent(
        event_id=kw.get("event_id", f"evt_{link_id}"),
        link_id=link_id,
        patient_id=kw.get("patient_id", "pat-a"),
        statement_id=statement_id,
        amount_cents=amount_cents,
        external_id=f"ext_{link_id}",
        occurred_at=PAID_AT,
    )


async def test_the_same_event_posted_ten_times_is_one_payment(ledger: LedgerPlatform) -> None:
    sequential = [await post_payment_event(ledger, event("pl_1")) for _ in range(5)]
    concurrent = await asyncio.gather(*(post_payment_event(ledger, event("pl_1")) for _ in range(5)))

    payments = await ledger.list_payments("pat-a")
    assert len(payments) == 1
    payment = payments[0]
    assert all(p == payment for p in [*sequential, *concurrent])
    assert payment.amount_cents == 5_000
    assert payment.statement_id == "st-S-1"
    assert payment.method is PaymentMethod.CARD
    assert payment.source is PaymentSource.PAYMENT_LINK
    assert payment.external_id == "ext_pl_1"
    assert payment.idempotency_key == posting_key("pl_1")
    statement_after = await ledger.get_statement("pat-a", "st-S-1")
    assert statement_after.balance_cents == 0
    assert statement_after.status is StatementStatus.PAID


async def test_events_for_two_links_are_two_payments(ledger: LedgerPlatform) -> None:
    first = await post_payment_event(ledger, event("pl_1", amount_cents=2_000))
    second = await post_payment_event(ledger, event("pl_2", amount_cents=1_500))

    assert first.id != second.id
    assert sorted(p.amount_cents for p in await ledger.list_payments("pat-a")) == [1_500, 2_000]
    assert (await ledger.get_statement("pat-a", "st-S-1")).balance_cents == 1_500


async def test_a_redelivery_under_a_new_event_id_posts_once(ledger: LedgerPlatform) -> None:
    first = await post_payment_event(ledger, event("pl_1"))
    again = await post_payment_event(ledger, event("pl_1", event_id="evt_redelivered"))

    assert again == first
    assert len(await ledger.list_payments("pat-a")) == 1


async def test_a_second_event_for_a_link_with_another_amount_conflicts(ledger: LedgerPlatform) -> None:
    await post_payment_event(ledger, event("pl_1", amount_cents=5_000))

    with pytest.raises(IdempotencyConflict):
        await post_payment_event(ledger, event("pl_1", amount_cents=4_000))
    assert [p.amount_cents for p in await ledger.list_payments("pat-a")] == [5_000]


async def test_an_event_naming_another_patients_statement_posts_nothing(ledger: LedgerPlatform) -> None:
    with pytest.raises(StatementNotFound):
        await post_payment_event(ledger, event("pl_1", statement_id="st-S-3"))

    assert await ledger.list_payments("pat-a") == []
    assert await ledger.list_payments("pat-b") == []
    assert (await ledger.get_statement("pat-b", "st-S-3")).balance_cents == 5_000


async def test_an_unapplied_payment_posts_to_the_account(ledger: LedgerPlatform) -> None:
    payment = await post_payment_event(ledger, event("pl_1", statement_id=None, amount_cents=700))

    assert payment.statement_id is None
    assert await ledger.list_payments("pat-a") == [payment]


async def test_sandbox_checkout_to_ledger_end_to_end(
    ledger_engine: AsyncEngine, ledger: LedgerPlatform
) -> None:
    gateway = SandboxGateway(ledger_engine, "https://billing.example.test")
    link = await gateway.create_link(
        LinkRequest(
            patient_id="pat-a",
            statement_id="st-S-2",
            plan_id=None,
            amount_cents=5_000,
            purpose="balance",
            description="Statement S-2",
            idempotency_key="link:st-S-2:1",
        )
    )

    # The checkout page is pressed twice and the event is posted from both requests.
    events = [await gateway.mark_paid(link.id), await gateway.mark_paid(link.id)]
    payments = [await post_payment_event(ledger, e) for e in events]

    assert payments[0] == payments[1]
    assert await ledger.list_payments("pat-a") == [payments[0]]
    assert (await ledger.get_statement("pat-a", "st-S-2")).balance_cents == 0
    assert (await ledger.get_statement("pat-a", "st-S-1")).balance_cents == 5_000
    assert (await gateway.get_link(link.id)).status == "paid"
