"""Replies come home: an SMS answer to an outreach text, through the real graph on the demo practice.
Judged by the ledger's end state (one plan, on the offered terms, only after identity)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from agent.outreach.engine import OutreachEngine, Pacer
from agent.outreach.replies import offer_lookup
from agent.service import BillingAgent
from agent.understanding.local import LocalUnderstander
from guardrails.policy import default_policy
from tests.agent.harness import Env, Said, clock
from tests.support.outreach import approve_all
from tools.codebook import CodeBook
from tools.demo.generator import DEMO_TODAY
from tools.kb import KnowledgeBase
from tools.messaging.consent import SmsConsentStore
from tools.messaging.log import LogMessaging
from tools.outreach.store import OutreachStore, StoredStep
from tools.platforms.models import Channel, Patient, PaymentMethod, PaymentRequest, PaymentSource, PlanStatus


@dataclass
class Texted:
    env: Env
    agent: BillingAgent
    store: OutreachStore
    sms: LogMessaging

    async def say(self, thread: str, text: str, patient: Patient) -> Said:
        return await self.env.say(thread, text, channel=Channel.SMS, phone=patient.phone, agent=self.agent)

    def patient(self, step: StoredStep) -> Patient:
        return next(p for p in self.env.data.patients if p.id == step.patient_id)


@pytest.fixture
async def texted(env: Env) -> Texted:
    store = OutreachStore(env.engine, clock=clock)
    sms = LogMessaging()

    async def thread_for(phone: str) -> str:
        return f"sms:{phone}"

    async def sleep(_: float) -> None:
        return None

    engine = OutreachEngine(
        platform=env.platform,
        store=store,
        consent=SmsConsentStore(env.engine, clock=clock),
        audit=env.audit,
        policy=default_policy(),
        channels={"sms": sms},
        link_for=lambda pid: "https://billing.example.org/pay",
        thread_for=thread_for,
        clock=clock,
        sleep=sleep,
        pacer=Pacer(0.0, sleep=sleep),
    )
    await approve_all(store)
    await engine.decide_pass()
    await engine.send_pass()
    agent = BillingAgent(
        platform=env.platform,
        gateway=env.gateway,
        kb=KnowledgeBase.default(),
        codebook=CodeBook.default(),
        policy=default_policy(),
        understander=LocalUnderstander.default(),
        audit=env.audit,
        checkpointer=env.checkpointer,
        clock=clock,
        today=lambda: DEMO_TODAY,
        outreach_offers=offer_lookup(env.platform, store, clock),
    )
    return Texted(env, agent, store, sms)


def _identity(p: Patient) -> str:
    return f"{p.date_of_birth.strftime('%m/%d/%Y')} {p.zip_code}"


async def _sent(t: Texted, step: str) -> StoredStep:
    sent = [s for s in await t.store.steps(status="sent") if s.step == step]
    for s in sent:  # one patient per phone, so verification names the texted patient
        patient = t.patient(s)
        if patient.phone and len(await t.env.platform.find_patients_by_phone(patient.phone)) == 1:
            return s
    raise LookupError(step)


async def test_yes_to_a_plan_offer_asks_identity_then_confirms_and_creates_exactly_the_offered_plan(
    texted: Texted,
) -> None:
    step = await _sent(texted, "plan_offer")
    patient = texted.patient(step)
    assert step.offer is not None
    first = await texted.say("t-yes", "YES", patient)
    assert "verify your identity" in first.text
    assert await texted.env.platform.list_payment_plans(patient.id) == [] or all(
        p.status is not PlanStatus.ACTIVE for p in await texted.env.platform.list_payment_plans(patient.id)
    )
    confirm = await texted.say("t-yes", _identity(patient), patient)
    assert "(yes/no)" in confirm.text  # the verified patient confirms the terms stated to them
    assert [
        p
        for p in await texted.env.platform.list_payment_plans(patient.id)
        if p.idempotency_key.startswith("plan:")
    ] == []
    done = await texted.say("t-yes", "yes", patient)
    plans = [
        p
        for p in await texted.env.platform.list_payment_plans(patient.id)
        if p.idempotency_key.startswith("plan:")
    ]
    assert len(plans) == 1
    assert (plans[0].months, plans[0].installment_cents, plans[0].down_payment_cents) == (
        step.offer["months"],
        step.offer["installment_cents"],
        step.offer["down_payment_cents"],
    )
    assert "plan is set up" in done.text or "approval" in done.text


async def test_plan_starts_negotiation_from_the_offered_terms(texted: Texted) -> None:
    step = await _sent(texted, "plan_offer")
    patient = texted.patient(step)
    assert step.offer is not None
    await texted.say("t-plan", "PLAN", patient)
    options = await texted.say("t-plan", _identity(patient), patient)
    assert options.text.index(f"{step.offer['months']} monthly payments") < options.text.index("2)")
    confirm = await texted.say("t-plan", "1", patient)
    assert "(yes/no)" in confirm.text
    await texted.say("t-plan", "YES", patient)
    (plan,) = [
        p
        for p in await texted.env.platform.list_payment_plans(patient.id)
        if p.idempotency_key.startswith("plan:")
    ]
    assert plan.months == step.offer["months"]


async def test_yes_after_the_balance_changed_offers_options_instead_of_writing(texted: Texted) -> None:
    step = await _sent(texted, "plan_offer")
    patient = texted.patient(step)
    await texted.env.platform.record_payment(
        patient.id,
        PaymentRequest(
            statement_id=None,
            amount_cents=1000,
            method=PaymentMethod.CARD,
            source=PaymentSource.PORTAL,
            idempotency_key="partial-before-yes",
        ),
    )
    await texted.say("t-changed", "YES", patient)
    after = await texted.say("t-changed", _identity(patient), patient)
    assert "Reply with the option number" in after.text
    assert [
        p
        for p in await texted.env.platform.list_payment_plans(patient.id)
        if p.idempotency_key.startswith("plan:")
    ] == []


async def test_a_number_or_free_text_never_skips_identity(texted: Texted) -> None:
    step = await _sent(texted, "plan_offer")
    patient = texted.patient(step)
    for n, text in enumerate(["2", "can I do 3 months", "I already paid"]):
        said = await texted.say(f"t-free-{n}", text, patient)
        assert "verify your identity" in said.text
    assert [
        p
        for p in await texted.env.platform.list_payment_plans(patient.id)
        if p.idempotency_key.startswith("plan:")
    ] == []


async def test_without_an_outreach_text_yes_is_just_a_yes(texted: Texted) -> None:
    texted_ids = {s.patient_id for s in await texted.store.steps(status="sent")}
    candidates = [p for p in texted.env.data.patients if p.phone and p.id not in texted_ids]
    quiet = candidates[0]
    said = await texted.say("t-quiet", "YES", quiet)
    assert "verify your identity" not in said.text


async def test_a_plain_yes_to_the_options_means_the_plan_the_text_offered(texted: Texted) -> None:
    step = await _sent(texted, "plan_offer")
    patient = texted.patient(step)
    assert step.offer is not None
    await texted.say("t-plan-yes", "how much would each payment be on that plan?", patient)
    await texted.say("t-plan-yes", _identity(patient), patient)
    confirm = await texted.say("t-plan-yes", "ok that works, yes sign me up", patient)
    assert "(yes/no)" in confirm.text
    assert f"{step.offer['months']} monthly payment" in confirm.text or "final payment" in confirm.text
    await texted.say("t-plan-yes", "YES", patient)
    (plan,) = [
        p
        for p in await texted.env.platform.list_payment_plans(patient.id)
        if p.idempotency_key.startswith("plan:")
    ]
    assert plan.months == step.offer["months"]


async def test_a_no_to_the_text_that_says_they_will_pay_in_person_opens_nothing(texted: Texted) -> None:
    step = await _sent(texted, "plan_offer")
    patient = texted.patient(step)
    await texted.say("t-front-desk", "nah im good, gonna pay at the front desk", patient)
    said = await texted.say("t-front-desk", _identity(patient), patient)
    # Paying later in person is no claim of having paid: no dispute ticket, no plan.
    assert said.handoff is None
    assert await texted.env.platform.list_tickets(patient.id) == []
    assert [
        p
        for p in await texted.env.platform.list_payment_plans(patient.id)
        if p.idempotency_key.startswith("plan:")
    ] == []


@pytest.mark.parametrize(
    "answer",
    [
        "ok then yes i'll do the {months} payments you offered",
        "All right then. I'll take the plan you sent",
        "Fine, I accept the payment plan from your text.",
    ],
)
async def test_a_yes_naming_the_offer_after_another_question_states_the_offered_terms(
    texted: Texted, answer: str
) -> None:
    step = await _sent(texted, "plan_offer")
    patient = texted.patient(step)
    assert step.offer is not None
    await texted.say("t-who", "who is this? is this really from my doctors office", patient)
    await texted.say("t-who", answer.format(months=step.offer["months"]), patient)
    confirm = await texted.say("t-who", _identity(patient), patient)
    assert "(yes/no)" in confirm.text  # the offered plan's terms, for the verified patient's yes
    await texted.say("t-who", "yes", patient)
    (plan,) = [
        p
        for p in await texted.env.platform.list_payment_plans(patient.id)
        if p.idempotency_key.startswith("plan:")
    ]
    assert (plan.months, plan.installment_cents) == (step.offer["months"], step.offer["installment_cents"])
