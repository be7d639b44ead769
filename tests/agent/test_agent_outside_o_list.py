"""The classes of the `o-` work list's failures (issue 15): one swear from a calm patient is acknowledged,
not handed off unasked; "why didn't they cover it" gets the insurance math; "what about me then, what's on
my account" after a refused question about someone else's account is that question of the patient's own;
a line asked about beside the balance is explained after it; the last payment on file is read out."""

from __future__ import annotations

import pytest

from agent import templates as T
from agent.understanding.base import Intent
from tests.agent.harness import Env
from tools.platforms.models import Patient, StatementStatus, TicketReason

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


# ------------------------------------------------------------------ a lone vent is acknowledged


@pytest.mark.parametrize(
    "vent",
    [
        "this is such BS. I pay for insurance every single month for this",
        "well that's a load of crap",
        "damn it, I pay my premiums for nothing",
    ],
)
async def test_one_swear_after_a_denial_is_acknowledged_and_a_person_offered_not_ticketed(
    env: Env, vent: str
) -> None:
    patient = env.patient("claim_denied", exclude=("spanish_speaker",))
    await env.say("vent", "why did my insurance deny one of my visits", patient)
    said = await env.say("vent", vent, patient)
    assert said.handoff is None
    assert said.message is not None
    assert said.message.expecting == "human_offer"
    assert "frustrating" in said.text
    assert await env.writes(patient.id) == (0, 0, 0)
    plan = await env.say(
        "vent", "sorry, not your fault. can I get on a payment plan for whatever I owe?", patient
    )
    assert plan.handoff is None
    assert plan.message is not None
    assert plan.message.intent == Intent.PAYMENT_PLAN
    assert await env.writes(patient.id) == (0, 0, 0)


async def test_a_yes_to_the_person_offered_after_a_vent_opens_the_ticket(env: Env) -> None:
    patient = env.patient("claim_denied", exclude=("spanish_speaker",))
    await env.say("vent-yes", "why did my insurance deny one of my visits", patient)
    await env.say("vent-yes", "ugh this is bullshit", patient)
    yes = await env.say("vent-yes", "yes please", patient)
    assert yes.handoff is not None


@pytest.mark.parametrize(
    "text",
    ["this bill is complete bs, what do I owe", "wtf, how much is my balance", "damn. what's my balance"],
)
async def test_one_swear_beside_a_question_gets_the_answer(env: Env, text: str) -> None:
    patient = env.patient("coinsurance_after_deductible", exclude=("spanish_speaker",))
    said = await env.say("swear-ask", text, patient)
    assert said.handoff is None
    assert "Your balance is $" in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


@pytest.mark.parametrize(
    "lines",
    [
        ["why did my insurance deny one of my visits", "this is such BS", "what a load of crap, seriously"],
        ["what do I owe", "this bill is bullshit", "are you kidding me, this is ridiculous"],
    ],
)
async def test_swearing_again_still_reaches_a_person(env: Env, lines: list[str]) -> None:
    patient = env.patient("claim_denied", exclude=("spanish_speaker",))
    handoff = None
    for text in lines:
        said = await env.say("swear-again", text, patient)
        handoff = handoff or said.handoff
    assert handoff is not None
    assert handoff.reason == TicketReason.FRUSTRATION.value


@pytest.mark.parametrize("text", ["you people are thieves and frauds", "THIS IS BS, FIX IT NOW!!"])
async def test_a_strong_outburst_on_its_own_still_reaches_a_person(env: Env, text: str) -> None:
    patient = env.patient("coinsurance_after_deductible", exclude=("spanish_speaker",))
    await env.say("outburst", "what do I owe", patient)
    said = await env.say("outburst", text, patient)
    assert said.handoff is not None
    assert said.handoff.reason == TicketReason.FRUSTRATION.value


# ------------------------------------------------------------------ "why didn't they cover it"


@pytest.mark.parametrize(
    "text",
    [
        "hold on, I have an HMO. why didn't they cover the whole visit??",
        "why didnt they pay any of it",
        "the ultrasound line says insurance paid zero?? why didnt they cover any of it",
    ],
)
async def test_why_didnt_they_cover_it_gets_the_insurance_math(env: Env, text: str) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    await env.say("why-they", "what's the total i owe you", patient)
    said = await env.say("why-they", text, patient)
    assert said.message is not None
    assert said.message.intent in (Intent.EXPLAIN_STATEMENT, Intent.EXPLAIN_CHARGE)
    assert "was billed at $" in said.text
    assert "Insurance paid $" in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


# ------------------------------------------------------------------ the patient's own account after a refusal


@pytest.mark.parametrize(
    "mine",
    [
        "oh ok. what about me then, what's on my account",
        "fine, what about mine then. what's my account look like",
        "ok and me? can you check my account",
    ],
)
async def test_own_account_asked_after_a_refusal_in_more_words_gets_the_balance(env: Env, mine: str) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    summary = await env.platform.get_account_summary(patient.id)
    refused = await env.say(
        "mine", "Hi, my husband Mark is a patient too. How much does he owe? I pay all our bills", patient
    )
    assert "another person" in refused.text
    said = await env.say("mine", mine, patient)
    assert said.message is not None
    assert said.message.intent == Intent.BALANCE
    assert f"Your balance is {T.money(summary.balance_cents)}" in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


async def test_own_account_words_that_ask_for_a_link_are_not_carried_over(env: Env) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    await env.say("mine-link", "how much does my husband owe? he's a patient too", patient)
    await env.say("mine-link", "what about me then, send me a link for his", patient)
    assert await env.writes(patient.id) == (0, 0, 0)


# ------------------------------------------------------------------ a line asked beside the balance


async def _with_a_blood_draw(env: Env) -> Patient:
    for p in env.data.patients:
        if "spanish_speaker" in p.scenario_tags:
            continue
        for s in await env.platform.list_statements(p.id):
            if s.status is StatementStatus.OPEN and s.balance_cents > 0:
                full = await env.platform.get_statement(p.id, s.id)
                if any(li.code == "36415" for li in full.line_items):
                    return p
                break
    raise LookupError("no patient with a blood draw on an open statement")


@pytest.mark.parametrize(
    "text",
    [
        "how much is my bill and why is there a blood draw, i don't recall that",
        "What do I owe, and what's the blood draw on there for? I don't remember having blood taken",
        "whats my balance? also why was there a blood draw",
    ],
)
async def test_a_line_asked_beside_the_balance_is_explained_after_it(env: Env, text: str) -> None:
    patient = await _with_a_blood_draw(env)
    summary = await env.platform.get_account_summary(patient.id)
    said = await env.say("two-asks", text, patient)
    assert f"Your balance is {T.money(summary.balance_cents)}" in said.text
    assert "blood draw" in said.text.lower()
    assert "was billed at $" in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


# ------------------------------------------------------------------ the last payment on file


@pytest.mark.parametrize(
    "text",
    [
        "great. how much was my last payment, for my records",
        "perfect. what was the amount of the last payment I made",
        "when did I last pay you guys, and how much was it",
    ],
)
async def test_the_last_payment_on_file_is_read_out(env: Env, text: str) -> None:
    patient = env.patient("already_paid", exclude=("spanish_speaker",))
    latest = max(await env.platform.list_payments(patient.id), key=lambda p: p.posted_at)
    await env.say("last-paid", "am I all paid up with you", patient)
    said = await env.say("last-paid", text, patient)
    assert said.handoff is None
    assert f"Your last payment on file was {T.money(latest.amount_cents)}" in said.text
    assert await env.writes(patient.id) == (0, 0, 0)
