"""Payment-plan policy: every plan offered or accepted is inside policy and sums to the balance."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from guardrails.policy import (
    DEFAULT_POLICY_PATH,
    PlanOption,
    PracticePolicy,
    add_months,
    check_can_open_plan,
    check_plan,
    evaluate_counter,
    load_policy,
    offer_plans,
    prompt_pay_amount,
    required_down_payment,
)
from tools.errors import ActivePlanExists, ConfigurationError, PlanOutsidePolicy
from tools.platforms.models import Installment

POLICY = load_policy()
TODAY = date(2026, 1, 31)

balances = st.integers(min_value=POLICY.min_plan_balance_cents, max_value=5_000_000)
days = st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31))


def _assert_sound(option: PlanOption, balance: int, today: date) -> None:
    check_plan(POLICY, balance, option, today=today)
    assert sum(i.amount_cents for i in option.schedule) == balance
    assert option.total_cents == balance


def test_default_policy_values() -> None:
    assert POLICY.min_monthly_payment_cents == 2500
    assert [t.max_months for t in POLICY.tiers] == [6, 12, 18, 24]
    assert POLICY.max_months_for(50_000) == 6
    assert POLICY.max_months_for(50_001) == 12
    assert POLICY.max_months_for(500_001) == 24
    assert POLICY.office_hours.phone == "(555) 555-0100"
    assert POLICY.min_online_payment_cents == 50


@settings(max_examples=300)
@given(balance=balances, today=days)
def test_every_offer_is_inside_policy_and_sums_exactly(balance: int, today: date) -> None:
    options = offer_plans(POLICY, balance, today)
    assert 2 <= len(options) <= 3
    assert len({o.months for o in options}) == len(options)
    for option in options:
        _assert_sound(option, balance, today)


@settings(max_examples=300)
@given(
    balance=balances,
    today=days,
    monthly=st.none() | st.integers(min_value=1, max_value=1_000_000),
    months=st.none() | st.integers(min_value=0, max_value=60),
)
def test_accepted_counters_and_alternatives_are_inside_policy(
    balance: int, today: date, monthly: int | None, months: int | None
) -> None:
    outcome = evaluate_counter(POLICY, balance, today, monthly, months)
    if outcome.accepted is not None:
        _assert_sound(outcome.accepted, balance, today)
        if monthly is not None:
            assert outcome.accepted.installment_cents == monthly
        if months is not None:
            assert outcome.accepted.months == months
    else:
        assert outcome.reason
        assert outcome.alternatives
    for alternative in outcome.alternatives:
        _assert_sound(alternative, balance, today)


@given(balance=balances, today=days)
def test_out_of_policy_counters_are_never_accepted(balance: int, today: date) -> None:
    five_a_month = evaluate_counter(POLICY, balance, today, 500, None)
    thirty_six_months = evaluate_counter(POLICY, balance, today, None, 36)
    assert five_a_month.accepted is None
    assert thirty_six_months.accepted is None
    assert five_a_month.alternatives
    assert thirty_six_months.alternatives


def test_thirty_dollars_a_month_is_accepted_with_a_smaller_final_payment() -> None:
    # $200: $25 down, then $175 = 5 × $30 + a final $25, inside the 6-month tier
    outcome = evaluate_counter(POLICY, 20_000, TODAY, 3000, None)
    assert outcome.accepted is not None
    plan = outcome.accepted
    assert plan.down_payment_cents == 2500
    assert [i.amount_cents for i in plan.schedule] == [2500, 3000, 3000, 3000, 3000, 3000, 2500]


def test_counter_reasons_name_the_rule() -> None:
    too_long = evaluate_counter(POLICY, 120_000, TODAY, None, 36)
    assert "12 months" in too_long.reason
    assert [a.months for a in too_long.alternatives] == [12]
    too_small = evaluate_counter(POLICY, 120_000, TODAY, 500, None)
    assert "$25.00" in too_small.reason
    slow = evaluate_counter(POLICY, 120_000, TODAY, 3000, None)
    assert slow.accepted is None
    # the policy's longest term is named; no month count worked out from the patient's ask (36 here)
    assert "longest plan for this balance, 12 months" in slow.reason
    assert "36" not in slow.reason


def test_twelve_months_accepted_on_a_mid_balance() -> None:
    outcome = evaluate_counter(POLICY, 120_000, TODAY, None, 12)
    assert outcome.accepted is not None
    assert outcome.accepted.installment_cents == 9000
    assert outcome.accepted.requires_approval is False


def test_schedule_dates_clamp_to_short_months() -> None:
    option = offer_plans(POLICY, 120_000, TODAY)[0]
    dues = [i.due_date for i in option.schedule]
    assert dues[:4] == [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30)]
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2026, 11, 15), 3) == date(2027, 2, 15)


def test_large_balances_need_approval() -> None:
    assert all(o.requires_approval for o in offer_plans(POLICY, 250_001, TODAY))
    assert not any(o.requires_approval for o in offer_plans(POLICY, 250_000, TODAY))


def test_balance_below_plan_minimum_gets_no_options() -> None:
    assert offer_plans(POLICY, POLICY.min_plan_balance_cents - 1, TODAY) == []
    outcome = evaluate_counter(POLICY, 9_999, TODAY, 2500, None)
    assert outcome.accepted is None
    assert outcome.alternatives == []
    assert "paid in full" in outcome.reason


def test_down_payment_is_percent_or_minimum() -> None:
    assert required_down_payment(POLICY, 20_000) == 2500
    assert required_down_payment(POLICY, 100_001) == 10_001  # 10 %, rounded up to the cent


def _tampered(option: PlanOption, **changes: object) -> PlanOption:
    return dataclasses.replace(option, **changes)  # type: ignore[arg-type]  # test builds bad plans on purpose


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("one_cent_short", "sum"),
        ("too_many_months", "plan length"),
        ("low_installment", "minimum"),
        ("no_down_payment", "down payment"),
        ("approval_flag", "approval"),
        ("wrong_day", "day of month"),
    ],
)
def test_check_plan_rejects_broken_plans(change: str, message: str) -> None:
    option = offer_plans(POLICY, 120_000, TODAY)[0]
    schedule = list(option.schedule)
    if change == "one_cent_short":
        last = schedule[-1]
        schedule[-1] = last.model_copy(update={"amount_cents": last.amount_cents - 1})
        bad = _tampered(option, schedule=tuple(schedule))
    elif change == "too_many_months":
        bad = _tampered(option, months=36)
    elif change == "low_installment":
        bad = _tampered(option, installment_cents=2000)
    elif change == "no_down_payment":
        bad = _tampered(option, down_payment_cents=0)
    elif change == "approval_flag":
        bad = _tampered(option, requires_approval=True)
    else:
        schedule[2] = Installment(
            sequence=2, due_date=date(2026, 3, 30), amount_cents=schedule[2].amount_cents
        )
        bad = _tampered(option, schedule=tuple(schedule))
    with pytest.raises(PlanOutsidePolicy, match=message):
        check_plan(POLICY, 120_000, bad)


def test_one_active_plan_per_account() -> None:
    check_can_open_plan(POLICY, has_active_plan=False)
    with pytest.raises(ActivePlanExists):
        check_can_open_plan(POLICY, has_active_plan=True)


def test_prompt_pay_discount() -> None:
    assert prompt_pay_amount(POLICY, 10_000) == 9_500
    assert prompt_pay_amount(POLICY, 0) is None
    no_discount = POLICY.model_copy(update={"prompt_pay_discount_percent": None})
    assert prompt_pay_amount(no_discount, 10_000) is None


# --------------------------------------------------------------------------- bad policy files


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _default_data() -> dict[str, object]:
    data = yaml.safe_load(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_missing_policy_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not found"):
        load_policy(tmp_path / "nope.yaml")


def test_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("tiers: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="not valid YAML"):
        load_policy(path)


def test_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="mapping"):
        load_policy(_write(tmp_path, [1, 2, 3]))


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("min_monthly_payment_cents", "25", "min_monthly_payment_cents"),
        ("min_monthly_payment_cents", -100, "min_monthly_payment_cents"),
        ("down_payment_min_cents", -1, "down_payment_min_cents"),
        ("auto_approve_ceiling_cents", 12.5, "auto_approve_ceiling_cents"),
        ("one_active_plan_per_account", "yes", "one_active_plan_per_account"),
        ("sms_max_segments", 0, "sms_max_segments"),
        ("tiers", [{"max_balance_cents": 50000, "max_months": 6}], "tiers"),
        ("tiers", [{"max_balance_cents": None, "max_months": -3}], "tiers.0.max_months"),
        ("min_plan_balance_cents", 100, "min_plan_balance_cents"),
        # no card charge under Stripe's $0.50 minimum
        ("min_online_payment_cents", 10, "min_online_payment_cents"),
        ("surprise", 1, "surprise"),
    ],
)
def test_bad_values_name_the_field(tmp_path: Path, field: str, value: object, named: str) -> None:
    data = _default_data()
    data[field] = value
    with pytest.raises(ConfigurationError, match=named):
        load_policy(_write(tmp_path, data))


def test_bad_office_hours_name_the_field(tmp_path: Path) -> None:
    data = _default_data()
    hours = dict(data["office_hours"])  # type: ignore[call-overload]  # YAML mapping
    hours["close"] = 1020  # an unquoted 17:00 in YAML 1.1
    hours["timezone"] = "Mars/Olympus"
    data["office_hours"] = hours
    with pytest.raises(ConfigurationError, match=r"office_hours\.close") as info:
        load_policy(_write(tmp_path, data))
    assert "office_hours.timezone" in str(info.value)


def test_missing_field(tmp_path: Path) -> None:
    data = _default_data()
    del data["min_plan_balance_cents"]
    with pytest.raises(ConfigurationError, match="min_plan_balance_cents"):
        load_policy(_write(tmp_path, data))


def test_office_hours_is_open() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    ny = ZoneInfo("America/New_York")
    assert POLICY.office_hours.is_open(datetime(2026, 4, 15, 9, 0, tzinfo=ny))
    assert not POLICY.office_hours.is_open(datetime(2026, 4, 15, 17, 0, tzinfo=ny))
    assert not POLICY.office_hours.is_open(datetime(2026, 4, 18, 10, 0, tzinfo=ny))  # Saturday


def test_policy_is_frozen() -> None:
    assert isinstance(POLICY, PracticePolicy)
    with pytest.raises(ValueError, match="frozen"):
        POLICY.sms_max_segments = 9  # type: ignore[misc]  # frozen on purpose
