"""The practice's payment-plan policy and the pure functions that apply it.

Everything here is deterministic: which plan terms are allowed is decided by code, never by a model.

Shape of every plan this module builds or accepts (``check_plan`` enforces exactly this):

* ``down_payment_cents`` is at least ``required_down_payment(policy, balance)`` (the larger of
  ``down_payment_percent`` of the balance, rounded up to the cent, and ``down_payment_min_cents``). When it is
  greater than zero it is installment ``sequence=0``, due on ``start_date`` (today).
* Then ``months`` monthly installments, sequences ``1..months``, due on the start date's day of month,
  ``k`` months later, clamped to the end of shorter months (Jan 31 → Feb 28/29 → Mar 31).
* Installments ``1..months-1`` are exactly ``installment_cents`` (≥ ``min_monthly_payment_cents``). The
  **final installment absorbs the remainder**: it is ``financed − (months−1) × installment_cents``, greater
  than zero and never more than ``installment_cents`` — so it is the only one allowed to fall below the
  policy minimum. A patient who asks for "$30 a month" therefore pays exactly $30.00 every month and a
  smaller last payment.
* The schedule sums to the balance to the cent; ``months`` is within ``[min_months, tier max]``;
  ``requires_approval`` is true exactly when the balance exceeds ``auto_approve_ceiling_cents``.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from guardrails.hours import HourMinute
from guardrails.outreach_policy import OutreachPolicy
from tools.errors import ActivePlanExists, ConfigurationError, PlanOutsidePolicy
from tools.platforms.models import Installment
from tools.yamlfile import load_yaml

DEFAULT_POLICY_PATH = Path(__file__).parent / "data" / "default_policy.yaml"

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Tier(_Strict):
    """Balances up to ``max_balance_cents`` (``None``: no upper bound) may be spread over ``max_months``."""

    max_balance_cents: int | None = Field(default=None, gt=0)
    max_months: int = Field(gt=0, le=120)


class OfficeHours(_Strict):
    timezone: str
    days: list[Weekday] = Field(min_length=1)
    open: HourMinute
    close: HourMinute
    phone: str = Field(min_length=3)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _open_before_close(self) -> OfficeHours:
        if self.open >= self.close:
            raise ValueError("open must be before close")
        return self

    def is_open(self, at: datetime) -> bool:
        """Whether the office is staffed at the aware instant ``at``."""
        if at.tzinfo is None:
            raise ValueError("at must be timezone-aware")
        local = at.astimezone(ZoneInfo(self.timezone))
        return _WEEKDAYS[local.weekday()] in self.days and self.open <= local.time() < self.close


class PracticePolicy(_Strict):
    """The payment-plan policy of one practice; see ``guardrails/data/default_policy.yaml``."""

    min_monthly_payment_cents: int = Field(gt=0)
    min_months: int = Field(default=2, ge=1)
    tiers: list[Tier] = Field(min_length=1)
    down_payment_percent: int = Field(ge=0, le=90)
    down_payment_min_cents: int = Field(ge=0)
    auto_approve_ceiling_cents: int = Field(ge=0)
    one_active_plan_per_account: bool
    prompt_pay_discount_percent: int | None = Field(default=None, ge=0, le=50)
    min_plan_balance_cents: int = Field(gt=0)
    # The smallest part of a balance a payment link is made for; Stripe takes no card charge under $0.50.
    min_online_payment_cents: int = Field(default=50, ge=50)
    office_hours: OfficeHours
    sms_max_segments: int = Field(ge=1, le=10)
    outreach: OutreachPolicy | None = None  # None: the agent never speaks first

    @model_validator(mode="after")
    def _coherent(self) -> PracticePolicy:
        bounds = [t.max_balance_cents for t in self.tiers]
        if bounds[-1] is not None:
            raise ValueError("tiers: the last tier must have max_balance_cents: null (no upper bound)")
        if any(b is None for b in bounds[:-1]):
            raise ValueError("tiers: only the last tier may have max_balance_cents: null")
        finite = [b for b in bounds if b is not None]
        if finite != sorted(set(finite)):
            raise ValueError("tiers: max_balance_cents must be strictly increasing")
        months = [t.max_months for t in self.tiers]
        if months != sorted(months):
            raise ValueError("tiers: max_months must not decrease as balances grow")
        if months[0] <= self.min_months:
            raise ValueError("tiers: every max_months must exceed min_months, so two plans can be offered")
        if len(_feasible_months(self, self.min_plan_balance_cents)) < 2:
            raise ValueError(
                "min_plan_balance_cents: a balance that small cannot be split into two plans inside "
                "min_monthly_payment_cents, down payment and tiers"
            )
        return self

    def max_months_for(self, balance_cents: int) -> int:
        for tier in self.tiers:
            if tier.max_balance_cents is None or balance_cents <= tier.max_balance_cents:
                return tier.max_months
        raise AssertionError("validated: the last tier is unbounded")  # pragma: no cover


@dataclass(frozen=True)
class PlanOption:
    """One set of plan terms.

    ``schedule`` holds the down payment (sequence 0, when > 0) and the installments.
    """

    total_cents: int
    down_payment_cents: int
    months: int
    installment_cents: int
    schedule: tuple[Installment, ...]
    requires_approval: bool
    label: str
    start_date: date

    @property
    def final_installment_cents(self) -> int:
        return self.schedule[-1].amount_cents

    @property
    def first_installment_due(self) -> date:
        return next(i.due_date for i in self.schedule if i.sequence == 1)


@dataclass(frozen=True)
class CounterOutcome:
    accepted: PlanOption | None
    alternatives: list[PlanOption] = field(default_factory=list)
    reason: str = ""


# --------------------------------------------------------------------------- loading


def policy_from_mapping(data: Mapping[str, Any], *, source: str = "policy") -> PracticePolicy:
    """Validate a parsed policy document; errors name the offending field."""
    try:
        return PracticePolicy.model_validate(dict(data))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigurationError(f"invalid payment-plan policy in {source}: {problems}") from exc


def load_policy(path: Path | None = None) -> PracticePolicy:
    """Read the policy YAML (default: the shipped ``default_policy.yaml``).

    Raises ``ConfigurationError`` naming the file and field for a missing file, invalid YAML, a
    non-mapping document, wrong types, negative or incoherent values.
    """
    path = path or DEFAULT_POLICY_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigurationError(f"payment-plan policy file not found: {path}") from exc
    except OSError as exc:
        raise ConfigurationError(f"cannot read payment-plan policy file {path}: {exc.strerror}") from exc
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"payment-plan policy file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigurationError(f"payment-plan policy file {path} must be a mapping of fields")
    return policy_from_mapping(data, source=str(path))


@lru_cache(maxsize=1)
def default_policy() -> PracticePolicy:
    """The shipped policy, loaded once."""
    return load_policy(DEFAULT_POLICY_PATH)


# --------------------------------------------------------------------------- arithmetic


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def add_months(start: date, months: int) -> date:
    """``start`` moved ``months`` later on the same day of month, clamped to the month's last day."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def required_down_payment(policy: PracticePolicy, balance_cents: int) -> int:
    """The least down payment due today: max(percent of the balance rounded up, the minimum)."""
    if policy.down_payment_percent == 0 and policy.down_payment_min_cents == 0:
        return 0
    by_percent = _ceil_div(balance_cents * policy.down_payment_percent, 100)
    return max(by_percent, policy.down_payment_min_cents)


def _fmt(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"


def _final(financed: int, months: int, installment: int) -> int:
    return financed - (months - 1) * installment


def _valid_terms(policy: PracticePolicy, financed: int, months: int, installment: int, max_m: int) -> bool:
    if not policy.min_months <= months <= max_m or installment < policy.min_monthly_payment_cents:
        return False
    return 0 < _final(financed, months, installment) <= installment


def _feasible_months(policy: PracticePolicy, balance_cents: int) -> list[int]:
    """Month counts whose even split (rounded up) is a valid plan for this balance."""
    financed = balance_cents - required_down_payment(policy, balance_cents)
    max_m = policy.max_months_for(balance_cents)
    if financed <= 0:
        return []
    return [
        m
        for m in range(policy.min_months, max_m + 1)
        if _valid_terms(policy, financed, m, _ceil_div(financed, m), max_m)
    ]


def _payments(count: int, amount_cents: int) -> str:
    return f"{count} monthly {'payment' if count == 1 else 'payments'} of {_fmt(amount_cents)}"


def plan_label(down_cents: int, months: int, installment_cents: int, final_cents: int) -> str:
    """The plain-English terms of a plan: "$25.00 today, then 1 monthly payment of $71.99 and a final
    payment of $71.98" (singular and plural as the counts need)."""
    label = _payments(months, installment_cents)
    if final_cents != installment_cents:
        label = f"{_payments(months - 1, installment_cents)} and a final payment of {_fmt(final_cents)}"
    if down_cents > 0:
        label = f"{_fmt(down_cents)} today, then {label}"
    return label


def _build(
    policy: PracticePolicy, balance_cents: int, today: date, months: int, installment: int
) -> PlanOption | None:
    down = required_down_payment(policy, balance_cents)
    financed = balance_cents - down
    if financed <= 0 or not _valid_terms(
        policy, financed, months, installment, policy.max_months_for(balance_cents)
    ):
        return None
    final = _final(financed, months, installment)
    schedule: list[Installment] = []
    if down > 0:
        schedule.append(Installment(sequence=0, due_date=today, amount_cents=down))
    schedule.extend(
        Installment(
            sequence=k, due_date=add_months(today, k), amount_cents=installment if k < months else final
        )
        for k in range(1, months + 1)
    )
    label = plan_label(down, months, installment, final)
    return PlanOption(
        total_cents=balance_cents,
        down_payment_cents=down,
        months=months,
        installment_cents=installment,
        schedule=tuple(schedule),
        requires_approval=balance_cents > policy.auto_approve_ceiling_cents,
        label=label,
        start_date=today,
    )


def plan_for_months(
    policy: PracticePolicy, balance_cents: int, today: date, months: int
) -> PlanOption | None:
    """The plan of ``months`` even installments (rounded up, smaller final one), or None if outside policy."""
    financed = balance_cents - required_down_payment(policy, balance_cents)
    if balance_cents < policy.min_plan_balance_cents or financed <= 0 or months <= 0:
        return None
    return _build(policy, balance_cents, today, months, _ceil_div(financed, months))


def plan_for_monthly(
    policy: PracticePolicy, balance_cents: int, today: date, monthly_cents: int
) -> PlanOption | None:
    """The plan paying exactly ``monthly_cents`` a month (smaller final one), or None if outside policy."""
    financed = balance_cents - required_down_payment(policy, balance_cents)
    if balance_cents < policy.min_plan_balance_cents or financed <= 0 or monthly_cents <= 0:
        return None
    return _build(policy, balance_cents, today, _ceil_div(financed, monthly_cents), monthly_cents)


# --------------------------------------------------------------------------- public API


def offer_plans(policy: PracticePolicy, balance_cents: int, today: date) -> list[PlanOption]:
    """Two or three distinct in-policy plans, shortest first; ``[]`` below ``min_plan_balance_cents``.

    The longest allowed plan (lowest monthly payment), about half of it, and about a quarter of it.
    """
    if balance_cents < policy.min_plan_balance_cents:
        return []
    feasible = _feasible_months(policy, balance_cents)
    if not feasible:
        return []
    longest = feasible[-1]
    wanted = {longest, _ceil_div(longest, 2), _ceil_div(longest, 4)}
    chosen = sorted({min(feasible, key=lambda m: (abs(m - w), m)) for w in wanted})
    if len(chosen) < 2:
        chosen = sorted({feasible[0], longest})
    options = [plan_for_months(policy, balance_cents, today, m) for m in chosen]
    return [o for o in options if o is not None]


def _nearest(options: list[PlanOption | None], limit: int = 2) -> list[PlanOption]:
    seen: set[int] = set()
    out: list[PlanOption] = []
    for option in options:
        if option is not None and option.months not in seen:
            seen.add(option.months)
            out.append(option)
    return out[:limit]


def evaluate_counter(
    policy: PracticePolicy,
    balance_cents: int,
    today: date,
    monthly_cents: int | None,
    months: int | None,
) -> CounterOutcome:
    """Judge a patient's proposal ("can I do $30 a month?", "12 months?").

    Accepted when inside policy; otherwise ``alternatives`` are the nearest allowed terms (at most two,
    nearest first) and ``reason`` says in plain words why the proposal does not fit.
    """
    if balance_cents < policy.min_plan_balance_cents:
        return CounterOutcome(
            None,
            [],
            f"balances under {_fmt(policy.min_plan_balance_cents)} are paid in full rather than over a plan",
        )
    feasible = _feasible_months(policy, balance_cents)
    if not feasible:
        return CounterOutcome(None, [], "this balance cannot be split into monthly payments inside policy")
    max_m = feasible[-1]
    longest = plan_for_months(policy, balance_cents, today, max_m)
    shortest = plan_for_months(policy, balance_cents, today, feasible[0])
    minimum = _fmt(policy.min_monthly_payment_cents)

    if monthly_cents is None and months is None:
        return CounterOutcome(None, offer_plans(policy, balance_cents, today), "no terms were proposed")

    by_monthly = (
        plan_for_monthly(policy, balance_cents, today, monthly_cents) if monthly_cents is not None else None
    )
    by_months = plan_for_months(policy, balance_cents, today, months) if months is not None else None

    if monthly_cents is not None and months is not None:
        if by_monthly is not None and by_monthly.months == months:
            return CounterOutcome(by_monthly, [], "inside policy")
        reason = f"{_fmt(monthly_cents)} a month for {months} months does not match the balance"
        fallback = _nearest([by_months, by_monthly])
        if not fallback:
            fallback = _nearest([longest, shortest])
        return CounterOutcome(None, fallback, reason)

    if monthly_cents is not None:
        if by_monthly is not None:
            return CounterOutcome(by_monthly, [], "inside policy")
        if monthly_cents < policy.min_monthly_payment_cents:
            at_min = plan_for_monthly(policy, balance_cents, today, policy.min_monthly_payment_cents)
            return CounterOutcome(
                None, _nearest([at_min, longest]), f"the smallest monthly payment we can set up is {minimum}"
            )
        financed = balance_cents - required_down_payment(policy, balance_cents)
        if _ceil_div(financed, monthly_cents) > max_m:
            # The reason names no month count worked out from the ask: only the policy's figures are said.
            return CounterOutcome(
                None,
                _nearest([longest]),
                f"at {_fmt(monthly_cents)} a month it would take longer than the longest plan for this "
                f"balance, {max_m} months",
            )
        return CounterOutcome(
            None,
            _nearest([shortest]),
            f"{_fmt(monthly_cents)} a month would pay this balance off in fewer than "
            f"{policy.min_months} monthly payments; the shortest plan is {feasible[0]} months",
        )

    assert months is not None
    if by_months is not None:
        return CounterOutcome(by_months, [], "inside policy")
    if months > max_m:
        return CounterOutcome(
            None, _nearest([longest]), f"the longest plan for this balance is {max_m} months"
        )
    if months < policy.min_months:
        return CounterOutcome(
            None, _nearest([shortest]), f"a plan has at least {policy.min_months} monthly payments"
        )
    return CounterOutcome(
        None,
        _nearest([longest, shortest]),
        f"{months} months would make the monthly payment less than the {minimum} minimum",
    )


def check_plan(
    policy: PracticePolicy, balance_cents: int, option: PlanOption, *, today: date | None = None
) -> None:
    """Raise ``PlanOutsidePolicy`` (with the rule broken) unless ``option`` has the shape in the module doc.

    ``today``, when given, must be the plan's ``start_date``.
    """

    def fail(detail: str) -> None:
        raise PlanOutsidePolicy(detail)

    if balance_cents < policy.min_plan_balance_cents:
        fail(f"balances under {_fmt(policy.min_plan_balance_cents)} are paid in full")
    if option.total_cents != balance_cents:
        fail("plan total differs from the balance")
    if today is not None and option.start_date != today:
        fail("plan does not start today")
    down = option.down_payment_cents
    if down < required_down_payment(policy, balance_cents) or down >= balance_cents:
        fail("down payment outside policy")
    max_m = policy.max_months_for(balance_cents)
    if not policy.min_months <= option.months <= max_m:
        fail(f"plan length must be {policy.min_months} to {max_m} months for this balance")
    if option.installment_cents < policy.min_monthly_payment_cents:
        fail(f"monthly payment below the {_fmt(policy.min_monthly_payment_cents)} minimum")
    if option.requires_approval != (balance_cents > policy.auto_approve_ceiling_cents):
        fail("approval flag does not match the auto-approve ceiling")
    if sum(i.amount_cents for i in option.schedule) != balance_cents:
        fail("schedule does not sum to the balance")
    expected_sequences = ([0] if down > 0 else []) + list(range(1, option.months + 1))
    if [i.sequence for i in option.schedule] != expected_sequences:
        fail("schedule sequences are not 0 (down payment), 1..months")
    for inst in option.schedule:
        if inst.sequence == 0:
            if inst.amount_cents != down or inst.due_date != option.start_date:
                fail("down payment entry does not match the plan")
            continue
        if inst.due_date != add_months(option.start_date, inst.sequence):
            fail(f"installment {inst.sequence} is not due on the plan's day of month")
        if inst.sequence < option.months and inst.amount_cents != option.installment_cents:
            fail(f"installment {inst.sequence} differs from the monthly amount")
        if inst.sequence == option.months and not 0 < inst.amount_cents <= option.installment_cents:
            fail("final installment must be positive and not more than the monthly amount")


def check_can_open_plan(policy: PracticePolicy, *, has_active_plan: bool) -> None:
    """Raise ``ActivePlanExists`` when the policy allows one active plan per account and there is one."""
    if policy.one_active_plan_per_account and has_active_plan:
        raise ActivePlanExists("this account already has an active payment plan")


def prompt_pay_amount(policy: PracticePolicy, balance_cents: int) -> int | None:
    """What the balance costs if paid in full today with the prompt-pay discount (the discount is rounded
    down to the cent), or ``None`` when the policy has no discount or nothing is owed."""
    percent = policy.prompt_pay_discount_percent
    if not percent or balance_cents <= 0:
        return None
    return balance_cents - balance_cents * percent // 100
