"""Lawful contact, as code: every outreach message passes :func:`check_contact` right before it is sent.

Rules, each tested (``tests/guardrails/test_contact.py``):

* **Hours.** Only inside the policy's send window (never wider than 08:00–21:00) in the recipient's local
  time. The zone comes from the address: the ZIP code's first three digits where a state spans two zones,
  else the state; the patient's recorded zone only when the address names no US state. A message outside
  the window is deferred to the window's next opening, never dropped and never sent early.
* **Consent.** SMS only to a patient who gave outreach consent, and never to a number whose newest
  consent change is STOP (until START); a blocked step is not retried.
* **Cap.** At most ``contact_cap_per_7_days`` contacts of an account in any 7 days (the policy cannot set
  more than 7); one over the cap is deferred until the oldest contact in the window is 7 days old.
* **Wording.** No collection wording to an account with a dispute or an attorney; such accounts get no
  outreach at all from the decision, and this gate holds even if the flag arrived after the decision.
* **Minimum PHI.** A message may carry the first name, the practice, an amount, the terms and a link:
  never a code (CPT/HCPCS/ICD-10), a service description, a provider, a last name or a date of birth.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from guardrails.outreach_policy import SendWindow

WEEK = timedelta(days=7)

# The zone of most of each state's people; split states are refined by ZIP prefix below.
STATE_ZONES: dict[str, str] = {
    "AL": "America/Chicago", "AK": "America/Anchorage", "AZ": "America/Phoenix", "AR": "America/Chicago",
    "CA": "America/Los_Angeles", "CO": "America/Denver", "CT": "America/New_York", "DE": "America/New_York",
    "DC": "America/New_York", "FL": "America/New_York", "GA": "America/New_York", "HI": "Pacific/Honolulu",
    "ID": "America/Boise", "IL": "America/Chicago", "IN": "America/Indiana/Indianapolis",
    "IA": "America/Chicago", "KS": "America/Chicago", "KY": "America/New_York", "LA": "America/Chicago",
    "ME": "America/New_York", "MD": "America/New_York", "MA": "America/New_York", "MI": "America/Detroit",
    "MN": "America/Chicago", "MS": "America/Chicago", "MO": "America/Chicago", "MT": "America/Denver",
    "NE": "America/Chicago", "NV": "America/Los_Angeles", "NH": "America/New_York", "NJ": "America/New_York",
    "NM": "America/Denver", "NY": "America/New_York", "NC": "America/New_York", "ND": "America/Chicago",
    "OH": "America/New_York", "OK": "America/Chicago", "OR": "America/Los_Angeles", "PA": "America/New_York",
    "RI": "America/New_York", "SC": "America/New_York", "SD": "America/Chicago", "TN": "America/Chicago",
    "TX": "America/Chicago", "UT": "America/Denver", "VT": "America/New_York", "VA": "America/New_York",
    "WA": "America/Los_Angeles", "WV": "America/New_York", "WI": "America/Chicago", "WY": "America/Denver",
    "PR": "America/Puerto_Rico", "VI": "America/St_Thomas", "GU": "Pacific/Guam",
    "AS": "Pacific/Pago_Pago", "MP": "Pacific/Saipan",
}  # fmt: skip

# ZIP prefixes (first three digits) of the parts of split states that keep the other zone.
ZIP3_ZONES: dict[str, str] = {
    **dict.fromkeys(("324", "325"), "America/Chicago"),  # Florida west of the Apalachicola
    **dict.fromkeys(("373", "374", "376", "377", "378", "379"), "America/New_York"),  # East Tennessee
    **dict.fromkeys(("420", "421", "422", "423", "424"), "America/Chicago"),  # western Kentucky
    **dict.fromkeys(("463", "464", "476", "477"), "America/Chicago"),  # NW and SW Indiana
    **dict.fromkeys(("498", "499"), "America/Menominee"),  # Michigan's western Upper Peninsula
    "577": "America/Denver",  # western South Dakota
    **dict.fromkeys(("691", "693"), "America/Denver"),  # western Nebraska
    **dict.fromkeys(("677", "678", "679"), "America/Denver"),  # western Kansas
    **dict.fromkeys(("798", "799", "885"), "America/Denver"),  # El Paso
    **dict.fromkeys(("835", "838"), "America/Los_Angeles"),  # northern Idaho
    "979": "America/Boise",  # Malheur County, Oregon
}


def zone_for_address(state: str, zip_code: str, recorded: str | None = None) -> ZoneInfo:
    """The recipient's IANA zone from the address (see the module docstring)."""
    digits = "".join(c for c in zip_code if c.isdigit())
    st = state.strip().upper()
    if st in STATE_ZONES:
        if len(digits) >= 3 and digits[:3] in ZIP3_ZONES:
            return ZoneInfo(ZIP3_ZONES[digits[:3]])
        return ZoneInfo(STATE_ZONES[st])
    return ZoneInfo(recorded or "America/New_York")


def within_window(at: datetime, zone: ZoneInfo, window: SendWindow) -> bool:
    if at.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    local = at.astimezone(zone).time()
    return window.start <= local < window.end


def next_send_time(at: datetime, zone: ZoneInfo, window: SendWindow) -> datetime:
    """``at`` itself when it is inside the window, else the window's next opening (UTC)."""
    if within_window(at, zone, window):
        return at.astimezone(UTC)
    local = at.astimezone(zone)
    day: date = local.date() if local.time() < window.start else local.date() + timedelta(days=1)
    for _ in range(4):
        # Built in local time then normalised through UTC, so a start inside a DST gap moves forward.
        candidate = datetime.combine(day, window.start, tzinfo=zone).astimezone(UTC)
        while not within_window(candidate, zone, window) and candidate.astimezone(zone).date() == day:
            candidate += timedelta(minutes=15)
        if within_window(candidate, zone, window) and candidate >= at:
            return candidate
        day += timedelta(days=1)
    raise AssertionError("a send window opens every day")  # pragma: no cover


# --------------------------------------------------------------------------- wording and PHI

_COLLECTION = re.compile(
    r"\b(?:past due|overdue|balance|owe[sd]?|pay(?:ment)?s?|collections?|debt|vencid[oa]|saldo|pague)\b",
    re.IGNORECASE,
)
_CODES = (
    re.compile(r"(?<![\d$.,])\d{5}(?![\d,])"),  # CPT (a $12,345 amount has its comma)
    re.compile(r"\b[A-V]\d{4}\b"),  # HCPCS Level II
    re.compile(r"\b[A-TV-Z]\d{2}(?:\.\d{1,4})?\b"),  # ICD-10-CM
)


def is_collection_wording(text: str) -> bool:
    """Whether a text asks for money (any mention of a balance, a payment or a debt)."""
    return bool(_COLLECTION.search(text))


def phi_violations(text: str, forbidden: Iterable[str]) -> list[str]:
    """What in ``text`` goes beyond first name, practice, amount, terms and link: a code, or one of the
    patient's own ``forbidden`` strings (last name, date of birth, service descriptions, providers).
    Returns names of the problems, never the matched text."""
    problems = [f"code:{i}" for i, pattern in enumerate(_CODES) if pattern.search(text)]
    lowered = text.lower()
    for n, value in enumerate(v for v in forbidden if len(v.strip()) >= 3):
        if value.strip().lower() in lowered:
            problems.append(f"patient_detail:{n}")
    return problems


# --------------------------------------------------------------------------- the gate

Verdict = Literal["send", "defer", "block"]


@dataclass(frozen=True, slots=True)
class ContactCheck:
    """Everything the gate needs about one message about to be sent, read just before the send."""

    now: datetime
    zone: ZoneInfo
    window: SendWindow
    channel: Literal["sms", "email"]
    outreach_consent: bool  # the patient agreed to be texted about their bill
    opted_out: bool  # the number's newest consent change is STOP
    recent_contacts: Sequence[datetime]  # this account's contacts, any channel
    cap_per_7_days: int
    disputed: bool
    attorney: bool
    text: str
    forbidden: Sequence[str]
    email_suppressed: bool = False  # the address unsubscribed, hard-bounced or complained


@dataclass(frozen=True, slots=True)
class ContactVerdict:
    verdict: Verdict
    reason: str  # an audit token: "ok", "quiet_hours", "opted_out", ...
    retry_at: datetime | None = None


def check_contact(c: ContactCheck) -> ContactVerdict:
    """``send``, ``defer`` (with the earliest lawful time) or ``block`` (never send this message)."""
    if c.channel == "email" and c.email_suppressed:
        return ContactVerdict("block", "email_suppressed")
    if c.channel == "sms" and c.opted_out:
        return ContactVerdict("block", "opted_out")
    if c.channel == "sms" and not c.outreach_consent:
        return ContactVerdict("block", "no_outreach_consent")
    if (c.disputed or c.attorney) and is_collection_wording(c.text):
        return ContactVerdict("block", "attorney" if c.attorney else "disputed")
    if phi_violations(c.text, c.forbidden):
        return ContactVerdict("block", "phi")
    window_start = c.now - WEEK
    recent = sorted(t for t in c.recent_contacts if window_start < t <= c.now)
    if len(recent) >= c.cap_per_7_days:
        # The (len - cap + 1)-th oldest contact must leave the window before one more fits.
        leaves = recent[len(recent) - c.cap_per_7_days] + WEEK
        return ContactVerdict("defer", "contact_cap", next_send_time(leaves, c.zone, c.window))
    if not within_window(c.now, c.zone, c.window):
        return ContactVerdict("defer", "quiet_hours", next_send_time(c.now, c.zone, c.window))
    return ContactVerdict("send", "ok")
