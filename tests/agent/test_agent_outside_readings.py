"""Issue 15's readings of text nobody on the team wrote, class by class, each in phrasings written here (not
copied from any eval file): a relative's account behind a typo or a claim, a question after a greeting or
a slip, the balance asked without the word, why insurance paid only part, an explicit request for a
staff action, a plan chosen by its description."""

from __future__ import annotations

import pytest

from agent import templates as T
from guardrails.policy import default_policy, offer_plans
from tests.agent import harness
from tests.agent.harness import Env
from tools.platforms.models import StatementStatus

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

_REFUSED = (T.OTHER_PERSON["en"], T.OTHER_PERSON["es"])


# --------------------------------------------------------------------------- a relative's account


@pytest.mark.parametrize(
    "text",
    [
        "could you pull up my husbnad's acount, I handle his bills",
        "what's on my daughters acconut right now",
        "whats my mothers balanse",
        "did my daughter's claim go through yet",
        "my kids insurance claim from the er visit, was it paid?",
    ],
)
async def test_a_relatives_account_is_refused_through_typos_and_claims(env: Env, text: str) -> None:
    patient = env.patient("copay_only")
    said = await env.say("relative", text, patient)
    assert said.text in _REFUSED
    assert await env.writes(patient.id) == (0, 0, 0)


@pytest.mark.parametrize(
    "text",
    [
        "it's either food for my kids or this bill, there's just no money left",
        "I'm on my wife's plan, did the insurance claim for my visit go through",
        "i pay for my children and my bill on top of that is too much",
    ],
)
async def test_a_relative_named_beside_the_patients_own_bill_is_not_refused(env: Env, text: str) -> None:
    patient = env.patient("copay_only")
    said = await env.say("own", text, patient)
    assert said.text not in _REFUSED


# ------------------------------------------------------------------- a greeting or a slip, then a question


@pytest.mark.parametrize(
    "text",
    [
        "hey it's me again, how much do I owe",
        "hello there! what's my balance",
        "sorry hit the wrong thing, what was my balance",
        "oops wrong button. how much is my bill",
        "buenos días, ¿cuánto es mi saldo?",
        "hola buenas, cuanto debo",
    ],
)
async def test_a_question_after_a_greeting_or_a_slip_is_answered(env: Env, text: str) -> None:
    patient = env.patient("copay_only")
    summary = await env.platform.get_account_summary(patient.id)
    said = await env.say("lead", text, patient)
    assert said.message is not None
    assert said.message.expecting != "clarify"
    assert T.money(summary.balance_cents) in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


# ------------------------------------------------------------------- a person asked to look at the bill


@pytest.mark.parametrize(
    "text",
    [
        "someone in billing should really look at this",
        "can a human check this for me",
        "I'd like a real person to go over these charges",
        "have somebody from your office look into it please",
    ],
)
async def test_a_person_asked_to_look_at_the_bill_opens_a_ticket(env: Env, text: str) -> None:
    patient = env.patient("coinsurance_after_deductible", exclude=("spanish_speaker",))
    await env.say("review", "what's on my statement", patient)
    said = await env.say("review", text, patient)
    assert said.handoff is not None
    assert said.handoff.reason == "requested_human"


@pytest.mark.parametrize("text", ["did someone check my payment yet", "can someone check my balance"])
async def test_a_question_about_a_check_is_no_request_for_a_person(env: Env, text: str) -> None:
    patient = env.patient("copay_only")
    await env.say("no-review", "what's on my statement", patient)
    said = await env.say("no-review", text, patient)
    assert said.handoff is None or said.handoff.reason != "requested_human"


# --------------------------------------------------------------------------- the balance without the word


@pytest.mark.parametrize(
    "text",
    [
        "across all my visits what's the total still outstanding with you",
        "if I wanted to pay off everything today, what would the total be",
        "sent you a check last month, am I all squared up now?",
        "where does my acount stand these days",
        "am i all caught up with you guys",
        "I don't have insurance, so what is it that I owe you?",
        "paid cash at the visit, so how much do I still owe",
        "what's left on my tab with you",
    ],
)
async def test_the_balance_asked_without_the_word_is_answered(env: Env, text: str) -> None:
    patient = env.patient("copay_only")
    summary = await env.platform.get_account_summary(patient.id)
    said = await env.say("owed", text, patient)
    assert T.money(summary.balance_cents) in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


@pytest.mark.parametrize(
    "text",
    [
        "how much is still outstanding on my credit card",
        "what's the total I owe for the car loan",
        "am I all caught up on the new season",
        "are we all square for the pizza",
        "I need to pay National Grid for the power, can you send me a link for that",
        "send me a link so I can pay Wells Fargo Auto this month",
    ],
)
async def test_another_creditor_or_another_matter_stays_out_of_scope(env: Env, text: str) -> None:
    patient = env.patient("copay_only")
    summary = await env.platform.get_account_summary(patient.id)
    said = await env.say("other", text, patient)
    assert T.money(summary.balance_cents) not in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


# --------------------------------------------------------------------------- why insurance paid only part


@pytest.mark.parametrize(
    "text",
    [
        "my deductible's been met since march, how come insurance only paid part of it",
        "why did my plan just cover some of the visit",
        "how come my insurance only covred half",
        "how come my plan paid just a portion",
        "I pay premiums each month, so why didnt insurance pay this? explain it",
    ],
)
async def test_why_insurance_paid_only_part_gets_the_line_math_and_no_plan(env: Env, text: str) -> None:
    patient = env.patient("coinsurance_after_deductible", exclude=("spanish_speaker",))
    statement = await env.open_statement(patient.id)
    line = statement.line_items[0]
    said = await env.say("part", text, patient)
    assert said.message is not None
    assert said.message.expecting != "plan_choice"
    assert T.money(line.patient_responsibility_cents) in said.text
    assert "Insurance paid" in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


async def test_premiums_and_a_plan_asked_together_still_offer_the_plan(env: Env) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    said = await env.say(
        "both", "why do I owe this when I pay premiums every month? can I pay it monthly", patient
    )
    assert said.message is not None
    assert said.message.expecting == "plan_choice"


@pytest.mark.parametrize(
    "text",
    ["how close am I to meeting my deductbile", "how much of my dedcutible is left this year"],
)
async def test_a_misspelt_deductible_question_gets_the_coverage_progress(env: Env, text: str) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    said = await env.say("ded", text, patient)
    assert "deductible this year" in said.text


# --------------------------------------------------------------------------- what a charge is for


@pytest.mark.parametrize(
    "text",
    [
        "there's one charge on my bill, code 99213, was that just for the office visit?",
        "what is this 99214 thing on my statement for",
    ],
)
async def test_asking_what_a_charge_is_for_opens_no_ticket(env: Env, text: str) -> None:
    patient = env.patient("copay_only")
    said = await env.say("what-for", text, patient)
    assert said.handoff is None
    assert await env.writes(patient.id) == (0, 0, 0)


# ---------------------------------------------------------------- typos in a question for the documents


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("what paymnet mtehods do you take", "mail"),
        ("can you explain in-netwrok vs out of network", "network"),
    ],
)
async def test_a_misspelt_question_still_finds_the_practice_document(env: Env, text: str, word: str) -> None:
    patient = env.patient("copay_only")
    said = await env.say("kb", text, patient)
    assert word in said.text.lower()
    assert said.message is not None
    assert said.message.expecting != "human_offer"


# ----------------------------------------------------------------- a dispute of one statement by number


@pytest.mark.parametrize(
    "template",
    [
        "Statement {number} is for an appointment we cancelled, we never came in. I'm disputing it.",
        "i dispute {number}, never showed up for that visit",
        "{number} - I cancelled that appointment, the bill is wrong",
    ],
)
async def test_a_dispute_of_a_numbered_statement_is_ticketed_on_that_statement(
    env: Env, template: str
) -> None:
    patient = env.patient("multiple_open_statements")
    open_ = [s for s in await env.platform.list_statements(patient.id) if s.status is StatementStatus.OPEN]
    assert len(open_) > 1
    disputed = open_[-1]
    said = await env.say("disputed", template.format(number=disputed.number), patient)
    assert said.handoff is not None
    assert said.handoff.reason == "dispute_charge"
    tickets = await env.platform.list_tickets(patient.id)
    assert [t.statement_id for t in tickets] == [disputed.id]


# ------------------------------------------------------------------ asked outright to update insurance


@pytest.mark.parametrize(
    "ask",
    [
        "wait, I got new insurance last month, can you update it before we go on",
        "hold on, could someone change my insurance on file first",
        "before that - please update my insurance, I switched plans",
    ],
)
async def test_an_outright_ask_to_update_insurance_is_ticketed_and_the_plan_resumes(
    env: Env, ask: str
) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    await env.say("update", "can I pay this monthly", patient)
    asked = await env.say("update", ask, patient)
    assert asked.handoff is not None
    assert asked.handoff.reason == "update_insurance_or_contact"
    await env.agent.hand_back("update", "updated")
    back = await env.say("update", "thanks, back to the payment plan", patient)
    assert back.message is not None
    assert back.message.expecting == "plan_choice"


@pytest.mark.parametrize(
    "text",
    [
        "I have new insurance",
        "how do I update my insurance on file",
        "please change my account to another one",
    ],
)
async def test_new_insurance_without_an_ask_is_offered_a_person_not_ticketed(env: Env, text: str) -> None:
    patient = env.patient("copay_only", exclude=("spanish_speaker",))
    said = await env.say("new-ins", text, patient)
    assert said.handoff is None
    assert await env.writes(patient.id) == (0, 0, 0)


# --------------------------------------------------------------------------- a plan with nothing down


@pytest.mark.parametrize(
    "lines",
    [
        ["can I start a payment plan with nothing down", "no, zero down, that's what I said"],
        ["i want monthly payments but no down payment", "not paying a cent today. take it or leave it"],
        ["set me up on a plan, first payment next month", "no money down or forget it"],
    ],
)
async def test_a_plan_with_nothing_down_states_the_down_payment_then_offers_a_person(
    env: Env, lines: list[str]
) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    first = await env.say("no-down", lines[0], patient)
    assert first.message is not None
    assert first.message.expecting == "plan_choice"
    assert "down payment of at least" in first.text
    again = await env.say("no-down", lines[1], patient)
    assert again.message is not None
    assert again.message.expecting == "human_offer"
    yes = await env.say("no-down", "yes please", patient)
    assert yes.handoff is not None
    assert yes.handoff.reason == "requested_human"
    assert len(await env.platform.list_payment_plans(patient.id)) == 0


# --------------------------------------------------------------------------- a plan picked by its length


@pytest.mark.parametrize(
    ("pick", "fewest"),
    [
        ("I'll go with the shortest one.", True),
        ("the quickest plan please", True),
        ("whichever has the lowest monthly payment", False),
        ("give me the longest one", False),
    ],
)
async def test_a_plan_picked_by_its_length_gets_that_option(env: Env, pick: str, fewest: bool) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    offered = await env.say("length", "what payment plans can I get", patient)
    assert offered.message is not None
    assert offered.message.expecting == "plan_choice"
    chosen = await env.say("length", pick, patient)
    assert chosen.message is not None
    assert chosen.message.expecting == "consent"
    done = await env.say("length", "yes", patient)
    assert done.message is not None
    assert done.message.actions == ["created_plan"]
    balance = (await env.platform.get_account_summary(patient.id)).balance_cents
    offered_months = [o.months for o in offer_plans(default_policy(), balance, harness.NOW.date())]
    plans = await env.platform.list_payment_plans(patient.id)
    assert [p.months for p in plans] == [min(offered_months) if fewest else max(offered_months)]


# --------------------------------------------------------------------------- a supplement's claim


@pytest.mark.parametrize(
    "text",
    [
        "did my supplemental insurance pick up the rest after medicare?",
        "is my second insurance paying the leftover part yet",
    ],
)
async def test_a_secondary_insurers_claim_is_named_as_secondary_and_pending(env: Env, text: str) -> None:
    patient = env.patient("secondary_pending", exclude=("spanish_speaker",))
    said = await env.say("secondary", text, patient)
    assert "secondary insurance" in said.text
    assert "still pending" in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


# --------------------------------------------------------------------------- hardship read as a plan


@pytest.mark.parametrize(
    "text",
    [
        "we live paycheck to paycheck, there's no way I can cover this bill",
        "it's either the electric or this bill this month, I can't do both",
    ],
)
async def test_words_of_hardship_read_as_a_plan_reach_a_person(env: Env, text: str) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    said = await env.say("hardship", text, patient)
    assert said.handoff is not None
    assert said.handoff.reason == "financial_hardship"
    assert len(await env.platform.list_payment_plans(patient.id)) == 0


async def test_hardship_with_a_plan_asked_for_still_offers_the_plan(env: Env) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    said = await env.say("plan", "money is tight, can I pay this monthly", patient)
    assert said.message is not None
    assert said.message.expecting == "plan_choice"


async def test_cannot_pay_it_all_today_writes_no_link(env: Env) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    await env.say("not-today", "I can't pay this all today", patient)
    assert len(await env.gateway.list_links(patient.id)) == 0


# --------------------------------------------------------------------------- paying in parts, in other words


@pytest.mark.parametrize(
    "text",
    [
        "cash patient, I'd like to spread the balance out",
        "I have no insurance, can I spread my balance out?",
        "self pay here, I need to spread it out",
        "could we split the bill up into smaller payments",
    ],
)
async def test_asking_to_spread_the_bill_out_gets_the_plans_and_no_link(env: Env, text: str) -> None:
    # An unsure reading as paying now ("spread the balance out") offered a link to pay it all. Some such
    # asks are still read as out of scope ("is it possible to stretch this bill out?"): no write either.
    patient = env.patient("self_pay")
    said = await env.say("spread", text, patient)
    assert said.message is not None
    assert said.message.intent == "payment_plan", said.message
    assert "monthly payments" in said.message.text
    assert await env.writes(patient.id) == (0, 0, 0)
