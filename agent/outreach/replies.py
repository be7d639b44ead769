"""Replies come home: an SMS answer to an outreach text carries on in the patient's SMS thread with the
offer in the state (``AgentState["outreach"]``); so does a portal chat opened from a message's link (the
link names the step, ``tools.outreach.links``; the portal session is the patient's identity).

Two hooks, each one call from its node so the graph's own code stays as it is:

* :func:`read_reply` (from ``understand``): on an SMS turn, the newest outreach text sent to this phone
  becomes the thread's offer; then, while nothing else is pending, ``PLAN`` is a payment-plan request,
  ``YES`` to a plan offer accepts that offer, and a bare number asks for the plan options. Free text goes
  through understanding unchanged. None of this skips identity: each of these is an account intent, so
  an unverified thread is asked to verify first (``choose_route``) and the intent waits for it.
* :func:`offered_terms` (from ``negotiate_plan``): the offered plan leads the options; when the patient
  answered YES, it is the chosen option and its terms are stated for the verified patient's yes — only
  if the verified patient is the one the text was sent to and the policy still yields exactly those
  terms for today's balance (a payment since the text changes the terms, and then the patient chooses
  again). The YES to the text never writes by itself: whoever read the text may not be the patient, and
  a plan is written only after a yes to terms stated to the verified patient (the eval's consent rule).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta

from agent.outreach.offer import OutreachOffer
from agent.understanding.base import Intent
from guardrails.policy import PlanOption, PracticePolicy, plan_for_months
from tools.outreach.store import OutreachStore, StoredStep
from tools.platforms.base import BillingPlatform

OFFER_TTL = timedelta(days=30)
_PLAN = re.compile(r"^\s*plan(?:es)?\s*[.!]*\s*$", re.IGNORECASE)
_YES = re.compile(r"^\s*(?:yes|y|yeah|yep|si|sí|ok|okay)\s*[.!]*\s*$", re.IGNORECASE)
_NUMBER = re.compile(r"^\s*#?\d{1,2}\s*[.)]?\s*$")
# A yes that names what the text offered ("yes I'll take that plan", "ok then yes, the 3 payments you
# offered")
_YES_TO_THE_OFFER = re.compile(
    r"^\W*(?:(?:ok(?:ay)?|alright|all right|fine|well)\W+(?:then\W+)?)?"
    r"(?:yes|yeah|yep|yup|sure|si|sí|ok(?:ay)?"
    # "Fine, I accept the plan you texted me about", "ok I'll take the 3 payments"
    r"|i accept|i[ ’']?ll take|i will take|i[ ’']?ll do|i will do|let[ ’']?s do)\b"
    r"(?=.*\b(?:plan|offer|payments?|installments?|pagos?|plan de pagos)\b)",
    re.IGNORECASE,
)
_BUSY = ("plan_choice", "consent", "clarify", "human_offer", "link_offer")


OfferLookup = Callable[[str], Awaitable[OutreachOffer | None]]


def offer_lookup(
    platform: BillingPlatform, store: OutreachStore, clock: Callable[[], datetime]
) -> OfferLookup:
    """The newest outreach text sent to a phone in the last 30 days, as the thread's offer."""

    async def lookup(phone: str) -> OutreachOffer | None:
        patients = await platform.find_patients_by_phone(phone)
        step = await store.newest_sent([p.id for p in patients], since=clock() - OFFER_TTL)
        return None if step is None else _offer(step)

    return lookup


def step_offer_lookup(store: OutreachStore, clock: Callable[[], datetime]) -> OfferLookup:
    """The outreach message a portal chat was opened from (its link named the step), as the thread's
    offer: only a message that was sent, in the last 30 days. The API attached the step to the thread
    only for the patient it was sent to; ``offered_terms`` checks the verified patient again."""

    async def lookup(step_id: str) -> OutreachOffer | None:
        step = await store.get(int(step_id)) if step_id.isdigit() else None
        if (
            step is None
            or step.status != "sent"
            or step.sent_at is None
            or step.sent_at < clock() - OFFER_TTL
        ):
            return None
        return _offer(step)

    return lookup


def _offer(step: StoredStep) -> OutreachOffer:
    offer = step.offer or {}

    def number(name: str) -> int | None:
        value = offer.get(name)
        return int(value) if isinstance(value, int) else None

    return OutreachOffer(
        key=step.key, patient_id=step.patient_id, step=step.step, months=number("months"),
        installment_cents=number("installment_cents"), down_payment_cents=number("down_payment_cents"),
        total_cents=number("total_cents"), accepted=False,
    )  # fmt: skip


async def read_reply(
    offer: OutreachOffer | None,
    lookup: OfferLookup | None,
    phone: str | None,  # an SMS thread's phone, or a portal thread's outreach step id
    *,
    intent: Intent,
    text: str,
    expecting: str | None,
    has_pending: bool,
) -> tuple[Intent, OutreachOffer | None]:
    """The intent of an SMS reply to an outreach text, and the thread's offer after it."""
    if lookup is not None and phone is not None:
        newest = await lookup(phone)
        if newest is not None and (offer is None or newest["key"] != offer["key"]):
            offer = newest  # a newer text: the thread now answers that one
    if offer is None or has_pending:
        return intent, offer
    if (
        offer["step"] == "plan_offer"
        and offer["months"] is not None
        and expecting in (None, "clarify")
        and intent in (Intent.AFFIRM, Intent.PAYMENT_PLAN)
        and _YES_TO_THE_OFFER.match(text)
        and "$" not in text
        and {int(n) for n in re.findall(r"\b\d{1,2}\b", text)} <= {offer["months"]}
    ):
        # "ok then yes i'll do the 3 payments you offered", even after a question the agent asked about
        # something else ("who is this?"): the offer's own terms, stated again for the verified patient.
        return Intent.PAYMENT_PLAN, OutreachOffer(**{**offer, "accepted": True})
    if expecting in _BUSY:
        return intent, offer
    if _PLAN.match(text):
        return Intent.PAYMENT_PLAN, offer
    if (
        offer["step"] == "plan_offer"
        and offer["months"] is not None
        and (intent is Intent.AFFIRM or _YES.match(text))
    ):
        return Intent.PAYMENT_PLAN, OutreachOffer(**{**offer, "accepted": True})
    if _NUMBER.match(text) and expecting != "identity":
        return Intent.PAYMENT_PLAN, offer
    return intent, offer


def offered_terms(
    offer: OutreachOffer | None,
    patient_id: str,
    policy: PracticePolicy,
    balance_cents: int,
    today: date,
) -> tuple[PlanOption, bool] | None:
    """The offered plan, for today's balance, and whether the patient's YES accepts it: only when the
    verified patient is the one the text went to and the terms are exactly those the text stated."""
    if offer is None or offer["patient_id"] != patient_id or offer["months"] is None:
        return None
    option = plan_for_months(policy, balance_cents, today, offer["months"])
    if option is None:
        return None
    same = (
        option.installment_cents == offer["installment_cents"]
        and option.down_payment_cents == offer["down_payment_cents"]
        and option.total_cents == offer["total_cents"]
    )
    return option, offer["accepted"] and same
