"""How many SMS segments a text takes, by the GSM 03.38 / UCS-2 rules carriers bill by.

A text made only of GSM-7 characters is sent in 7-bit encoding: up to 160
septets in one segment, otherwise 153 per segment (7 go to the concatenation
header). Characters of the GSM extension table (``{ } [ ] ~ \\ | ^ €`` and form
feed) take two septets and are never split across segments. Any other character
(most emoji, curly quotes, CJK…) switches the whole message to UCS-2: up to 70
UTF-16 code units in one segment, otherwise 67 per segment, never splitting a
surrogate pair.
"""

from __future__ import annotations

import unicodedata
from typing import Literal

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

SmsEncoding = Literal["GSM-7", "UCS-2"]

_LIMITS: dict[SmsEncoding, tuple[int, int]] = {"GSM-7": (160, 153), "UCS-2": (70, 67)}


def sms_encoding(text: str) -> SmsEncoding:
    """``"GSM-7"`` when every character is in the GSM 03.38 tables, else ``"UCS-2"``."""
    return "GSM-7" if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text) else "UCS-2"


def _units(text: str, encoding: SmsEncoding) -> list[int]:
    """The size of each character in the encoding's units (septets or UTF-16 code units)."""
    if encoding == "GSM-7":
        return [2 if c in GSM7_EXTENSION else 1 for c in text]
    return [2 if ord(c) > 0xFFFF else 1 for c in text]


def sms_segments(text: str) -> int:
    """The number of segments ``text`` is billed as; 0 for an empty text."""
    if not text:
        return 0
    encoding = sms_encoding(text)
    single, multi = _LIMITS[encoding]
    units = _units(text, encoding)
    if sum(units) <= single:
        return 1
    segments, used = 1, 0
    for size in units:
        if used + size > multi:  # an escape pair or surrogate pair never straddles two segments
            segments, used = segments + 1, 0
        used += size
    return segments


# Marks outside GSM-7 with a plain GSM-7 spelling: typographic quotes and guillemets, dashes, bullets, the
# ellipsis. With a letter's mark dropped (:func:`_plain`: Spanish's á í ó ú; é, ñ, ü, ¿ and ¡ are GSM-7
# already), they are what most often turns a whole text into UCS-2, which fits less than half as much in a
# segment (67 units against 153).
_GSM7_PLAIN = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-",
        "\u2026": "...", "\u00a0": " ", "\u00ab": '"', "\u00bb": '"', "\u2022": "-",
    }
)  # fmt: skip


def gsm7_plain(text: str) -> str:
    """``text`` spelt in GSM-7 when only such letters and marks keep it out ("Su reclamo fue negado; así
    que no se le cobrará" is sent as "asi", "cobrara"), else unchanged: an SMS then carries over twice the
    words in the same segments. A text with other characters (an emoji, CJK) is UCS-2 either way."""
    plain = "".join(
        c if c in GSM7_BASIC or c in GSM7_EXTENSION else _plain(c) for c in text.translate(_GSM7_PLAIN)
    )
    return plain if sms_encoding(plain) == "GSM-7" else text


def _plain(c: str) -> str:
    """A letter with a mark as its bare letter ("ê" -> "e", "ã" -> "a"); anything else as it is."""
    base = unicodedata.normalize("NFKD", c)[0]
    return base if base.isascii() and base.isalpha() else c
