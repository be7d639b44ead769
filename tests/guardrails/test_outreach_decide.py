"""The outreach decision, one rule at a time, on the shipped policy (pure: no database, no clock)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from guardrails.contact import within_window
from guardrails.outreach import AccountSnapshot, Contact, decide
from guardrails.outreach_policy import OutreachPolicy
from guardrails.policy import default_policy, policy_from_mapping
from tools.errors import ConfigurationError
from tools.platforms.models import AccountActivity, ChangeKind

POLICY = default_policy()
_OUT = POLICY.outreach
assert _OUT is not None
OUT: OutreachPolicy = _OUT
NOW = datetime(2025, 3, 10, 15, 0, tzinfo=UTC)  # 11:00 in New York
NY = ZoneInfo("America/New_York")


def activity(**kw: Any) -> AccountActivity:
    fields: dict[str, Any] = {
        "patient_id": "p1",
        "balance_cents": 21500,
        "phone": "+15555550123",
        "email_on_file": True,
        "sms_consent": True,
        "preferred_channel": "sms",
        "language": "en",
        "state": "NY",
        "zip_code": "10001",
        "timezone": "America/New_York",
        "last_change": ChangeKind.STATEMENT_CREATED,
        "changed_at": NOW - timedelta(days=1),
        "newest_statement_id": "st-1",
        "newest_statement_date": date(2025, 3, 9),
        "oldest_open_statement_date": date(2025, 3, 9),
        "oldest_open_service_date": date(2025, 2, 20),
        "payment_count": 0,
        "on_time_payment_count": 0,
        "partial_payment_count": 0,
        "median_days_to_pay": None,
        "last_payment_at": None,
        "plan_count": 0,
        "plan_default_count": 0,
        "plan_in_good_standing": False,
        "open_dispute": False,
        "legal_flag": False,
        "hardship_review": False,
        "self_pay": False,
    }
    fields.update(kw)
    return AccountActivity(**fields)


def snap(contacts: tuple[Contact, ...] = (), **kw: Any) -> AccountSnapshot:
    acct = {k: kw.pop(k) for k in list(kw) if k in AccountActivity.model_fields}
    base = AccountSnapshot(
        activity=activity(**acct),
        episode="st-1",
        language="en",
        zone=NY,
        has_phone=True,
        has_email=True,
        outreach_consent=True,
        opted_out=False,
        contacts=contacts,
    )
    return replace(base, **kw)


def sms(days_ago: float, step: str = "pay_link") -> Contact:
    return Contact("sms", step, NOW - timedelta(days=days_ago))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"balance_cents": 0}, "stop.paid"),
        ({"balance_cents": -500}, "stop.paid"),
        ({"open_dispute": True}, "stop.disputed"),
        ({"legal_flag": True}, "stop.attorney"),
        ({"hardship_review": True}, "stop.hardship_review"),
        ({"plan_in_good_standing": True}, "stop.plan_in_good_standing"),
        ({"paused": True}, "stop.paused"),
        ({"balance_cents": 999}, "stop.below_minimum"),
        ({"call_task_open": True}, "stop.awaiting_staff_call"),
    ],
)
def test_nothing_at_all_when_a_stop_rule_applies(change: dict[str, Any], reason: str) -> None:
    d = decide(snap(**change), POLICY, NOW)
    assert (d.action, d.reason, d.due_at) == ("none", reason, None)


def test_nothing_after_the_patient_replied_to_the_last_contact() -> None:
    d = decide(snap((sms(3),), last_reply_at=NOW - timedelta(days=2)), POLICY, NOW)
    assert (d.action, d.reason) == ("none", "stop.replied")
    # A reply older than the last contact does not stop the next one.
    d = decide(snap((sms(8),), last_reply_at=NOW - timedelta(days=9)), POLICY, NOW)
    assert d.action == "send"


def test_small_balance_good_payer_gets_a_link_and_reply_plan_now() -> None:
    d = decide(snap(), POLICY, NOW)
    assert (d.action, d.channel, d.step, d.template_key, d.segment) == (
        "send",
        "sms",
        "pay_link",
        "pay_link",
        "small_good_payer",
    )
    assert d.offer is None
    assert d.due_at == NOW
    assert d.reason == "send.first_contact.small_good_payer"
    assert d.key == "outreach:p1:st-1:0"


def test_larger_balance_gets_a_plan_offer_inside_the_policy() -> None:
    d = decide(snap(balance_cents=64000), POLICY, NOW)
    assert (d.step, d.template_key, d.segment) == ("plan_offer", "plan_offer", "plan_candidate")
    assert d.offer is not None
    assert d.offer.months == 4
    assert d.offer.down_payment_cents + 3 * d.offer.installment_cents + d.offer.final_cents == 64000
    assert "4 monthly payments" in d.offer.label or "3 monthly payments" in d.offer.label


def test_slow_payer_with_a_small_balance_gets_a_plan_offer() -> None:
    d = decide(snap(balance_cents=25000, payment_count=4, on_time_payment_count=1), POLICY, NOW)
    assert (d.step, d.segment) == ("plan_offer", "plan_candidate")
    d = decide(snap(balance_cents=25000, plan_default_count=1), POLICY, NOW)
    assert d.segment == "plan_candidate"


def test_plan_offer_below_the_plan_minimum_becomes_a_link() -> None:
    d = decide(snap(balance_cents=12000, plan_default_count=1), POLICY, NOW)
    assert (d.step, d.offer) == ("pay_link", None)
    assert d.reason.endswith("too_small_for_plan")


def test_first_contact_waits_for_the_send_window_in_the_recipients_zone() -> None:
    night = datetime(2025, 3, 10, 3, 0, tzinfo=UTC)  # 23:00 the day before in New York
    d = decide(snap(), POLICY, night)
    assert d.due_at is not None
    assert d.due_at > night
    assert within_window(d.due_at, NY, OUT.send_window)
    assert d.due_at.astimezone(NY).hour == 8


def test_follow_up_after_the_cadence_then_a_staff_call_after_two_unanswered() -> None:
    d = decide(snap((sms(2),)), POLICY, NOW)
    assert (d.step, d.sequence, d.reason) == ("follow_up", 1, "send.follow_up.unanswered")
    assert d.due_at == NOW - timedelta(days=2) + timedelta(days=OUT.follow_up_after_days)
    d = decide(snap((sms(9), sms(2, "follow_up"))), POLICY, NOW)
    assert (d.action, d.channel, d.step, d.sequence, d.reason) == (
        "call",
        "call",
        "staff_call",
        2,
        "call.unanswered_attempts",
    )
    assert d.summary is not None
    text = d.summary.text()
    assert "$215.00" in text
    assert "sms pay_link" in text
    assert "sms follow_up" in text
    assert d.summary.recommendation == "payment_plan"
    assert "Last payment: never" in text


def test_a_defaulted_plan_recommends_financial_assistance() -> None:
    d = decide(snap((sms(9), sms(8)), plan_default_count=1), POLICY, NOW)
    assert d.summary is not None
    assert d.summary.recommendation == "financial_assistance"


def test_no_lawful_digital_channel_means_a_call_task_at_once() -> None:
    changes: list[dict[str, Any]] = [{"outreach_consent": False}, {"opted_out": True}, {"has_phone": False}]
    for change in changes:
        d = decide(snap(**change), POLICY, NOW)
        assert (d.action, d.reason) == ("call", "call.no_digital_channel")


def test_firmer_wording_past_sixty_days() -> None:
    old = date(2025, 1, 1)
    d = decide(snap(oldest_open_statement_date=old), POLICY, NOW)
    assert (d.tone, d.template_key) == ("firm", "pay_link_firm")
    assert d.reason.endswith(".firm")
    day60 = (NOW - timedelta(days=60)).date()
    assert decide(snap(oldest_open_statement_date=day60), POLICY, NOW).tone == "standard"


def test_a_partial_payment_since_the_last_contact_restarts_the_cadence() -> None:
    paid = NOW - timedelta(days=1)
    d = decide(snap((sms(5),), last_payment_at=paid, payment_count=1, balance_cents=10500), POLICY, NOW)
    assert d.reason == "send.follow_up.after_partial_payment"
    assert d.due_at is not None
    assert d.due_at >= paid + timedelta(days=OUT.follow_up_after_days)


def test_pilot_cohort_self_pay_under_500() -> None:
    pilot = OUT.model_copy(
        update={"pilot": OUT.pilot.model_copy(update={"max_balance_cents": 50000, "self_pay_only": True})}
    )
    policy = POLICY.model_copy(update={"outreach": pilot})
    assert decide(snap(self_pay=True), policy, NOW).action == "send"
    assert decide(snap(self_pay=False), policy, NOW).reason == "stop.outside_pilot"
    assert decide(snap(self_pay=True, balance_cents=60000), policy, NOW).reason == "stop.outside_pilot"


def test_outreach_off_or_absent_sends_nothing() -> None:
    off = POLICY.model_copy(update={"outreach": OUT.model_copy(update={"enabled": False})})
    assert decide(snap(), off, NOW).reason == "stop.outreach_off"
    assert decide(snap(), POLICY.model_copy(update={"outreach": None}), NOW).reason == "stop.outreach_off"


def test_deciding_twice_gives_the_same_step_and_key() -> None:
    s = snap((sms(9),))
    assert decide(s, POLICY, NOW) == decide(s, POLICY, NOW)


def _policy_doc(**outreach: Any) -> dict[str, Any]:
    doc = POLICY.model_dump(mode="json")
    for key in ("open", "close"):
        doc["office_hours"][key] = doc["office_hours"][key][:5]
    doc["outreach"]["send_window"] = {"start": "08:00", "end": "21:00"}
    doc["outreach"].update(outreach)
    return doc


def test_the_shipped_policy_round_trips() -> None:
    assert policy_from_mapping(_policy_doc()).outreach == OUT


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"contact_cap_per_7_days": 8}, "contact_cap_per_7_days"),
        ({"send_window": {"start": "07:30", "end": "21:00"}}, "08:00-21:00"),
        ({"send_window": {"start": "08:00", "end": "21:30"}}, "08:00-21:00"),
        ({"send_window": {"start": "8", "end": "21:00"}}, "HH:MM"),
        ({"segments": [{"name": "x", "max_balance_cents": 100, "first_step": "pay_link"}]}, "last segment"),
        ({"segments": [{"name": "x", "first_step": "plan_offer"}]}, "offer_months"),
        ({"wording": {"pay_link": {"standard": "a", "firm": "b"}}}, "follow_up"),
        ({"channels": ["fax"]}, "channels"),
    ],
)
def test_invalid_outreach_policy_is_refused_with_the_field_named(change: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        policy_from_mapping(_policy_doc(**change), source="practice.yaml")
    assert "practice.yaml" in str(err.value)
    assert named in str(err.value)
