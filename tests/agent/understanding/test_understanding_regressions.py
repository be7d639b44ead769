"""Regressions of the local engine the eval suite found: context wins over the classifier when the agent
waits for a plan choice or consent, payments with an amount "now" are pay_now, gibberish is out of scope
at a low confidence, "put" is not a swear word, and corrections and cancels inside one message."""

from __future__ import annotations

import pytest

from agent.understanding.base import Intent, LineRef, UnderstandingContext
from agent.understanding.cues import (
    about_this_bill,
    asks_for_discount,
    asks_for_person,
    asks_per_statement,
    asks_what_is_left,
    asks_why_owed,
    choice_number,
    claims_waiver,
    mentions_dispute,
    mentions_hardship,
    mentions_paying,
    names_the_plan,
    receiving_pay,
    says_already_paid,
)
from agent.understanding.frustration import frustration_score
from agent.understanding.local import LocalUnderstander

PLAN_CHOICE = UnderstandingContext(expecting="plan_choice")
CONSENT = UnderstandingContext(expecting="consent")
NONE = UnderstandingContext()


@pytest.fixture(scope="module")
def engine() -> LocalUnderstander:
    return LocalUnderstander.default()


@pytest.mark.parametrize(
    ("text", "ordinal"),
    [("2", 2), ("option 2", 2), ("#3", 3), ("the second one", 2), ("I'll take 1", 1), ("the last one", -1)],
)
def test_a_bare_option_is_a_plan_choice_when_one_is_expected(
    engine: LocalUnderstander, text: str, ordinal: int
) -> None:
    u = engine.understand_sync(text, PLAN_CHOICE)
    assert u.intent is Intent.AFFIRM
    assert u.confidence >= 0.9
    assert u.entities.line_refs == [LineRef(ordinal=ordinal)]


def test_a_bare_number_is_not_a_choice_without_a_plan_on_the_table(engine: LocalUnderstander) -> None:
    assert engine.understand_sync("2", NONE).entities.line_refs == []


@pytest.mark.parametrize(
    ("text", "context", "amounts", "months"),
    [
        ("$45 per month would work for me", PLAN_CHOICE, [4500], []),
        ("how about $50", PLAN_CHOICE, [5000], []),
        ("could we stretch it to 5 months", PLAN_CHOICE, [], [5]),
        ("make it 4 months instead", CONSENT, [], [4]),
    ],
)
def test_terms_while_negotiating_are_a_counter_offer(
    engine: LocalUnderstander,
    text: str,
    context: UnderstandingContext,
    amounts: list[int],
    months: list[int],
) -> None:
    u = engine.understand_sync(text, context)
    assert u.intent is Intent.PAYMENT_PLAN
    assert u.confidence >= 0.85
    assert u.entities.amounts_cents == amounts
    assert u.entities.month_counts == months


def test_paying_an_amount_now_while_negotiating_stays_pay_now(engine: LocalUnderstander) -> None:
    assert engine.understand_sync("can I just pay $100 today instead?", PLAN_CHOICE).intent is Intent.PAY_NOW


@pytest.mark.parametrize("text", ["those are all too high for me", "none of those work for me"])
def test_rejecting_the_offers_is_still_negotiating(engine: LocalUnderstander, text: str) -> None:
    assert engine.understand_sync(text, PLAN_CHOICE).intent is Intent.PAYMENT_PLAN


def test_an_aside_at_plan_choice_is_not_a_pick(engine: LocalUnderstander) -> None:
    u = engine.understand_sync("one question first: what is coinsurance?", PLAN_CHOICE)
    assert u.intent is not Intent.AFFIRM
    assert u.entities.line_refs == []


def test_an_amount_to_pay_now_is_pay_now(engine: LocalUnderstander) -> None:
    u = engine.understand_sync("can I pay $10 now?", NONE)
    assert u.intent is Intent.PAY_NOW
    assert u.entities.amounts_cents == [1000]


@pytest.mark.parametrize("text", ["I have to pay this one monthly", "can the rest go on a montly plan?"])
def test_paying_monthly_is_a_plan(engine: LocalUnderstander, text: str) -> None:
    assert engine.understand_sync(text, NONE).intent is Intent.PAYMENT_PLAN


@pytest.mark.parametrize("text", ["asdf qwer zxcv", "blorp zingle fwap"])
def test_gibberish_is_out_of_scope_with_low_confidence(engine: LocalUnderstander, text: str) -> None:
    u = engine.understand_sync(text, NONE)
    assert u.intent is Intent.OUT_OF_SCOPE
    assert u.confidence < 0.45


def test_one_misspelt_word_is_left_to_the_classifier(engine: LocalUnderstander) -> None:
    assert engine.unknown_share("balanse") == 0.0


@pytest.mark.parametrize(
    ("text", "first"),
    [
        ("let me pay $60 - sorry, I mean $40", 4000),
        ("send a link for $90, no wait, $70", 7000),
        ("I'll pay $20 now, actually make that $35", 3500),
    ],
)
def test_an_amount_corrected_in_the_same_message_comes_first(
    engine: LocalUnderstander, text: str, first: int
) -> None:
    assert engine.understand_sync(text, NONE).entities.amounts_cents[0] == first


def test_a_cancel_followed_by_a_question_answers_the_question(engine: LocalUnderstander) -> None:
    u = engine.understand_sync("never mind that, how much do I owe you right now?", CONSENT)
    assert u.is_cancel
    assert u.intent is Intent.BALANCE
    bare = engine.understand_sync("never mind", CONSENT)
    assert bare.is_cancel
    assert bare.intent is Intent.DENY


@pytest.mark.parametrize(
    "text",
    [
        "put me through to a human",
        "can this be put on a monthly arrangement?",
        "I can only put $100 toward my bill today",
        "it puts me in a tough spot",
    ],
)
def test_put_is_not_a_swear_word(text: str) -> None:
    assert frustration_score(text) < 0.2


def test_frustration_builds_over_the_conversation() -> None:
    first = "why is my bill this high?"
    second = "that still doesn't explain it"
    third = "this is the third time I'm asking and it's going nowhere"
    assert frustration_score(second, [first]) < 0.7
    assert frustration_score(third, [first, second]) >= 0.7
    assert frustration_score(third, [first, second]) > frustration_score(third)


@pytest.mark.parametrize(
    ("text", "discount", "hardship", "paying"),
    [
        ("I'll pay right now if you knock half off", True, False, True),
        ("give me 30 percent off and we have a deal", True, False, False),
        ("is there a discount for paying in full?", True, False, True),
        ("I lost my job, can you reduce my bill?", True, True, False),
        ("can you take the lab charge off my statement", False, False, False),
        ("send me a link for my balance", False, False, True),
    ],
)
def test_discount_hardship_and_paying_cues(text: str, discount: bool, hardship: bool, paying: bool) -> None:
    assert asks_for_discount(text) is discount
    assert mentions_hardship(text) is hardship
    assert mentions_paying(text) is paying


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2", 2), ("option 3", 3), ("#1", 1), ("2 months", None), ("$2", None), ("7", None)],
)
def test_choice_number(text: str, expected: int | None) -> None:
    assert choice_number(text, 3) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I alerady paid this, did you get it?", True),
        ("my paymnet should be on the account by now", True),
        ("ya lo pagué", True),
        ("my payment was declined", False),
        ("I want to pay this already", False),
        ("that one was paid alredy, I kept the receipt", True),
        ("just pay already", False),
    ],
)
def test_says_already_paid_tolerates_typos(text: str, expected: bool) -> None:
    assert says_already_paid(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("when was I last paid", True),
        ("I get paid on the 15th", True),
        ("that invoice was paid in full last month", False),
        ("it is paid", False),
        ("what day does my paycheck come in", True),
        ("which day of the week does my pay come in", True),
        ("when will my payment arrive at your office", False),
    ],
)
def test_wages_coming_in_are_told_from_a_bill_that_was_paid(text: str, expected: bool) -> None:
    assert receiving_pay(text) is expected


def test_part_payment_and_what_is_left() -> None:
    assert asks_what_is_left("I paid some of it, what's remaining?")
    assert not asks_what_is_left("I paid it all, why do I get a bill?")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("the doctor told me I don't have to pay this one", True),
        ("your receptionist said they would waive the fee", True),
        ("the doctor said the visit went well", False),
        ("my provider promised I wouldn't be billed for this visit", True),
        ("the surgeon assured me there'd be no charge for the follow-up", True),
        ("the clinic told me the flu shot was at no cost", True),
        ("the nurse said I would be billed later", False),
        ("they told me my insurance would pay", False),
    ],
)
def test_claims_waiver(text: str, expected: bool) -> None:
    assert claims_waiver(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I was billed twice for one visit", True),
        ("I never had that x-ray", True),
        ("what's a copay and is that what this is?", False),
    ],
)
def test_mentions_dispute(text: str, expected: bool) -> None:
    assert mentions_dispute(text) is expected


def test_asks_per_statement() -> None:
    assert asks_per_statement("how much is due on each statement?")
    assert not asks_per_statement("explain my latest statement")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("why do I still owe if I have insurance", True),
        ("how come the insurance didnt cover it all", True),
        ("Why didn't my insurance cover the x-ray?", True),
        ("i thought my insurance covered this, why am i getting a bill", True),
        ("my insurance should of covered this, why is there money left for me", True),
        ("por que todavia debo si tengo seguro", True),
        ("what do I owe", False),
        ("why was my claim denied", False),
        ("why is the sky blue", False),
        ("does my insurance cover physical therapy", False),
    ],
)
def test_asks_why_owed(text: str, expected: bool) -> None:
    assert asks_why_owed(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so what about the plan?", True),
        ("ok back to the payment plan", True),
        ("can we finish the installments now", True),
        ("does my plan cover this", False),
        ("my insurance plan changed", False),
        ("what is my balance", False),
    ],
)
def test_names_the_plan(text: str, expected: bool) -> None:
    assert names_the_plan(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("this cahrge is not right", True),
        ("my statment is wrong", True),
        ("hell nah", False),
        ("what a lovely morning", False),
    ],
)
def test_a_misspelt_bill_word_is_about_the_bill(text: str, expected: bool) -> None:
    assert about_this_bill(text) is expected


def test_wanting_a_person_is_asking_for_one() -> None:
    assert asks_for_person("I want a real person before I pick")
    assert asks_for_person("I need someone from billing")
    assert not asks_for_person("am I talking to a real person?")


@pytest.mark.parametrize("text", ["lets do 1", "ok 2", "just 3"])
def test_a_bare_number_at_a_plan_choice_is_a_pick_not_dollars(engine: LocalUnderstander, text: str) -> None:
    u = engine.understand_sync(text, PLAN_CHOICE)
    assert u.intent is Intent.AFFIRM
    assert u.entities.amounts_cents == []
    assert [r.ordinal for r in u.entities.line_refs] == [int(text.split()[-1])]


def test_a_dollar_amount_at_a_plan_choice_stays_a_counter_offer(engine: LocalUnderstander) -> None:
    u = engine.understand_sync("I can do $1 a month", PLAN_CHOICE)
    assert u.intent is Intent.PAYMENT_PLAN
    assert u.entities.amounts_cents == [100]


def test_asking_for_a_person_at_a_plan_choice_is_no_pick(engine: LocalUnderstander) -> None:
    u = engine.understand_sync("actually can I talk to a person first", PLAN_CHOICE)
    assert u.intent is Intent.REQUEST_HUMAN


@pytest.mark.parametrize(
    "text",
    ["how much is it all together and can i pay it monthly", "whats the total, and do you do payment plans"],
)
def test_a_balance_question_asking_for_a_plan_too_is_a_plan(engine: LocalUnderstander, text: str) -> None:
    assert engine.understand_sync(text, NONE).intent is Intent.PAYMENT_PLAN
