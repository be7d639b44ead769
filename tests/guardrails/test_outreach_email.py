"""Email in the outreach decision and the contact gate: email first for large balances, email as the
follow-up after an unanswered text, never to a suppressed address, and quiet hours and the cap counted
across channels."""

from __future__ import annotations

from datetime import timedelta

import yaml

from guardrails.contact import ContactCheck, check_contact
from guardrails.outreach import Contact, decide
from guardrails.policy import DEFAULT_POLICY_PATH, PracticePolicy, default_policy, policy_from_mapping
from tests.guardrails.test_outreach_decide import NOW, NY, OUT, sms, snap


def _email_policy() -> PracticePolicy:
    doc = yaml.safe_load(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"))
    doc["outreach"].update(
        {"channels": ["sms", "email"], "email_first_min_balance_cents": 30000, "follow_up_channel": "email"}
    )
    return policy_from_mapping(doc)


EMAIL_POLICY = _email_policy()


def test_email_first_for_balances_over_the_threshold_sms_below() -> None:
    assert decide(snap(balance_cents=45000), EMAIL_POLICY, NOW).channel == "email"
    assert decide(snap(balance_cents=12000), EMAIL_POLICY, NOW).channel == "sms"
    # The shipped policy (SMS only) is unchanged.
    assert decide(snap(balance_cents=45000), default_policy(), NOW).channel == "sms"


def test_an_unanswered_text_is_followed_up_by_email() -> None:
    d = decide(snap((sms(8),), balance_cents=12000), EMAIL_POLICY, NOW)
    assert (d.action, d.channel, d.step) == ("send", "email", "follow_up")


def test_a_suppressed_address_gets_no_email_the_text_or_a_call_instead() -> None:
    d = decide(snap(balance_cents=45000, email_suppressed=True), EMAIL_POLICY, NOW)
    assert d.channel == "sms"
    d = decide(snap((sms(8),), balance_cents=12000, email_suppressed=True), EMAIL_POLICY, NOW)
    assert d.channel == "sms"
    d = decide(snap(balance_cents=45000, email_suppressed=True, opted_out=True), EMAIL_POLICY, NOW)
    assert d.action == "call"


def test_a_number_whose_text_came_back_undeliverable_gets_email_or_a_staff_call() -> None:
    dead = snap((sms(8),), balance_cents=12000, sms_undeliverable=True)
    d = decide(dead, EMAIL_POLICY, NOW)
    assert (d.action, d.channel, d.step) == ("send", "email", "follow_up")
    # The shipped policy texts only: a staff member calls instead of a text to a dead number.
    d = decide(dead, default_policy(), NOW)
    assert (d.action, d.reason) == ("call", "call.no_digital_channel")
    # Neither channel works: a call.
    d = decide(snap((sms(8),), sms_undeliverable=True, email_suppressed=True), EMAIL_POLICY, NOW)
    assert (d.action, d.reason) == ("call", "call.no_digital_channel")
    # A number that works keeps its text.
    assert decide(snap((sms(8),), balance_cents=12000), default_policy(), NOW).channel == "sms"


def _check(**kw: object) -> ContactCheck:
    fields: dict[str, object] = {
        "now": NOW, "zone": NY, "window": OUT.send_window, "channel": "email", "outreach_consent": False,
        "opted_out": True, "recent_contacts": [], "cap_per_7_days": 3, "disputed": False, "attorney": False,
        "text": "Hi Ana, your balance is $45.00", "forbidden": [],
    }  # fmt: skip
    fields.update(kw)
    return ContactCheck(**fields)  # type: ignore[arg-type]


def test_the_gate_blocks_a_suppressed_address_and_counts_every_channel() -> None:
    # Email does not need SMS consent, and a STOP by text does not stop email.
    assert check_contact(_check()).verdict == "send"
    assert check_contact(_check(email_suppressed=True)).reason == "email_suppressed"
    texts = [NOW - timedelta(days=d) for d in (1, 2, 3)]
    capped = check_contact(_check(recent_contacts=texts))
    assert (capped.verdict, capped.reason) == ("defer", "contact_cap")
    night = check_contact(_check(now=NOW.replace(hour=3)))  # 22:00 in New York
    assert (night.verdict, night.reason) == ("defer", "quiet_hours")


def test_contacts_on_both_channels_count_towards_the_call() -> None:
    both = (sms(16), Contact("email", "follow_up", NOW - timedelta(days=8)))
    assert decide(snap(both, balance_cents=12000), EMAIL_POLICY, NOW).action == "call"
