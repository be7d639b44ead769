"""negotiate_plan → create_plan, counter-offers, digression, cancel, staff approval (interrupt)."""

from __future__ import annotations

from agent import templates as T
from tests.agent.harness import Env
from tools.platforms.models import PlanStatus, TicketPriority, TicketReason, TicketRequest


async def _plan_patient(env: Env, *, above_ceiling: bool) -> tuple[str, int]:
    ceiling = env.agent.ports.policy.auto_approve_ceiling_cents
    minimum = env.agent.ports.policy.min_plan_balance_cents
    for p in env.data.patients:
        summary = await env.platform.get_account_summary(p.id)
        if summary.has_active_plan or summary.has_defaulted_plan:
            continue
        ok = summary.balance_cents > ceiling if above_ceiling else minimum <= summary.balance_cents <= ceiling
        if ok:
            return p.id, summary.balance_cents
    raise LookupError("no patient fits")


async def test_offer_choose_consent_creates_the_plan_with_the_offered_terms(env: Env) -> None:
    pid, balance = await _plan_patient(env, above_ceiling=False)
    patient = await env.platform.get_patient(pid)
    offer = await env.say("pl-1", "can I set up a payment plan?", patient)
    assert offer.message is not None
    assert offer.message.expecting == "plan_choice"
    assert f"For your balance of {T.money(balance)}" in offer.text
    pending = (await env.agent.state("pl-1")).get("pending")
    assert pending is not None
    assert 2 <= len(pending["options"]) <= 3
    chosen = pending["options"][1]
    confirm = await env.say("pl-1", "option 2", patient)
    assert confirm.message is not None
    assert confirm.message.expecting == "consent"
    assert chosen["label"] in confirm.text
    assert await env.platform.list_payment_plans(pid) == [] or all(
        p.status is not PlanStatus.ACTIVE for p in await env.platform.list_payment_plans(pid)
    )
    done = await env.say("pl-1", "yes", patient)
    assert done.message is not None
    assert "created_plan" in done.message.actions
    plans = [p for p in await env.platform.list_payment_plans(pid) if p.status is PlanStatus.ACTIVE]
    assert len(plans) == 1
    plan = plans[0]
    assert (plan.months, plan.installment_cents, plan.down_payment_cents) == (
        chosen["months"], chosen["installment_cents"], chosen["down_payment_cents"],
    )  # fmt: skip
    assert plan.total_cents == balance == sum(i.amount_cents for i in plan.installments)
    assert "your plan is set up" in done.text


async def test_counter_offer_inside_policy_is_accepted(env: Env) -> None:
    pid, balance = await _plan_patient(env, above_ceiling=False)
    patient = await env.platform.get_patient(pid)
    await env.say("pl-2", "I need a payment plan", patient)
    said = await env.say("pl-2", "can I do $30 a month?", patient)
    pending = (await env.agent.state("pl-2")).get("pending")
    assert pending is not None
    if pending["stage"] == "consent":
        assert pending["options"][0]["installment_cents"] == 3000
        assert "$30.00" in said.text
        await env.say("pl-2", "yes please", patient)
        plan = next(p for p in await env.platform.list_payment_plans(pid) if p.status is PlanStatus.ACTIVE)
        assert plan.installment_cents == 3000
        assert sum(i.amount_cents for i in plan.installments) == balance
    else:  # outside policy: the nearest allowed terms are offered instead
        assert said.text.startswith("I can't set that up")


async def test_counter_offer_below_minimum_gets_nearest_terms(env: Env) -> None:
    pid, _ = await _plan_patient(env, above_ceiling=False)
    patient = await env.platform.get_patient(pid)
    await env.say("pl-3", "payment plan please", patient)
    said = await env.say("pl-3", "could I pay $5 a month?", patient)
    assert said.text.startswith("I can't set that up: the smallest monthly payment we can set up is $25.00")
    assert await env.platform.list_payment_plans(pid) == []


async def test_digression_keeps_the_offer_and_cancel_drops_it(env: Env) -> None:
    pid, balance = await _plan_patient(env, above_ceiling=False)
    patient = await env.platform.get_patient(pid)
    await env.say("pl-4", "set up a payment plan", patient)
    await env.say("pl-4", "option 1", patient)
    side = await env.say("pl-4", "wait, what is my balance again?", patient)
    assert T.money(balance) in side.text
    assert T.RETURN_TO_OFFER["en"] in side.text
    assert (await env.agent.state("pl-4")).get("pending") is not None
    back = await env.say("pl-4", "ok, option 1", patient)
    assert back.message is not None
    assert back.message.expecting == "consent"
    cancel = await env.say("pl-4", "never mind", patient)
    assert cancel.text == T.CANCELLED["en"]
    assert (await env.agent.state("pl-4")).get("pending") is None
    assert await env.platform.list_payment_plans(pid) == []


async def test_plan_above_the_ceiling_waits_for_staff_approval(env: Env) -> None:
    pid, balance = await _plan_patient(env, above_ceiling=True)
    patient = await env.platform.get_patient(pid)
    await env.say("pl-5", "I'd like a payment plan", patient)
    await env.say("pl-5", "option 1", patient)
    said = await env.say("pl-5", "yes", patient)
    assert said.message is not None
    assert "requested_approval" in said.message.actions
    plan = (await env.platform.list_payment_plans(pid))[0]
    assert plan.status is PlanStatus.PENDING_APPROVAL
    assert plan.total_cents == balance
    waiting = await env.agent.pending_approval("pl-5")
    assert waiting is not None
    assert waiting["plan_id"] == plan.id
    # The patient can keep talking while the approval waits.
    await env.say("pl-5", "thanks", patient)
    assert await env.agent.pending_approval("pl-5") is not None
    message = await env.agent.resume_plan_decision("pl-5", approved=True, approver="staff.alex")
    assert message.text.startswith("Good news: your payment plan was approved")
    plan = (await env.platform.list_payment_plans(pid))[0]
    assert plan.status is PlanStatus.ACTIVE
    assert plan.approver == "staff.alex"
    assert await env.agent.pending_approval("pl-5") is None
    comms = await env.platform.list_communications(pid, "pl-5", 50)
    assert comms[-1].text == message.text


async def test_staff_can_deny_a_plan(env: Env) -> None:
    pid, _ = await _plan_patient(env, above_ceiling=True)
    patient = await env.platform.get_patient(pid)
    await env.say("pl-6", "payment plan", patient)
    await env.say("pl-6", "option 2", patient)
    await env.say("pl-6", "yes", patient)
    message = await env.agent.resume_plan_decision("pl-6", approved=False, approver="staff.kim")
    assert message.text.startswith("Our billing staff couldn't approve")
    assert (await env.platform.list_payment_plans(pid))[0].status is PlanStatus.DENIED


async def _open_dispute(env: Env, pid: str, thread: str) -> None:
    await env.platform.create_ticket(
        pid,
        TicketRequest(
            thread_id=thread,
            statement_id=None,
            reason=TicketReason.DISPUTE_CHARGE,
            priority=TicketPriority.HIGH,
            summary="patient disputes a charge",
            transcript=(),
            idempotency_key=f"dispute-{pid}-{thread}",
        ),
    )


async def test_no_plan_is_offered_on_an_account_with_an_open_dispute(env: Env) -> None:
    pid, _ = await _plan_patient(env, above_ceiling=False)
    patient = await env.platform.get_patient(pid)
    await _open_dispute(env, pid, "other-thread")
    said = await env.say("pl-d1", "can I set up a payment plan?", patient)
    assert said.text == T.PLAN_DISPUTED["en"]
    assert (await env.agent.state("pl-d1")).get("pending") is None
    assert await env.platform.list_payment_plans(pid) == []


async def test_a_dispute_opened_after_the_offer_blocks_the_write_even_after_yes(env: Env) -> None:
    """The write node checks the platform itself: a dispute opened elsewhere (another thread, staff)
    between the offer and the patient's yes still stops the plan."""
    pid, _ = await _plan_patient(env, above_ceiling=False)
    patient = await env.platform.get_patient(pid)
    await env.say("pl-d2", "can I set up a payment plan?", patient)
    await env.say("pl-d2", "option 1", patient)
    await _open_dispute(env, pid, "staff-console")
    done = await env.say("pl-d2", "yes", patient)
    assert done.text == T.PLAN_DISPUTED["en"]
    assert await env.platform.list_payment_plans(pid) == []


async def test_changing_the_choice_at_consent_never_creates_the_first_choice(env: Env) -> None:
    """Found by the blind eval split: terms for option 1 were still awaiting consent after the patient
    moved away from them, and the next option number was taken as the "yes"."""
    pid, _ = await _plan_patient(env, above_ceiling=False)
    patient = await env.platform.get_patient(pid)
    await env.say("pl-9", "can I set up a payment plan?", patient)
    options = (await env.agent.state("pl-9")).get("pending")
    assert options is not None
    assert len(options["options"]) >= 2
    first, last = options["options"][0], options["options"][-1]
    await env.say("pl-9", "option 1", patient)
    moved = await env.say("pl-9", "hmm no, I meant the option with the smallest payment", patient)
    assert moved.message is not None
    assert "created_plan" not in moved.message.actions
    switched = await env.say("pl-9", f"option {len(options['options'])}", patient)
    assert switched.message is not None
    assert "created_plan" not in switched.message.actions  # new terms are stated and need their own yes
    assert switched.message.expecting == "consent"
    assert last["label"] in switched.text
    assert first["label"] not in switched.text
    assert await env.platform.list_payment_plans(pid) == []
    done = await env.say("pl-9", "yes", patient)
    assert done.message is not None
    assert "created_plan" in done.message.actions
    [plan] = await env.platform.list_payment_plans(pid)
    assert (plan.months, plan.installment_cents) == (last["months"], last["installment_cents"])
