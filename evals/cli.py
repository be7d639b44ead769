"""``billing-agent eval``: options, the run, the report; exits 1 when a gate fails.

``api/cli.py`` hands the command's arguments over untouched and, when a model is configured, the
factories of its understander and phraser (built from the settings there: evals never read settings).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from evals.environment import PhraserFactory, UnderstanderFactory
from evals.task import DEFAULT_TASKS_DIR, SPLITS, load_tasks


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="billing-agent eval", description="Run the eval suite and check its gates."
    )
    p.add_argument("--tasks", type=Path, default=DEFAULT_TASKS_DIR, help="directory of task YAML files")
    p.add_argument("--trials", type=int, default=4, help="trials per task (k of pass^k)")
    p.add_argument("--seed", type=int, default=0, help="seed of the user-side variation")
    p.add_argument("--engine", choices=["local", "llm"], default="local")
    p.add_argument("--json", type=Path, help="write the full results as JSON here")
    p.add_argument("--report", type=Path, help="write the Markdown report here (default: stdout)")
    p.add_argument("--category", help="run one category only")
    p.add_argument(
        "--split", choices=list(SPLITS), action="append", help="run this split only (repeat for several)"
    )
    p.add_argument("--workers", type=int, default=1, help="processes (tasks are split among them)")
    return p


def main(
    argv: Sequence[str] | None = None,
    understander_factory: UnderstanderFactory | None = None,
    phraser_factory: PhraserFactory | None = None,
) -> int:
    """``understander_factory`` and ``phraser_factory`` serve ``--engine llm``, which then runs in one
    process."""
    from evals import report
    from evals.suite import run_suite  # the agent is imported only once the options are known

    args = parser().parse_args(argv)
    tasks = load_tasks(args.tasks)
    if args.split:
        tasks = [t for t in tasks if t.split in args.split]
    llm = args.engine == "llm"
    if llm and understander_factory is None:
        print("--engine llm needs BILLING_LLM_BASE_URL and BILLING_LLM_MODEL", file=sys.stderr)
        return 2
    result = asyncio.run(
        run_suite(
            tasks,
            args.trials,
            args.seed,
            engine=args.engine,
            category=args.category,
            workers=1 if llm else args.workers,
            understander_factory=understander_factory if llm else None,
            phraser_factory=phraser_factory if llm else None,
        )
    )
    print(report.write(result, report=args.report, json_path=args.json))
    if result.failed_gates:
        print(f"eval gates failed: {', '.join(result.failed_gates)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
