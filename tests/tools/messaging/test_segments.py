from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tools.messaging.segments import GSM7_BASIC, GSM7_EXTENSION, gsm7_plain, sms_encoding, sms_segments


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Your balance is $42.10. Reply STOP to opt out.", "GSM-7"),
        ("Pay here: https://pay.example/x?a=1&b=[2] {ok} ~ | ^ €", "GSM-7"),
        ("¿Mañana? Ñoño, Äpfel, Øre, Δ", "GSM-7"),
        ("Su saldo está pagado", "UCS-2"),  # á is not in GSM 03.38
        ("“Smart quotes”", "UCS-2"),
        ("Thanks 🙂", "UCS-2"),
        ("", "GSM-7"),
    ],
)
def test_encoding(text: str, encoding: str) -> None:
    assert sms_encoding(text) == encoding


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("", 0),
        ("a", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # 160 septets: extension characters count twice
        ("€" * 81, 2),
        ("a" * 159 + "€", 2),  # 161 septets
        # 306 septets, but the escape pair cannot straddle segments 1 and 2
        ("a" * 152 + "€" + "a" * 152, 3),
        ("“" * 70, 1),
        ("“" * 71, 2),
        ("“" * 134, 2),
        ("“" * 135, 3),
        ("🙂" * 35, 1),  # 70 UTF-16 code units
        ("🙂" * 36, 2),
        # 134 code units, but the surrogate pair cannot straddle segments 1 and 2
        ("x" * 66 + "🙂" + "x" * 66, 3),
        ("a" * 159 + "á", 3),  # one non-GSM character switches 160 characters to UCS-2
    ],
)
def test_segments(text: str, segments: int) -> None:
    assert sms_segments(text) == segments


@given(st.text(alphabet=sorted(GSM7_BASIC), min_size=1, max_size=1200))
def test_basic_gsm_text_follows_the_160_153_rule(text: str) -> None:
    n = len(text)
    assert sms_segments(text) == (1 if n <= 160 else math.ceil(n / 153))


@given(st.text(alphabet=sorted(GSM7_BASIC | GSM7_EXTENSION), min_size=1, max_size=600))
def test_gsm_text_with_extension_characters_is_bounded(text: str) -> None:
    septets = len(text) + sum(c in GSM7_EXTENSION for c in text)
    naive = 1 if septets <= 160 else math.ceil(septets / 153)
    assert naive <= sms_segments(text) <= max(naive, math.ceil(septets / 152))


@given(st.text(min_size=1, max_size=400))
def test_any_text_counts_at_least_one_segment_and_at_most_one_per_character(text: str) -> None:
    assert 1 <= sms_segments(text) <= len(text)


def test_spanish_is_spelt_in_gsm7_to_fit_twice_as_much() -> None:
    text = "Es una denegación contractual (CO), así que no se le cobra: la práctica la descuenta. ¿Algo más?"
    plain = gsm7_plain(text)
    assert (
        plain
        == "Es una denegacion contractual (CO), asi que no se le cobra: la practica la descuenta. ¿Algo mas?"
    )
    assert sms_encoding(text) == "UCS-2"
    assert sms_encoding(plain) == "GSM-7"
    assert sms_segments(plain) < sms_segments(text)
    # é, ñ, ü, ¿ and ¡ are GSM-7 already and stay; typographic marks take their plain form.
    assert gsm7_plain("¡Señor Núñez, pagó $5.00 – gracias…") == "¡Señor Nuñez, pago $5.00 - gracias..."
    assert gsm7_plain("El servicio «Consulta» del 5 de mayo") == 'El servicio "Consulta" del 5 de mayo'
    # A character with no GSM-7 spelling leaves the text as it was: it is UCS-2 either way.
    assert gsm7_plain("gracias 🙂 así") == "gracias 🙂 así"
