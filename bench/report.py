"""Renders bench figures as the plain-text table the command prints."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

SIDES = (("floor", "floor"), ("inprocess", "in-process"), ("http", "HTTP"), ("http_paced", "HTTP paced"))


def _n(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def _q(q: dict[str, float]) -> str:
    return f"{_n(q['p50'])} / {_n(q['p95'])} / {_n(q['p99'])}"


def render(figures: dict[str, Any]) -> str:
    head = (
        f"bench {figures['mode']}: backend {figures['backend']}, workers {figures['workers']}, "
        f"{figures['machine']['cpus']} CPUs, {figures['elapsed_s']:.1f} s"
    )
    if figures["mode"] == "growth":
        return "\n".join([head, *_growth(figures)])
    if figures["mode"] == "idle":
        return "\n".join([head, *_idle(figures)])
    return "\n".join([head, *_standard(figures)])


def _standard(f: dict[str, Any]) -> list[str]:
    sides = [(key, label) for key, label in SIDES if key in f["sides"]]
    rows: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("turns (errors)", lambda s: f"{s['turns']} ({s['errors']})"),
        ("first event ms p50/p95/p99", lambda s: _q(s["first_event_ms"])),
        ("done ms p50/p95/p99", lambda s: _q(s["done_ms"])),
        ("turns/s", lambda s: _n(s["turns_per_s"])),
        ("CPU s per turn", lambda s: _n(s["cpu_s_per_turn"], 4)),
        ("peak RSS MB", lambda s: _n(s["peak_rss_mb"])),
        ("checkpoint bytes/thread", lambda s: _n(s["checkpoint_bytes_per_thread"], 0)),
    ]
    width = 30
    col = 29
    paced = f["sides"].get("http_paced")
    lines = [
        f"{f['turns_per_side']} turns per side in {f['rounds']} interleaved rounds, "
        f"HTTP concurrency {f['concurrency']}"
        + (
            f"; HTTP paced: random arrivals at {paced['offered_share_of_capacity']:.0%} of the closed loop's "
            "turns/s"
            if paced
            else ""
        ),
        "".ljust(width) + "".join(label.rjust(col) for _, label in sides),
    ]
    for name, cell in rows:
        lines.append(name.ljust(width) + "".join(cell(f["sides"][key]).rjust(col) for key, _ in sides))
    lines.append("ratios (p50): " + ", ".join(f"{k} {_n(v, 2)}x" for k, v in f["ratios"].items()))
    lines.append(
        "above the floor (p50 ms): " + ", ".join(f"{k} {_n(v, 1)}" for k, v in f["above_floor_ms"].items())
    )
    breakdown = f["sides"].get("http", {}).get("cpu_breakdown")
    if breakdown:
        lines.append(
            "HTTP CPU s per turn by process: "
            + ", ".join(
                f"{k.removesuffix('_cpu_s_per_turn')} {_n(v, 4)}"
                for k, v in breakdown.items()
                if k != "machine_busy_cores"
            )
            + f"; machine busy cores (all processes) {_n(breakdown['machine_busy_cores'], 2)}"
            + f" of {f['machine']['cpus']}"
        )
    for key, label in sides:
        for sample in f["sides"][key]["error_samples"]:
            lines.append(f"{label} error: {sample}")
    return lines


def _growth(f: dict[str, Any]) -> list[str]:
    w = f["window_turns"]
    lines = [f"one thread, {f['turns']} turns"]
    for key, label in SIDES[:2]:
        s = f[key]
        sizes = s["checkpoint_bytes"]
        picks = [k for i, k in enumerate(sizes) if i in (0, 1, len(sizes) // 2, len(sizes) - 1)]
        lines.append(
            f"{label:>11}: p50 turns 1-{w} {_n(s['first_turns_p50_ms'])} ms, last {w} "
            f"{_n(s['last_turns_p50_ms'])} ms ({_n(s['last_over_first'], 2)}x); checkpoint bytes "
            + ", ".join(f"@{k} {sizes[k]:,}" for k in picks)
            + f"; growth after turn 20 {s['checkpoint_growth_after_turn_20_bytes']:+,} B"
        )
    return lines


def _idle(f: dict[str, Any]) -> list[str]:
    return [
        f"{f['idle_threads']:,} idle threads made in {f['create_s']:.1f} s; "
        f"{f['turns_each']} turns each side",
        f"RSS {_n(f['rss_before_mb'])} MB before, {_n(f['rss_after_mb'])} MB after "
        f"({_n(f['rss_added_mb'])} MB added)",
        f"done ms p50/p95/p99 before {_q(f['before']['done_ms'])}; after {_q(f['after']['done_ms'])} "
        f"({_n(f['after_over_before'], 2)}x); "
        f"on resumed idle threads {_q(f['resumed_idle_threads']['done_ms'])}",
    ]
