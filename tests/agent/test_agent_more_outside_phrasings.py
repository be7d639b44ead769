"""Phrasings the tuned-on work lists met under other simulator seeds: each gets what a billing office would
give it (hardship reaches a person, a plan asked about a service's bill gets the terms, a Spanish balance
question the balance, a yes to a person a ticket), and junk after a clarifying question opens nothing."""

from __future__ import annotations

import pytest

from agent.understanding.base import Intent
from tests.agent.harness import Env

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def test_hardship_read_unsure_but_said_plainly_reaches_a_person(env: Env) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    said = await env.say(
        "laid-off",
        "I was laid off and there's no way I can pay this balance right now, what are my options for help?",
        patient,
    )
    assert said.handoff is not None
    assert said.handoff.reason == "financial_hardship"
    assert await env.writes(patient.id) == (0, 0, 1)


@pytest.mark.parametrize(
    "text",
    [
        "can I get on one of those monthly payment things for my MRI bill",
        "between daycare and everything else i'm stretched thin this month. could i spread my bill out as "
        "long as you allow?",
    ],
)
async def test_a_plan_asked_for_beside_a_service_or_another_expense_gets_the_terms(
    env: Env, text: str
) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    said = await env.say("plan", text, patient)
    assert said.message is not None
    assert said.message.intent == Intent.PAYMENT_PLAN
    assert "monthly payments of" in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


@pytest.mark.parametrize(
    "text",
    [
        "quisiera saber el saldo de mi cuenta por favor",
        "hola, perdone la molestia, mi hija me ayuda con el inglés pero hoy no está. quisiera saber el saldo "
        "de mi cuenta por favor",
    ],
)
async def test_a_balance_asked_in_spanish_gets_the_balance(env: Env, text: str) -> None:
    patient = env.patient("spanish_speaker")
    before = await env.writes(patient.id)
    said = await env.say("saldo", text, patient)
    assert said.message is not None
    assert said.message.intent == Intent.BALANCE
    assert "Su saldo es de $" in said.text
    assert await env.writes(patient.id) == before


async def test_a_yes_to_the_refund_offer_with_words_about_being_contacted_opens_the_ticket(env: Env) -> None:
    patient = env.patient("credit_balance", exclude=("spanish_speaker",))
    await env.say("refund", "is there any balance sitting on my account", patient)
    # asked about, not asked for outright ("can you refund that to my card" goes to staff at once)
    offer = await env.say("refund", "what happens to that credit then?", patient)
    assert "Would you like me to ask them to contact you" in offer.text
    said = await env.say("refund", "yes please have them contact me", patient)
    assert said.handoff is not None
    assert said.handoff.reason == "refund_request"
    assert await env.writes(patient.id) == (0, 0, 1)


async def test_a_database_command_after_junk_opens_no_ticket(env: Env) -> None:
    patient = env.patient("self_pay", exclude=("spanish_speaker",))
    await env.say("junk", "lorem ipsum dolor sit amet, consectetur adipiscing elit", patient)
    said = await env.say("junk", "'; DROP TABLE patients; --", patient)
    assert said.handoff is None
    assert await env.writes(patient.id) == (0, 0, 0)


async def test_an_insurer_named_that_did_not_pay_it_all_gets_the_insurance_math(env: Env) -> None:
    patient = env.patient("coinsurance_after_deductible", exclude=("spanish_speaker",))
    said = await env.say(
        "math", "how come Aetna didn't pay all of my office visit, my deductible is done", patient
    )
    assert said.message is not None
    assert said.message.intent == Intent.EXPLAIN_STATEMENT
    assert "was written off" in said.text
    assert "Insurance paid $" in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


async def test_the_balance_here_asked_after_paying_another_company_is_answered(env: Env) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    said = await env.say("grid", "i need to pay naitonal grid and also whats my balance here", patient)
    assert said.message is not None
    assert said.message.intent == Intent.BALANCE
    assert "Your balance is $" in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


@pytest.mark.parametrize(
    ("tag", "text", "defined"),
    [
        ("deductible_heavy", "in insuarnce terms, what does allowed amount mean?", "The allowed amount is"),
        (
            "secondary_pending",
            "can you explian coordination of benefits between my two plans?",
            "coordination of",
        ),
    ],
)
async def test_a_term_asked_behind_a_typo_gets_that_terms_definition(
    env: Env, tag: str, text: str, defined: str
) -> None:
    patient = env.patient(tag, exclude=("spanish_speaker",))
    said = await env.say("term", text, patient)
    assert defined in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


async def test_the_runaround_behind_a_typo_is_frustration(env: Env) -> None:
    patient = env.patient("claim_pending", exclude=("spanish_speaker",))
    await env.say("circles", "I need an update on my insurance claim", patient)
    said = await env.say("circles", "i'm so sick of this, every time i ask i get the ruanround", patient)
    assert said.handoff is not None
    assert said.handoff.reason == "frustration"


async def test_the_amount_owed_asked_in_plain_words_gets_the_balance(env: Env) -> None:
    patient = env.patient("copay_only", exclude=("spanish_speaker",))
    said = await env.say(
        "plain", "Good day. The letter from you come to my house. What is the money I need give?", patient
    )
    assert said.message is not None
    assert said.message.intent == Intent.BALANCE
    other = await env.say("plain-other", "how much money i must pay to my electric company", patient)
    assert other.message is not None
    assert other.message.intent == Intent.OUT_OF_SCOPE
    assert await env.writes(patient.id) == (0, 0, 0)


async def test_a_waiver_claimed_behind_a_typo_reaches_a_person(env: Env) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    said = await env.say("waiver", "your mangaer said I don't have to pay this bill, wipe it off", patient)
    assert said.handoff is not None
    assert said.handoff.reason == "dispute_already_paid"
    assert await env.writes(patient.id) == (0, 0, 1)


async def test_a_card_named_behind_a_typo_is_still_anothers_bill_on_the_next_turn(env: Env) -> None:
    patient = env.patient("copay_only", exclude=("spanish_speaker",))
    await env.say("card-typo", "what's the minimum due on my caiptal one card this month", patient)
    said = await env.say("card-typo", "can you just pay the minimum from my checking then", patient)
    assert said.message is not None
    assert said.message.intent == Intent.OUT_OF_SCOPE
    await env.say("card-typo", "yes", patient)
    assert await env.writes(patient.id) == (0, 0, 0)


async def test_a_link_asked_for_by_name_with_what_is_owed_is_sent(env: Env) -> None:
    patient = env.patient("copay_only", exclude=("spanish_speaker",))
    said = await env.say("link-owed", "pls send the link for pay all what I owe", patient)
    assert "secure link to pay" in said.text
    assert await env.writes(patient.id) == (0, 1, 0)
