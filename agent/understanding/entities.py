"""Entity extraction for billing conversations: amounts, months, dates, ZIP, statement and line refs.

Pure functions over text; every regex is compiled at import. Amounts are integer cents.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from agent.understanding.base import Entities, LineRef
from agent.understanding.text import fold_accents

MONTHS: dict[str, int] = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4,
    "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8, "september": 9,
    "sept": 9, "sep": 9, "october": 10, "oct": 10, "november": 11, "nov": 11, "december": 12, "dec": 12,
    "enero": 1, "febrero": 2, "marzo": 3, "abril": 4, "mayo": 5, "junio": 6, "julio": 7, "agosto": 8,
    "septiembre": 9, "setiembre": 9, "octubre": 10, "noviembre": 11, "diciembre": 12,
}  # fmt: skip

NUMBER_WORDS: dict[str, int] = {
    "one": 1, "a": 1, "an": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "eighteen": 18, "twenty": 20,
    "twenty-four": 24, "thirty": 30, "fifty": 50, "hundred": 100, "fifteen": 15, "sixteen": 16,
    "thirty-six": 36, "forty": 40, "forty-eight": 48, "sixty": 60, "seventy-two": 72,
    "un": 1, "uno": 1, "una": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7,
    "ocho": 8, "nueve": 9, "diez": 10, "once": 11, "doce": 12, "dieciocho": 18, "veinte": 20,
    "veinticuatro": 24, "quince": 15, "treinta": 30, "cuarenta": 40, "sesenta": 60,
}  # fmt: skip

ORDINALS: dict[str, int] = {
    "first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
    "fifth": 5, "5th": 5, "last": -1, "final": -1,
    "primer": 1, "primero": 1, "primera": 1, "segundo": 2, "segunda": 2, "tercer": 3, "tercero": 3,
    "tercera": 3, "cuarto": 4, "cuarta": 4, "ultimo": -1, "ultima": -1,
}  # fmt: skip

# Services a patient names to point at a line; value is the canonical keyword the agent matches on.
LINE_KEYWORDS: dict[str, str] = {
    "lab work": "lab", "labs": "lab", "lab": "lab", "bloodwork": "lab", "blood work": "lab",
    "blood test": "lab", "blood draw": "blood draw", "blood drawn": "blood draw", "blood taken": "blood draw",
    "venipuncture": "blood draw", "laboratorio": "lab", "laboratorios": "lab", "analisis": "lab",
    "x-ray": "x-ray", "xray": "x-ray", "x ray": "x-ray", "radiografia": "x-ray",
    "office visit": "office visit", "visit": "office visit", "consulta": "office visit",
    "visita": "office visit", "checkup": "office visit", "check-up": "office visit",
    "mri": "mri", "ct scan": "ct", "cat scan": "ct", "ultrasound": "ultrasound", "ultrasonido": "ultrasound",
    "ekg": "ekg", "ecg": "ekg", "er visit": "emergency", "emergency": "emergency", "emergencia": "emergency",
    "urgencias": "emergency", "ambulance": "ambulance", "ambulancia": "ambulance",
    "anesthesia": "anesthesia", "anestesia": "anesthesia", "vaccine": "vaccine", "flu shot": "vaccine",
    "shot": "vaccine", "vacuna": "vaccine", "injection": "injection", "inyeccion": "injection",
    "physical": "physical", "annual exam": "physical", "therapy": "therapy", "terapia": "therapy",
    "facility fee": "facility fee", "copay": "copay", "surgery": "surgery", "cirugia": "surgery",
}  # fmt: skip

_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:\.\d{1,2})?"
_CURRENCY_WORDS = r"(?:dollars?|bucks|usd|dolares?|pesos)"
_PER_MONTH = (
    r"(?:a|per|each|every|/)\s*(?:month|mo)\b|/mo\b|monthly|al\s+mes|por\s+mes|mensual(?:es)?|cada\s+mes"
)

_RE_DOLLAR = re.compile(rf"\$\s?({_NUM})(k\b)?")
# A few cents ("a 1 cent link", "50 cents", "un centavo", "a penny"): amounts too, however small; after
# dollars ("20 dollars and 50 cents") they are part of that amount.
_RE_CENTS = re.compile(r"(?<![\w$.,/-])(\d{1,2}|a|one|un|una)\s*(?:cents?|centavos?|¢|penny|pennies)\b")
_RE_AND_CENTS = re.compile(rf"(?:{_CURRENCY_WORDS}|\d)\s*(?:and|y|con)?\s*$")
_RE_WORD_AMOUNT = re.compile(rf"(?<![\w$.,/-])({_NUM})\s*(k\b)?\s*{_CURRENCY_WORDS}\b")
_RE_MONTHLY_AMOUNT = re.compile(rf"(?<![\w$.,/-])({_NUM})\s*(?:{_PER_MONTH})")
_RE_PAY_AMOUNT = re.compile(
    rf"\b(?:pay|paying|afford|do|send|put down|pagar|pago|puedo dar)\s+(?:about\s+|like\s+|maybe\s+)?"
    rf"({_NUM})\b(?!\s*(?:%|percent|pct|por ?ciento|months?|mos?|years?|yrs?|meses|anos|/|-))"
)

_MONTH_ALT = "|".join(sorted(MONTHS, key=len, reverse=True))
_RE_MONTH = re.compile(rf"\b({_MONTH_ALT})\b\.?")
_MAY_AS_MONTH = re.compile(
    r"\b(?:in|on|from|of|since|last|this|de|en|el)\s+may\b|\bmay\s+(?:\d|statement|bill|visit)"
)

_COUNT_WORD = "|".join(sorted(NUMBER_WORDS, key=len, reverse=True))
_RE_MONTH_COUNT = re.compile(rf"\b(\d{{1,2}}|{_COUNT_WORD})[\s-]*(?:months?|mos?|meses|mes)\b")
_RE_YEAR_COUNT = re.compile(rf"\b(\d|{_COUNT_WORD})[\s-]*(?:years?|yrs?|anos?)\b")

_RE_ISO = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_RE_SLASH = re.compile(r"(?<![\d/$.])(\d{1,2})[/.-](\d{1,2})(?:[/.-](\d{4}|\d{2}))?(?![\d/])")
_RE_MONTH_DAY = re.compile(
    rf"\b({_MONTH_ALT})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s*(\d{{4}}|'\d{{2}}|\d{{2}}\b))?"
)
_RE_DAY_MONTH = re.compile(
    rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+|de\s+)?({_MONTH_ALT})\b\.?(?:,?\s*(?:de(?:l)?\s+)?(\d{{4}}|\d{{2}}\b))?"
)

_RE_STATEMENT_S = re.compile(r"\b[sS]-?(\d{4,8})\b")
_RE_STATEMENT_WORD = re.compile(
    r"\b(?:statement|stmt|invoice|bill|estado de cuenta|factura|cuenta)\s*"
    r"(?:number|no\.?|num|numero)?\s*[#:]?\s*(\d{4,8})\b"
)
_RE_ZIP = re.compile(r"(?<![\d$.,/-])(\d{5})(?:-\d{4})?(?![\d,.]?\d)")
_RE_DOB_CUE = re.compile(r"\b(?:born|dob|d\.o\.b|birth|birthday|bday|naci|nacimiento|cumpleanos)\b")

_RE_ORDINAL_REF = re.compile(
    r"\b(?:the\s+|el\s+|la\s+|lo\s+)?(" + "|".join(ORDINALS) + r")\s*(?:one|line|charge|item|uno|una|cargo|"
    r"linea|option|opcion)?\b"
)
_RE_OPTION_N = re.compile(r"\b(?:option|opcion|plan|number|numero|#)\s*(\d)\b")
_RE_AMOUNT_REF = re.compile(
    rf"\$\s?({_NUM})\s*(?:charge|one|line|item|fee|bill|cargo)|(?:cargo|cobro)\s+de\s+\$?\s?({_NUM})"
)
# A procedure code as the bill prints it, named ("cpt 99213", "a charge that says 76856", "what is 99214").
RE_PROCEDURE_CODE = re.compile(
    r"\b(?:code|cpt|hcpcs|says|said|reads|shows|listed as|labeled|labelled|marked|what is|what s|whats"
    r"|what does|what means|called|named|titled|charge|line|item)\s+(?:code\s+|as\s+)?(\d{5}|[a-z]\d{4})\b"
)
_KW_ALT = "|".join(re.escape(k) for k in sorted(LINE_KEYWORDS, key=len, reverse=True))
_RE_KEYWORD = re.compile(rf"\b({_KW_ALT})\b")


def _cents(num: str, thousands: str | None = None) -> int:
    value = float(num.replace(",", ""))
    if thousands:
        value *= 1000
    return round(value * 100)


def _number(token: str) -> int | None:
    if token.isdigit():
        return int(token)
    return NUMBER_WORDS.get(token)


def _pivot_year(year: int, today: date) -> int:
    """Two-digit years land in the past (they are mostly birth years): 84 -> 1984, 05 -> 2005."""
    if year >= 100:
        return year
    candidate = 2000 + year
    return candidate if candidate <= today.year else 1900 + year


def _make_date(year: int | None, month: int, day: int, today: date) -> date | None:
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    if year is None:
        try:
            guess = date(today.year, month, day)
        except ValueError:
            return None
        # A date without a year is the nearest one: not more than six months ahead.
        if guess - today > timedelta(days=183):
            guess = guess.replace(year=today.year - 1)
        return guess
    try:
        return date(_pivot_year(year, today), month, day)
    except ValueError:
        return None


def _year(token: str | None) -> int | None:
    if not token:
        return None
    return int(token.lstrip("'"))


def extract_dates(text: str, today: date) -> list[date]:
    """Dates in the order found; ``text`` must already be lowercased and accent-folded."""
    found: list[tuple[int, date]] = []
    taken: list[tuple[int, int]] = []

    def add(start: int, end: int, value: date | None) -> None:
        if value is None or any(s < end and start < e for s, e in taken):
            return
        taken.append((start, end))
        found.append((start, value))

    for m in _RE_ISO.finditer(text):
        try:
            add(m.start(), m.end(), date(int(m[1]), int(m[2]), int(m[3])))
        except ValueError:
            continue
    for m in _RE_DAY_MONTH.finditer(text):
        if m[2] == "may" and not m[3] and not m[0].startswith(tuple("0123456789")):
            continue
        add(m.start(), m.end(), _make_date(_year(m[3]), MONTHS[m[2]], int(m[1]), today))
    for m in _RE_MONTH_DAY.finditer(text):
        add(m.start(), m.end(), _make_date(_year(m[3]), MONTHS[m[1]], int(m[2]), today))
    for m in _RE_SLASH.finditer(text):
        if m[3] is None and "-" in m[0]:
            continue  # "6-12" is a range, not a date
        add(m.start(), m.end(), _make_date(_year(m[3]), int(m[1]), int(m[2]), today))
    return [d for _, d in sorted(found, key=lambda pair: pair[0])]


# An amount spelt out before a currency word ("five dollars", "twenty-five bucks", "cinco dólares"); "a
# dollar" is no amount anyone pays by, so the articles that read as 1 are left out.
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
    "ninety": 90, "veinte": 20, "treinta": 30, "cuarenta": 40, "cincuenta": 50, "sesenta": 60,
}  # fmt: skip
_UNITS = {w: n for w, n in NUMBER_WORDS.items() if n < 20 and w not in {"a", "an", "un", "una", "uno"}}
_RE_SPELT_AMOUNT = re.compile(
    r"\b(?:(" + "|".join(sorted(_TENS, key=len, reverse=True)) + r")(?:[\s-]+(?:y\s+)?"
    r"("
    + "|".join(sorted(_UNITS, key=len, reverse=True))
    + r"))?|("
    + "|".join(sorted(_UNITS, key=len, reverse=True))
    + r"))\s+"
    + _CURRENCY_WORDS
    + r"\b"
)


def _amounts(text: str) -> tuple[list[int], list[tuple[int, int]]]:
    found: list[tuple[int, int]] = []
    spans: list[tuple[int, int]] = []
    for m in _RE_SPELT_AMOUNT.finditer(text):
        dollars = _TENS[m[1]] + (_UNITS[m[2]] if m[2] else 0) if m[1] else _UNITS[m[3]]
        spans.append(m.span())
        found.append((m.start(), dollars * 100))
    for regex in (_RE_DOLLAR, _RE_WORD_AMOUNT, _RE_MONTHLY_AMOUNT, _RE_PAY_AMOUNT):
        for m in regex.finditer(text):
            start, end = m.span(1)
            if any(s <= start < e for s, e in spans):
                continue
            groups = m.groups()
            thousands = groups[1] if len(groups) > 1 else None
            spans.append((start, end))
            found.append((start, _cents(m[1], thousands)))
    for m in _RE_CENTS.finditer(text):
        cents = int(m[1]) if m[1].isdigit() else 1
        found = [f for f in found if not m.start() <= f[0] < m.end()]  # "pay 50 cents" is not $50
        before = [(i, f) for i, f in enumerate(found) if f[0] < m.start()]
        if before and _RE_AND_CENTS.search(text, 0, m.start()):
            i, (start, dollars) = max(before, key=lambda b: b[1][0])  # "20 dollars and 50 cents"
            found[i] = (start, dollars + cents)
        else:
            found.append((m.start(), cents))
        spans.append(m.span())
    return [c for _, c in sorted(found)], spans


def _months(text: str) -> list[int]:
    out: list[int] = []
    may_ok = bool(_MAY_AS_MONTH.search(text))
    for m in _RE_MONTH.finditer(text):
        word = m[1]
        if word == "may" and not may_ok:
            continue
        if word in {"mar", "dec", "jun", "sep", "oct", "nov", "jan", "feb", "apr", "aug", "jul"}:
            # Abbreviations only next to a day number or a statement/bill word, never mid-sentence Spanish.
            after = text[m.end() : m.end() + 12]
            if not re.match(r"\.?\s*(\d|statement|bill|visit)", after):
                continue
        month = MONTHS[word]
        if month not in out:
            out.append(month)
    return out


# A time that passed or that something else takes ("the case could take a year", "I've waited 3 months",
# "2 years ago", "for the past six months"): no term of a plan.
_RE_DURATION_BEFORE = re.compile(
    r"\b(?:take|takes|took|taking|lasted|waited|waiting|wait|been|since|for the (?:last|past)"
    r"|over the (?:last|past)|in the (?:last|past)|hace|desde hace|lleva|llevo|tarda|tardar|durar|dura)\s+"
    r"(?:about |like |almost |over |up to |at least |a good |maybe |unos |casi )?$"
)
_RE_DURATION_AFTER = re.compile(r"^\s*(?:ago|now|already|old|atras|ya)\b")


def _a_duration(text: str, m: re.Match[str]) -> bool:
    return bool(_RE_DURATION_BEFORE.search(text[max(0, m.start() - 40) : m.start()])) or bool(
        _RE_DURATION_AFTER.match(text[m.end() :])
    )


def _month_counts(text: str) -> list[int]:
    out: list[int] = []
    for m in _RE_MONTH_COUNT.finditer(text):
        if m[1] in {"a", "an", "un", "una"}:
            continue  # "30 a month" is a rate, not a one-month term
        if _a_duration(text, m):
            continue
        n = _number(m[1])
        if n and n <= 120 and n not in out:
            out.append(n)
    for m in _RE_YEAR_COUNT.finditer(text):
        if _a_duration(text, m):
            continue
        n = _number(m[1])
        if n and n <= 10 and n * 12 not in out:
            out.append(n * 12)
    return out


def _statement_numbers(text: str) -> list[str]:
    out: list[str] = []
    for m in _RE_STATEMENT_S.finditer(text):
        value = f"S-{m[1]}"
        if value not in out:
            out.append(value)
    for m in _RE_STATEMENT_WORD.finditer(text):
        value = f"S-{m[1]}"
        if value not in out:
            out.append(value)
    return out


def _line_refs(text: str) -> list[LineRef]:
    refs: list[LineRef] = []
    for m in _RE_AMOUNT_REF.finditer(text):
        num = m[1] or m[2]
        refs.append(LineRef(amount_cents=_cents(num)))
    for m in _RE_ORDINAL_REF.finditer(text):
        word = m[1]
        if word == "last" and re.match(
            r"\s*(month|year|week|time|statement|bill|visit|payment)", text[m.end() :]
        ):
            continue  # "last month" is time, not a line
        if word in {"final", "last", "ultimo", "ultima"} and re.match(
            r"\s*(answer|offer|word|words|say|decision|respuesta|oferta|palabra)\b", text[m.end() :]
        ):
            continue  # "that's my final answer": the last word on it, no pick
        if word in {"first", "primer", "primera", "primero"} and re.match(
            r"\s*(time|vez|of all|question|thing|things|off)\b", text[m.end() :]
        ):
            continue
        if (
            word in {"first", "primero"}
            and m.group(0).strip() == word  # no "the" before it, no "one" after it
            and len(text[: m.start()].split()) >= 3
            and not re.search(
                r"\b(?:option|opcion|number|numero|take|choose|pick|want|go with|quiero|elijo)\s*$",
                text[: m.start()],
            )
            and re.match(r"\s*(?:[,.;!?]|please|por favor|$)", text[m.end() :])
        ):
            continue  # "a person to confirm something first, please": before that, no pick
        if re.search(r"\b(question|questions|pregunta)\s*$", text[: m.start()]):
            continue  # "quick question first": an aside, not a pick
        refs.append(LineRef(ordinal=ORDINALS[word]))
    for m in _RE_OPTION_N.finditer(text):
        refs.append(LineRef(ordinal=int(m[1])))
    seen: set[str] = set()
    for m in RE_PROCEDURE_CODE.finditer(text):
        if m[1] not in seen:  # a procedure code, as the bill prints it ("says 76856", "cpt 99213")
            seen.add(m[1])
            refs.append(LineRef(keyword=m[1]))
    for m in _RE_KEYWORD.finditer(text):
        keyword = LINE_KEYWORDS[m[1]]
        if keyword not in seen:
            seen.add(keyword)
            refs.append(LineRef(keyword=keyword))
    return refs


def extract_entities(text: str, *, today: date | None = None, expecting: str | None = None) -> Entities:
    """Everything structured in one patient message.

    ``expecting="identity"`` (or a "born"/"DOB" cue) makes a dated message a date of birth and a bare
    five-digit number a ZIP code.
    """
    today = today or date.today()
    lowered = fold_accents(text).lower().replace("’", "'")
    dates = extract_dates(lowered, today)
    amounts, amount_spans = _amounts(lowered)
    statements = _statement_numbers(lowered)
    identity_cue = expecting == "identity" or bool(_RE_DOB_CUE.search(lowered))
    dob = None
    if identity_cue:
        past = [d for d in dates if d < today and d.year < today.year]
        dob = past[0] if past else None
    zip_code = None
    statement_digits = {s[2:] for s in statements}
    for m in _RE_ZIP.finditer(lowered):
        if m[1] in statement_digits or any(s <= m.start(1) < e for s, e in amount_spans):
            continue
        zip_code = m[1]
        break
    return Entities(
        amounts_cents=amounts,
        months=_months(lowered),
        month_counts=_month_counts(lowered),
        dates=dates,
        statement_numbers=statements,
        line_refs=_line_refs(lowered),
        date_of_birth=dob,
        zip_code=zip_code,
    )
