"""Issue 15's classes found by the i- work list (a seen split written from the outside), each in phrasings
written here (neither training lines nor eval lines): legal words about another matter of the patient's
life (a landlord, the patient's own trade, jury duty) open no ticket while a threat about these charges
still does; a relative's account behind a typo or a contraction is refused; "what about mine, then?" after
that refusal answers the same question for the patient's own account; the active plan's terms when asked;
"anything left on my account" is the balance; and a billing question after a chatty sentence is answered."""

from __future__ import annotations

import pytest

from agent import templates as T
from tests.agent.harness import Env
from tools.platforms.models import Patient, PlanStatus, StatementStatus, StatementSummary

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


# ------------------------------------- legal words about another matter: no ticket, the question answered


@pytest.mark.parametrize(
    "text",
    [
        "my contractor is threatening to take me to small claims. anyway how much do I owe you?",
        "I'm an attorney myself - can you tell me my balance?",
        "I'm at the courthouse for jury service all week. what's my balance?",
        "my ex is suing me again, ugh. separately, what's the total on my account?",
        "my landlrod wants to sue me over the deposit, whatever. what do I owe you guys?",
        "my lawyer says hello, he's my cousin. what is my balance?",
    ],
)
async def test_legal_words_about_another_matter_open_no_ticket_and_the_balance_is_said(
    env: Env, text: str
) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    summary = await env.platform.get_account_summary(patient.id)
    said = await env.say("other-matter", text, patient)
    assert said.handoff is None
    assert T.money(summary.balance_cents) in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


@pytest.mark.parametrize(
    "text",
    [
        "My attorney will be reaching out regarding these lab charges",
        "I'm a lawyer and I will sue your clinic over this bill",
        "my landlord is suing me and now I'm going to sue you over this bill too",
        "you'll be hearing from my lawyer about those surgery charges",
        # a lawyer's advice to withhold payment is a legal matter about this bill
        "my attorney says I shouldn't pay a cent until this gets corrected",
        "my lawyer advised me not to pay until you explain the charges",
    ],
)
async def test_a_legal_threat_about_these_charges_still_reaches_a_person(env: Env, text: str) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    said = await env.say("threat", text, patient)
    assert said.handoff is not None
    assert said.handoff.reason == "legal"


# ------------------------------------------- a relative's account behind a typo or a contraction: refused


@pytest.mark.parametrize(
    "text",
    [
        "how much does my sposue owe?",
        "my dad got a statement too, what's he owe",
        "did my daughters insurnace claim get paid",
        "whats my huband owe you",
    ],
)
async def test_a_relatives_account_behind_a_typo_is_refused(env: Env, text: str) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    summary = await env.platform.get_account_summary(patient.id)
    said = await env.say("relative", text, patient)
    assert said.text == T.OTHER_PERSON["en"]
    assert T.money(summary.balance_cents) not in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


# ------------------------------------------- "what about mine, then?" after that refusal


@pytest.mark.parametrize(
    ("refused", "follow_up"),
    [
        ("how much does my wife owe?", "ok, what about mine?"),
        ("can you pull up my father's balance", "and me?"),
        ("what's my mom's bill come to", "fine, my own then"),
        ("what does my husband owe", "oh. how about my account"),
    ],
)
async def test_the_patients_own_account_after_a_refusal_gets_the_same_question(
    env: Env, refused: str, follow_up: str
) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    summary = await env.platform.get_account_summary(patient.id)
    first = await env.say("mine-then", refused, patient)
    assert first.text == T.OTHER_PERSON["en"]
    said = await env.say("mine-then", follow_up, patient)
    assert T.money(summary.balance_cents) in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


async def test_a_refused_claim_question_is_answered_for_the_patients_own_claims(env: Env) -> None:
    patient = env.patient("claim_pending", exclude=("spanish_speaker",))
    first = await env.say("claim-mine", "did my son's insurance claim go through", patient)
    assert first.text == T.OTHER_PERSON["en"]
    said = await env.say("claim-mine", "what about mine then?", patient)
    assert said.message is not None
    assert said.message.intent == "claim_status"
    assert "claim" in said.text.lower()
    assert await env.writes(patient.id) == (0, 0, 0)


async def test_mine_without_a_refusal_before_it_is_not_carried_over(env: Env) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    await env.say("no-refusal", "what is a deductible", patient)
    said = await env.say("no-refusal", "and me?", patient)
    assert await env.writes(patient.id) == (0, 0, 0)
    assert said.handoff is None


# ------------------------------------------- the active plan's terms


@pytest.mark.parametrize(
    "text",
    [
        "what's my monthly payment on the plan?",
        "how much is each installment on my payment plan",
        "remind me what I pay every month for my plan",
    ],
)
async def test_an_active_plans_terms_are_said_when_asked(env: Env, text: str) -> None:
    patient = env.patient("active_plan")
    plans = await env.platform.list_payment_plans(patient.id)
    active = next(p for p in plans if p.status is PlanStatus.ACTIVE)
    said = await env.say("plan-terms", text, patient)
    assert T.money(active.installment_cents) in said.text
    assert await env.writes(patient.id) == (len(plans), 0, 0)


# ------------------------------------------- the balance in other words, and after a chatty sentence


@pytest.mark.parametrize(
    "text",
    [
        "is there anything remaining on my account?",
        "anything still left to pay?",
        "my phone bill was insane this month. anyway how much is my medcal bill?",
        "the traffic this morning was unreal. how much is my doctor bill?",
    ],
)
async def test_the_balance_asked_in_other_words_is_said(env: Env, text: str) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    summary = await env.platform.get_account_summary(patient.id)
    said = await env.say("balance-other", text, patient)
    assert T.money(summary.balance_cents) in said.text
    assert said.handoff is None
    assert await env.writes(patient.id) == (0, 0, 0)


# ------------------------------------------- "what's the $30 for?": the amount's insurance math


@pytest.mark.parametrize(
    "text",
    [
        "insurance covered it so what is the $40 for",
        "my plan paid, whats the 40 bucks for then?",
        "what was that 40 dollars for? I have insurance",
    ],
)
async def test_an_amount_asked_what_for_is_explained_with_the_insurance_math(env: Env, text: str) -> None:
    patient = env.patient("copay_only")
    said = await env.say("amount-for", text, patient)
    assert said.message is not None
    assert said.message.intent in ("explain_statement", "explain_charge")
    assert "copay" in said.text.lower()
    assert await env.writes(patient.id) == (0, 0, 0)


# ------------------------------------------- a word of law used in passing, in another sentence than the bill


@pytest.mark.parametrize(
    "text",
    [
        "I watched a court show last night lol. what's my balance",
        "my lawyer friend says hi. how much do I owe?",
        "Just got back from traffic court. What do I owe you?",
    ],
)
async def test_a_word_of_law_in_passing_opens_no_ticket(env: Env, text: str) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    summary = await env.platform.get_account_summary(patient.id)
    said = await env.say("in-passing", text, patient)
    assert said.handoff is None
    assert T.money(summary.balance_cents) in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


@pytest.mark.parametrize(
    "text",
    [
        "This bill is wrong. I am calling my lawyer.",
        "This charge is a scam. Expect to hear from my attorney.",
        "I have an attorney. These charges are not mine.",
        "voy a llamar a mi abogado. esta factura está mal",
    ],
)
async def test_a_threat_in_its_own_sentence_still_reaches_a_person(env: Env, text: str) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    said = await env.say("own-sentence", text, patient)
    assert said.handoff is not None
    assert said.handoff.reason == "legal"


# ------------------------------------------- "the other one", "the older one": a statement pointed at


async def _two_statement_patient(env: Env) -> tuple[Patient, list[StatementSummary]]:
    for p in env.data.patients:
        if "multiple_open_statements" not in p.scenario_tags or "spanish_speaker" in p.scenario_tags:
            continue
        summaries = await env.platform.list_statements(p.id)
        open_ = [s for s in summaries if s.status is StatementStatus.OPEN and s.balance_cents > 0]
        if len(open_) == 2:
            return p, open_
    raise LookupError("no patient with two open statements")


@pytest.mark.parametrize(
    ("first", "pointer"),
    [
        ("explain my most recent statement", "and the older one?"),
        ("what's on my newest bill", "what about the earlier bill"),
        ("show me my latest statement", "ok, what's the other one for?"),
        ("what do I owe on each bill?", "what's the previous one for?"),
    ],
)
async def test_a_statement_pointed_at_from_the_one_shown_is_explained(
    env: Env, first: str, pointer: str
) -> None:
    patient, (newest, older) = await _two_statement_patient(env)
    await env.say("pointer", first, patient)
    said = await env.say("pointer", pointer, patient)
    assert said.message is not None
    assert said.message.intent == "explain_statement"
    assert older.number in said.text
    assert newest.number not in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


async def test_the_one_after_that_points_at_the_newer_statement(env: Env) -> None:
    patient, (newest, older) = await _two_statement_patient(env)
    await env.say("after", f"explain statement {older.number}", patient)
    said = await env.say("after", "and the one after that?", patient)
    assert newest.number in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


# ------------------------------------------- the payment link asked for by name


@pytest.mark.parametrize(
    "text",
    ["ok send me the link then", "can I get the pay link", "text me that link pls", "payment link please"],
)
async def test_the_payment_link_asked_for_by_name_is_sent_for_the_balance(env: Env, text: str) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    summary = await env.platform.get_account_summary(patient.id)
    await env.say("link-named", "what's my balance", patient)
    said = await env.say("link-named", text, patient)
    links = await env.gateway.list_links(patient.id)
    assert len(links) == 1
    assert links[0].amount_cents == summary.balance_cents
    assert T.money(summary.balance_cents) in said.text


@pytest.mark.parametrize(
    "text",
    [
        "send me the link to the patient portal",
        "can you send me the zoom link for my video visit",
        "send me the link for my water bill",
    ],
)
async def test_a_link_to_something_else_writes_no_payment_link(env: Env, text: str) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    await env.say("link-other", text, patient)
    assert await env.writes(patient.id) == (0, 0, 0)


@pytest.mark.parametrize(
    "text",
    [
        "this charge is wrong, I never had that test. whatever, send me the link",
        "I already paid this at the desk but send me the link",
    ],
)
async def test_a_link_asked_for_beside_a_contested_bill_is_not_sent(env: Env, text: str) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    await env.say("link-contested", text, patient)
    assert await env.gateway.list_links(patient.id) == []


# ------------------------------------------- the total asked as what it comes to, and when it is due


@pytest.mark.parametrize(
    "text",
    [
        "what does it all add up to",
        "what's my doctor bill come to?",
        "how much do my charges total",
    ],
)
async def test_what_the_bill_comes_to_is_the_balance(env: Env, text: str) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    summary = await env.platform.get_account_summary(patient.id)
    said = await env.say("comes-to", text, patient)
    assert T.money(summary.balance_cents) in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


async def test_when_it_was_due_after_the_balance_says_the_due_date(env: Env) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    statement = await env.open_statement(patient.id)
    await env.say("due-after", "how much do I owe right now", patient)
    said = await env.say("due-after", "and when was that due?", patient)
    assert said.message is not None
    assert said.message.expecting != "clarify"
    assert T.day(statement.due_date) in said.text
