"""Grounding: figures in a reply are extracted, normalised and checked against the facts."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guardrails.grounding import Facts, Mention, check, extract_mentions
from guardrails.policy import load_policy, offer_plans


def _values(text: str) -> list[tuple[str, str]]:
    return [(m.kind, m.value) for m in extract_mentions(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$1,234.50", ("amount", "123450")),
        ("$1234.5", ("amount", "123450")),
        ("$20", ("amount", "2000")),
        ("20 dollars", ("amount", "2000")),
        ("1,234.50 dollars", ("amount", "123450")),
        ("75 dólares", ("amount", "7500")),
        ("April 15", ("date", "--04-15")),
        ("Apr 15 2026", ("date", "2026-04-15")),
        ("April 15th, 2026", ("date", "2026-04-15")),
        ("04/15/2026", ("date", "2026-04-15")),
        ("2026-04-15", ("date", "2026-04-15")),
        ("15 de abril", ("date", "--04-15")),
        ("15 de abril de 2026", ("date", "2026-04-15")),
        ("6 months", ("months", "6")),
        ("12 monthly payments", ("months", "12")),
        ("a 12-month plan", ("months", "12")),
        ("seis meses", ("months", "6")),
        ("twelve months", ("months", "12")),
        ("20%", ("percent", "20")),
        ("20 percent", ("percent", "20")),
        ("12.5%", ("percent", "12.5")),
        ("CPT 99213", ("code", "99213")),
        ("code 0001U", ("code", "0001U")),
        ("G0439", ("code", "G0439")),
        ("CO-45", ("code", "CO-45")),
        ("PR1", ("code", "PR-1")),
        ("OA23", ("code", "OA-23")),
        ("N130", ("code", "N130")),
        ("M15", ("code", "M15")),
        ("MA130", ("code", "MA130")),
    ],
)
def test_extracts_and_normalises(text: str, expected: tuple[str, str]) -> None:
    assert _values(f"Note: {text}.") == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "Call us at (555) 555-0100.",
        "Call 555-555-0100 or +15555550100.",
        "Your statement S-104233 is ready.",
        "Claim number 12345 was sent.",
        "Statement #104233.",
        "We open at 9 AM and close at 5:30 pm.",
        "Hours: 8:00-17:00, Monday to Friday.",
        "Mail it to 12 Main St, Springfield, NY 10001.",
        "ZIP code 10001-1234.",
        "This is your first statement; the second line and the third visit.",
        "In 2026 you visited twice.",
        "Your account ends in 1234.",
    ],
)
def test_non_figures_are_not_mis_extracted(text: str) -> None:
    assert extract_mentions(text) == []


def test_mentions_keep_order_and_raw_text() -> None:
    mentions = extract_mentions("Pay $120.00 today, then 6 monthly payments of $90.00 starting March 1.")
    assert mentions == [
        Mention("amount", "$120.00", "12000"),
        Mention("months", "6 monthly payments", "6"),
        Mention("amount", "$90.00", "9000"),
        Mention("date", "March 1", "--03-01"),
    ]


def test_impossible_date_is_never_grounded() -> None:
    facts = Facts.empty().with_dates(date(2026, 2, 28))
    assert not check("Due February 30.", facts).ok


REPLY = (
    "Your balance for the visit on April 15, 2026 is $1,234.50. Insurance applied CO-45 to 99213 "
    "and you owe 20% coinsurance. A 12-month plan would be $102.88 a month."
)
FACTS = (
    Facts.empty()
    .with_amounts(123450, 10288)
    .with_dates(date(2026, 4, 15))
    .with_codes("CO45", "99213")
    .with_percents(20)
    .with_months(12)
)


def test_grounded_reply_passes() -> None:
    result = check(REPLY, FACTS)
    assert result.ok
    assert result.ungrounded == []


def test_one_cent_off_is_rejected() -> None:
    result = check(REPLY.replace("$1,234.50", "$1,234.51"), FACTS)
    assert not result.ok
    assert result.ungrounded == [Mention("amount", "$1,234.51", "123451")]


@pytest.mark.parametrize(
    ("original", "changed"),
    [("April 15, 2026", "April 16, 2026"), ("CO-45", "CO-97"), ("20%", "25%"), ("12-month", "18-month")],
)
def test_any_changed_figure_is_rejected(original: str, changed: str) -> None:
    assert not check(REPLY.replace(original, changed), FACTS).ok


def test_merge_combines_facts() -> None:
    a = Facts.empty().with_amounts(100)
    b = Facts.empty().with_months(6)
    assert check("$1.00 over 6 months", a.merge(b)).ok
    assert not check("$1.00 over 6 months", a).ok


@given(cents=st.integers(min_value=0, max_value=10**9))
def test_amount_formatting_round_trips(cents: int) -> None:
    formatted = f"${cents // 100:,}.{cents % 100:02d}"
    assert _values(f"You owe {formatted} today.") == [("amount", str(cents))]
    assert check(f"You owe {formatted}.", Facts.empty().with_amounts(cents)).ok
    assert not check(f"You owe {formatted}.", Facts.empty().with_amounts(cents + 1)).ok


@given(balance=st.integers(min_value=15_000, max_value=2_000_000))
def test_plan_labels_are_grounded_by_their_schedule(balance: int) -> None:
    policy = load_policy()
    for option in offer_plans(policy, balance, date(2026, 4, 15)):
        facts = (
            Facts.empty()
            .with_amounts(*(i.amount_cents for i in option.schedule))
            .with_months(option.months, option.months - 1)
        )
        assert check(option.label, facts).ok, option.label
