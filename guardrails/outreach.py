"""Outreach decisions: for one account, the next step and why — pure functions of
``(AccountSnapshot, PracticePolicy, now)``.

No I/O, no clock of its own, no randomness: the same snapshot, policy and instant always give the same
:class:`Decision`, so a pass can be re-run after a crash, and a simulation (``outreach simulate``) can
drive this code on a simulated clock. What the decision reads is the platform's facts about the account
(``AccountActivity``) plus outreach's own record of it (contacts, replies, pauses, consent).

Order of the rules (the first that applies decides):

1. **Stop rules** — nothing at all when outreach is off for the practice or paused for the patient; the
   account is paid (or in credit); disputed; with an attorney; in hardship review; on a plan in good
   standing; outside the pilot cohort; below the minimum balance; the patient replied since the last
   contact (the conversation carries on in the thread); a staff call task is open.
2. **Staff call task** after ``digital_attempts_before_call`` unanswered digital contacts, or at once when
   no digital channel is lawful or works (no outreach consent, STOP, no number, a number whose text came
   back undeliverable for good, a suppressed address); with a prepared summary.
3. **A digital step**: the first contact is the segment's ``first_step`` (a link with "Reply PLAN", or a
   plan offer with "Reply YES"), later ones are follow-ups; the firmer wording once the oldest open
   statement is ``firm_after_days`` old. Timed after the statement (first contact), the last contact or a
   payment since it (follow-ups), and moved into the recipient's send window.

Each step has a stable idempotency key, ``outreach:{patient}:{episode}:{sequence}``: the episode is the
newest statement (a new statement starts a new sequence of contacts) and the sequence the number of
contacts already made in it, so deciding twice never schedules two messages for one step.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from guardrails.contact import next_send_time
from guardrails.outreach_policy import OutreachChannel, OutreachPolicy, Segment, Step, Tone
from guardrails.policy import PlanOption, PracticePolicy, offer_plans, plan_for_months, plan_label
from tools.platforms.models import AccountActivity

Action = Literal["none", "send", "call"]
ContactChannel = Literal["sms", "email", "call"]
Recommendation = Literal["payment_plan", "financial_assistance"]


@dataclass(frozen=True, slots=True)
class Contact:
    """A contact already made in this episode (sent, or a call task created)."""

    channel: ContactChannel
    step: str
    at: datetime


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    activity: AccountActivity
    episode: str  # the newest statement's id ("none" without one)
    language: Literal["en", "es"]
    zone: ZoneInfo
    has_phone: bool
    has_email: bool
    outreach_consent: bool  # the patient agreed to billing texts
    opted_out: bool  # STOP without a START since
    contacts: tuple[Contact, ...] = ()  # this episode's, oldest first
    last_reply_at: datetime | None = None
    call_task_open: bool = False
    paused: bool = False  # this patient, or every patient
    email_suppressed: bool = False  # the address unsubscribed, hard-bounced or complained
    # This episode's newest text came back undeliverable for good (not a mobile number, blocked, unknown
    # handset) and the patient has not replied since: texting that number again only spends the cap.
    sms_undeliverable: bool = False


@dataclass(frozen=True, slots=True)
class OfferTerms:
    """The plan a plan offer names: the policy's own option for the preferred length."""

    total_cents: int
    down_payment_cents: int
    months: int
    installment_cents: int
    final_cents: int
    label: str  # plain English terms, e.g. "$25.00 today, then 4 monthly payments of $47.50"


@dataclass(frozen=True, slots=True)
class CallSummary:
    """What a staff member reads before calling."""

    balance_cents: int
    age_days: int  # since the oldest open statement
    attempts: tuple[tuple[str, str, str], ...]  # (channel, step, ISO instant) of each contact
    last_payment_at: str | None
    recommendation: Recommendation

    def text(self) -> str:
        sent = "; ".join(f"{ch} {step} {at[:10]}" for ch, step, at in self.attempts) or "nothing sent"
        paid = self.last_payment_at[:10] if self.last_payment_at else "never"
        advice = "offer a payment plan" if self.recommendation == "payment_plan" else "financial assistance"
        return (
            f"Balance ${self.balance_cents / 100:,.2f}, {self.age_days} days since the oldest open "
            f"statement. Sent: {sent}. Last payment: {paid}. Recommendation: {advice}."
        )


@dataclass(frozen=True, slots=True)
class Decision:
    patient_id: str
    action: Action
    reason: str  # an audit token
    episode: str
    sequence: int = 0
    step: str | None = None
    channel: ContactChannel | None = None
    template_key: str | None = None
    segment: str | None = None
    tone: Tone = "standard"
    due_at: datetime | None = None
    offer: OfferTerms | None = None
    summary: CallSummary | None = None

    @property
    def key(self) -> str:
        return f"outreach:{self.patient_id}:{self.episode}:{self.sequence}"


def _none(s: AccountSnapshot, reason: str) -> Decision:
    return Decision(s.activity.patient_id, "none", reason, s.episode)


def days_since(day: date | None, now: datetime) -> int:
    return 0 if day is None else max(0, (now.astimezone(UTC).date() - day).days)


def on_time_share(a: AccountActivity) -> float | None:
    applied = a.payment_count
    return None if applied == 0 else a.on_time_payment_count / applied


def segment_for(outreach: OutreachPolicy, a: AccountActivity) -> Segment:
    share = on_time_share(a)
    for seg in outreach.segments:
        if seg.max_balance_cents is not None and a.balance_cents > seg.max_balance_cents:
            continue
        if seg.min_on_time_share is not None and share is not None and share < seg.min_on_time_share:
            continue
        if (
            seg.max_typical_days_to_pay is not None
            and a.median_days_to_pay is not None
            and a.median_days_to_pay > seg.max_typical_days_to_pay
        ):
            continue
        if seg.max_plan_defaults is not None and a.plan_default_count > seg.max_plan_defaults:
            continue
        return seg
    raise AssertionError("validated: the last segment matches every account")  # pragma: no cover


def offer_for(policy: PracticePolicy, balance_cents: int, months: int, today: date) -> OfferTerms | None:
    """The in-policy plan nearest ``months`` (``None`` when the balance is too small for a plan)."""
    option: PlanOption | None = plan_for_months(policy, balance_cents, today, months)
    if option is None:
        options = offer_plans(policy, balance_cents, today)
        if not options:
            return None
        option = min(options, key=lambda o: (abs(o.months - months), o.months))
    return OfferTerms(
        total_cents=option.total_cents,
        down_payment_cents=option.down_payment_cents,
        months=option.months,
        installment_cents=option.installment_cents,
        final_cents=option.final_installment_cents,
        label=plan_label(
            option.down_payment_cents, option.months, option.installment_cents, option.final_installment_cents
        ),
    )


def _reachable(ch: OutreachChannel, s: AccountSnapshot) -> bool:
    if ch == "sms":
        return s.has_phone and s.outreach_consent and not s.opted_out and not s.sms_undeliverable
    return s.has_email and not s.email_suppressed


def digital_channel(outreach: OutreachPolicy, s: AccountSnapshot) -> OutreachChannel | None:
    """The channel of the next digital contact: the first of the practice's channels this patient may
    lawfully be reached on, unless the policy puts email first for large balances or switches channel
    for follow-ups (and the patient may be reached there)."""
    digital = [c for c in s.contacts if c.channel != "call"]
    preferred: OutreachChannel | None = None
    if digital and outreach.follow_up_channel != "same":
        preferred = outreach.follow_up_channel
    elif (
        not digital
        and outreach.email_first_min_balance_cents is not None
        and s.activity.balance_cents >= outreach.email_first_min_balance_cents
    ):
        preferred = "email"
    if preferred is not None and preferred in outreach.channels and _reachable(preferred, s):
        return preferred
    for ch in outreach.channels:
        if _reachable(ch, s):
            return ch
    return None


def _recommendation(a: AccountActivity) -> Recommendation:
    if a.plan_default_count > 0 or a.hardship_review:
        return "financial_assistance"
    return "payment_plan"


def decide(s: AccountSnapshot, policy: PracticePolicy, now: datetime) -> Decision:
    """The account's next step and why (see the module docstring for the rules, in order)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    outreach = policy.outreach
    a = s.activity
    if outreach is None or not outreach.enabled:
        return _none(s, "stop.outreach_off")
    if a.balance_cents <= 0:
        return _none(s, "stop.paid")
    if a.open_dispute:
        return _none(s, "stop.disputed")
    if a.legal_flag:
        return _none(s, "stop.attorney")
    if a.hardship_review:
        return _none(s, "stop.hardship_review")
    if a.plan_in_good_standing:
        return _none(s, "stop.plan_in_good_standing")
    if s.paused:
        return _none(s, "stop.paused")
    pilot = outreach.pilot
    if (pilot.max_balance_cents is not None and a.balance_cents > pilot.max_balance_cents) or (
        pilot.self_pay_only and not a.self_pay
    ):
        return _none(s, "stop.outside_pilot")
    if a.balance_cents < outreach.min_balance_cents:
        return _none(s, "stop.below_minimum")
    last = s.contacts[-1] if s.contacts else None
    if last is not None and s.last_reply_at is not None and s.last_reply_at >= last.at:
        return _none(s, "stop.replied")
    if s.call_task_open or any(c.channel == "call" for c in s.contacts):
        return _none(s, "stop.awaiting_staff_call")

    sequence = len(s.contacts)
    digital = [c for c in s.contacts if c.channel != "call"]
    channel = digital_channel(outreach, s)
    seg = segment_for(outreach, a)
    if len(digital) >= outreach.digital_attempts_before_call or channel is None:
        assert last is not None or channel is None
        due = now if last is None else max(now, last.at + timedelta(days=outreach.follow_up_after_days))
        summary = CallSummary(
            balance_cents=a.balance_cents,
            age_days=days_since(a.oldest_open_statement_date, now),
            attempts=tuple((c.channel, c.step, c.at.isoformat()) for c in s.contacts),
            last_payment_at=a.last_payment_at.isoformat() if a.last_payment_at else None,
            recommendation=_recommendation(a),
        )
        reason = "call.no_digital_channel" if channel is None else "call.unanswered_attempts"
        return Decision(
            a.patient_id, "call", reason, s.episode, sequence, step="staff_call", channel="call",
            segment=seg.name, due_at=due, summary=summary,
        )  # fmt: skip

    tone: Tone = (
        "firm" if days_since(a.oldest_open_statement_date, now) > outreach.firm_after_days else "standard"
    )
    step: Step
    if last is None:
        step = seg.first_step
        start = a.newest_statement_date or now.astimezone(UTC).date()
        earliest = datetime.combine(start + timedelta(days=outreach.first_contact_after_days), time(), UTC)
        reason = f"send.first_contact.{seg.name}"
    else:
        step = "follow_up"
        earliest = last.at + timedelta(days=outreach.follow_up_after_days)
        if a.last_payment_at is not None and a.last_payment_at > last.at:
            earliest = a.last_payment_at + timedelta(days=outreach.follow_up_after_days)
            reason = "send.follow_up.after_partial_payment"
        else:
            reason = "send.follow_up.unanswered"
    offer = None
    if step == "plan_offer":
        offer = offer_for(policy, a.balance_cents, seg.offer_months or 1, now.astimezone(UTC).date())
        if offer is None:  # too small to split: a link instead
            step, reason = "pay_link", f"{reason}.too_small_for_plan"
    if tone == "firm":
        reason += ".firm"
    wording = outreach.wording[step]
    due = next_send_time(max(now, earliest), s.zone, outreach.send_window)
    return Decision(
        a.patient_id, "send", reason, s.episode, sequence, step=step, channel=channel,
        template_key=wording.firm if tone == "firm" else wording.standard, segment=seg.name, tone=tone,
        due_at=due, offer=offer,
    )  # fmt: skip


def decide_all(snapshots: Sequence[AccountSnapshot], policy: PracticePolicy, now: datetime) -> list[Decision]:
    return [decide(s, policy, now) for s in snapshots]


# --------------------------------------------------------------------------- templates

TEMPLATE_FIELDS = frozenset({"first_name", "practice", "amount", "link", "terms", "phone"})
_FORMATTER = string.Formatter()


class TemplateError(ValueError):
    """A template names a field outreach never fills (anything beyond the minimum PHI)."""


def template_fields(text: str) -> set[str]:
    try:
        return {name for _, name, spec, conv in _FORMATTER.parse(text) if name is not None}
    except ValueError as exc:
        raise TemplateError(f"not a valid template: {exc}") from exc


def validate_template(text: str) -> None:
    """Refuse a template with a placeholder outside :data:`TEMPLATE_FIELDS`, or without STOP wording."""
    names = template_fields(text)
    unknown = names - TEMPLATE_FIELDS
    if unknown:
        raise TemplateError(f"unknown placeholders: {', '.join(sorted(unknown))}")
    if not {"first_name", "practice"} <= names:
        raise TemplateError("a message names the patient's first name and the practice")
    if not re.search(r"\bSTOP\b", text):
        raise TemplateError("a message tells the patient how to opt out (STOP)")


@dataclass(frozen=True, slots=True)
class MessageFields:
    first_name: str
    practice: str
    amount_cents: int
    link: str
    phone: str
    terms: str | None = None

    def as_mapping(self) -> Mapping[str, str]:
        return {
            "first_name": self.first_name,
            "practice": self.practice,
            "amount": f"${self.amount_cents / 100:,.2f}",
            "link": self.link,
            "phone": self.phone,
            "terms": self.terms or "",
        }


def render(text: str, fields: MessageFields) -> str:
    validate_template(text)
    if "terms" in template_fields(text) and not fields.terms:
        raise TemplateError("a plan offer template needs the offer's terms")
    return text.format_map(dict(fields.as_mapping()))
