"""Percentiles and process figures (CPU seconds, resident memory) without third-party dependencies.

Process figures of other processes (the HTTP service and its workers) come from ``/proc`` and are
reported as ``None`` where it does not exist.
"""

from __future__ import annotations

import math
import os
import resource
import sys
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass(frozen=True)
class Quantiles:
    p50: float
    p95: float
    p99: float

    @classmethod
    def of(cls, values: list[float]) -> Quantiles:
        return cls(percentile(values, 50), percentile(values, 95), percentile(values, 99))


def own_peak_rss_mb() -> float:
    """Peak resident memory of this process, MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def own_rss_mb() -> float:
    """Current resident memory of this process, MB (the peak where ``/proc`` is missing)."""
    rss = _status_kb(os.getpid(), "VmRSS")
    return rss / 1024 if rss is not None else own_peak_rss_mb()


def _status_kb(pid: int, field: str) -> int | None:
    try:
        text = (PROC / str(pid) / "status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = list((PROC / str(pid) / "task").iterdir())
    except OSError:
        return out
    for task in tasks:
        try:
            out.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return out


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (uvicorn's worker processes)."""
    seen: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.append(p)
        todo.extend(_children(p))
    return seen


def tree_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` and its live descendants."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0.0
    found = False
    for p in process_tree(pid):
        try:
            fields = (PROC / str(p) / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found = True
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total if found else None


def tree_peak_rss_mb(pid: int) -> float | None:
    """Sum of the peak resident memory (VmHWM) of ``pid`` and its descendants, MB."""
    peaks = [_status_kb(p, "VmHWM") for p in process_tree(pid)]
    known = [p for p in peaks if p is not None]
    return sum(known) / 1024 if known else None


def _cpu_ticks(pid: int) -> int | None:
    try:
        fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])  # utime, stime


def named_pids(prefix: str) -> list[int]:
    """Processes whose command name starts with ``prefix`` (e.g. PostgreSQL's backends), any user."""
    out: list[int] = []
    for entry in PROC.iterdir() if PROC.exists() else ():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().startswith(prefix):
                    out.append(int(entry.name))
            except OSError:
                continue
    return out


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU ticks of the processes of a phase, grouped, and of the whole machine (``/proc/stat``)."""

    groups: dict[str, dict[int, int]]
    machine_busy: int
    machine_total: int

    @classmethod
    def take(cls, groups: dict[str, list[int]]) -> CpuSnapshot | None:
        try:
            first = (PROC / "stat").read_text().splitlines()[0].split()[1:]
        except OSError:
            return None
        ticks = [int(v) for v in first]
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
        taken = {
            name: {p: t for p in pids if (t := _cpu_ticks(p)) is not None} for name, pids in groups.items()
        }
        return cls(taken, sum(ticks) - idle, sum(ticks))

    def since(self, before: CpuSnapshot) -> dict[str, float]:
        """CPU seconds per group between ``before`` and this snapshot (a process that started meanwhile
        counts from 0; one that ended is missing: an undercount), plus ``machine_busy_cores``: the
        average number of busy cores of the whole machine (every process, other users' included)."""
        hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        out: dict[str, float] = {}
        for name, now in self.groups.items():
            then = before.groups.get(name, {})
            out[name] = sum(t - then.get(p, 0) for p, t in now.items()) / hz
        total = self.machine_total - before.machine_total
        cpus = os.cpu_count() or 1
        out["machine_busy_cores"] = cpus * (self.machine_busy - before.machine_busy) / total if total else 0.0
        return out
