"""Grounding: every figure an outgoing reply states must come from the facts it was built from.

``extract_mentions`` finds amounts, dates, month counts, percentages and billing codes in a reply and
normalises each to a comparable ``value``:

* amount → integer cents as a string (``"$1,234.50"``, ``"$1234.5"``, ``"1,234.50 dollars"`` → ``"123450"``);
  only figures marked as money (``$`` or ``dollars``/``dólares``/``USD``/``cents``) are amounts;
* date → ISO ``"2026-04-15"``, or ``"--04-15"`` when the reply gives no year (``"April 15"``); numeric
  dates are read US-style (``04/15/2026``); an impossible date (``"February 30"``) normalises to
  ``"invalid:<raw>"`` and is therefore never grounded;
* months → the count (``"6 months"``, ``"12 monthly payments"``, ``"seis meses"`` → ``"6"``/``"12"``);
* percent → the number without trailing zeros (``"20%"``, ``"20 percent"`` → ``"20"``);
* code → upper case; CARC with its group joined by a hyphen (``"CO45"`` → ``"CO-45"``), RARC (``N130``,
  ``M15``, ``MA130``), CPT (``99213``, ``0001U``) and HCPCS Level II (``G0439``).

Phone numbers, statement/claim numbers (``S-104233``), times of day (``9 AM``), ZIP codes and ordinal
words are masked first so they are never read as amounts or codes. All patterns compile once at import.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Literal

MentionKind = Literal["amount", "date", "code", "percent", "months"]


@dataclass(frozen=True)
class Mention:
    kind: MentionKind
    raw: str
    value: str


@dataclass(frozen=True)
class GroundingResult:
    ok: bool
    ungrounded: list[Mention]


# --------------------------------------------------------------------------- vocabulary

_MONTHS_EN = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4,
    "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8, "september": 9,
    "sept": 9, "sep": 9, "october": 10, "oct": 10, "november": 11, "nov": 11, "december": 12, "dec": 12,
}  # fmt: skip
_MONTHS_ES = {
    "enero": 1, "febrero": 2, "marzo": 3, "abril": 4, "mayo": 5, "junio": 6, "julio": 7, "agosto": 8,
    "septiembre": 9, "setiembre": 9, "octubre": 10, "noviembre": 11, "diciembre": 12,
}  # fmt: skip
_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "eighteen": 18, "twenty-four": 24,
    "twenty four": 24, "thirty-six": 36, "uno": 1, "un": 1, "dos": 2, "tres": 3, "cuatro": 4,
    "cinco": 5, "seis": 6, "siete": 7, "ocho": 8, "nueve": 9, "diez": 10, "once": 11, "doce": 12,
    "quince": 15, "dieciocho": 18, "veinticuatro": 24, "treinta y seis": 36,
}  # fmt: skip


def _alt(words: Iterable[str]) -> str:
    return "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True))


_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)"

# Masks: spans that look numeric but are not figures we ground.
_PHONE = re.compile(r"(?<![\w$])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}(?!\w)")
_E164 = re.compile(r"\+\d{10,15}\b")
_REFERENCE = re.compile(r"\b(?!(?:CO|PR|OA|PI|CR)-?\d{1,3}\b)[A-Z]{1,5}-\d{3,}[A-Z0-9-]*\b")
_TIME = re.compile(r"\b\d{1,2}(?::\d{2})?\s*(?:[ap]\.?\s?m\.?)(?![a-z])", re.IGNORECASE)
_CLOCK = re.compile(r"\b\d{1,2}:\d{2}\b")
_STATES = (
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS",
    "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC",
    "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY",
    "PR",
)  # fmt: skip
_ZIP = re.compile(
    rf"(?:\b(?:{'|'.join(_STATES)}),?\s+|\b(?i:zip|zip code|código postal|codigo postal)\s*:?\s*)"
    r"\d{5}(?:-\d{4})?\b|\b\d{5}-\d{4}\b"
)
_LABELLED_NUMBER = re.compile(
    r"\b(?:statement|claim|account|member|invoice|reference|confirmation|id|no\.|number|"
    r"estado de cuenta|cuenta|número|numero)\s*(?:number|no\.|#|id)?\s*:?\s*#?\s*"
    r"(?!\d{4}-\d{2}-\d{2}\b)(?=[A-Z-]*\d)[A-Z0-9-]{4,}\b"
    r"|#\s*[A-Z0-9-]{3,}\b",
    re.IGNORECASE,
)

# Figures.
_AMOUNT_DOLLAR = re.compile(rf"(?<![\w.])-?\$\s?({_NUM})(?:\.(\d{{1,2}}))?(?![\d])")
_AMOUNT_WORD = re.compile(
    rf"(?<![\w.,$]){_NUM}(?:\.\d{{1,2}})?\s*(?:dollars?|dólares|dolares|usd)\b", re.IGNORECASE
)
_AMOUNT_CENTS = re.compile(r"(?<![\w.,$])(\d{1,2})\s*(?:cents?|centavos)\b", re.IGNORECASE)
_DATE_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_DATE_US = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})\b")
_DATE_MONTH_FIRST = re.compile(
    rf"\b({_alt(_MONTHS_EN)})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}})\b)?", re.IGNORECASE
)
_DATE_DAY_FIRST = re.compile(
    rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_alt(_MONTHS_EN)})\b\.?(?:,?\s+(\d{{4}})\b)?",
    re.IGNORECASE,
)
_DATE_ES = re.compile(
    rf"\b(\d{{1,2}})\s+de\s+({_alt(_MONTHS_ES)})\b(?:\s+(?:de|del)\s+(\d{{4}})\b)?", re.IGNORECASE
)
_PERCENT = re.compile(
    r"(?<![\w.])(\d{1,3}(?:\.\d+)?)\s*(?:%|percent\b|per cent\b|por\s?ciento\b)", re.IGNORECASE
)
_MONTH_UNITS = (
    r"(?:-\s*|\s+)(?:monthly\s+(?:payments?|installments?|instalments?)\b|months?\b|mo\b|"
    r"meses\b|mes\b|mensualidades\b|cuotas?(?:\s+mensual(?:es)?)?\b|pagos?\s+mensual(?:es)?\b)"
)
_MONTHS_DIGITS = re.compile(rf"(?<![\w.,$])(\d{{1,3}}){_MONTH_UNITS}", re.IGNORECASE)
_MONTHS_WORDS = re.compile(rf"\b({_alt(_NUMBER_WORDS)}){_MONTH_UNITS}", re.IGNORECASE)
_CARC = re.compile(r"\b(CO|PR|OA|PI|CR)-?(\d{1,3})\b")
_RARC = re.compile(r"\b(?:MA|N|M)\d{1,3}\b")
_HCPCS = re.compile(r"\b[A-V]\d{4}\b")
_CPT = re.compile(r"(?<![\w$,.#/-])\d{4}[0-9A-Z](?![\w,/]|[.-]\d)")

_LEADING_NUMBER = re.compile(rf"({_NUM})(?:\.(\d{{1,2}}))?")

_MASKS = (_PHONE, _E164, _REFERENCE, _LABELLED_NUMBER, _ZIP, _TIME, _CLOCK)


def _mask(text: str, start: int, end: int) -> str:
    return text[:start] + "\x00" * (end - start) + text[end:]


def _cents(whole: str, fraction: str | None) -> int:
    digits = whole.replace(",", "")
    return int(digits) * 100 + int((fraction or "0").ljust(2, "0"))


def _iso(year: int | None, month: int, day: int, raw: str) -> str:
    try:
        parsed = date(year or 2000, month, day)  # 2000 is a leap year: "February 29" without a year is fine
    except ValueError:
        return f"invalid:{raw.lower()}"
    return parsed.isoformat() if year else f"--{parsed.month:02d}-{parsed.day:02d}"


def _year(raw: str | None) -> int | None:
    if raw is None:
        return None
    value = int(raw)
    return value + 2000 if value < 100 else value


def _percent_value(raw: str) -> str:
    try:
        number = Decimal(raw).normalize()
    except InvalidOperation:  # pragma: no cover - the pattern only admits digits
        return raw
    return f"{number:f}"


def normalize_code(code: str) -> str:
    """Canonical form of a billing code: upper case, CARC group joined by a hyphen (``co45`` → ``CO-45``)."""
    code = code.strip().upper()
    carc = _CARC.fullmatch(code)
    return f"{carc.group(1)}-{carc.group(2)}" if carc else code


def extract_mention_spans(text: str) -> list[tuple[int, int, Mention]]:
    """Like ``extract_mentions``, with each mention's ``(start, end)`` offsets in ``text``."""
    found: list[tuple[int, int, Mention]] = []
    work = text
    for pattern in _MASKS:
        for m in pattern.finditer(work):
            work = _mask(work, m.start(), m.end())

    def take(m: re.Match[str], kind: MentionKind, value: str) -> None:
        nonlocal work
        found.append((m.start(), m.end(), Mention(kind, text[m.start() : m.end()], value)))
        work = _mask(work, m.start(), m.end())

    for m in list(_AMOUNT_DOLLAR.finditer(work)):
        take(m, "amount", str(_cents(m.group(1), m.group(2))))
    for m in list(_AMOUNT_WORD.finditer(work)):
        number = _LEADING_NUMBER.match(m.group(0))
        assert number is not None
        take(m, "amount", str(_cents(number.group(1), number.group(2))))
    for m in list(_AMOUNT_CENTS.finditer(work)):
        take(m, "amount", str(int(m.group(1))))
    for m in list(_DATE_ISO.finditer(work)):
        take(m, "date", _iso(int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(0)))
    for m in list(_DATE_US.finditer(work)):
        take(m, "date", _iso(_year(m.group(3)), int(m.group(1)), int(m.group(2)), m.group(0)))
    for m in list(_DATE_MONTH_FIRST.finditer(work)):
        month = _MONTHS_EN[m.group(1).lower()]
        take(m, "date", _iso(_year(m.group(3)), month, int(m.group(2)), m.group(0)))
    for m in list(_DATE_DAY_FIRST.finditer(work)):
        month = _MONTHS_EN[m.group(2).lower()]
        take(m, "date", _iso(_year(m.group(3)), month, int(m.group(1)), m.group(0)))
    for m in list(_DATE_ES.finditer(work)):
        month = _MONTHS_ES[m.group(2).lower()]
        take(m, "date", _iso(_year(m.group(3)), month, int(m.group(1)), m.group(0)))
    for m in list(_PERCENT.finditer(work)):
        take(m, "percent", _percent_value(m.group(1)))
    for m in list(_MONTHS_DIGITS.finditer(work)):
        take(m, "months", str(int(m.group(1))))
    for m in list(_MONTHS_WORDS.finditer(work)):
        take(m, "months", str(_NUMBER_WORDS[m.group(1).lower()]))
    for m in list(_CARC.finditer(work)):
        take(m, "code", f"{m.group(1)}-{m.group(2)}")
    for pattern in (_RARC, _HCPCS, _CPT):
        for m in list(pattern.finditer(work)):
            take(m, "code", m.group(0).upper())
    return sorted(found, key=lambda item: item[0])


def extract_mentions(text: str) -> list[Mention]:
    """Every amount, date, month count, percentage and code in ``text``, in order of appearance."""
    return [mention for _, _, mention in extract_mention_spans(text)]


@dataclass(frozen=True)
class Facts:
    """The normalised values a reply may state, as ``(kind, value)`` pairs.

    Immutable: every ``with_*`` builder returns a new ``Facts``.
    """

    allowed: frozenset[tuple[MentionKind, str]] = frozenset()

    @classmethod
    def empty(cls) -> Facts:
        return cls()

    def _plus(self, kind: MentionKind, values: Iterable[str]) -> Facts:
        return Facts(self.allowed | {(kind, v) for v in values})

    def with_amounts(self, *cents: int) -> Facts:
        return self._plus("amount", (str(c) for c in cents))

    def with_dates(self, *dates: date) -> Facts:
        values = [d.isoformat() for d in dates] + [f"--{d.month:02d}-{d.day:02d}" for d in dates]
        return self._plus("date", values)

    def with_codes(self, *codes: str) -> Facts:
        return self._plus("code", (normalize_code(c) for c in codes))

    def with_percents(self, *percents: int | Decimal | str) -> Facts:
        return self._plus("percent", (_percent_value(str(p)) for p in percents))

    def with_months(self, *months: int) -> Facts:
        return self._plus("months", (str(m) for m in months))

    def merge(self, other: Facts) -> Facts:
        return Facts(self.allowed | other.allowed)

    def allows(self, mention: Mention) -> bool:
        return (mention.kind, mention.value) in self.allowed


def check(text: str, facts: Facts) -> GroundingResult:
    """``ok`` when every mention in ``text`` is among ``facts``; otherwise the ungrounded mentions."""
    ungrounded = [m for m in extract_mentions(text) if not facts.allows(m)]
    return GroundingResult(ok=not ungrounded, ungrounded=ungrounded)
