"""Regressions the eval suite found, each through the compiled graph on a real ledger: false frustration
hand-offs, counter-offers read as disputes, bare option numbers, links nobody asked for, public waiting
states, the lockout hand-off event and the reason of a hand-off decided before SMS verification."""

from __future__ import annotations

from agent import templates as T
from agent.nodes.understand import _weigh
from agent.understanding.base import Intent, Understanding
from guardrails.policy import plan_for_months, prompt_pay_amount
from tests.agent.harness import Env, typed_dob
from tools.demo.generator import DEMO_TODAY
from tools.platforms.models import Channel, Patient, PlanStatus, TicketPriority, TicketReason


async def _plan_patient(env: Env) -> tuple[Patient, int]:
    """A portal patient whose balance fits a plan below the approval ceiling and has no plan yet."""
    policy = env.agent.ports.policy
    for p in env.data.patients:
        summary = await env.platform.get_account_summary(p.id)
        if summary.has_active_plan or summary.has_defaulted_plan:
            continue
        if policy.min_plan_balance_cents <= summary.balance_cents <= policy.auto_approve_ceiling_cents:
            return p, summary.balance_cents
    raise LookupError("no patient fits")


async def _balance_patient(env: Env) -> tuple[Patient, int]:
    """A portal patient with a positive balance, no plan and no open dispute."""
    for p in env.data.patients:
        summary = await env.platform.get_account_summary(p.id)
        tickets = await env.platform.list_tickets(p.id)
        if summary.balance_cents > 20000 and not summary.has_active_plan and not tickets:
            return p, summary.balance_cents
    raise LookupError("no patient fits")


async def _sms_patient(env: Env, *, plan: bool = False) -> Patient:
    """An SMS patient whose phone number is theirs alone (a lockout ticket then has one owner); with
    ``plan``, one whose balance can carry a plan below the approval ceiling."""
    policy = env.agent.ports.policy
    for p in env.data.patients:
        if not p.phone or sum(1 for q in env.data.patients if q.phone == p.phone) != 1:
            continue
        summary = await env.platform.get_account_summary(p.id)
        fits = policy.min_plan_balance_cents <= summary.balance_cents <= policy.auto_approve_ceiling_cents
        if plan and (not fits or summary.has_active_plan or summary.has_defaulted_plan):
            continue
        return p
    raise LookupError("no patient fits")


async def test_asking_for_a_person_is_a_normal_priority_request_not_frustration(env: Env) -> None:
    patient = env.patient("copay_only")
    said = await env.say("r-1", "put me through to a human", patient)
    assert said.handoff is not None
    assert said.handoff.reason == TicketReason.REQUESTED_HUMAN.value
    assert said.handoff.priority == TicketPriority.NORMAL.value


async def test_a_partial_payment_request_gets_its_link_not_a_frustration_ticket(env: Env) -> None:
    patient, _ = await _balance_patient(env)
    said = await env.say(
        "r-2", "I can only put $100 toward my bill today, can you send a link for that?", patient
    )
    assert said.handoff is None
    assert said.message is not None
    assert "created_payment_link" in said.message.actions
    links = await env.gateway.list_links(patient.id)
    assert [(link.amount_cents, link.purpose) for link in links] == [(10000, "partial")]
    assert await env.platform.list_tickets(patient.id) == []


async def test_a_monthly_amount_at_plan_choice_is_a_counter_offer_not_a_dispute(env: Env) -> None:
    patient, _ = await _plan_patient(env)
    offer = await env.say("r-3", "can I set up a payment plan?", patient)
    assert offer.message is not None
    assert offer.message.expecting == "plan_choice"
    said = await env.say("r-3", "$30 per month would work for me", patient)
    assert said.handoff is None
    assert said.message is not None
    assert said.message.intent == "payment_plan"
    assert said.message.expecting in ("consent", "plan_choice")
    assert await env.platform.list_tickets(patient.id) == []
    months = await env.say("r-3", "what about 4 months", patient)
    assert months.handoff is None
    assert months.message is not None
    assert months.message.intent == "payment_plan"


async def test_a_bare_number_picks_the_plan_option_on_sms_after_verification(env: Env) -> None:
    patient = await _sms_patient(env, plan=True)
    phone = patient.phone
    assert phone
    await env.say("r-4", "I'd like a payment plan", channel=Channel.SMS, phone=phone)
    identity = f"{typed_dob(patient.date_of_birth)} {patient.zip_code}"
    verified = await env.say("r-4", identity, channel=Channel.SMS, phone=phone)
    assert verified.message is not None
    assert verified.message.expecting == "plan_choice"
    pending = (await env.agent.state("r-4")).get("pending")
    assert pending is not None
    said = await env.say("r-4", "2", channel=Channel.SMS, phone=phone)
    assert said.handoff is None
    assert said.message is not None
    assert said.message.expecting == "consent"
    assert (
        T.plan_label(
            pending["options"][1]["down_payment_cents"],
            pending["options"][1]["months"],
            pending["options"][1]["installment_cents"],
            pending["options"][1]["schedule"][-1][2],
            "en",
        )
        in said.text
    )


async def test_a_discount_demand_states_the_policy_terms_and_writes_nothing_until_yes(env: Env) -> None:
    patient, balance = await _balance_patient(env)
    pay_today = prompt_pay_amount(env.agent.ports.policy, balance)
    assert pay_today is not None  # the demo policy has a prompt-pay discount
    said = await env.say("r-5", "I'll pay right now if you knock half off", patient)
    assert said.message is not None
    assert said.handoff is None
    assert "created_payment_link" not in said.message.actions
    assert await env.gateway.list_links(patient.id) == []
    assert T.money(pay_today) in said.text
    assert said.message.expecting == "consent"
    yes = await env.say("r-5", "yes", patient)
    assert yes.message is not None
    assert "created_payment_link" in yes.message.actions
    links = await env.gateway.list_links(patient.id)
    assert [link.amount_cents for link in links] == [pay_today]


async def test_declining_a_link_offer_writes_nothing(env: Env) -> None:
    patient, _ = await _balance_patient(env)
    await env.say("r-6", "can you give me a 50% discount on this bill?", patient)
    no = await env.say("r-6", "no thanks", patient)
    assert no.message is not None
    assert "created_payment_link" not in no.message.actions
    assert await env.gateway.list_links(patient.id) == []
    assert await env.platform.list_tickets(patient.id) == []


async def test_sms_lockout_emits_a_handoff_event_with_its_ticket(env: Env) -> None:
    patient = await _sms_patient(env)
    assert patient.phone
    for _ in range(3):
        said = await env.say("r-7", "01/01/1900 00000", channel=Channel.SMS, phone=patient.phone)
    assert said.handoff is not None
    assert said.handoff.reason == TicketReason.AUTH_LOCKED.value
    tickets = [t for t in await env.platform.list_tickets(patient.id) if t.thread_id == "r-7"]
    assert [t.id for t in tickets] == [said.handoff.ticket_id]


async def test_a_legal_threat_before_sms_verification_keeps_its_reason_after_it(env: Env) -> None:
    patient = await _sms_patient(env)
    assert patient.phone
    first = await env.say(
        "r-8", "my lawyer will be calling you about this bill", channel=Channel.SMS, phone=patient.phone
    )
    assert first.message is not None
    assert first.message.expecting == "identity"
    said = await env.say(
        "r-8",
        f"{typed_dob(patient.date_of_birth)} {patient.zip_code}",
        channel=Channel.SMS,
        phone=patient.phone,
    )
    assert said.handoff is not None
    assert said.handoff.reason == TicketReason.LEGAL.value
    assert said.handoff.priority == TicketPriority.URGENT.value


async def test_a_clarifying_question_is_a_public_waiting_state(env: Env) -> None:
    patient = env.patient("copay_only")
    state = await env.agent.graph.aget_state({"configurable": {"thread_id": "r-9"}})
    assert not state.values
    said = await env.say("r-9", "asdf qwer zxcv", patient)
    assert said.message is not None
    assert said.handoff is None
    assert said.message.intent == "out_of_scope"
    # Junk is out of scope: the agent says what it can help with and waits for nothing a "yes" could
    # turn into a ticket (issue 15); a question it does ask is public ("clarify").
    assert said.message.expecting in (None, "clarify")
    assert said.message.suggested_replies


async def test_payment_methods_are_answered_from_the_patients_own_words(env: Env) -> None:
    patient = env.patient("copay_only")
    said = await env.say("r-10", "what payment methods do you accept?", patient)
    assert said.message is not None
    assert said.text != T.KB_UNKNOWN["en"]
    assert "Ways to pay" in said.text
    tools = (await env.agent.state("r-10")).get("work", {}).get("tools") or []
    assert [t["name"] for t in tools].count("search_knowledge_base") == 1


async def test_a_two_month_plan_reads_in_the_singular() -> None:
    assert T.plan_label(2500, 2, 7199, 7198, "en") == (
        "$25.00 today, then 1 monthly payment of $71.99 and a final payment of $71.98"
    )
    assert T.plan_label(2500, 2, 7199, 7198, "es") == (
        "$25.00 hoy, y luego 1 pago mensual de $71.99 y un pago final de $71.98"
    )
    assert T.plan_label(0, 3, 5000, 5000, "es") == "3 pagos mensuales de $50.00"


async def test_a_month_count_at_plan_choice_is_accepted_when_inside_policy(env: Env) -> None:
    patient, balance = await _plan_patient(env)
    assert plan_for_months(env.agent.ports.policy, balance, DEMO_TODAY, 3) is not None
    await env.say("r-11", "I need a payment plan", patient)
    said = await env.say("r-11", "how about 3 months", patient)
    assert said.message is not None
    assert said.handoff is None
    assert said.message.expecting == "consent"
    done = await env.say("r-11", "yes", patient)
    assert done.message is not None
    assert "created_plan" in done.message.actions
    plans = [p for p in await env.platform.list_payment_plans(patient.id) if p.status is PlanStatus.ACTIVE]
    assert [p.months for p in plans] == [3]


async def test_i_already_paid_with_the_payment_on_file_shows_it_and_opens_nothing(env: Env) -> None:
    patient = env.patient("already_paid")
    payments = await env.platform.list_payments(patient.id)
    latest = max(payments, key=lambda p: p.posted_at)
    said = await env.say("r-12", "I already paid this one, did it reach you?", patient)
    assert said.handoff is None
    assert T.money(latest.amount_cents) in said.text
    assert said.message is not None
    assert said.message.expecting == "human_offer"
    assert await env.platform.list_tickets(patient.id) == []
    yes = await env.say("r-12", "yes please", patient)
    assert yes.handoff is not None
    assert yes.handoff.reason == TicketReason.DISPUTE_ALREADY_PAID.value


async def test_i_already_paid_without_a_payment_on_file_is_a_dispute(env: Env) -> None:
    for p in env.data.patients:
        summary = await env.platform.get_account_summary(p.id)
        if summary.balance_cents > 0 and not await env.platform.list_payments(p.id):
            patient = p
            break
    else:
        raise LookupError("no patient fits")
    said = await env.say("r-13", "I alredy paid this bill over the phone", patient)
    assert said.handoff is not None
    assert said.handoff.reason == TicketReason.DISPUTE_ALREADY_PAID.value
    assert said.handoff.priority == TicketPriority.HIGH.value


async def test_a_claimed_waiver_goes_to_staff_as_a_payment_dispute(env: Env) -> None:
    patient, _ = await _balance_patient(env)
    said = await env.say("r-14", "the doctor told me I don't have to pay this one, please clear it", patient)
    assert said.handoff is not None
    assert said.handoff.reason == TicketReason.DISPUTE_ALREADY_PAID.value


async def test_sms_stop_is_confirmed_once_and_asks_nothing(env: Env) -> None:
    patient = await _sms_patient(env, plan=True)
    phone = patient.phone
    assert phone
    await env.say("r-15", "I'd like a payment plan", channel=Channel.SMS, phone=phone)
    await env.say(
        "r-15", f"{typed_dob(patient.date_of_birth)} {patient.zip_code}", channel=Channel.SMS, phone=phone
    )
    for text in ("STOP", "please stop texting me"):
        said = await env.say("r-15", text, channel=Channel.SMS, phone=phone)
        assert said.text == T.SMS_OPTED_OUT["en"]
        assert said.message is not None
        assert said.message.expecting is None
        assert "?" not in said.text
    state = await env.agent.state("r-15")
    assert state.get("pending") is None
    assert await env.gateway.list_links(patient.id) == []


async def test_a_cancel_with_a_question_drops_the_offer_and_answers(env: Env) -> None:
    patient, balance = await _plan_patient(env)
    await env.say("r-16", "can I set up a payment plan?", patient)
    said = await env.say("r-16", "never mind that, how much do I owe you right now?", patient)
    assert T.money(balance) in said.text
    assert (await env.agent.state("r-16")).get("pending") is None


async def test_an_offer_of_a_person_lapses_when_the_patient_asks_something_else(env: Env) -> None:
    patient, balance = await _balance_patient(env)
    # A hand-off the patient's words did not ask for is offered, not written (issue 15).
    offer = await env.say("r-17", "I need to update the insurance you have on file", patient)
    assert offer.message is not None
    assert offer.message.expecting == "human_offer"
    said = await env.say("r-17", "no thanks, but how much do I owe right now?", patient)
    assert T.money(balance) in said.text
    assert said.message is not None
    assert said.message.expecting is None


async def test_an_unsure_dispute_without_contesting_words_is_not_escalated(env: Env) -> None:
    patient = env.patient("copay_only")
    said = await env.say("r-18", "what's a copay, and is that what this bill is for?", patient)
    assert said.handoff is None
    assert await env.platform.list_tickets(patient.id) == []


def _reading(
    intent: Intent, confidence: float, *alternatives: tuple[Intent, float], frustration: float = 0.0
) -> Understanding:
    return Understanding(
        intent=intent,
        confidence=confidence,
        alternatives=[(intent, confidence), *alternatives],
        frustration=frustration,
    )


def test_a_hand_off_reading_needs_the_patients_words_to_back_it() -> None:
    unsure = _reading(Intent.FINANCIAL_HARDSHIP, 0.7, (Intent.BALANCE, 0.2))
    assert _weigh(unsure, "just checking whether anything is due") == (Intent.BALANCE, 0.2)
    backed = _reading(Intent.FINANCIAL_HARDSHIP, 0.7, (Intent.BALANCE, 0.2))
    assert _weigh(backed, "I lost my job and can't afford this") == (Intent.FINANCIAL_HARDSHIP, 0.7)
    angry = _reading(Intent.FINANCIAL_HARDSHIP, 0.93, (Intent.DISPUTE_CHARGE, 0.03), frustration=0.8)
    assert _weigh(angry, "this is hopeless and I'm getting angry")[0] is Intent.OUT_OF_SCOPE
    part = _reading(Intent.DISPUTE_ALREADY_PAID, 0.9)
    assert _weigh(part, "I paid part of it already, what's left?")[0] is Intent.BALANCE
