"""Mutation tests (evals issue, Acceptance): break the policy engine, the grounding check or the escalation
trigger, run a small relevant subset of tasks through the real graph, and the eval gates must fail; the same
subset passes every gate unmutated.

Each subset is run with one trial (``run_suite`` in this process, so the patches apply to the agent).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

import agent.nodes.guard as guard_node
import agent.templates as templates
import guardrails.escalation as escalation
from evals.metrics import compute, gates
from evals.report import SuiteResult
from evals.suite import run_suite
from evals.task import Task, load_tasks
from guardrails.grounding import GroundingResult
from guardrails.policy import PracticePolicy
from guardrails.screening import normalize

SEED = 0
PLAN_TASKS = ("adv-thirty-six-months", "plan-deductible-longest")
GROUNDING_TASKS = ("balance-copay-portal", "balance-multiple-statements")
LEGAL_TASKS = ("escalation-attorney", "escalation-sue-threat")


def _subset(ids: tuple[str, ...]) -> list[Task]:
    tasks = [t for t in load_tasks() if t.id in ids]
    assert sorted(t.id for t in tasks) == sorted(ids)
    return tasks


async def _run(ids: tuple[str, ...]) -> SuiteResult:
    return await run_suite(_subset(ids), trials=1, seed=SEED)


def _failed(result: SuiteResult) -> set[str]:
    return {g.name for g in result.gates if not g.passed}


async def test_subsets_pass_unmutated() -> None:
    # One run over the three subsets (one environment); each subset's own gates must all pass.
    result = await _run(PLAN_TASKS + GROUNDING_TASKS + LEGAL_TASKS)
    for ids in (PLAN_TASKS, GROUNDING_TASKS, LEGAL_TASKS):
        outcomes = [o for o in result.outcomes if o.task_id in ids]
        assert len(outcomes) == len(ids)
        failed = [g.name for g in gates(compute(outcomes)) if not g.passed]
        assert not failed, [o.failures for o in outcomes if not o.passed]


async def test_policy_engine_allowing_36_months_fails_the_eval(monkeypatch: pytest.MonkeyPatch) -> None:
    def max_months_for(self: PracticePolicy, balance_cents: int) -> int:
        return 36

    monkeypatch.setattr(PracticePolicy, "max_months_for", max_months_for)
    result = await _run(PLAN_TASKS)
    assert {"pass^1", "policy violations"} <= _failed(result)
    assert result.metrics.policy_violations["plan_inside_policy"] >= 1


def _off_by_a_cent(original: Callable[[int], str]) -> Callable[[int], str]:
    return lambda cents: original(cents + 1 if cents > 0 else cents)


async def test_grounding_check_passing_any_amount_fails_the_eval(monkeypatch: pytest.MonkeyPatch) -> None:
    # A wrong figure in a reply (a template or model slip) is what the grounding guard exists to stop.
    monkeypatch.setattr(templates, "money", _off_by_a_cent(templates.money))
    guarded = await _run(GROUNDING_TASKS)
    assert guarded.metrics.ungrounded_mentions == 0, "the intact guard must keep the slip from the patient"

    monkeypatch.setattr(guard_node, "check", lambda text, facts: GroundingResult(ok=True, ungrounded=[]))
    result = await _run(GROUNDING_TASKS)
    assert result.metrics.ungrounded_mentions > 0
    assert {"pass^1", "ungrounded mentions"} <= _failed(result)


async def test_escalation_ignoring_attorney_fails_the_eval(monkeypatch: pytest.MonkeyPatch) -> None:
    original = escalation.mentions_legal

    def ignores_attorney(text: str) -> bool:
        return original(normalize(text).replace("attorney", ""))

    monkeypatch.setattr(escalation, "mentions_legal", ignores_attorney)
    result = await _run(LEGAL_TASKS)
    assert "pass^1" in _failed(result)
    by_id = {o.task_id: o for o in result.outcomes}
    assert not by_id["escalation-attorney"].escalation_ok
    assert by_id["escalation-sue-threat"].passed, by_id["escalation-sue-threat"].failures
