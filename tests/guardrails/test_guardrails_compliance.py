"""SMS segment counting and fitting; advice stripping."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guardrails.compliance import (
    ADVICE_DISCLAIMER,
    ADVICE_DISCLAIMER_ES,
    contains_advice,
    fit_sms,
    sms_encoding,
    sms_segments,
    strip_advice,
)
from guardrails.grounding import extract_mentions


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("", 0),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # extension characters count two septets
        ("€" * 81, 2),
        ("a" * 152 + "€", 1),  # 154 septets fit one 160-septet segment
        ("é" * 160, 1),  # é is in the GSM basic table
        ("ç" * 70, 1),  # ç is not: UCS-2
        ("ç" * 71, 2),
        ("ç" * 134, 2),
        ("ç" * 135, 3),
        ("😀" * 35, 1),  # a surrogate pair is two UTF-16 units
        ("😀" * 36, 2),
    ],
)
def test_segments(text: str, segments: int) -> None:
    assert sms_segments(text) == segments


def test_escape_pair_never_straddles_segments() -> None:
    # 152 'a' + '€' (2 septets) = 154 in the first 153-septet segment would split the pair
    text = "a" * 152 + "€" + "a" * 10
    assert sms_segments(text) == 2
    assert sms_segments("a" * 152 + "€" + "a" * 153) == 3


def test_encoding() -> None:
    assert sms_encoding("Your balance is $12.00 {ok}") == "GSM-7"
    assert sms_encoding("Su saldo es “$12.00”") == "UCS-2"


REPLY = (
    "Your balance is $1,234.50 for the visit on April 15, 2026. Insurance paid $2,100.00 and adjusted "
    "$450.00 as CO-45. You can pay in full today at the link below, or choose a plan of 12 monthly "
    "payments of $102.88. Reply HELP for help or STOP to opt out. Our office is open 8 AM to 5 PM."
)


def test_fit_sms_keeps_short_text() -> None:
    assert fit_sms("Your balance is $12.00.", 1) == "Your balance is $12.00."


def test_fit_sms_trims_at_sentence_with_ellipsis() -> None:
    assert sms_segments(REPLY) == 2
    fitted = fit_sms(REPLY, 1)
    assert sms_segments(fitted) == 1
    assert fitted.endswith("...")
    assert REPLY.startswith(fitted.removesuffix(" ...").removesuffix("..."))


def test_fit_sms_never_splits_a_figure() -> None:
    text = "Pay " + "$1,234.50 " * 40
    fitted = fit_sms(text, 1)
    assert sms_segments(fitted) == 1
    assert all(m.value == "123450" for m in extract_mentions(fitted))


words = st.sampled_from(
    [
        "$1,234.50",
        "$20",
        "April 15, 2026",
        "04/15/2026",
        "99213",
        "CO-45",
        "balance",
        "plan.",
        "pay",
        "ç",
        "€",
    ]
)


@settings(max_examples=200)
@given(parts=st.lists(words, min_size=1, max_size=120), max_segments=st.integers(min_value=1, max_value=4))
def test_fit_sms_property(parts: list[str], max_segments: int) -> None:
    text = " ".join(parts)
    fitted = fit_sms(text, max_segments)
    assert sms_segments(fitted) <= max_segments
    original = {(m.kind, m.value) for m in extract_mentions(text)}
    assert {(m.kind, m.value) for m in extract_mentions(fitted)} <= original


def test_fit_sms_rejects_zero_segments() -> None:
    with pytest.raises(ValueError, match="max_segments"):
        fit_sms("hi", 0)


@pytest.mark.parametrize(
    "text",
    [
        "You should stop taking your medication until this is sorted out.",
        "I recommend you skip the follow-up appointment to save money.",
        "You don't need that procedure.",
        "You should sue your insurance company.",
        "I would recommend you hire an attorney.",
        "You should declare bankruptcy.",
        "Legally, you don't have to pay this.",
        "Debería dejar de tomar su medicamento.",
        "Le recomiendo demandar a su aseguradora.",
    ],
)
def test_advice_is_detected_and_replaced(text: str) -> None:
    assert contains_advice(text)
    reply = f"Your balance is $120.50. {text} You can pay online."
    stripped = strip_advice(reply)
    assert text not in stripped
    assert ADVICE_DISCLAIMER in stripped
    assert stripped.startswith("Your balance is $120.50.")
    assert stripped.endswith("You can pay online.")


def test_spanish_disclaimer() -> None:
    assert strip_advice("Debería dejar de tomar su medicamento.", "es") == ADVICE_DISCLAIMER_ES


@pytest.mark.parametrize(
    "text",
    [
        "Your plan is 6 monthly payments of $90.00.",
        "You should receive a statement soon.",
        "You can stop your payment plan by calling us.",
        "Please talk to your care team about your medication.",
    ],
)
def test_ordinary_replies_unchanged(text: str) -> None:
    assert not contains_advice(text)
    assert strip_advice(text) == text


def test_fit_sms_keeps_a_spaced_date_whole() -> None:
    text = "a" * 140 + " due April 15, 2026 " + "b" * 10
    fitted = fit_sms(text, 1)
    assert "April 15, 2026" in fitted or "April" not in fitted
    assert sms_segments(fitted) == 1
