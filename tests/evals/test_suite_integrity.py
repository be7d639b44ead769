"""Held-out discipline and an end-to-end run of a small subset through the real graph."""

from __future__ import annotations

from agent.understanding.local import training_utterances
from agent.understanding.text import normalize
from evals.run import run_suite
from evals.task import load_tasks


def _user_lines() -> list[str]:
    lines: list[str] = []
    for task in load_tasks():
        s = task.script
        lines += s.opening.say
        lines += [line for turn in s.turns for line in turn.say]
        lines += [line for answers in s.answers.values() for a in answers for line in a.say]
    return lines


def test_suite_user_lines_are_disjoint_from_training_utterances() -> None:
    trained = training_utterances()
    overlap = sorted({line for line in _user_lines() if normalize(line) in trained})
    # Short answers to a question ("yes", "option 2") are replies, not utterances the suite tests the
    # classifier on; everything longer than two words must be unseen.
    overlap = [line for line in overlap if len(line.split()) > 2]
    assert not overlap, f"eval lines copied from the training data: {overlap}"


async def test_a_subset_runs_end_to_end_through_the_real_graph() -> None:
    wanted = {"balance-copay-portal", "dispute-already-paid-posted", "plan-deductible-longest"}
    tasks = [t for t in load_tasks() if t.id in wanted]
    assert len(tasks) == 3
    result = await run_suite(tasks, trials=1, seed=3)
    by_id = {o.task_id: o for o in result.outcomes}
    assert by_id["balance-copay-portal"].passed, by_id["balance-copay-portal"].failures
    assert by_id["dispute-already-paid-posted"].escalated
    assert by_id["plan-deductible-longest"].state_match, by_id["plan-deductible-longest"].failures
    assert result.metrics.policy_violations_total == 0
    assert result.metrics.ungrounded_mentions == 0
