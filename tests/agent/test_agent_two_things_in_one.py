"""One message that says two things: another creditor's bill beside a question about this one, a denial and
what it leaves to pay, the balance and a plan, a due date asked in Spanish. Each gets the answer a billing
office would give, and a question of this bill asked beside another creditor's writes nothing."""

from __future__ import annotations

import pytest

from agent import templates as T
from agent.understanding.base import Intent
from tests.agent.harness import Env

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.mark.parametrize(
    "text",
    [
        "got a court thing for a traffic ticket coming up. when exactly is my bill due",
        "I have a court date for my speeding ticket and money is tight, when is your bill due?",
        "my car loan went to collections last week, ugh. anyway what's my balance?",
    ],
)
async def test_a_question_of_this_bill_after_another_creditors_is_answered(env: Env, text: str) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    said = await env.say("apart", text, patient)
    assert said.message is not None
    assert said.message.intent == Intent.BALANCE
    assert "Your balance is $" in said.text
    assert ", due " in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


@pytest.mark.parametrize(
    "text",
    [
        "my verizon bill is late. what do i owe on it",
        "my verizon bill is late. can you send me my balance link",
        "i have a phone bill. can you send me a link to pay it?",
    ],
)
async def test_another_creditors_bill_pointed_back_at_stays_out_of_scope(env: Env, text: str) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    said = await env.say("back", text, patient)
    assert said.message is not None
    assert said.message.intent == Intent.OUT_OF_SCOPE
    assert "$" not in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


@pytest.mark.parametrize(
    "text",
    [
        "Medicare send letter, claim denied. How much I must pay for this?",
        # a group code asked about on an EOB (the p- list)
        "what does CO 50 mean on my explanation of benefits, will you bill me for it",
    ],
)
async def test_a_denial_and_what_it_leaves_to_pay_gets_the_denial_not_the_balance(
    env: Env, text: str
) -> None:
    patient = env.patient("claim_denied", exclude=("spanish_speaker",))
    said = await env.say("denied", text, patient)
    assert said.message is not None
    assert said.message.intent == Intent.DENIAL_REASON
    assert T.NOT_BILLED_CO["en"] in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


@pytest.mark.parametrize(
    "text",
    [
        "how much do I owe and can I set up payments for it",
        "I don't have insurance right now, rent went up, my car needed brakes, and I want to pay you I just "
        "can't do it all at once. What's the longest payment plan you can give me?",
    ],
)
async def test_the_balance_and_a_plan_asked_together_get_the_plans_terms_on_the_balance(
    env: Env, text: str
) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    said = await env.say("both", text, patient)
    assert said.message is not None
    assert said.message.intent == Intent.PAYMENT_PLAN
    assert "For your balance of $" in said.text
    assert "monthly payments of" in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


@pytest.mark.parametrize(
    "text", ["cuál es la fecha de vencimiento de mi cuenta?", "cual es la fecha limite para pagar"]
)
async def test_a_due_date_asked_in_spanish_gets_the_due_date_in_spanish(env: Env, text: str) -> None:
    patient = env.patient("spanish_speaker")
    before = await env.writes(patient.id)
    said = await env.say("vence", text, patient)
    assert said.message is not None
    assert said.message.intent == Intent.BALANCE
    assert "Su saldo es de $" in said.text
    assert ", vence el " in said.text
    assert await env.writes(patient.id) == before


@pytest.mark.parametrize(
    "text",
    [
        "has my secondary insurance paid yet? and whats my share",
        "is my claim still pending, what do i owe right now",
    ],
)
async def test_a_claims_status_and_what_is_owed_are_both_answered(env: Env, text: str) -> None:
    patient = env.patient("secondary_pending", exclude=("spanish_speaker",))
    summary = await env.platform.get_account_summary(patient.id)
    said = await env.say("claim-and-owed", text, patient)
    assert said.message is not None
    assert said.message.intent in (Intent.CLAIM_STATUS, Intent.BALANCE)
    assert "pending" in said.text
    assert f"Your balance is {T.money(summary.balance_cents)}" in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


async def test_a_link_asked_for_this_bill_after_an_aside_is_sent(env: Env) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    said = await env.say(
        "aside",
        "unrelated, but i have a dispute going with my credit card company. anyway, please send a link so i "
        "can pay what i owe here",
        patient,
    )
    assert "secure link to pay" in said.text
    assert await env.writes(patient.id) == (0, 1, 0)


@pytest.mark.parametrize(
    "text",
    [
        "i owe my landlord 500. anyway send me a link to pay it",
        "my verizon bill is late, anyway, can you send me a link",
    ],
)
async def test_a_link_asked_after_another_creditors_bill_is_not_sent(env: Env, text: str) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    said = await env.say("aside-other", text, patient)
    assert "secure link" not in said.text
    assert await env.writes(patient.id) == (0, 0, 0)
