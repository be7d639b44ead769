"""Sending through the real Twilio client: retries on 429/5xx with backoff, a refusal is not retried,
and sends are paced per sending number."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from twilio.rest import Client

from agent.outreach.engine import Pacer
from tests.support.outreach import Clock, World, approve_all, build_world, phone_of, practice
from tests.support.twilio_recorder import Recorder, run_recorder
from tools.db import create_engine
from tools.messaging.twilio import TwilioMessaging
from tools.platforms.ledger import LedgerPlatform
from tools.platforms.models import Language

PEOPLE = {
    "karen": ("Karen", "NY", "10001", 21500, True, ""),
    "omar": ("Omar", "NY", "10002", 64000, True, ""),
}


@asynccontextmanager
async def _sending_world(
    url: str, spanish: frozenset[str] = frozenset()
) -> AsyncIterator[tuple[World, Recorder]]:
    """PEOPLE on the ledger (those in ``spanish`` speaking Spanish), the templates approved, one decision
    pass made, and sends going to a local server speaking Twilio's Messages call."""
    engine = create_engine(url)
    clock = Clock()
    ledger = LedgerPlatform(engine, clock=clock)
    data = practice(PEOPLE)
    data.patients[:] = [
        p.model_copy(update={"language": Language.ES}) if p.id in spanish else p for p in data.patients
    ]
    await ledger.bulk_load(data)
    with run_recorder() as twilio:
        client = Client("AC" + "0" * 32, "test-auth-token")
        client.api.base_url = twilio.url
        w = build_world(engine, ledger, {"sms": TwilioMessaging(client, "+15555550100")}, clock)
        await approve_all(w.store)
        await w.engine.decide_pass()
        try:
            yield w, twilio
        finally:
            await engine.dispose()


@pytest.fixture
async def sending(migrated_database_url: str) -> AsyncIterator[tuple[World, Recorder]]:
    async with _sending_world(migrated_database_url) as world:
        yield world


async def test_429_and_5xx_are_retried_with_backoff_and_sent_once(sending: tuple[World, Recorder]) -> None:
    w, twilio = sending
    twilio.fail_next = [429, 500]
    report = await w.engine.send_pass(max_steps=1)
    assert report.sent == 1
    assert twilio.requests == 3
    assert len(twilio.messages) == 1
    assert [s for s in w.slept if s > 0] == [0.5, 1.0]  # exponential backoff (base 0.5 s in this world)


async def test_a_provider_outage_leaves_the_step_for_later_and_sends_nothing(
    sending: tuple[World, Recorder],
) -> None:
    w, twilio = sending
    twilio.fail_next = [503] * 4
    report = await w.engine.send_pass(max_steps=1)
    assert report.failed == 1
    assert twilio.messages == []
    (step,) = [s for s in await w.store.steps() if s.patient_id == "karen"]
    assert (step.status, step.status_reason) == ("scheduled", "provider_unavailable")
    assert step.due_at > w.clock.now
    w.clock.advance(minutes=16)
    await w.engine.send_pass()
    assert len(twilio.bodies_to(phone_of("karen", PEOPLE))) == 1


async def test_a_refused_number_is_blocked_not_retried(sending: tuple[World, Recorder]) -> None:
    w, twilio = sending
    twilio.fail_next = [400]
    report = await w.engine.send_pass(max_steps=1)
    assert report.blocked == 1
    assert twilio.requests == 1
    (step,) = [s for s in await w.store.steps() if s.patient_id == "karen"]
    assert step.status == "blocked"


async def test_sends_are_paced_per_sending_number() -> None:
    ticks: list[float] = []
    now = [0.0]

    async def sleep(seconds: float) -> None:
        ticks.append(seconds)
        now[0] += seconds

    pacer = Pacer(1.0, monotonic=lambda: now[0], sleep=sleep)
    for _ in range(3):
        await pacer.wait("+15555550100")
    await pacer.wait("+15555550199")  # another number is not held back
    assert ticks == [1.0, 1.0]


async def test_a_spanish_speaking_patient_gets_the_plan_offer_in_spanish_terms_and_all(
    migrated_database_url: str,
) -> None:
    async with _sending_world(migrated_database_url, spanish=frozenset({"omar"})) as (w, twilio):
        await w.engine.send_pass()
        (offer,) = [s for s in await w.store.steps() if s.patient_id == "omar" and s.status == "sent"]
        assert offer.step == "plan_offer"
        assert offer.offer is not None
        (body,) = twilio.bodies_to(phone_of("omar", PEOPLE))
        # The Spanish template, and the plan's terms in Spanish inside it (not the policy's English).
        assert body.startswith("Hola Omar")
        assert "pagos mensuales de" in body
        assert "monthly" not in body
        installment = offer.offer["installment_cents"]
        assert f"${installment // 100:,}.{installment % 100:02d}" in body
        (english,) = twilio.bodies_to(phone_of("karen", PEOPLE))
        assert english.startswith("Hi Karen")
