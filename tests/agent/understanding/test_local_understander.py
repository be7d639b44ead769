from datetime import date

import pytest

from agent.understanding.base import Intent, LineRef, Understander, UnderstandingContext
from agent.understanding.encoder import SentenceEncoder
from agent.understanding.head import Head
from agent.understanding.local import (
    LocalUnderstander,
    detect_language,
    is_cancel,
    is_correction,
)

NONE = UnderstandingContext()
CONSENT = UnderstandingContext(expecting="consent")


@pytest.fixture(scope="module")
def engine() -> LocalUnderstander:
    return LocalUnderstander.default()


def test_default_is_built_once() -> None:
    assert LocalUnderstander.default() is LocalUnderstander.default()


def test_is_an_understander(engine: LocalUnderstander) -> None:
    port: Understander = engine
    assert isinstance(port, LocalUnderstander)


@pytest.mark.parametrize("text", ["yes", "Yes!", "ok", "sure", "yep", "sí", "si", "claro", "ok sounds good"])
async def test_short_yes_is_affirm_when_consent_is_asked(engine: LocalUnderstander, text: str) -> None:
    u = await engine.understand(text, CONSENT)
    assert u.intent is Intent.AFFIRM
    assert u.confidence >= 0.95


@pytest.mark.parametrize("text", ["no", "nope", "No.", "nah", "no thanks", "not now", "no gracias"])
async def test_short_no_is_deny_when_consent_is_asked(engine: LocalUnderstander, text: str) -> None:
    u = await engine.understand(text, CONSENT)
    assert u.intent is Intent.DENY
    assert u.confidence >= 0.95


async def test_plan_choice_by_ordinal(engine: LocalUnderstander) -> None:
    u = await engine.understand("the second one", UnderstandingContext(expecting="plan_choice"))
    assert u.intent is Intent.AFFIRM
    assert u.entities.line_refs == [LineRef(ordinal=2)]


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("why the hell do I owe $300", Intent.BALANCE),
        ("I ALREADY PAID THIS", Intent.DISPUTE_ALREADY_PAID),
        ("my insurance should have covered this", Intent.CLAIM_STATUS),
        ("can I split this into payments", Intent.PAYMENT_PLAN),
        ("what's a deductible", Intent.INSURANCE_TERMS),
        ("what is CO-45", Intent.INSURANCE_TERMS),
        ("why was my claim denied", Intent.DENIAL_REASON),
        ("I lost my job and can't pay", Intent.FINANCIAL_HARDSHIP),
        ("I want to talk to a real person", Intent.REQUEST_HUMAN),
        ("I got a new insurance card", Intent.UPDATE_INSURANCE_OR_CONTACT),
        ("do you take HSA cards", Intent.PAYMENT_METHODS),
        ("what's the weather", Intent.OUT_OF_SCOPE),
        ("hello", Intent.GREETING),
        ("buenos días", Intent.GREETING),
        ("thanks, bye", Intent.THANKS_GOODBYE),
        ("muchas gracias", Intent.THANKS_GOODBYE),
    ],
)
async def test_brief_examples(engine: LocalUnderstander, text: str, intent: Intent) -> None:
    assert (await engine.understand(text, NONE)).intent is intent


async def test_greeting_with_a_question_goes_to_the_question(engine: LocalUnderstander) -> None:
    assert (await engine.understand("hi! how much do I owe", NONE)).intent is Intent.BALANCE


async def test_identity_answer_only_when_the_message_is_only_identity(engine: LocalUnderstander) -> None:
    ctx = UnderstandingContext(expecting="identity", today=date(2026, 11, 23))
    u = await engine.understand("02/11/84", ctx)
    assert u.intent is Intent.IDENTITY_ANSWER
    assert u.entities.date_of_birth == date(1984, 2, 11)
    u = await engine.understand("my dob is Feb 11 1984 and my zip is 02139", ctx)
    assert u.intent is Intent.IDENTITY_ANSWER
    assert u.entities.zip_code == "02139"
    u = await engine.understand("I paid $150 on 02/11/25 already", ctx)
    assert u.intent is not Intent.IDENTITY_ANSWER


async def test_alternatives_are_top_three_best_first(engine: LocalUnderstander) -> None:
    u = await engine.understand("can I pay this in monthly payments", NONE)
    assert len(u.alternatives) == 3
    assert u.alternatives[0] == (u.intent, u.confidence)
    probs = [p for _, p in u.alternatives]
    assert probs == sorted(probs, reverse=True)
    assert sum(probs) <= 1.0 + 1e-6
    assert len({i for i, _ in u.alternatives}) == 3


async def test_gibberish_is_low_confidence(engine: LocalUnderstander) -> None:
    u = await engine.understand("qwzx plorf vnnk", NONE)
    assert u.confidence < 0.5


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("how much do I owe", "en"),
        ("cuánto debo", "es"),
        ("quiero pagar mi factura", "es"),
        ("ya pague", "es"),
        ("no", "en"),
        ("si", "es"),
    ],
)
def test_language(text: str, lang: str) -> None:
    assert detect_language(text) == lang


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("no, I meant the March statement", True),
        ("actually the other one", True),
        ("I meant the lab charge", True),
        ("no quise decir la otra factura", True),
        ("no, the one from April", True),
        ("how much do I owe", False),
        ("no", False),
        ("I want to pay the other half later", False),
    ],
)
def test_correction(text: str, expected: bool) -> None:
    assert is_correction(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("never mind", True),
        ("nevermind", True),
        ("forget it", True),
        ("cancel that", True),
        ("olvídalo", True),
        ("no importa", True),
        ("can I cancel my payment plan", False),
        ("I don't mind paying", False),
    ],
)
def test_cancel(text: str, expected: bool) -> None:
    assert is_cancel(text) is expected


async def test_cancel_message_is_deny_with_flag(engine: LocalUnderstander) -> None:
    u = await engine.understand("never mind", CONSENT)
    assert u.is_cancel
    assert u.intent is Intent.DENY


async def test_frustration_and_previous_messages(engine: LocalUnderstander) -> None:
    calm = await engine.understand("what is this charge", NONE)
    angry = await engine.understand("WHAT IS THIS CHARGE?!?! this is a scam", NONE)
    assert calm.frustration < 0.2 <= 0.7 <= angry.frustration
    ctx = UnderstandingContext(previous_messages=("what is this charge",))
    assert (await engine.understand("what is this charge", ctx)).frustration > calm.frustration


async def test_deterministic(engine: LocalUnderstander) -> None:
    text = "can i do 50 a month for the x-ray bill"
    first = await engine.understand(text, NONE)
    fresh = LocalUnderstander.from_files(SentenceEncoder(), Head.load())
    assert await fresh.understand(text, NONE) == first
    assert first.entities.amounts_cents == [5000]


def test_a_spanish_word_one_swap_from_another_is_left_as_written() -> None:
    # "cuarto" (fourth) is as common as "cuatro" (four): the fourth payment is asked about, not four
    reading = LocalUnderstander.default().understand_sync("¿cuándo vence el cuarto pago?")
    assert reading.read_as is None
    # "fatcura" is no Spanish word, and one swap from "factura"
    reading = LocalUnderstander.default().understand_sync("¿cuánto es la fatcura?")
    assert reading.read_as == "¿cuánto es la factura?"


def test_the_spanish_only_lines_never_move_an_english_reading() -> None:
    from agent.understanding.local import DATA_DIR, SPANISH_ONLY, load_examples

    base = [f for f in sorted(DATA_DIR.glob("intents_*.yaml")) if f.name != SPANISH_ONLY]
    without = LocalUnderstander(load_examples(base))
    with_them = LocalUnderstander.from_files()
    for text in ("no thanks, I'll handle it at the front desk", "what is this charge", "can I pay monthly"):
        assert with_them.distribution(text) == without.distribution(text)
    spanish = "¿puedo pagar en abonos chiquitos?"
    assert with_them.distribution(spanish, "es") != without.distribution(spanish, "es")
