"""Issue 15's classes found by the m- work list (a seen split written from the outside), each in phrasings
written here (neither training lines nor eval lines): a lawyer asked of the agent for another matter is
out of scope and opens no ticket, while a threat about these charges beside it still does; a neighbour's or
a friend's account, named by the person's name, is refused; the balance and whether the insurer paid,
asked in one message, are both answered (after verification too), and what is owed for one named service
is that line; a check the patient sent is looked up among the payments, and "so I'm all set?" is the
balance; a follow-up about the lines the insurer declined is the denial's answer; a plan asked for by its
length, the total of a kind of care and "where am I at with you" are answered; self-pay lines read in
plain words."""

from __future__ import annotations

from datetime import date

import pytest

from agent import templates as T
from agent.understanding.entities import LINE_KEYWORDS
from tests.agent.harness import Env, typed_dob
from tools.platforms.models import Adjustment, Channel, ClaimStatus, GroupCode, LineItem

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


# ------------------------------------------- a lawyer asked for another matter: out of scope, no ticket


@pytest.mark.parametrize(
    "text",
    [
        "other question: my roofer botched it and I may take him to small claims. know any attorneys?",
        "my contractor botched the roof and I may take him to small claims, do you know any good attorneys?",
        "my ex wants to drag me to court again. could you point me to a decent lawyer",
        "I'm being sued by my old roommate, can you suggest an attorney?",
        "any lawyers you'd recommend? my landlord is keeping my deposit",
    ],
)
@SQLITE
async def test_a_lawyer_asked_for_another_matter_is_out_of_scope_and_opens_no_ticket(
    env: Env, text: str
) -> None:
    patient = env.patient("self_pay", exclude=("spanish_speaker",))
    summary = await env.platform.get_account_summary(patient.id)
    first = await env.say("lawyer", "how much is my balance?", patient)
    assert T.money(summary.balance_cents) in first.text
    said = await env.say("lawyer", text, patient)
    assert said.handoff is None
    assert said.text == T.OUT_OF_SCOPE["en"]
    assert await env.writes(patient.id) == (0, 0, 0)


@pytest.mark.parametrize(
    "text",
    [
        "do you know a good lawyer? because I'm going to sue your office over these charges",
        "can you recommend an attorney - I'm taking you to small claims over this bill",
    ],
)
@SQLITE
async def test_a_lawyer_asked_for_beside_a_threat_about_this_bill_still_reaches_a_person(
    env: Env, text: str
) -> None:
    patient = env.patient("self_pay", exclude=("spanish_speaker",))
    await env.say("lawyer-threat", "how much is my balance?", patient)
    said = await env.say("lawyer-threat", text, patient)
    assert said.handoff is not None
    assert said.handoff.reason == "legal"
    assert said.handoff.priority == "urgent"


# ------------------------------------------- a neighbour's or a friend's account, by name: refused


@pytest.mark.parametrize(
    "text",
    [
        "my friend Marcus Hill wants me to find out what he owes you guys",
        "my coworker Linda Park asked if I could check her balance for her",
        "a neighbor of mine, Ruth Alvarez, can't get online - can you look her up?",
    ],
)
@SQLITE
async def test_someone_elses_account_named_by_a_name_is_refused(env: Env, text: str) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    summary = await env.platform.get_account_summary(patient.id)
    await env.say("neighbour", "what do I owe right now?", patient)
    said = await env.say("neighbour", text, patient)
    assert said.text == T.OTHER_PERSON["en"]
    assert T.money(summary.balance_cents) not in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


@SQLITE
async def test_a_neighbour_named_beside_the_patients_own_question_is_no_refusal(env: Env) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    summary = await env.platform.get_account_summary(patient.id)
    said = await env.say("neighbour-own", "my neighbor drove me to my appointment, what do I owe?", patient)
    assert said.text != T.OTHER_PERSON["en"]
    assert T.money(summary.balance_cents) in said.text


# ------------------------------------------- two questions in one message: both answered


async def _word_for_a_pending_line(env: Env, pid: str) -> str:
    """A word a patient would use for a line still with the insurer, one that names no other line first."""
    lines = (await env.open_statement(pid)).line_items
    for word, canon in LINE_KEYWORDS.items():
        first = next((li for li in lines if canon in li.description.lower()), None)
        if first is not None and first.insurance_pending_cents and " " not in word:
            return word
    raise LookupError("no line still with the insurer")


@SQLITE
async def test_the_balance_and_whether_insurance_paid_are_both_answered_then_the_line(env: Env) -> None:
    patient = env.patient("claim_pending", exclude=("spanish_speaker",))
    summary = await env.platform.get_account_summary(patient.id)
    claims = await env.platform.list_claims(patient.id)
    assert any(c.status in (ClaimStatus.PENDING, ClaimStatus.SUBMITTED) for c in claims)
    said = await env.say(
        "two-asks", "what do I owe you, and has my insurance paid for that visit yet?", patient
    )
    assert T.money(summary.balance_cents) in said.text
    assert "still pending" in said.text or "waiting to be processed" in said.text
    word = await _word_for_a_pending_line(env, patient.id)
    follow = await env.say("two-asks", f"ok so the {word} isn't on me yet?", patient)
    assert "still pending with your insurance, so you don't owe anything for it yet" in follow.text
    assert f"Your balance is {T.money(summary.balance_cents)}" not in follow.text
    assert await env.writes(patient.id) == (0, 0, 0)


@SQLITE
async def test_two_questions_asked_before_verification_are_both_answered_after_it(env: Env) -> None:
    patient = env.patient("claim_pending", exclude=("spanish_speaker", "no_phone"))
    assert patient.phone
    summary = await env.platform.get_account_summary(patient.id)
    first = await env.say(
        "two-asks-sms",
        "did my insurance pay yet? plus whats my balance",
        channel=Channel.SMS,
        phone=patient.phone,
    )
    assert first.text == T.AUTH_PROMPT["en"]
    said = await env.say(
        "two-asks-sms",
        f"{typed_dob(patient.date_of_birth)} {patient.zip_code}",
        channel=Channel.SMS,
        phone=patient.phone,
    )
    assert said.text.startswith(T.AUTH_OK["en"])
    assert "Your claim with" in said.text
    assert T.money(summary.balance_cents) in said.text


# ------------------------------------------- a check sent: the payment on file; "so I'm all set?"


@pytest.mark.parametrize(
    ("ask", "then"),
    [
        ("did you folks ever receive the check I mailed last month?", "so I'm all good then?"),
        ("has your office gotten my check yet", "ok great, that means I'm squared away?"),
    ],
)
@SQLITE
async def test_a_check_sent_is_looked_up_and_all_set_is_the_balance(env: Env, ask: str, then: str) -> None:
    patient = env.patient("already_paid", exclude=("spanish_speaker",))
    payments = await env.platform.list_payments(patient.id)
    latest = max(payments, key=lambda p: p.posted_at)
    summary = await env.platform.get_account_summary(patient.id)
    said = await env.say("check", ask, patient)
    assert said.handoff is None
    assert T.money(latest.amount_cents) in said.text
    follow = await env.say("check", then, patient)
    assert follow.text.startswith(T.balance(summary.balance_cents, summary.open_statement_count, "en"))
    assert await env.writes(patient.id) == (0, 0, 0)


# ------------------------------------------- the lines the insurer declined, as a follow-up


@pytest.mark.parametrize(
    "text",
    [
        "Thank you. And the lines that were declined, must I pay them as well?",
        "the services that got declined, do I pay for those too?",
    ],
)
@SQLITE
async def test_a_follow_up_about_declined_lines_gets_the_denials_answer(env: Env, text: str) -> None:
    patient = env.patient("claim_denied", exclude=("spanish_speaker",))
    denied = [c for c in await env.platform.list_claims(patient.id) if c.denial_codes]
    code = denied[0].denial_codes[0]
    await env.say("declined", "Kindly tell me the sum I owe your practice.", patient)
    said = await env.say("declined", text, patient)
    assert f"Reason ({code.group_code.value}-{code.carc})" in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


# ------------------------------------------- a plan by its length; the total of a kind of care


@pytest.mark.parametrize(
    "text",
    [
        "what is the longest plan you can set up on this surgery balance",
        "i'd like a 3 year plan on this",
        "whats the longest plan u got for this",
    ],
)
@SQLITE
async def test_a_plan_asked_for_by_its_length_is_offered_and_nothing_written(env: Env, text: str) -> None:
    patient = env.patient("balance_over_5000", exclude=("spanish_speaker",))
    said = await env.say("long-plan", text, patient)
    assert said.message is not None
    assert said.message.intent == "payment_plan"
    assert "monthly payments" in said.text
    assert await env.writes(patient.id) == (0, 0, 0)


@pytest.mark.parametrize(
    "text",
    [
        "what's the total on my ankle surgery",
        "where am I at with your office",
        "so what am I at with you all right now",
    ],
)
@SQLITE
async def test_the_total_of_a_kind_of_care_and_where_am_i_at_are_the_balance(env: Env, text: str) -> None:
    patient = env.patient("balance_over_5000", exclude=("spanish_speaker",))
    summary = await env.platform.get_account_summary(patient.id)
    said = await env.say("total", text, patient)
    assert T.money(summary.balance_cents) in said.text


# ------------------------------------------- self-pay lines and a lone not-covered part, in plain words


@SQLITE
async def test_a_self_pay_statement_names_no_plan_and_no_insurance_payment(env: Env) -> None:
    patient = env.patient("self_pay", exclude=("spanish_speaker",))
    statement = await env.open_statement(patient.id)
    li = statement.line_items[0]
    said = await env.say("self-pay", "explain my statement please", patient)
    assert "your plan" not in said.text
    assert "Insurance paid" not in said.text
    assert f"self-pay visit it got a {T.money(li.contractual_adjustment_cents)} discount" in said.text
    assert f"the remaining {T.money(li.patient_responsibility_cents)} is yours" in said.text


def _line(**changes: object) -> LineItem:
    base = LineItem(
        id="li-1",
        statement_id="st-1",
        claim_id="clm-1",
        service_date=date(2026, 9, 1),
        provider_name="Dr. Example",
        code="99213",
        code_system="CPT",
        description="Office visit",
        billed_cents=15000,
        allowed_cents=10000,
        insurance_paid_cents=2000,
        adjustments=(Adjustment(group_code=GroupCode.CO, carc="45", amount_cents=5000),),
        not_covered_cents=8000,
    )
    return base.model_copy(update=changes)


def test_a_lone_not_covered_part_reads_as_a_noun() -> None:
    text = T.line_math(_line(), "en")
    assert "the remaining $80.00 is the part your plan didn't cover." in text
    assert "your not covered" not in text
    assert "la parte que su plan no cubrió" in T.line_math(_line(), "es")


def test_a_line_with_no_claim_reads_as_self_pay() -> None:
    li = _line(claim_id=None, insurance_paid_cents=0, allowed_cents=10500, not_covered_cents=10500,
               adjustments=(Adjustment(group_code=GroupCode.CO, carc="45", amount_cents=4500),))  # fmt: skip
    text = T.line_math(li, "en")
    assert "As a self-pay visit it got a $45.00 discount, so the remaining $105.00 is yours." in text
    assert "plan" not in text
    assert "Insurance" not in text


@SQLITE
@pytest.mark.parametrize(
    "text",
    [
        "what's my total right now, and can I break it into 4 monthly payments?",
        "how much is my bill? could I do it over 2 months",
    ],
)
async def test_the_balance_asked_beside_plan_terms_is_said_with_the_terms(env: Env, text: str) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    summary = await env.platform.get_account_summary(patient.id)
    said = await env.say("balance-and-terms", text, patient)
    assert said.message is not None
    assert said.message.intent == "payment_plan"
    assert T.money(summary.balance_cents) in said.text
    assert "monthly payment" in said.text
    assert await env.writes(patient.id) == (0, 0, 0)
