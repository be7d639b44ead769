"""The PHI vault: HIPAA Safe Harbor identifiers out before text reaches a language model, back in after.

``PhiVault.tokenize`` replaces every identifier it finds with a stable placeholder (the same value gets
the same placeholder for the life of the vault, i.e. one conversation turn or thread); ``restore`` puts
the originals back into the model's reply, and ``StreamRestorer`` does it chunk by chunk, holding back a
possible placeholder that a chunk boundary cut in two.

What is found:

* names given as known (the patient's full, first and last name → ``[PATIENT_NAME]``,
  ``[PATIENT_FIRST_NAME]``, ``[PATIENT_LAST_NAME]``; anyone else's → ``[NAME_n]``), case-insensitive,
  whole words;
* known values of the patient's record (date of birth, phone, email, street address, ZIP, member id,
  statement and claim numbers) and, by pattern, the same kinds typed by anyone: dates with a day
  (``03/14/1985``, ``1985-03-14``, ``March 14``, ``14 de marzo de 1985``), phone numbers, emails, URLs,
  IPv4 addresses, SSNs, street addresses, ZIPs after a state or the word "zip", statement references
  (``S-104370``), member ids (``W158279401``), other references (``ACCT-55512``), long digit runs and
  any number introduced by a label (``member id``, ``MRN``, ``account #``, ``claim number``).

What passes through: amounts (``$1,234.50``), CPT/HCPCS (``99213``, ``G0439``), CARC/RARC (``CO-45``,
``N130``), percentages, month counts and years on their own; none of them identifies a person.

Restoring is exact for the surface form first seen for a value; a known name typed in another case is
restored in the case of the record.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from tools.platforms.models import Patient

_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec|"
    "enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|diciembre"
)
_GROUP_CODES = r"(?:CO|PR|OA|PI|CR)"
_OCTET = r"(?:25[0-5]|2[0-4]\d|1?\d?\d)"
_NO = r"number|no\.?|#"  # "number", "no.", "#" after a label
_IS = r"\s*(?:is|:|#)?\s*"  # between a label and its value
_REF_VALUE = r"[A-Z0-9-]*\d[A-Z0-9-]{3,}"
_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|"
    "ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR"
)

# (kind, pattern, group holding the identifier); order is priority when spans overlap at the same start.
_PATTERNS: tuple[tuple[str, re.Pattern[str], int], ...] = (
    ("EMAIL", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"), 0),
    ("URL", re.compile(r"\b(?:https?://|www\.)[^\s<>\"')\]]+", re.IGNORECASE), 0),
    ("IP", re.compile(rf"(?<![\d.])(?:{_OCTET}\.){{3}}{_OCTET}(?!\.?\d)"), 0),
    ("SSN", re.compile(r"(?<![\w$])\d{3}-\d{2}-\d{4}(?![\w-])"), 0),
    (
        "PHONE",
        re.compile(r"(?<![\w$])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-]?)\d{3}[\s.-]?\d{4}(?![\w])"),
        0,
    ),
    ("PHONE", re.compile(r"\+\d{10,15}\b"), 0),
    (
        "DATE",
        re.compile(r"(?<![\w/$.-])(?:\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/-]\d{1,2}[/-](?:\d{4}|\d{2}))(?![\w/])"),
        0,
    ),
    (
        "DATE",
        re.compile(rf"\b(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\b(?:,?\s+\d{{4}}\b)?", re.IGNORECASE),
        0,
    ),
    (
        "DATE",
        re.compile(
            rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:de\s+|of\s+)?(?:{_MONTHS})\b(?:,?\s+(?:de\s+)?\d{{4}}\b)?",
            re.IGNORECASE,
        ),
        0,
    ),
    (
        "ADDRESS",
        re.compile(
            r"\b\d{1,6}\s+(?:[A-Z][a-z]+\s+){1,3}(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|"
            r"Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter|Circle|Cir|Parkway|Pkwy|Highway|Hwy)\b\.?"
            r"(?:,?\s+(?:Apt|Suite|Unit|#)\.?\s*\w+)?"
        ),
        0,
    ),
    ("ZIP", re.compile(r"\b(?:zip(?:\s*code)?|c[oó]digo postal)\s*(?:is|es|:|#)?\s*(\d{5}(?:-\d{4})?)\b", re.I), 1),  # noqa: E501 - one pattern reads better whole
    ("ZIP", re.compile(rf"\b(?:{_STATES}),?\s+(\d{{5}}(?:-\d{{4}})?)\b"), 1),
    ("STATEMENT", re.compile(r"\bS-\d{3,}\b"), 0),
    (
        "MEMBER_ID",
        re.compile(rf"\b(?:member|subscriber|policy|insurance)\s*(?:id|{_NO}){_IS}([A-Z0-9-]{{4,}})\b", re.I),
        1,
    ),
    ("MRN", re.compile(rf"\b(?:MRN|medical record(?:\s*(?:{_NO}))?){_IS}([A-Z0-9-]{{4,}})\b", re.I), 1),
    ("ACCOUNT", re.compile(rf"\baccount\s*(?:{_NO}|id)?{_IS}({_REF_VALUE})\b", re.I), 1),
    ("CLAIM", re.compile(rf"\bclaim\s*(?:{_NO}|id){_IS}([A-Z0-9-]{{4,}})\b", re.I), 1),
    ("STATEMENT", re.compile(rf"\bstatement\s*(?:{_NO}|id){_IS}({_REF_VALUE})\b", re.I), 1),
    ("MEMBER_ID", re.compile(r"\b[A-Z]{1,3}\d{7,}\b"), 0),
    ("REF", re.compile(rf"\b(?!{_GROUP_CODES}-?\d{{1,3}}\b)[A-Z]{{1,5}}-\d{{3,}}[A-Z0-9-]*\b"), 0),
    ("ID", re.compile(r"(?<![\w$.,])\d{9,}(?![\w.,]\d)"), 0),
)  # fmt: skip

PLACEHOLDER = re.compile(r"\[[A-Z_]+(?:_\d+)?\]")
# The longest placeholder the vault writes ("[PATIENT_FIRST_NAME]", "[MEMBER_ID_12]"); a stream holds
# back at most this many characters after an unclosed "[".
_MAX_PLACEHOLDER = 24


@dataclass(frozen=True, slots=True)
class KnownIdentifiers:
    """Identifiers known to belong to the conversation: found even where no pattern would find them."""

    patient_names: tuple[str, ...] = ()  # first, last (full name is derived)
    other_names: tuple[str, ...] = ()
    dates: tuple[date, ...] = ()
    # (kind, value): ("PHONE", "+17815550193"), ("ZIP", "02149"), ("CITY", "Everett"), ("CLAIM", "2626…")
    values: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of_patient(
        cls,
        patient: Patient,
        *,
        member_ids: Iterable[str] = (),
        statement_numbers: Iterable[str] = (),
        claim_numbers: Iterable[str] = (),
        other_names: Iterable[str] = (),
    ) -> KnownIdentifiers:
        """Everything in a patient's record that identifies them."""
        values: list[tuple[str, str]] = [
            ("ADDRESS", patient.address_line),
            ("CITY", patient.city),
            ("ZIP", patient.zip_code),
            ("PATIENT_ID", patient.id),
        ]
        if patient.phone:
            values.append(("PHONE", patient.phone))
        if patient.email:
            values.append(("EMAIL", patient.email))
        if patient.portal_user_id:
            values.append(("ACCOUNT", patient.portal_user_id))
        values += [("MEMBER_ID", v) for v in member_ids]
        values += [("STATEMENT", v) for v in statement_numbers]
        values += [("CLAIM", v) for v in claim_numbers]
        return cls(
            patient_names=(patient.first_name, patient.last_name),
            other_names=tuple(other_names),
            dates=(patient.date_of_birth,),
            values=tuple(values),
        )


@dataclass(slots=True)
class PhiVault:
    known: KnownIdentifiers = field(default_factory=KnownIdentifiers)
    _by_value: dict[tuple[str, str], str] = field(default_factory=dict, init=False)
    _by_placeholder: dict[str, str] = field(default_factory=dict, init=False)
    _counts: dict[str, int] = field(default_factory=dict, init=False)
    _known_patterns: list[tuple[str, re.Pattern[str]]] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        first, last = [*self.known.patient_names, "", ""][:2]
        named: list[tuple[str, str]] = []
        if first and last:
            named.append(("PATIENT_NAME", f"{first} {last}"))
            named.append(("PATIENT_NAME", f"{last}, {first}"))
        if first:
            named.append(("PATIENT_FIRST_NAME", first))
        if last:
            named.append(("PATIENT_LAST_NAME", last))
        for canonical_kind, value in named:
            self._remember_fixed(canonical_kind, value)
        for name in self.known.other_names:
            named.append(("NAME", name))
            named.extend(("NAME", part) for part in name.split() if len(part) > 2)
        for d in self.known.dates:
            for surface in _date_forms(d):
                named.append(("DATE", surface))
        named.extend(self.known.values)
        for kind, value in sorted(named, key=lambda kv: len(kv[1]), reverse=True):
            if not value.strip():
                continue
            pattern = re.compile(rf"(?<!\w){_loose(kind, value)}(?!\w)", re.IGNORECASE)
            self._known_patterns.append((kind, pattern))

    # ------------------------------------------------------------------ public API

    def tokenize(self, text: str) -> str:
        """``text`` with every identifier found replaced by its placeholder."""
        spans: list[tuple[int, int, str]] = []
        for kind, pattern in self._known_patterns:
            spans.extend((m.start(), m.end(), kind) for m in pattern.finditer(text))
        for kind, pattern, group in _PATTERNS:
            spans.extend((m.start(group), m.end(group), kind) for m in pattern.finditer(text))
        chosen: list[tuple[int, int, str]] = []
        # Known values first (they were added first), then the longest span at each start.
        for start, end, kind in sorted(spans, key=lambda s: (s[0], -(s[1] - s[0]))):
            if start == end or (chosen and start < chosen[-1][1]):
                continue
            chosen.append((start, end, kind))
        out: list[str] = []
        pos = 0
        for start, end, kind in chosen:
            out.append(text[pos:start])
            out.append(self._placeholder(kind, text[start:end]))
            pos = end
        out.append(text[pos:])
        return "".join(out)

    def restore(self, text: str) -> str:
        """The originals put back; a placeholder the vault never issued is left as written."""
        return PLACEHOLDER.sub(lambda m: self._by_placeholder.get(m.group(0), m.group(0)), text)

    def restorer(self) -> StreamRestorer:
        return StreamRestorer(self)

    @property
    def placeholders(self) -> dict[str, str]:
        """Placeholder → original, for the identifiers seen so far."""
        return dict(self._by_placeholder)

    # ------------------------------------------------------------------ internals

    def _remember_fixed(self, kind: str, value: str) -> None:
        placeholder = f"[{kind}]"
        self._by_value[(kind, value.casefold())] = placeholder
        self._by_placeholder.setdefault(placeholder, value)

    def _placeholder(self, kind: str, raw: str) -> str:
        key = (kind, " ".join(raw.split()).casefold())
        if key in self._by_value:
            return self._by_value[key]
        n = self._counts.get(kind, 0) + 1
        self._counts[kind] = n
        placeholder = f"[{kind}_{n}]"
        self._by_value[key] = placeholder
        self._by_placeholder[placeholder] = raw
        return placeholder


class StreamRestorer:
    """Restores a streamed reply chunk by chunk; a ``[`` that may open a placeholder is held back until
    the placeholder closes (or can no longer be one)."""

    def __init__(self, vault: PhiVault) -> None:
        self._vault = vault
        self._pending = ""

    def feed(self, chunk: str) -> str:
        text = self._pending + chunk
        cut = text.rfind("[")
        if cut != -1 and "]" not in text[cut:] and len(text) - cut < _MAX_PLACEHOLDER:
            tail = text[cut:]
            if re.fullmatch(r"\[[A-Z_0-9]*", tail):
                self._pending = tail
                return self._vault.restore(text[:cut])
        self._pending = ""
        return self._vault.restore(text)

    def flush(self) -> str:
        text, self._pending = self._pending, ""
        return self._vault.restore(text)


def _loose(kind: str, value: str) -> str:
    """A pattern for a known value that tolerates the usual variants in spacing and separators."""
    if kind == "PHONE" and re.fullmatch(r"\+?[\d\s().-]+", value) and sum(ch.isdigit() for ch in value) >= 10:
        digits = re.sub(r"\D", "", value)[-10:]  # a phone number, with or without +1 and separators
        return r"(?:\+?1[\s.-]?)?\(?" + r"[\s().-]*".join(digits) + r"\)?"
    return r"\s+".join(re.escape(part) for part in value.split())


def _date_forms(d: date) -> Iterable[str]:
    month = d.strftime("%B")
    return (
        d.isoformat(),
        f"{d.month:02d}/{d.day:02d}/{d.year}",
        f"{d.month}/{d.day}/{d.year}",
        f"{d.month}/{d.day}/{d.year % 100:02d}",
        f"{month} {d.day}, {d.year}",
        f"{month} {d.day} {d.year}",
        f"{d.day} {month} {d.year}",
    )
