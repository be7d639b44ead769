"""``billing-agent bench`` at tiny sizes: every figure is reported (the figures themselves are the bench's
business, never asserted here)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from api.cli import main
from bench.stats import percentile

SIDE_FIGURES = (
    "turns",
    "errors",
    "turns_per_s",
    "cpu_s_per_turn",
    "peak_rss_mb",
    "checkpoint_bytes_per_thread",
)
QUANTILES = ("p50", "p95", "p99")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _bench(tmp_path: Path, *args: str) -> dict[str, Any]:
    out = tmp_path / "figures.json"
    assert main(["bench", "--patients", "8", "--json", str(out), *args]) == 0
    figures: dict[str, Any] = json.loads(out.read_text())
    return figures


def test_standard_reports_every_figure_for_floor_inprocess_http_and_paced_http(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    figures = _bench(tmp_path, "--turns", "3", "--rounds", "1", "--concurrency", "2")
    printed = capsys.readouterr().out
    assert set(figures["sides"]) == {"floor", "inprocess", "http", "http_paced"}
    for name, side in figures["sides"].items():
        assert side["turns"] == 3, (name, side["error_samples"])
        assert side["errors"] == 0, (name, side["error_samples"])
        for key in SIDE_FIGURES:
            assert _number(side[key]), (name, key, side[key])
        for series in ("first_event_ms", "done_ms"):
            assert all(_number(side[series][q]) for q in QUANTILES), (name, series)
    breakdown = figures["sides"]["http"]["cpu_breakdown"]  # where the CPU of the HTTP rounds went
    for key in ("server_cpu_s_per_turn", "client_cpu_s_per_turn", "machine_busy_cores"):
        assert _number(breakdown[key]), (key, breakdown)
    assert "HTTP CPU s per turn by process" in printed
    assert set(figures["ratios"]) == {
        "inprocess_over_floor",
        "http_first_event_over_floor",
        "http_done_over_floor",
        "http_paced_first_event_over_floor",
        "http_paced_done_over_floor",
    }
    assert all(_number(v) for v in figures["ratios"].values())
    assert set(figures["above_floor_ms"]) == {"inprocess_done", "http_paced_first_event"}
    assert all(_number(v) for v in figures["above_floor_ms"].values())
    assert figures["sides"]["http_paced"]["offered_share_of_capacity"] == 0.7
    for label in (
        "floor",
        "in-process",
        "HTTP",
        "HTTP paced",
        "random arrivals",
        "turns/s",
        "CPU s per turn",
        "peak RSS MB",
        "ratios",
        "above the floor",
    ):
        assert label in printed


def test_growth_reports_latency_at_both_ends_and_checkpoint_size_over_time(tmp_path: Path) -> None:
    figures = _bench(tmp_path, "--mode", "growth", "--turns", "4")
    for name in ("floor", "inprocess"):
        side = figures[name]
        assert side["errors"] == 0
        for key in ("first_turns_p50_ms", "last_turns_p50_ms", "last_over_first"):
            assert _number(side[key]), (name, key)
        assert set(side["checkpoint_bytes"]) >= {"1", "4"}
        assert all(v > 0 for v in side["checkpoint_bytes"].values())
        assert _number(side["checkpoint_growth_after_turn_20_bytes"])


def test_idle_reports_memory_and_latency_before_and_after(tmp_path: Path) -> None:
    figures = _bench(tmp_path, "--mode", "idle", "--turns", "2", "--idle-threads", "30")
    assert figures["idle_threads"] == 30
    for key in ("rss_before_mb", "rss_after_mb", "rss_added_mb", "create_s", "after_over_before"):
        assert _number(figures[key]), key
    for part in ("before", "after", "resumed_idle_threads"):
        assert figures[part]["errors"] == 0, part
        assert all(_number(figures[part]["done_ms"][q]) for q in QUANTILES), part


def test_bad_sizes_are_refused_with_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--turns", "0"]) == 2
    assert "--turns" in capsys.readouterr().err


def test_percentile_interpolates_and_is_nan_without_values() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile([7.0], 95) == 7.0
    assert math.isnan(percentile([], 50))


def test_the_instruction_count_harness_runs_turns_of_the_mix() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.instructions", "--turns", "4", "--patients", "5"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_several_bench_workers_need_postgres(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--workers", "2"]) == 2
    assert "needs --backend postgres" in capsys.readouterr().err
