"""Plain billing questions a fresh outside work list (j-) found read out of scope, answered with the wrong
view, or sent to a person, each class in phrasings written here (neither training nor eval lines): a swear
around a clear question, the formal word for paying ("remit"), the insurer named as the payer of a visit,
a procedure code asked about, the practice's own balance asked beside another bill, "why so much" with
insurance, and a charge contested as a service never received (which must reach a person)."""

from __future__ import annotations

import pytest

from agent import templates as T
from tests.agent.harness import Env

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.mark.parametrize(
    "text",
    [
        "what the hell, whats my balance",
        "how the heck much do I owe you",
        "why the hell is my balance $329.76",
    ],
)
async def test_a_swear_around_a_clear_question_gets_the_answer_not_a_ticket(env: Env, text: str) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    summary = await env.platform.get_account_summary(patient.id)
    said = await env.say("swear", text, patient)
    assert T.money(summary.balance_cents) in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


async def test_the_swear_repeated_message_after_message_still_reaches_a_person(env: Env) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    for text in ("what the hell is this bill", "why the hell is it so high", "what the hell, this is a joke"):
        said = await env.say("swear-again", text, patient)
    assert said.handoff is not None
    assert await env.writes(patient.id) == (0, 0, 1)


@pytest.mark.parametrize(
    "text",
    [
        "Good afternoon. Kindly advise the sum I should remit to your office.",
        "what amount do i need to remit",
        "How much am I expected to remit at this time?",
    ],
)
async def test_the_formal_word_for_paying_asks_the_balance(env: Env, text: str) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    summary = await env.platform.get_account_summary(patient.id)
    said = await env.say("remit", text, patient)
    assert T.money(summary.balance_cents) in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


@pytest.mark.parametrize(
    "text",
    [
        "has cigna paid for my visit yet",
        "did my insurance cover the appointment in september",
        "did medicare process my claim",
    ],
)
async def test_the_insurer_named_as_the_payer_of_a_visit_is_a_claim_question(env: Env, text: str) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    said = await env.say("insurer-paid", text, patient)
    assert said.message is not None
    assert said.message.intent != "out_of_scope"
    assert said.text != T.OUT_OF_SCOPE["en"]
    assert await env.writes(patient.id) == (0, 0, 0)


@pytest.mark.parametrize(
    "text", ["what is code 99213", "whats cpt 76856 on my bill", "what does code 99213 mean"]
)
async def test_a_procedure_code_asked_about_is_explained(env: Env, text: str) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    said = await env.say("code", text, patient)
    assert said.message is not None
    assert said.message.intent in ("explain_charge", "explain_statement")
    assert await env.writes(patient.id) == (0, 0, 0)


@pytest.mark.parametrize(
    "text",
    [
        "i also need to pay my water bill, but first what do i owe you",
        "forget the phone bill, how much do I owe y'all",
    ],
)
async def test_what_is_owed_to_the_practice_is_answered_beside_another_bill(env: Env, text: str) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    summary = await env.platform.get_account_summary(patient.id)
    said = await env.say("owe-you", text, patient)
    assert T.money(summary.balance_cents) in said.text
    assert "/pay/" not in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


@pytest.mark.parametrize(
    "text",
    ["why is it so much when i have insurance", "I have insurance, so why is this bill so high??"],
)
async def test_why_so_much_with_insurance_gets_the_insurance_math(env: Env, text: str) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    said = await env.say("so-much", text, patient)
    assert said.message is not None
    assert said.message.intent == "explain_statement"
    assert "insurance" in said.text.lower()
    assert await env.writes(patient.id) == (0, 0, 0)


@pytest.mark.parametrize(
    "text",
    [
        "you billed me for an ultrasound i never had",
        "why was I charged for labs that were never done",
        "they charged me for a pelvic ultrasound I did not get",
    ],
)
async def test_a_charge_for_a_service_never_received_reaches_a_person(env: Env, text: str) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    said = await env.say("never-had", text, patient)
    assert said.handoff is not None
    assert await env.writes(patient.id) == (0, 0, 1)
    [ticket] = await env.platform.list_tickets(patient.id)
    assert ticket.reason.value == "dispute_charge"
