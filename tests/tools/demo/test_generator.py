"""The demo practice: invariants, scenario truth, coverage and determinism over many seeds and sizes."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tools.demo import DEMO_TODAY, SCENARIOS, generate_practice
from tools.demo.scenarios import DENIALS, FINANCIAL_SCENARIOS
from tools.platforms.ledger.invariants import check_line_item, check_statement
from tools.platforms.ledger.loader import PracticeData, validate
from tools.platforms.models import (
    Channel,
    Claim,
    ClaimStatus,
    Coverage,
    CoverageRank,
    GroupCode,
    InstallmentStatus,
    Language,
    Patient,
    PaymentPlan,
    PlanStatus,
    Statement,
    StatementStatus,
)

PHONE = re.compile(r"^\+1\d{3}55501\d{2}$")
EMAIL = re.compile(r"^[a-z0-9.]+@(mail\.)?example\.(com|org)$")
DEFAULT = generate_practice()


@dataclass
class View:
    patient: Patient
    coverages: list[Coverage] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    statements: list[Statement] = field(default_factory=list)
    plans: list[PaymentPlan] = field(default_factory=list)


def views(data: PracticeData) -> dict[str, View]:
    out = {p.id: View(p) for p in data.patients}
    for c in data.coverages:
        out[c.patient_id].coverages.append(c)
    for cl in data.claims:
        out[cl.patient_id].claims.append(cl)
    for s in data.statements:
        out[s.patient_id].statements.append(s)
    for p in data.plans:
        out[p.patient_id].plans.append(p)
    return out


def holds(tag: str, v: View, today: date) -> bool:
    lines = [li for s in v.statements for li in s.line_items]
    claims = {c.id: c for c in v.claims}
    resp = sum(li.patient_responsibility_cents for li in lines)
    primary = [c for c in v.coverages if c.rank is CoverageRank.PRIMARY]
    match tag:
        case "copay_only":
            return resp > 0 and all(
                li.deductible_cents == li.coinsurance_cents == li.not_covered_cents == 0 for li in lines
            )
        case "deductible_heavy":
            ded = sum(li.deductible_cents for li in lines)
            return ded > 0 and 2 * ded >= resp and primary[0].plan_type == "HDHP"
        case "coinsurance_after_deductible":
            met = primary[0].deductible_met_cents == primary[0].deductible_cents
            return met and any(li.coinsurance_cents > 0 and li.deductible_cents == 0 for li in lines)
        case "paid_in_full_by_insurance":
            return any(
                s.balance_cents == 0
                and s.total_patient_responsibility_cents == 0
                and all(li.insurance_paid_cents == li.allowed_cents > 0 for li in s.line_items)
                for s in v.statements
            )
        case "claim_pending":
            return any(
                li.insurance_pending_cents > 0
                and li.patient_responsibility_cents == 0
                and li.claim_id is not None
                and claims[li.claim_id].status in (ClaimStatus.PENDING, ClaimStatus.SUBMITTED)
                for li in lines
            )
        case "claim_denied":
            return any(
                c.status is ClaimStatus.DENIED and c.denial_codes and c.paid_cents == 0 for c in v.claims
            )
        case "partially_paid_claim":
            return any(
                c.status is ClaimStatus.PARTIALLY_PAID and c.denial_codes and c.paid_cents > 0
                for c in v.claims
            )
        case "already_paid":
            return any(
                s.balance_cents == 0
                and s.total_patient_responsibility_cents > 0
                and any(p.posted_at.date() > s.statement_date for p in s.payments)
                for s in v.statements
            )
        case "credit_balance":
            return any(s.balance_cents < 0 and s.status is StatementStatus.CREDIT for s in v.statements)
        case "active_plan":
            return any(
                p.status is PlanStatus.ACTIVE
                and any(i.status is InstallmentStatus.PAID for i in p.installments)
                and any(i.status is InstallmentStatus.SCHEDULED for i in p.installments)
                for p in v.plans
            )
        case "plan_defaulted":
            return any(
                p.status is PlanStatus.DEFAULTED
                and any(i.status is InstallmentStatus.PAID for i in p.installments)
                and any(i.status is InstallmentStatus.MISSED and i.due_date < today for i in p.installments)
                for p in v.plans
            )
        case "balance_over_5000":
            return sum(s.balance_cents for s in v.statements) > 500_000
        case "multiple_open_statements":
            return (
                sum(1 for s in v.statements if s.status is StatementStatus.OPEN and s.balance_cents > 0) >= 2
            )
        case "self_pay":
            return not v.coverages and not v.claims and all(li.claim_id is None for li in lines)
        case "secondary_pending":
            return (
                any(c.rank is CoverageRank.SECONDARY for c in v.coverages)
                and any(
                    c.coverage_rank is CoverageRank.SECONDARY and c.status is ClaimStatus.PENDING
                    for c in v.claims
                )
                and any(li.insurance_pending_cents > 0 for li in lines)
            )
        case "prefers_sms":
            p = v.patient
            return p.sms_consent and p.preferred_channel is Channel.SMS and p.phone is not None
        case "spanish_speaker":
            return v.patient.language is Language.ES
        case "no_phone":
            return v.patient.phone is None and v.patient.preferred_channel is Channel.PORTAL
    raise AssertionError(f"no rule for {tag}")


def assert_practice_sound(data: PracticeData, today: date) -> None:
    validate(data)  # the ledger's own checks: invariants, references, uniqueness, plan schedules
    for s in data.statements:
        check_statement(s)
        assert s.due_date == s.statement_date + timedelta(days=30)
        assert s.statement_date < today
        assert re.fullmatch(r"S-\d{6}", s.number)
        for li in s.line_items:
            check_line_item(li)
            assert today - timedelta(days=300) <= li.service_date <= s.statement_date
            pr = sum(a.amount_cents for a in li.adjustments if a.group_code is GroupCode.PR)
            if li.claim_id is not None:  # PR adjustments are the patient split (or its pending part)
                assert pr in (
                    li.patient_responsibility_cents,
                    li.patient_responsibility_cents + li.insurance_pending_cents,
                )
            for a in li.adjustments:
                assert a.amount_cents > 0
        for p in s.payments:
            assert p.posted_at.date() <= today
    for plan in data.plans:
        assert sum(i.amount_cents for i in plan.installments) == plan.total_cents
    for c in data.coverages:
        assert c.deductible_met_cents <= c.deductible_cents
        assert c.out_of_pocket_met_cents <= c.out_of_pocket_max_cents or c.out_of_pocket_max_cents == 0
    for v in views(data).values():
        who = v.patient
        assert who.phone is None or PHONE.match(who.phone), who.phone
        assert who.email is not None
        assert EMAIL.match(who.email), who.email
        assert who.portal_user_id == f"portal-{int(who.id.split('-')[1])}"
        assert who.date_of_birth < today
        for tag in who.scenario_tags:
            assert tag in SCENARIOS
            assert holds(tag, v, today), (tag, p.id)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(0, 90))
def test_any_seed_and_size_is_sound(seed: int, size: int) -> None:
    data = generate_practice(size, seed)
    assert len(data.patients) == size
    assert_practice_sound(data, DEMO_TODAY)


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 10_000), offset=st.integers(-400, 400))
def test_other_todays_are_sound(seed: int, offset: int) -> None:
    today = DEMO_TODAY + timedelta(days=offset)
    assert_practice_sound(generate_practice(60, seed, today), today)


def test_default_practice_is_sound_and_covers_every_scenario() -> None:
    assert_practice_sound(DEFAULT, DEMO_TODAY)
    counts = Counter(t for p in DEFAULT.patients for t in p.scenario_tags)
    assert {tag: n for tag, n in counts.items() if n < 5} == {}
    assert set(counts) == set(SCENARIOS)


def test_denials_include_the_common_reasons() -> None:
    seen = {(c.group_code.value, c.carc) for cl in DEFAULT.claims for c in cl.denial_codes}
    required = {("CO", "50"), ("CO", "16"), ("CO", "197"), ("CO", "29"), ("CO", "18"), ("PR", "204")}
    assert required <= seen
    assert required <= {(g, c) for g, c, _ in DENIALS}


@pytest.mark.parametrize("size", [1_000])
def test_scenarios_scale_with_size(size: int) -> None:
    data = generate_practice(size, seed=11)
    counts = Counter(t for p in data.patients for t in p.scenario_tags)
    for tag in FINANCIAL_SCENARIOS:
        assert counts[tag] >= size // len(FINANCIAL_SCENARIOS), tag
    assert counts["prefers_sms"] >= size // 5
    assert counts["spanish_speaker"] >= size // 10
    assert counts["no_phone"] >= size // 25


def test_same_seed_same_practice_and_other_seeds_differ() -> None:
    again = generate_practice()
    assert again == DEFAULT
    other = generate_practice(seed=8)
    assert other.patients != DEFAULT.patients
    assert [s.number for s in other.statements] != [s.number for s in DEFAULT.statements]


def test_realistic_codes_payers_and_modifiers() -> None:
    lines = [li for s in DEFAULT.statements for li in s.line_items]
    codes = {li.code for li in lines}
    assert {"G0439", "J3301", "A4550", "90471"} & codes
    assert {li.code_system for li in lines} == {"CPT", "HCPCS"}
    assert all(li.code_system == ("HCPCS" if li.code[0].isalpha() else "CPT") for li in lines)
    modifiers = {m for li in lines for m in li.modifiers}
    assert {"25", "RT", "LT", "95", "59"} <= modifiers
    payers = {c.payer_name for c in DEFAULT.coverages}
    assert {"Medicare", "Medicaid", "Aetna", "UnitedHealthcare", "Cigna", "Blue Cross Blue Shield"} <= payers
    plan_types = {c.plan_type for c in DEFAULT.coverages}
    assert {"PPO", "HMO", "HDHP", "EPO", "POS", "Medicare Part B", "Medicaid"} <= plan_types
    carcs = {(a.group_code.value, a.carc) for li in lines for a in li.adjustments}
    assert {("CO", "45"), ("PR", "1"), ("PR", "2"), ("PR", "3")} <= carcs
    ids = defaultdict(set)
    for p in DEFAULT.patients:
        ids["portal"].add(p.portal_user_id)
    assert len(ids["portal"]) == len(DEFAULT.patients)


def test_negative_size_is_refused() -> None:
    with pytest.raises(ValueError, match="patients"):
        generate_practice(-1)


async def test_bulk_load_reads_back_equal_balances(tmp_path: Path) -> None:
    from tools.db import create_engine
    from tools.platforms.ledger.loader import bulk_load
    from tools.platforms.ledger.platform import LedgerPlatform
    from tools.platforms.ledger.schema import migrate

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    await migrate(url)
    engine = create_engine(url)
    try:
        await bulk_load(engine, DEFAULT)
        platform = LedgerPlatform(engine)
        expected: dict[str, int] = defaultdict(int)
        for s in DEFAULT.statements:
            expected[s.patient_id] += s.balance_cents
        for p in DEFAULT.patients[:60]:
            summary = await platform.get_account_summary(p.id)
            assert summary.balance_cents == expected[p.id], p.scenario_tags
            for s in (x for x in DEFAULT.statements if x.patient_id == p.id):
                assert await platform.get_statement(p.id, s.id) == s
        found = await platform.find_patient_by_portal_identity("portal-1")
        assert found == DEFAULT.patients[0]
    finally:
        await engine.dispose()
