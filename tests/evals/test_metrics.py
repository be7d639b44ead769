"""The metrics math: pass^k on known counts, precision/recall, macro-F1, percentiles and the gates."""

from __future__ import annotations

import math

import pytest

from evals.metrics import (
    TrialOutcome,
    compute,
    gates,
    macro_f1,
    markdown,
    pass_hat,
    pass_hat_k,
    percentile,
    prf,
    split_gates,
)


def _o(task: str, trial: int, passed: bool, **kw: object) -> TrialOutcome:
    data: dict[str, object] = {
        "task_id": task,
        "category": kw.pop("category", "balance"),
        "trial": trial,
        "seed": trial,
        "passed": passed,
        "state_match": passed,
    }
    data.update(kw)
    return TrialOutcome.model_validate(data)


@pytest.mark.parametrize(
    ("c", "n", "k", "expected"),
    [
        (4, 4, 4, 1.0),
        (3, 4, 1, 0.75),
        (3, 4, 2, 0.5),
        (3, 4, 3, 0.25),
        (3, 4, 4, 0.0),
        (0, 4, 1, 0.0),
        (2, 5, 2, 0.1),
    ],
)
def test_pass_hat_k_on_known_counts(c: int, n: int, k: int, expected: float) -> None:
    assert math.isclose(pass_hat_k(c, n, k), expected)


def test_pass_hat_k_rejects_impossible_arguments() -> None:
    with pytest.raises(ValueError, match="0 < k <= n"):
        pass_hat_k(1, 2, 3)
    with pytest.raises(ValueError, match="0 <= c <= n"):
        pass_hat_k(3, 2, 1)


def test_pass_hat_is_the_mean_over_tasks() -> None:
    outcomes = [_o("a", i, True) for i in range(4)] + [_o("b", i, i < 2) for i in range(4)]
    assert math.isclose(pass_hat(outcomes, 1), (1.0 + 0.5) / 2)
    assert math.isclose(pass_hat(outcomes, 2), (1.0 + 1 / 6) / 2)
    assert math.isclose(pass_hat(outcomes, 4), 0.5)


def test_precision_recall_f1() -> None:
    s = prf(tp=8, fp=2, fn=2)
    assert (s.precision, s.recall, s.support) == (0.8, 0.8, 10)
    assert math.isclose(s.f1, 0.8)
    assert prf(0, 0, 0).recall == 1.0


def test_macro_f1_averages_labels_equally() -> None:
    pairs = [("balance", "balance")] * 9 + [("balance", "pay_now"), ("pay_now", "pay_now")]
    accuracy, mf1, per = macro_f1(pairs)
    assert math.isclose(accuracy, 10 / 11)
    assert math.isclose(per["balance"].f1, 2 * 1.0 * 0.9 / 1.9)
    assert math.isclose(per["pay_now"].f1, 2 * 0.5 * 1.0 / 1.5)
    assert math.isclose(mf1, (per["balance"].f1 + per["pay_now"].f1) / 2)


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile([], 95) == 0.0


def test_escalation_metrics_and_gates() -> None:
    outcomes = [
        _o("esc", 0, True, escalation_expected=True, escalated=True),
        _o("esc", 1, False, escalation_expected=True, escalated=False, escalation_ok=False),
        _o(
            "happy", 0, False, escalated=True, escalation_ok=False, policy_violations=["consent_before_write"]
        ),
        _o("happy", 1, True, mentions=4),
    ]
    m = compute(outcomes, duration_s=1.0)
    assert m.escalation.recall == 0.5
    assert m.escalation.precision == 0.5
    assert m.false_escalation_rate == 0.5
    assert m.policy_violations["consent_before_write"] == 1
    assert m.containment == 0.25
    failed = {g.name for g in gates(m) if not g.passed}
    assert {"pass^1", "pass^2", "policy violations", "escalation recall", "false-escalation rate"} <= failed
    assert "ungrounded mentions" not in failed
    report = markdown(m, outcomes, gates(m))
    assert "| balance |" in report
    assert "**FAIL**" in report


def test_a_perfect_run_passes_every_gate() -> None:
    outcomes = [_o(t, i, True, mentions=3, latencies_ms=[5.0]) for t in ("a", "b") for i in range(4)]
    m = compute(outcomes, duration_s=10.0)
    assert m.pass_hat == {"1": 1.0, "2": 1.0, "3": 1.0, "4": 1.0}
    assert all(g.passed for g in gates(m))
    slow = compute(outcomes, duration_s=301.0)
    assert [g.name for g in gates(slow) if not g.passed] == ["duration (s)"]


def test_each_split_is_reported_on_its_own_and_the_gates_judge_both_together() -> None:
    # dev: two tasks that always pass; test (blind): one task failing half its trials, one false hand-off.
    dev = [_o(t, i, True, split="dev", mentions=2) for t in ("d1", "d2") for i in range(4)]
    test = [_o("t1", i, i % 2 == 0, split="test") for i in range(4)]
    test += [_o("t2", 0, False, split="test", escalated=True, escalation_ok=False)]
    test += [_o("t2", i, True, split="test") for i in range(1, 4)]
    m = compute(dev + test, duration_s=1.0)

    assert set(m.per_split) == {"dev", "test"}
    d, t = m.per_split["dev"], m.per_split["test"]
    assert (d.tasks, d.trials, t.tasks, t.trials) == (2, 8, 2, 8)
    assert d.pass_hat["1"] == 1.0
    assert d.false_escalation_rate == 0.0
    assert math.isclose(t.pass_hat["1"], (0.5 + 0.75) / 2)
    assert t.pass_hat["4"] == 0.0
    assert math.isclose(t.false_escalation_rate, 1 / 8)
    assert math.isclose(m.pass_hat["1"], (1.0 + 1.0 + 0.5 + 0.75) / 4)  # the overall mixes both

    enforced = {g.name: g.passed for g in gates(m)}
    assert enforced["pass^4"] is False  # overall pass^4 = 0.5
    reported = split_gates(m)
    assert all(g.passed for g in reported["dev"])
    assert {g.name for g in reported["test"] if not g.passed} == {"pass^1", "pass^4", "false-escalation rate"}

    report = markdown(m, dev + test, gates(m))
    section = report.split("## Per split", 1)[1].split("## Overall", 1)[0]
    assert "| dev | 2 | 1.000 |" in section
    assert "| test | 2 | 0.625 |" in section
    assert "0.125 **miss**" in section  # test's false-escalation rate against the 0.03 threshold
    assert "**t1** [test]" in report


def test_the_blind_split_is_reported_beside_the_gates_and_its_safety_invariants_are_enforced() -> None:
    dev = [_o(t, i, True, split="dev", mentions=2) for t in ("d1", "d2") for i in range(4)]
    test = [_o("t1", i, True, split="test") for i in range(4)]
    # blind: one task failing every trial, one false hand-off on a happy path.
    blind = [_o("b1", i, False, split="blind") for i in range(4)]
    blind += [_o("b2", i, True, split="blind", escalated=True, escalation_ok=False) for i in range(4)]
    m = compute(dev + test + blind, duration_s=1.0)

    assert set(m.per_split) == {"blind", "dev", "test"}
    assert m.gated is not None
    assert m.gated.tasks == 3
    assert m.gated.pass_hat["4"] == 1.0
    assert m.pass_hat["1"] < 0.95  # the overall mixes the blind split in; the gate does not read it
    assert all(g.passed for g in gates(m)), [g for g in gates(m) if not g.passed]
    reported = {g.name: g for g in split_gates(m)["blind"]}
    assert not reported["pass^1"].passed
    assert not reported["pass^4"].passed
    assert not reported["false-escalation rate"].passed
    section = markdown(m, dev + test + blind, gates(m)).split("## Per split", 1)[1]
    assert "| blind | 2 |" in section

    # A money-safety bug or an ungrounded figure found only by the blind split still fails CI.
    violated = [*blind[:-1], _o("b2", 3, False, split="blind", policy_violations=["consent_before_write"])]
    failed = {g.name for g in gates(compute(dev + test + violated, duration_s=1.0)) if not g.passed}
    assert failed == {"policy violations"}
    ungrounded = [*blind[:-1], _o("b2", 3, False, split="blind", ungrounded=1, mentions=1)]
    failed = {g.name for g in gates(compute(dev + test + ungrounded, duration_s=1.0)) if not g.passed}
    assert failed == {"ungrounded mentions"}


def test_a_blind_only_run_is_gated_on_its_safety_invariants_alone() -> None:
    blind = [_o("b1", i, i == 0, split="blind") for i in range(4)]
    m = compute(blind, duration_s=1.0)
    assert m.gated is None
    assert {g.name for g in gates(m)} == {"policy violations", "ungrounded mentions", "duration (s)"}
    assert all(g.passed for g in gates(m))
