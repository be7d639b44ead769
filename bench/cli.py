"""``billing-agent bench``: options, the run, the printed figures (and ``--json``).

``api/cli.py`` hands the command's arguments over untouched (``bench`` is imported only when the command
runs: nothing in the product imports it)."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

from tools.errors import BillingError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="billing-agent bench",
        description="Measure the agent against the bare LangGraph floor (in process and over HTTP).",
    )
    p.add_argument(
        "--mode",
        choices=["standard", "growth", "idle"],
        default="standard",
        help="standard: floor, in-process, HTTP; growth: one thread, 200 turns; idle: 10,000 idle threads",
    )
    p.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite", help="default sqlite")
    p.add_argument(
        "--workers", type=int, default=1, help="API processes of the HTTP side (default 1; more: postgres)"
    )
    p.add_argument("--turns", type=int, help="turns per side (default 140; growth 200; idle 40)")
    p.add_argument("--concurrency", type=int, default=50, help="concurrent HTTP conversations (default 50)")
    p.add_argument("--rounds", type=int, default=4, help="interleaved rounds (default 4)")
    p.add_argument("--patients", type=int, default=200, help="demo patients seeded (default 200)")
    p.add_argument("--idle-threads", type=int, default=10_000, help="idle mode's threads (default 10,000)")
    p.add_argument("--no-http", action="store_true", help="skip the HTTP side (e.g. under a profiler)")
    p.add_argument(
        "--paced-load",
        type=float,
        default=0.7,
        help="the paced HTTP side offers random arrivals at this share of the closed loop's turns/s "
        "(default 0.7; 0: no paced side)",
    )
    p.add_argument("--json", metavar="PATH", help="also write every figure to PATH as JSON")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bench; a bad option raises ``BillingError`` (the CLI prints it and exits 2)."""
    args = parser().parse_args(argv)
    if args.turns is not None and args.turns < 1:
        raise BillingError("--turns must be at least 1")
    if args.workers < 1 or args.concurrency < 1 or args.rounds < 1 or args.patients < 1:
        raise BillingError("--workers, --concurrency, --rounds and --patients must be at least 1")
    if args.idle_threads < 1:
        raise BillingError("--idle-threads must be at least 1")
    if args.workers > 1 and args.backend != "postgres":
        raise BillingError("--workers above 1 needs --backend postgres (on SQLite one process serves)")
    if not 0 <= args.paced_load < 1:
        raise BillingError("--paced-load is a share of capacity: at least 0 and below 1")

    from bench.report import render  # the agent and the service are imported once the options are good
    from bench.run import Options, run

    options = Options(
        mode=args.mode,
        backend=args.backend,
        workers=args.workers,
        turns=args.turns,
        concurrency=args.concurrency,
        rounds=args.rounds,
        patients=args.patients,
        idle_threads=args.idle_threads,
        http=not args.no_http,
        paced_load=args.paced_load,
    )
    figures = asyncio.run(run(options))
    print(render(figures))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
        print(f"figures written to {args.json}")
    return 0
