"""Readings a fresh outside work list (l-) caught, each class in phrasings written here (neither training
lines nor eval lines). Money safety first: another creditor named in lower case or by a short word ("the
min due on my amex"), a payee in Spanish behind "pagarle", money sent to a person over an app, and terms
named only to be turned down ("6 months won't work") must never end in a link or a plan."""

from __future__ import annotations

import pytest

from agent import templates as T
from tests.agent.harness import Env

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


# ------------------------------------------------------------------ 1: another creditor, in lower case


@pytest.mark.parametrize(
    "text",
    [
        "what's the min due on my amex this cycle",
        "how much do i owe on my capital one",
        "tell me the minimum payment for my chase card",
        "whats the lowest min i can pay to my discvoer",
        "mins on my citi card?",
        "min payment on my amex is what",
    ],
)
async def test_another_creditors_minimum_gets_no_link_and_no_plan_even_after_a_yes(
    env: Env, text: str
) -> None:
    patient = env.patient("copay_only")  # a balance under the plan minimum: the link was offered at once
    summary = await env.platform.get_account_summary(patient.id)
    said = await env.say("card-min", text, patient)
    assert T.money(summary.balance_cents) not in said.text
    assert said.message is not None
    assert said.message.expecting is None  # nothing offered, so a yes has nothing to consent to
    await env.say("card-min", "yes please", patient)
    assert await env.writes(patient.id) == (0, 0, 0)


@pytest.mark.parametrize(
    "text",
    [
        "i'd like to pay my bill with my discover card",
        "can i pay the balance using my amex",
        "send me a link, i'll use my capital one card",
    ],
)
async def test_a_card_to_pay_this_bill_with_is_still_this_bill(env: Env, text: str) -> None:
    patient = env.patient("copay_only")
    summary = await env.platform.get_account_summary(patient.id)
    said = await env.say("pay-with-card", text, patient)
    # the link, the offer of one, the ways to pay or a question which of them: this bill either way
    assert said.text != T.OUT_OF_SCOPE["en"]
    if "/pay/" in said.text:
        assert T.money(summary.balance_cents) in said.text
    assert await env.writes(patient.id) in ((0, 0, 0), (0, 1, 0))


@pytest.mark.parametrize(
    "text",
    [
        "¿me manda un enlace para pagarle el celular a mi hermana?",
        "quiero un link para pagarle al casero la renta de este mes",
        "send 25 dollars to my cousin please",
        "can you send $60 to maria on zelle",
        "pay my tmobiel bill, it's 70",
    ],
)
async def test_another_payee_behind_a_verb_form_or_a_typo_gets_no_link(env: Env, text: str) -> None:
    patient = env.patient("deductible_heavy")
    said = await env.say("other-payee", text, patient)
    assert "/pay/" not in said.text
    await env.say("other-payee", "yes", patient)
    assert await env.writes(patient.id) == (0, 0, 0)


# ------------------------------------------------------------- 1: terms named only to be turned down


@pytest.mark.parametrize(
    "refusal",
    [
        "6 months is way too short for me, I need years",
        "i can't do 6 months, it needs to be something like 4 years",
        "six monthly payments just won't work, I need a lot longer",
    ],
)
async def test_terms_turned_down_are_never_offered_back_for_a_yes(env: Env, refusal: str) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    await env.say("turned-down", "can I spread this over 10 years", patient)
    said = await env.say("turned-down", refusal, patient)
    assert said.message is not None
    assert said.message.expecting != "consent"  # no "Great: ... set up this plan?" on the refused terms
    said = await env.say("turned-down", "yes", patient)
    assert await env.platform.list_payment_plans(patient.id) == []


async def test_terms_turned_down_with_new_ones_named_weigh_the_new_ones(env: Env) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    await env.say("turned-down-new", "i'd like a payment plan", patient)
    said = await env.say("turned-down-new", "not 2 months, can we do 3 months", patient)
    assert said.message is not None
    assert said.message.expecting == "consent"  # 3 months is inside the policy: its terms, for a yes
    await env.say("asked-plainly", "i'd like a payment plan", patient)
    plainly = await env.say("asked-plainly", "can we do 3 months", patient)
    assert said.text == plainly.text


# ----------------------------------------------------------------- 8: a balance too small for a plan


async def test_a_balance_under_the_plan_minimum_is_said_to_be_due_in_one_payment(env: Env) -> None:
    patient = env.patient("copay_only")
    summary = await env.platform.get_account_summary(patient.id)
    said = await env.say("too-small", "can i set up monthly payments", patient)
    assert T.money(summary.balance_cents) in said.text
    assert "paid in full" not in said.text  # read as if nothing were owed
    assert "one payment" in said.text
    assert await env.writes(patient.id) == (0, 0, 0)
