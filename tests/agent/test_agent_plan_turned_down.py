"""A plan word the patient turns down is no ask for a plan ("pay in full, not in installments, send the
link"), while a plan asked for with a double negative stays one ("I can't pay it all at once, not without a
plan"); and what is owed *here*, asked beside another creditor's bill, is answered."""

from __future__ import annotations

import pytest

from agent.understanding.base import Intent
from tests.agent.harness import Env

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.mark.parametrize(
    "text",
    [
        "i want to pay in full, not in installments, send the link",
        "no monthly payments for me, just send me the payment link for all of it",
    ],
)
async def test_paying_in_full_with_the_plan_turned_down_gets_the_link_asked_for(env: Env, text: str) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    said = await env.say("full", text, patient)
    assert said.message is not None
    assert said.message.intent == Intent.PAY_NOW
    assert "secure link to pay" in said.text
    assert "monthly payments of" not in said.text
    assert await env.writes(patient.id) == (0, 1, 0)


@pytest.mark.parametrize(
    "text",
    [
        "i can't pay it all at once, not without a plan",
        "there's no way i can pay the whole thing, not without monthly payments",
    ],
)
async def test_a_plan_asked_for_with_a_double_negative_gets_the_plans_terms(env: Env, text: str) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    said = await env.say("parts", text, patient)
    assert "monthly payments of" in said.text
    assert "secure link" not in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


async def test_the_balance_here_asked_beside_another_creditors_bill_is_answered(env: Env) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    said = await env.say(
        "here", "my car loan went to collections last week, ugh. anyway what's my balance here?", patient
    )
    assert said.message is not None
    assert said.message.intent == Intent.BALANCE
    assert "Your balance is $" in said.text
    assert await env.writes(patient.id) == (0, 0, 0)
