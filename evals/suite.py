"""The suite: k trials of every selected task, concurrently on one event loop and across worker
processes when asked, then the metrics and gates over all of them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from evals.environment import Engine, Environment, PhraserFactory, UnderstanderFactory
from evals.metrics import TrialOutcome, compute, gates
from evals.report import SuiteResult
from evals.task import Task
from evals.trajectory import Trajectory
from evals.trial import run_trial, trial_seed


async def run_suite(
    tasks: Sequence[Task],
    trials: int,
    seed: int,
    engine: Engine = "local",
    category: str | None = None,
    *,
    workers: int = 1,
    concurrency: int = 4,
    understander_factory: UnderstanderFactory | None = None,
    phraser_factory: PhraserFactory | None = None,
) -> SuiteResult:
    """Run ``trials`` trials of every task (of ``category`` when given), judge them and compute metrics.

    ``understander_factory`` and ``phraser_factory`` (one process only: they are not sent to worker
    processes) build each trial's understander and phraser from its platform."""
    if trials < 1:
        raise ValueError("trials must be at least 1")
    if (understander_factory is not None or phraser_factory is not None) and workers > 1:
        raise ValueError("an understander or phraser factory runs in one process: use workers=1")
    selected = [t for t in tasks if category is None or t.category == category]
    if not selected:
        raise ValueError(f"no tasks in category {category!r}")
    started = time.perf_counter()
    env = await Environment.create(
        engine, understander_factory=understander_factory, phraser_factory=phraser_factory
    )
    try:
        for task in selected:  # fail fast on a task whose patient or fixture cannot be resolved
            env.patient_for(task)
        if workers <= 1:
            results = await _run_all(env, selected, trials, seed, concurrency)
        else:
            results = await _run_in_processes(env, selected, trials, seed, workers, concurrency)
    finally:
        env.close()
    outcomes = sorted((o for o, _ in results), key=lambda o: (o.task_id, o.trial))
    failing = sorted((t for o, t in results if not o.passed), key=lambda t: (t.task_id, t.trial))
    metrics = compute(outcomes, duration_s=time.perf_counter() - started)
    return SuiteResult(
        metrics=metrics,
        gates=gates(metrics),
        outcomes=outcomes,
        trajectories=failing,
        seed=seed,
        engine=engine,
        llm=env.llm_usage(),
    )


async def _run_all(
    env: Environment, tasks: Sequence[Task], trials: int, seed: int, concurrency: int
) -> list[tuple[TrialOutcome, Trajectory]]:
    gate = asyncio.Semaphore(concurrency)

    async def one(task: Task, trial: int) -> tuple[TrialOutcome, Trajectory]:
        async with gate:
            return await run_trial(env, task, trial, trial_seed(seed, task.id, trial))

    jobs = [one(task, trial) for task in tasks for trial in range(trials)]
    return list(await asyncio.gather(*jobs))


async def _run_in_processes(
    env: Environment, tasks: Sequence[Task], trials: int, seed: int, workers: int, concurrency: int
) -> list[tuple[TrialOutcome, Trajectory]]:
    chunks = [tasks[i::workers] for i in range(workers)]
    payloads = [
        ([t.model_dump(mode="json") for t in chunk], trials, seed, str(env.workdir), concurrency)
        for chunk in chunks
        if chunk
    ]
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        parts = await asyncio.gather(*(loop.run_in_executor(pool, _worker, p) for p in payloads))
    return [(TrialOutcome.model_validate(o), Trajectory.model_validate(t)) for part in parts for o, t in part]


def _worker(
    payload: tuple[list[dict[str, Any]], int, int, str, int],
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """A worker process: the local engine (a model's factories stay in the parent) on its share of the
    tasks, in an environment of its own over the parent's working directory."""
    raw_tasks, trials, seed, workdir, concurrency = payload
    tasks = [Task.model_validate(t) for t in raw_tasks]

    async def go() -> list[tuple[TrialOutcome, Trajectory]]:
        env = await Environment.create("local", Path(workdir))
        return await _run_all(env, tasks, trials, seed, concurrency)

    return [(o.model_dump(mode="json"), t.model_dump(mode="json")) for o, t in asyncio.run(go())]
