"""The outreach engine on the real ledger, step store, consent store and audit trail (SQLite and
PostgreSQL), with the log messaging adapter as the channel and a hand-moved clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from guardrails.policy import default_policy
from tests.support.outreach import (
    PEOPLE,
    START,
    Clock,
    World,
    approve_all,
    build_world,
    open_tickets,
    phone_of,
    practice,
)
from tools.db import create_engine
from tools.messaging.log import LogMessaging
from tools.platforms.ledger import LedgerPlatform
from tools.platforms.models import PaymentMethod, PaymentRequest, PaymentSource


@pytest.fixture
async def world(migrated_database_url: str) -> AsyncIterator[tuple[World, LogMessaging]]:
    engine = create_engine(migrated_database_url)
    clock = Clock()
    ledger = LedgerPlatform(engine, clock=clock)
    data = practice()
    await ledger.bulk_load(data)
    await open_tickets(ledger, data)
    sms = LogMessaging()
    w = build_world(engine, ledger, {"sms": sms}, clock)
    try:
        yield w, sms
    finally:
        await engine.dispose()


def sent_to(sms: LogMessaging) -> list[str]:
    return [m.to for m in sms.sent]


async def test_a_decision_pass_schedules_only_accounts_that_may_be_contacted(
    world: tuple[World, LogMessaging],
) -> None:
    w, _ = world
    report = await w.engine.decide_pass()
    assert report.accounts == len(PEOPLE)
    assert report.reasons["stop.paid"] == 1
    assert report.reasons["stop.disputed"] == 1
    assert report.reasons["stop.attorney"] == 1
    assert report.reasons["stop.plan_in_good_standing"] == 1
    assert report.reasons["call.no_digital_channel"] == 1
    steps = {s.patient_id: s for s in await w.store.steps()}
    assert set(steps) == {"karen", "omar", "lena", "noconsent"}
    assert (steps["karen"].step, steps["omar"].step, steps["noconsent"].channel) == (
        "pay_link",
        "plan_offer",
        "call",
    )
    assert steps["omar"].offer is not None
    # Every decision is audited with its reason, ids only.
    records = [r for r in await w.audit.records(limit=1000) if r.event == "outreach.decision"]
    assert {(r.patient_id, r.payload["reason"]) for r in records} >= {
        ("paid", "stop.paid"),
        ("attorney", "stop.attorney"),
    }
    # A second pass reads nothing new and schedules nothing twice.
    again = await w.engine.decide_pass()
    assert again.accounts == 0
    assert len(await w.store.steps()) == 4


async def test_nothing_is_sent_before_a_manager_approves_the_template(
    world: tuple[World, LogMessaging],
) -> None:
    w, sms = world
    await w.engine.decide_pass()
    report = await w.engine.send_pass()
    assert report.held == 2  # karen and omar; lena's window (Los Angeles) has not opened
    assert sms.sent == []
    await approve_all(w.store)
    w.clock.advance(hours=1, minutes=1)
    report = await w.engine.send_pass()
    # Held for an hour; by then Los Angeles is at 08:01 too.
    assert sent_to(sms) == [phone_of("karen"), phone_of("omar"), phone_of("lena")]
    karen, omar, _ = sms.sent
    assert karen.body.startswith("Hi Karen, this is Maple Family Medicine. You have a $215.00 balance.")
    assert "Reply PLAN" in karen.body
    assert "monthly payments of" in omar.body
    assert "Reply YES" in omar.body
    for message in sms.sent:  # minimum PHI: never the service, the provider, the last name
        assert "Office visit" not in message.body
        assert "Rivera" not in message.body
        assert "Smithson" not in message.body
    # Sent once: another pass, and another decision pass, send nothing more.
    await w.engine.decide_pass()
    await w.engine.send_pass()
    assert len(sms.sent) == 3
    timeline = await w.store.timeline("karen")
    assert [(s.step, s.status) for s in timeline] == [("pay_link", "sent"), ("follow_up", "scheduled")]
    assert timeline[1].due_at >= timeline[0].sent_at + timedelta(days=7)  # type: ignore[operator]
    events = [r.event for r in await w.audit.records(limit=1000) if r.patient_id == "karen"]
    assert "outreach.sent" in events
    assert "outreach.held" in events


async def test_quiet_hours_in_the_recipients_zone_defer_and_the_message_goes_when_the_window_opens(
    world: tuple[World, LogMessaging],
) -> None:
    w, sms = world
    await approve_all(w.store)
    await w.engine.decide_pass()
    lena = next(s for s in await w.store.steps() if s.patient_id == "lena")
    assert lena.due_at == START + timedelta(hours=1)  # 08:00 in Los Angeles
    await w.engine.send_pass()
    assert phone_of("lena") not in sent_to(sms)
    w.clock.advance(hours=1)
    await w.engine.send_pass()
    assert sent_to(sms).count(phone_of("lena")) == 1


async def test_stop_is_honoured_at_once_and_until_start(world: tuple[World, LogMessaging]) -> None:
    w, sms = world
    await approve_all(w.store)
    await w.engine.decide_pass()
    await w.consent.record(phone_of("karen"), "opt_out", "keyword", message_sid="SM-stop")
    await w.engine.send_pass()
    assert phone_of("karen") not in sent_to(sms)
    (step, *_rest) = await w.store.timeline("karen")
    assert step.status == "cancelled"
    assert step.status_reason == "redecided:call.no_digital_channel"  # a person calls instead
    w.clock.advance(days=8)
    await w.engine.decide_pass()
    await w.engine.send_pass()
    assert phone_of("karen") not in sent_to(sms)


async def test_a_payment_cancels_the_pending_step_and_a_paid_account_gets_nothing(
    world: tuple[World, LogMessaging],
) -> None:
    w, sms = world
    await approve_all(w.store)
    await w.engine.decide_pass()
    await w.engine.send_pass()
    assert sent_to(sms).count(phone_of("karen")) == 1
    await w.ledger.record_payment(
        "karen",
        PaymentRequest(
            statement_id="st-karen",
            amount_cents=21500,
            method=PaymentMethod.CARD,
            source=PaymentSource.PAYMENT_LINK,
            idempotency_key="pay-karen",
        ),
    )
    w.clock.advance(days=8)
    report = await w.engine.decide_pass()
    assert report.reasons.get("stop.paid") == 1
    await w.engine.send_pass()
    assert sent_to(sms).count(phone_of("karen")) == 1
    assert [s.status for s in await w.store.timeline("karen")] == ["sent", "cancelled"]


async def test_two_unanswered_texts_then_a_staff_call_task_with_a_summary(
    world: tuple[World, LogMessaging],
) -> None:
    w, sms = world
    await approve_all(w.store)
    await w.engine.decide_pass()
    for _ in range(3):
        await w.engine.send_pass()
        w.clock.advance(days=7, hours=1)
    assert sent_to(sms).count(phone_of("karen")) == 2
    (task,) = [s for s in await w.store.call_queue(w.clock.now) if s.patient_id == "karen"]
    assert task.reason == "call.unanswered_attempts"
    assert task.summary is not None
    assert "$215.00" in task.summary
    assert "sms pay_link" in task.summary
    assert "sms follow_up" in task.summary
    assert "Recommendation: offer a payment plan" in task.summary
    done = await w.store.record_call_outcome(task.id, "promise_to_pay", "agent@example.org")
    assert done is not None
    assert (done.status, done.outcome) == ("done", "promise_to_pay")


async def test_the_contact_cap_defers_a_step_over_it(migrated_database_url: str) -> None:
    engine = create_engine(migrated_database_url)
    clock = Clock()
    ledger = LedgerPlatform(engine, clock=clock)
    await ledger.bulk_load(practice({"karen": PEOPLE["karen"]}))
    policy = default_policy()
    assert policy.outreach is not None
    tight: Any = policy.outreach.model_copy(update={"contact_cap_per_7_days": 1, "follow_up_after_days": 1})
    sms = LogMessaging()
    w = build_world(engine, ledger, {"sms": sms}, clock, policy=policy.model_copy(update={"outreach": tight}))
    try:
        await approve_all(w.store)
        await w.engine.decide_pass()
        await w.engine.send_pass()
        clock.advance(days=1, hours=1)
        report = await w.engine.send_pass()
        assert (len(sms.sent), report.deferred) == (1, 1)
        follow_up = (await w.store.timeline("karen"))[-1]
        assert follow_up.status_reason == "contact_cap"
        assert follow_up.due_at >= START + timedelta(days=7)
    finally:
        await engine.dispose()
