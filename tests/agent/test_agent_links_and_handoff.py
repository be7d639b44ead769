"""payment_link, escalate_ticket, human mode and hand-back, answer_from_kb."""

from __future__ import annotations

from agent import templates as T
from agent.service import BillingAgent
from tests.agent.harness import Env
from tools.kb import KnowledgeBase
from tools.platforms.models import Author, PlanStatus, TicketPriority, TicketReason


async def test_pay_now_link_is_for_the_ledger_balance(env: Env) -> None:
    patient = env.patient("copay_only")
    summary = await env.platform.get_account_summary(patient.id)
    said = await env.say("l-1", "I want to pay my bill now", patient)
    assert said.message is not None
    assert said.message.actions == ["created_payment_link"]
    links = await env.gateway.list_links(patient.id)
    assert len(links) == 1
    assert links[0].amount_cents == summary.balance_cents
    assert links[0].purpose == "balance"
    assert links[0].url in said.text
    assert T.money(summary.balance_cents) in said.text
    again = await env.say("l-1", "pay now", patient)
    assert links[0].url in again.text
    assert len(await env.gateway.list_links(patient.id)) == 1  # same debt, same day: same link


async def test_partial_amount_within_balance_and_over_balance_refused(env: Env) -> None:
    patient = env.patient("copay_only")
    summary = await env.platform.get_account_summary(patient.id)
    over = await env.say("l-2", f"I want to pay {T.money(summary.balance_cents + 10000)} now", patient)
    assert over.text == T.link_over_balance(summary.balance_cents, "en")
    assert await env.gateway.list_links(patient.id) == []
    said = await env.say("l-2", "I want to pay $10 now", patient)
    links = await env.gateway.list_links(patient.id)
    assert [(lk.amount_cents, lk.purpose) for lk in links] == [(1000, "partial")]
    assert "$10.00" in said.text


async def test_active_plan_link_is_the_next_installment(env: Env) -> None:
    patient = env.patient("active_plan")
    plan = next(p for p in await env.platform.list_payment_plans(patient.id) if p.status is PlanStatus.ACTIVE)
    due = sorted((i for i in plan.installments if i.status.value != "paid"), key=lambda i: i.sequence)[0]
    await env.say("l-3", "pay now", patient)
    links = await env.gateway.list_links(patient.id)
    assert len(links) == 1
    assert links[0].amount_cents == due.amount_cents
    assert links[0].plan_id == plan.id


async def test_dispute_opens_a_ticket_and_blocks_links(env: Env) -> None:
    patient = env.patient("copay_only")
    said = await env.say("d-1", "I already paid this bill, this charge is wrong", patient)
    assert said.handoff is not None
    ticket = next(t for t in await env.platform.list_tickets(patient.id) if t.id == said.handoff.ticket_id)
    assert ticket.reason in (TicketReason.DISPUTE_ALREADY_PAID, TicketReason.DISPUTE_CHARGE)
    assert ticket.priority is TicketPriority.HIGH
    assert ticket.patient_id == patient.id
    assert ticket.transcript
    assert ticket.transcript[0].author is Author.PATIENT
    await env.agent.hand_back("d-1", "reviewed")
    refused = await env.say("d-1", "ok send me a link to pay", patient)
    assert refused.text.endswith(T.LINK_DISPUTED["en"])
    assert await env.gateway.list_links(patient.id) == []


async def test_request_human_ticket_human_mode_and_hand_back(env: Env) -> None:
    patient = env.patient("copay_only")
    await env.say("h-1", "explain my statement", patient)
    state = await env.agent.state("h-1")
    said = await env.say("h-1", "I want to talk to a real person", patient)
    assert said.handoff is not None
    assert said.handoff.reason == "requested_human"
    assert "A person will reply here today, during office hours" in said.text
    assert env.agent.ports.policy.office_hours.phone in said.text
    ticket = next(t for t in await env.platform.list_tickets(patient.id) if t.id == said.handoff.ticket_id)
    assert ticket.statement_id == state.get("statement_id")
    assert ticket.thread_id == "h-1"
    assert any("explain my statement" in line.text for line in ticket.transcript)
    # the patient gets a reference they can read back over the phone, not our internal id
    assert f"(reference {ticket.reference})" in said.text
    assert ticket.id not in said.text
    assert len(ticket.reference) == 8
    assert ticket.id.removeprefix("tkt_").upper().startswith(ticket.reference)
    silent = await env.say("h-1", "hello? anyone there?", patient)
    assert silent.message is None  # the bot stays silent in human mode
    comms = await env.platform.list_communications(patient.id, "h-1", 50)
    assert comms[-1].text == "hello? anyone there?"
    assert comms[-1].author is Author.PATIENT
    await env.agent.relay_staff_message("h-1", "staff.alex", "Hi, this is Alex from billing.")
    await env.agent.hand_back("h-1", "resolved")
    state = await env.agent.state("h-1")
    assert state.get("mode") == "bot"
    assert state.get("human_session_ended") is True
    back = await env.say("h-1", "hi again", patient)
    assert back.text.startswith(T.BACK_FROM_HUMAN["en"])
    assert (await env.agent.state("h-1")).get("human_session_ended") is False


async def test_legal_words_escalate_urgently(env: Env) -> None:
    patient = env.patient("copay_only")
    said = await env.say("h-2", "my attorney says I should not pay this, I'll file a lawsuit", patient)
    assert said.handoff is not None
    assert said.handoff.reason == "legal"
    assert said.handoff.priority == "urgent"


async def test_kb_answer_cites_its_source(env: Env) -> None:
    patient = env.patient("copay_only")
    said = await env.say("k-1", "what payment methods do you accept?", patient)
    assert said.message is not None
    assert said.message.intent == "payment_methods"
    passage = env.agent.ports.kb.search("ways to pay credit card check", k=1)[0]
    assert said.text.endswith(f"(Source: {passage.title})")


async def test_kb_unknown_says_so_and_offers_a_human(env: Env) -> None:
    patient = env.patient("copay_only")
    # A practice whose documents say nothing about payment methods.
    kb = KnowledgeBase({"parking": "# Parking\n\nParking in the garage on Salem St is free for patients."})
    agent = BillingAgent(
        platform=env.platform, gateway=env.gateway, kb=kb, codebook=env.agent.ports.codebook,
        policy=env.agent.ports.policy, understander=env.agent.ports.understander, audit=env.audit,
        checkpointer=env.checkpointer, clock=env.agent.ports.clock,
    )  # fmt: skip
    said = await env.say("k-2", "what payment methods do you accept?", patient, agent=agent)
    assert said.text == T.KB_UNKNOWN["en"]
    assert said.message is not None
    assert said.message.expecting == "human_offer"  # the offer of a person is a public waiting state
    assert (await agent.state("k-2")).get("expecting") == "human_offer"
    yes = await env.say("k-2", "yes please", patient, agent=agent)
    assert yes.handoff is not None
    assert yes.handoff.reason == "requested_human"
