"""The scripted conversation's two time-dependent moves, through the real graph: staff hand a thread
back and the script goes on (a hand-off otherwise ends the trial), and a silence moves the agent's clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from evals.environment import Environment
from evals.task import Task, parse_task
from evals.trial import TrialClock, run_trial

HUMAN = "I want to talk to a real person at the billing office, please."


def _task(turns: list[dict[str, Any]], opening: str = HUMAN) -> Task:
    return parse_task(
        {
            "id": "runner-unit",
            "version": 1,
            "category": "repair",
            "split": "dev",
            "patient": {
                "demo": {"scenario": "copay_only", "exclude": ["spanish_speaker"], "also": ["prefers_sms"]}
            },
            "user": {"persona": "p", "goal": "g"},
            "script": {
                "opening": {"say": [opening]},
                "turns": turns,
                "answers": {"human_offer": [{"say": ["yes"]}]},
                "noise": False,
            },
            "evaluation": {},
        },
        "test",
    )


@pytest.fixture
async def env() -> AsyncIterator[Environment]:
    e = await Environment.create("local")
    try:
        yield e
    finally:
        e.close()


async def test_a_hand_off_ends_the_trial_unless_the_script_goes_on_after_a_hand_back(
    env: Environment,
) -> None:
    ended = _task([{"say": ["What is my balance?"]}])
    _, trajectory = await run_trial(env, ended, 0, 1)
    assert trajectory.stop == "transfer"
    assert [t.user_kind for t in trajectory.turns] == ["opening"]

    resumed = _task([{"say": ["What is my balance?"], "after_hand_back": True}])
    outcome, trajectory = await run_trial(env, resumed, 0, 1)
    assert trajectory.turns[0].handoff is not None
    assert outcome.escalated
    after = trajectory.turns[1]
    assert after.after_hand_back
    assert after.mode == "bot"
    assert after.messages
    assert trajectory.stop == "completed"


async def test_a_silence_moves_the_agents_clock(env: Environment) -> None:
    task = _task([{"say": ["And what was it for?"], "wait_minutes": 4320}], opening="How much do I owe?")
    start = env.clock(task)
    clock = TrialClock(start)
    fresh = await env.ledger_for(task, lambda: start)
    try:
        agent = env.build_agent(fresh, clock)
        clock.now += timedelta(minutes=4320)
        assert agent.ports.clock() == start + timedelta(days=3)
    finally:
        await fresh.close()
    _, trajectory = await run_trial(env, task, 0, 1)
    assert [t.waited_minutes for t in trajectory.turns] == [0, 4320]


async def test_fixture_ledgers_built_concurrently_are_each_built_once_and_whole(env: Environment) -> None:
    # Trials start together: every trial of every fixture task asks for its ledger at the same time.
    import asyncio

    from evals.task import load_tasks

    fixtures = [t for t in load_tasks() if t.patient.fixture is not None]
    assert len(fixtures) >= 2
    # Interleaved migrations used to break each other or hang: a bounded wait turns a hang into a failure.
    builds = asyncio.gather(*(env.template_for(t) for t in fixtures for _ in range(4)))
    paths = await asyncio.wait_for(builds, timeout=120)
    assert len(set(paths)) == len(fixtures)
    for task in fixtures:
        fresh = await env.ledger_for(task, TrialClock(env.clock(task)))
        try:
            patient = env.patient_for(task)
            assert (await fresh.platform.get_patient(patient.id)).id == patient.id
            assert await fresh.platform.list_statements(patient.id)
        finally:
            await fresh.close()
