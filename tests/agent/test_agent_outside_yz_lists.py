"""Classes the y- and z- work lists found: a pharmacy's, an insurer's premium, a buy-now-pay-later
installment, a service's charge and another hospital's bill get no link, plan or ticket, however they are
followed up; a neighbour's or a roommate's balance is refused and their link never made; "is it already
paid?" is a question, not a payment claimed; one link for everything owed is the whole balance; one line
paid and another not, asked why, gets the insurance math."""

from __future__ import annotations

import pytest

from tests.agent.harness import Env

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.mark.parametrize(
    ("first", "then"),
    [
        ("what do I still owe Express Scripts for my inhaler refills?", "ok then send me their link"),
        ("how much is my bill at the pharmacy for my blood pressure pills", "just send a link to pay that"),
        ("where do I pay my medicare part d premium, they mailed me a bill", "can you send me a link for it"),
        ("I want to push my sezzle installment for my laptop back two weeks", "fine, then set up a plan"),
        (
            "I got a bill from Lakeside General for my MRI. Can I pay it here?",
            "make a payment link for that one",
        ),
        (
            "got a bill from the st mary ER for my ankle, can i just pay it here",
            "send me a link for the ER one",
        ),
    ],
)
async def test_another_billers_bill_gets_no_link_or_plan_then_or_after(
    env: Env, first: str, then: str
) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    for text in (first, then, "yes"):
        said = await env.say("yz-other-biller", text, patient)
        assert "/pay/" not in said.text
        assert said.handoff is None
    assert await env.writes(patient.id) == (0, 0, 0)


@pytest.mark.parametrize(
    "text",
    [
        "how do I dispute a netflix charge I never signed up for",
        "there's a charge from Hulu twice this month, I want it reversed",
        "my amazon subscription renewed and I want to fight the charge",
        "necesito pagar la factura de comcast, me la puede mandar?",
    ],
)
async def test_a_service_or_carriers_charge_opens_no_ticket(env: Env, text: str) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    said = await env.say("yz-service", text, patient)
    assert said.handoff is None
    assert "/pay/" not in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


async def test_a_roommates_balance_is_refused_and_her_link_never_made(env: Env) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    said = await env.say(
        "yz-roommate", "could you tell me what my roommate owes, she goes to you too", patient
    )
    assert "$" not in said.text  # neither her balance nor the patient's own, unasked
    said = await env.say(
        "yz-roommate", "then just text me a payment link for her balance, I'll cover it", patient
    )
    assert "/pay/" not in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


@pytest.mark.parametrize(
    "text", ["hold on, so is that already paid?", "does that mean it's been paid already?"]
)
async def test_whether_it_is_paid_asked_is_no_payment_claimed(env: Env, text: str) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    await env.say("yz-paid-q", "what is the charge on my statement for?", patient)
    said = await env.say("yz-paid-q", text, patient)
    assert said.handoff is None
    assert await env.writes(patient.id) == (0, 0, 0)
    balance = (await env.platform.get_account_summary(patient.id)).balance_cents
    assert f"${balance // 100:,}.{balance % 100:02d}" in said.text  # what is still owed answers it


async def test_one_link_for_everything_after_the_statements_were_listed_is_the_whole_balance(
    env: Env,
) -> None:
    patient = env.patient("multiple_open_statements", exclude=("spanish_speaker",))
    await env.say("yz-all", "what are my open statements and how much is each", patient)
    said = await env.say(
        "yz-all", "I'd rather pay all of them in one go, send one link for the total", patient
    )
    links = await env.gateway.list_links(patient.id)
    balance = (await env.platform.get_account_summary(patient.id)).balance_cents
    assert [link.amount_cents for link in links] == [balance]
    assert "/pay/" in said.text


async def test_one_line_paid_and_another_not_asked_why_gets_the_insurance_math(env: Env) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    said = await env.say(
        "yz-but-not", "the insurance paid for the office visit but not the lab work?? why is that", patient
    )
    assert said.message is not None
    assert said.message.intent in ("explain_statement", "explain_charge")
    assert "written off" in said.text or "contracted rate" in said.text
    assert said.handoff is None


@pytest.mark.parametrize(
    "text",
    [
        "hmm that isn't right, the blood draw is on there twice and i only went once",
        "you chrged me on my statement for an appointment i didnt go to, i was home sick",
        "excuse me but the x-ray shows up twice on my bill and I only had it done once",
    ],
)
async def test_a_charge_plainly_contested_reaches_a_person_with_the_dispute_reason(
    env: Env, text: str
) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    await env.say("yz-contest", "how much do I owe right now", patient)
    said = await env.say("yz-contest", text, patient)
    assert said.handoff is not None
    assert said.handoff.reason == "dispute_charge"
    assert "/pay/" not in said.text


async def test_a_usual_visit_or_an_errand_elsewhere_contests_nothing(env: Env) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    said = await env.say("yz-errand", "I only went once to the gym this month, can I cancel it", patient)
    assert said.handoff is None
    assert await env.writes(patient.id) == (0, 0, 0)


async def test_a_line_called_by_its_code_and_what_is_owed_on_it_gets_that_lines_math(env: Env) -> None:
    patient = env.patient("copay_only", exclude=("spanish_speaker",))
    said = await env.say(
        "yz-code",
        "hey there's a line called 99213 on here, what's it for and how much of it is mine",
        patient,
    )
    assert said.message is not None
    assert said.message.intent == "explain_charge"
    assert "99213" in said.text


@pytest.mark.parametrize("text", ["did my pmt go thru", "hey did my pymt post yet"])
async def test_a_payment_shortened_in_a_text_is_the_payment_looked_up_not_the_claim(
    env: Env, text: str
) -> None:
    patient = env.patient("copay_only", exclude=("spanish_speaker",))
    said = await env.say("yz-pmt", text, patient)
    assert said.message is not None
    assert said.message.intent != "claim_status"


async def test_a_disputed_charge_on_the_statement_pointed_at_carries_that_statement(env: Env) -> None:
    patient = env.patient("multiple_open_statements", exclude=("spanish_speaker",))
    said = await env.say(
        "yz-newest",
        "the most recent statement has a flu shot on it that never happened, I dispute it",
        patient,
    )
    assert said.handoff is not None
    (ticket,) = await env.platform.list_tickets(patient.id)
    newest = (await env.platform.list_statements(patient.id))[0]
    assert ticket.statement_id == newest.id


async def test_a_tax_refund_come_in_is_money_to_pay_with_not_a_refund_asked(env: Env) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    await env.say("yz-tax", "could I do a payment plan on this", patient)
    said = await env.say(
        "yz-tax", "oh nvm my tax refund just hit my account, send me a link for the whole thing", patient
    )
    assert "/pay/" in said.text
    assert said.handoff is None


async def test_a_bare_link_please_after_the_balance_is_the_link(env: Env) -> None:
    patient = env.patient("copay_only", exclude=("spanish_speaker",))
    await env.say("yz-bare", "how much do i owe", patient)
    said = await env.say("yz-bare", "ok link plz", patient)
    assert "/pay/" in said.text


async def test_whether_it_is_already_the_cash_price_is_no_payment_claimed(env: Env) -> None:
    patient = env.patient("self_pay", exclude=("spanish_speaker",))
    said = await env.say(
        "yz-cash",
        "i dont have insurance at the moment, is this already the cash price or full price",
        patient,
    )
    assert said.handoff is None
    assert await env.writes(patient.id) == (0, 0, 0)
