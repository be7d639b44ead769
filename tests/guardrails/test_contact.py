"""Lawful contact as code: each rule of ``guardrails.contact`` and every shipped template's wording."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from guardrails.contact import (
    STATE_ZONES,
    ContactCheck,
    check_contact,
    is_collection_wording,
    next_send_time,
    phi_violations,
    within_window,
    zone_for_address,
)
from guardrails.outreach import MessageFields, TemplateError, render, validate_template
from guardrails.outreach_policy import SendWindow
from guardrails.policy import default_policy

WINDOW = SendWindow(start=time(8), end=time(21))
NY = ZoneInfo("America/New_York")
TEMPLATES = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "guardrails" / "data" / "outreach_templates.yaml").read_text()
)
US_ZONES = sorted(set(STATE_ZONES.values()) | {"America/Menominee", "America/Boise", "America/Detroit"})


@pytest.mark.parametrize(
    ("state", "zip_code", "zone"),
    [
        ("NY", "10001", "America/New_York"),
        ("CA", "94105", "America/Los_Angeles"),
        ("AZ", "85001", "America/Phoenix"),
        ("HI", "96813", "Pacific/Honolulu"),
        ("FL", "33101", "America/New_York"),
        ("FL", "32501", "America/Chicago"),  # Pensacola
        ("TN", "37201", "America/Chicago"),  # Nashville
        ("TN", "37902", "America/New_York"),  # Knoxville
        ("TX", "79901", "America/Denver"),  # El Paso
        ("ID", "83814", "America/Los_Angeles"),  # Coeur d'Alene
        ("in", "46204", "America/Indiana/Indianapolis"),
        ("ZZ", "00000", "Europe/Lisbon"),  # no US state: the recorded zone
    ],
)
def test_zone_from_the_address(state: str, zip_code: str, zone: str) -> None:
    assert zone_for_address(state, zip_code, recorded="Europe/Lisbon") == ZoneInfo(zone)


INSTANTS = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=400, deadline=None)
@given(
    at=INSTANTS, zone=st.sampled_from([*US_ZONES, "Europe/London", "Australia/Lord_Howe", "America/Havana"])
)
def test_property_the_next_send_time_is_never_in_quiet_hours_and_never_early(at: datetime, zone: str) -> None:
    tz = ZoneInfo(zone)
    sent = next_send_time(at, tz, WINDOW)
    local = sent.astimezone(tz)
    assert time(8) <= local.time() < time(21)
    assert sent >= at
    assert sent - at < timedelta(hours=36)  # the next opening, not a later one
    if within_window(at, tz, WINDOW):
        assert sent == at


@settings(max_examples=300, deadline=None)
@given(at=INSTANTS, zone=st.sampled_from(sorted(available_timezones() - {"Factory", "localtime"})))
def test_property_the_gate_sends_nothing_outside_the_window_in_any_zone(at: datetime, zone: str) -> None:
    tz = ZoneInfo(zone)
    verdict = check_contact(check(now=at, zone=tz))
    local = at.astimezone(tz).time()
    if verdict.verdict == "send":
        assert time(8) <= local < time(21)
    else:
        assert verdict.reason == "quiet_hours"
        assert verdict.retry_at is not None
        assert time(8) <= verdict.retry_at.astimezone(tz).time() < time(21)


def test_dst_days_keep_local_hours() -> None:
    spring = datetime(2025, 3, 9, 6, 30, tzinfo=UTC)  # 01:30 EST, the night clocks jump forward
    assert next_send_time(spring, NY, WINDOW) == datetime(2025, 3, 9, 12, 0, tzinfo=UTC)  # 08:00 EDT
    fall = datetime(2025, 11, 2, 5, 30, tzinfo=UTC)  # 01:30 EDT, the night clocks fall back
    assert next_send_time(fall, NY, WINDOW) == datetime(2025, 11, 2, 13, 0, tzinfo=UTC)  # 08:00 EST
    # The same UTC hour is 21:30 in July (EDT, quiet) and 20:30 in January (EST, allowed).
    assert not within_window(datetime(2025, 7, 1, 1, 30, tzinfo=UTC), NY, WINDOW)
    assert within_window(datetime(2025, 1, 2, 1, 30, tzinfo=UTC), NY, WINDOW)


NOW = datetime(2025, 3, 10, 15, 0, tzinfo=UTC)
TEXT = (
    "Hi Karen, this is Maple Clinic. You have a $215.00 balance. Pay here: https://p.example/x. "
    "Reply STOP to opt out."
)


def check(**kw: Any) -> ContactCheck:
    base = ContactCheck(
        now=NOW,
        zone=NY,
        window=WINDOW,
        channel="sms",
        outreach_consent=True,
        opted_out=False,
        recent_contacts=(),
        cap_per_7_days=3,
        disputed=False,
        attorney=False,
        text=TEXT,
        forbidden=("Smith", "1980-01-01", "Office visit, established patient", "Dr. Rivera"),
    )
    return replace(base, **kw)


def test_a_lawful_message_is_sent() -> None:
    assert check_contact(check()).verdict == "send"


def test_stop_blocks_and_no_outreach_consent_blocks() -> None:
    assert (check_contact(check(opted_out=True)).verdict, check_contact(check(opted_out=True)).reason) == (
        "block",
        "opted_out",
    )
    assert check_contact(check(outreach_consent=False)).reason == "no_outreach_consent"
    # Email is not governed by the SMS consent.
    assert check_contact(check(channel="email", outreach_consent=False)).verdict == "send"


def test_no_collection_wording_after_a_dispute_or_an_attorney() -> None:
    assert check_contact(check(disputed=True)).reason == "disputed"
    assert check_contact(check(attorney=True)).reason == "attorney"
    neutral = (
        "Hi Karen, this is Maple Clinic. We received your message and a staff member will follow up. "
        "Reply STOP to opt out."
    )
    assert not is_collection_wording(neutral)
    assert check_contact(check(attorney=True, text=neutral)).verdict == "send"


@pytest.mark.parametrize("cap", [1, 3, 7])
def test_the_cap_per_seven_days_defers_until_the_oldest_contact_leaves_the_window(cap: int) -> None:
    contacts = tuple(NOW - timedelta(days=6, hours=n) for n in range(cap))
    verdict = check_contact(check(recent_contacts=contacts, cap_per_7_days=cap))
    assert (verdict.verdict, verdict.reason) == ("defer", "contact_cap")
    assert verdict.retry_at is not None
    assert verdict.retry_at >= min(contacts) + timedelta(days=7)
    # One fewer and the message goes.
    assert check_contact(check(recent_contacts=contacts[1:], cap_per_7_days=cap)).verdict == "send"
    # Contacts older than 7 days do not count.
    old = tuple(NOW - timedelta(days=7, minutes=n) for n in range(cap))
    assert check_contact(check(recent_contacts=old, cap_per_7_days=cap)).verdict == "send"


def test_minimum_phi_refuses_codes_and_the_patients_details() -> None:
    forbidden = ("Smith", "Office visit, established patient", "Dr. Rivera")
    assert phi_violations(TEXT, forbidden) == []
    for leak in (
        "for 99213",
        "for J1885",
        "for E11.9",
        "Karen Smith",
        "your office visit, established patient",
        "with Dr. Rivera",
    ):
        assert phi_violations(TEXT + " " + leak, forbidden), leak
        assert check_contact(check(text=TEXT + " " + leak)).reason == "phi"
    assert phi_violations("You have a $12,345.00 balance", forbidden) == []


def _fields(terms: str | None = "$25.00 today, then 4 monthly payments of $47.50") -> MessageFields:
    return MessageFields(
        first_name="Karen",
        practice="Maple Family Medicine",
        amount_cents=21500,
        link="https://billing.example.org/",
        phone="(555) 555-0100",
        terms=terms,
    )


@pytest.mark.parametrize("key", sorted(TEMPLATES))
@pytest.mark.parametrize("language", ["en", "es"])
def test_every_shipped_template_renders_with_minimum_phi_and_stop(key: str, language: str) -> None:
    text = TEMPLATES[key][language]
    validate_template(text)
    rendered = render(text, _fields())
    forbidden = ("Smith", "1980-01-01", "Office visit, established patient", "Dr. Rivera", "Acme Health")
    assert phi_violations(rendered, forbidden) == []
    assert "Karen" in rendered
    assert "$215.00" in rendered
    assert "STOP" in rendered
    assert "{" not in rendered


def test_every_wording_key_of_the_policy_has_a_shipped_template() -> None:
    outreach = default_policy().outreach
    assert outreach is not None
    assert outreach.template_keys() <= set(TEMPLATES)


@pytest.mark.parametrize(
    "text",
    [
        "Hi {first_name}, {practice}: your {diagnosis} bill. Reply STOP.",
        "Hi {first_name}, {practice}: {last_name}. Reply STOP.",
        "Hi {first_name}, {practice}: pay {amount}.",  # no opt-out wording
        "Hi {first_name}, pay {amount}. Reply STOP.",  # no practice
        "Hi {first_name, {practice}. Reply STOP.",
    ],
)
def test_a_template_beyond_the_minimum_is_refused(text: str) -> None:
    with pytest.raises(TemplateError):
        validate_template(text)
