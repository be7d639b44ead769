"""Patients who write unlike a tech-savvy adult (the n- work list): voice dictation with homophones, upset
said in Spanish, a formal letter asking for staff or for the charges, a relative's balance asked in
Spanglish, a plan asked after in one word, a line the plan does not cover, a wish to pay all of it now.
Each is read for what it asks; nothing is written on a guess."""

from __future__ import annotations

import pytest

from agent import templates as T
from agent.understanding.base import Intent
from tests.agent.harness import Env
from tools.platforms.models import Adjustment, GroupCode

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


# ------------------------------------------------------------ voice dictation: "their" and "do" for due


@pytest.mark.parametrize(
    "text",
    [
        "question why is their still money do from me when insurance already paid for the visit",
        "why is their still money do from me my insurance paid already",
        "how come their is money due from me when insurance already paid the visit",
    ],
)
async def test_why_money_is_still_due_after_insurance_paid_is_the_insurance_math(env: Env, text: str) -> None:
    patient = env.patient("coinsurance_after_deductible", exclude=("spanish_speaker",))
    said = await env.say("voice-why", text, patient)
    assert said.message is not None
    assert said.message.intent == Intent.EXPLAIN_STATEMENT
    assert said.handoff is None
    assert "coinsurance" in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


@pytest.mark.parametrize(
    "text",
    [
        "Buenas tardes, quisiera saber por qué me llegó esta cuenta si tengo Medicare y el seguro "
        "complementario.",
        "por qué me mandaron esta factura si ya tengo seguro",
    ],
)
async def test_why_a_bill_came_although_insured_asked_in_spanish_is_explained(env: Env, text: str) -> None:
    patient = env.patient("secondary_pending")
    said = await env.say("llego-cuenta", text, patient)
    assert said.message is not None
    assert said.message.intent == Intent.EXPLAIN_STATEMENT
    assert said.handoff is None
    assert await env.writes(patient.id) == (0, 0, 0)


# ------------------------------------------------------------------------- upset, said in Spanish


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (
            "No, eso no es lo que le pregunté. Ya me estoy enojando, nadie me explica nada.",
            "Estoy muy molesta, siempre me dan vueltas y vueltas. Ya no aguanto más.",
        ),
        ("Otra vez lo mismo. Qué frustración, no me está ayudando.", "Ya es la tercera vez que pregunto."),
        ("Me frustra mucho, nadie me ayuda con esto.", "Es una falta de respeto, no me están escuchando."),
    ],
)
async def test_upset_said_in_spanish_reaches_a_person(env: Env, first: str, second: str) -> None:
    patient = env.patient("secondary_pending")
    await env.say("enojada", "Hola, me llegó una factura y no entiendo por qué. ¿Me puede explicar?", patient)
    said = await env.say("enojada", first, patient)
    if said.handoff is None:
        said = await env.say("enojada", second, patient)
    assert said.handoff is not None
    assert said.handoff.reason == "frustration"
    plans, links, _ = await env.writes(patient.id)
    assert (plans, links) == (0, 0)


# ------------------------------------------------------------------ a formal request for the staff


@pytest.mark.parametrize(
    "text",
    [
        "Good afternoon. I would prefer to discuss my account with a member of your billing staff, if you "
        "would be so kind as to arrange it.",
        "Good morning. I would prefer to discuss my statement with a member of your billing team, if that "
        "can be arranged.",
    ],
)
async def test_a_formal_request_for_the_staff_is_a_request_for_a_person(env: Env, text: str) -> None:
    patient = env.patient("coinsurance_after_deductible", exclude=("spanish_speaker",))
    said = await env.say("formal-person", text, patient)
    assert said.message is not None
    assert said.message.intent == Intent.REQUEST_HUMAN
    if said.handoff is None:  # a person offered: the yes opens the ticket
        said = await env.say("formal-person", "Yes, please go ahead and arrange it.", patient)
    assert said.handoff is not None
    assert said.handoff.reason == "requested_human"
    assert await env.writes(patient.id) == (0, 0, 1)


# --------------------------------------------------------------------- a relative's bill, in Spanglish


@pytest.mark.parametrize(
    "text",
    [
        "hi, can you tell me el balance de mi mamá? she's a patient there too",
        "quiero ver el bill de mi esposo",
        "what are los cargos de mi papá?",
    ],
)
async def test_a_relatives_balance_asked_in_spanglish_is_refused(env: Env, text: str) -> None:
    patient = env.patient("coinsurance_after_deductible")
    said = await env.say("spanglish", text, patient)
    assert said.text in (T.OTHER_PERSON["en"], T.OTHER_PERSON["es"])
    assert "$" not in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


# ------------------------------------------------------------------- the plan asked after in a word


@pytest.mark.parametrize("resume", ["back. plan?", "plan?", "plan pls"])
async def test_after_a_hand_back_the_plan_asked_in_a_word_resumes(env: Env, resume: str) -> None:
    patient = env.patient("balance_over_5000", exclude=("spanish_speaker",))
    offered = await env.say("terse-plan", "pay plan pls", patient)
    assert offered.message is not None
    assert offered.message.expecting == "plan_choice"
    asked = await env.say("terse-plan", "wait. person first pls", patient)
    assert asked.handoff is not None
    await env.agent.hand_back("terse-plan", "answered")
    back = await env.say("terse-plan", resume, patient)
    assert back.message is not None
    assert back.message.intent == Intent.PAYMENT_PLAN
    assert back.message.expecting == "plan_choice"
    assert await env.writes(patient.id) == (0, 0, 1)


# ------------------------------------------------------------------ the charges asked for formally


@pytest.mark.parametrize(
    "text",
    [
        "Good evening. Would you kindly list the services on my most recent statement and what each one "
        "cost?",
        "list the services on my most recent statement",
        "please itemise the services on my very last statement",
    ],
)
async def test_the_services_on_the_most_recent_statement_are_listed(env: Env, text: str) -> None:
    patient = env.patient("coinsurance_after_deductible", exclude=("spanish_speaker",))
    said = await env.say("formal-list", text, patient)
    assert said.message is not None
    assert said.message.intent == Intent.EXPLAIN_STATEMENT
    assert "was billed at" in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


# ---------------------------------------------------------- a line the plan does not cover, explained


@pytest.mark.parametrize(
    ("lang", "said_why"), [("es", "no está cubierto por su plan"), ("en", "not covered by your plan")]
)
async def test_a_line_insurance_paid_nothing_on_says_it_is_not_covered(
    env: Env, lang: str, said_why: str
) -> None:
    # The n- list's "¿Por qué el seguro no pagó el procedimiento?" is answered with the statement's lines; a
    # line the plan does not cover (a PR 204 denial) says so, not only that insurance paid nothing.
    patient = env.patient("coinsurance_after_deductible", exclude=("spanish_speaker",))
    line = (await env.open_statement(patient.id)).line_items[0]
    uncovered = line.model_copy(
        update={
            "allowed_cents": line.billed_cents,
            "insurance_paid_cents": 0,
            "insurance_pending_cents": 0,
            "adjustments": (Adjustment(group_code=GroupCode.PR, carc="204", amount_cents=line.billed_cents),),
            "deductible_cents": 0,
            "coinsurance_cents": 0,
            "copay_cents": 0,
            "not_covered_cents": line.billed_cents,
        }
    )
    assert said_why in T.line_math(uncovered, "es" if lang == "es" else "en")
    paid_nothing = uncovered.model_copy(
        update={"not_covered_cents": 0, "deductible_cents": line.billed_cents}
    )
    assert said_why not in T.line_math(paid_nothing, "es" if lang == "es" else "en")


# ------------------------------------------------------------------- paying all of it, asked formally


@pytest.mark.parametrize(
    "text",
    [
        "Hello, I should like to pay the whole of what I owe now. How may I do so?",
        "i want to pay everything i owe today, how do i do that",
    ],
)
async def test_a_wish_to_pay_all_that_is_owed_gets_the_link_after_a_yes(env: Env, text: str) -> None:
    patient = env.patient("copay_only", exclude=("spanish_speaker",))
    said = await env.say("pay-all", text, patient)
    assert said.message is not None
    assert said.message.intent == Intent.PAY_NOW
    # The words ask to pay, not for a link: the link's terms are stated and the link waits for the yes.
    assert "Would you like a secure link to pay" in said.text
    assert await env.writes(patient.id) == (0, 0, 0)
    await env.say("pay-all", "Yes, please.", patient)
    assert await env.writes(patient.id) == (0, 1, 0)
