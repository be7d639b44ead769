"""Runs a bench mode and returns its figures as plain JSON-ready data (see :func:`run`)."""

from __future__ import annotations

import gc
import json
import math
import os
import platform as pyplatform
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from agent.checkpoint import checkpoint_bytes, open_checkpointer
from agent.heap import frozen_heap
from agent.service import BillingAgent
from api.container import build_gateway, open_agent
from api.settings import Settings
from bench.floor import Floor
from bench.mix import GROWTH_SCRIPT, Conversation, conversations
from bench.stack import Backend, ClientProcess, Server, Store, seed, temp_store
from bench.stats import (
    CpuSnapshot,
    Quantiles,
    named_pids,
    own_peak_rss_mb,
    own_rss_mb,
    process_tree,
    tree_cpu_seconds,
    tree_peak_rss_mb,
)
from tools.db import create_engine
from tools.errors import BillingError
from tools.platforms.ledger import LedgerPlatform
from tools.platforms.models import Channel, Patient

Mode = Literal["standard", "growth", "idle"]
DEFAULT_TURNS: dict[Mode, int] = {"standard": 140, "growth": 200, "idle": 40}
CHECKPOINT_SAMPLE = 100  # threads whose checkpoint is measured per side


@dataclass(frozen=True)
class Options:
    mode: Mode = "standard"
    backend: Backend = "sqlite"
    workers: int = 1
    turns: int | None = None
    concurrency: int = 50
    rounds: int = 4
    patients: int = 200
    idle_threads: int = 10_000
    http: bool = True
    # The paced HTTP side offers this share of the closed-loop side's turns/s (0: no paced side).
    paced_load: float = 0.7

    @property
    def effective_turns(self) -> int:
        return self.turns if self.turns is not None else DEFAULT_TURNS[self.mode]


# --------------------------------------------------------------------------- figures of one side


@dataclass
class Side:
    first_ms: list[float] = field(default_factory=list)
    done_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    cpu_s: float | None = 0.0
    threads: list[str] = field(default_factory=list)
    peak_rss_mb: float | None = None
    checkpoint_bytes: float | None = None
    # HTTP: CPU seconds of each process group during the side's rounds (server, client, PostgreSQL,
    # the bench itself) and busy cores x seconds of the whole machine
    breakdown: dict[str, float] = field(default_factory=dict)

    def add_breakdown(self, seconds: dict[str, float], wall_s: float) -> None:
        for name, value in seconds.items():
            weight = wall_s if name == "machine_busy_cores" else 1.0
            self.breakdown[name] = self.breakdown.get(name, 0.0) + value * weight

    def add_cpu(self, seconds: float | None) -> None:
        self.cpu_s = None if seconds is None or self.cpu_s is None else self.cpu_s + seconds

    def figures(self) -> dict[str, Any]:
        turns = len(self.done_ms)
        first, done = Quantiles.of(self.first_ms), Quantiles.of(self.done_ms)
        return {
            "turns": turns,
            "errors": len(self.errors),
            "error_samples": self.errors[:5],
            "first_event_ms": {"p50": first.p50, "p95": first.p95, "p99": first.p99},
            "done_ms": {"p50": done.p50, "p95": done.p95, "p99": done.p99},
            "turns_per_s": turns / self.wall_s if self.wall_s > 0 else math.nan,
            "cpu_s_per_turn": self.cpu_s / turns if self.cpu_s is not None and turns else None,
            "peak_rss_mb": self.peak_rss_mb,
            "checkpoint_bytes_per_thread": self.checkpoint_bytes,
            **({"cpu_breakdown": self._breakdown(turns)} if self.breakdown else {}),
        }

    def _breakdown(self, turns: int) -> dict[str, float | None]:
        out: dict[str, float | None] = {
            f"{name}_cpu_s_per_turn": value / turns if turns else None
            for name, value in self.breakdown.items()
            if name != "machine_busy_cores"
        }
        busy = self.breakdown.get("machine_busy_cores")
        out["machine_busy_cores"] = busy / self.wall_s if busy is not None and self.wall_s > 0 else None
        return out


class Script:
    """Hands out the mix turn by turn: ``(thread id, patient, text)``, a new thread per conversation."""

    def __init__(self, prefix: str, patients: list[Patient]) -> None:
        self.prefix = prefix
        self.patients = patients
        self._conversations: Iterator[tuple[int, Conversation]] = conversations()
        self._current: tuple[str, Patient, Conversation] | None = None
        self._position = 0
        self.threads: list[str] = []

    def next(self) -> tuple[str, Patient, str]:
        if self._current is None or self._position >= len(self._current[2].messages):
            n, conversation = next(self._conversations)
            thread = f"{self.prefix}-{os.getpid()}-{n}"
            self._current = (thread, self.patients[n % len(self.patients)], conversation)
            self._position = 0
            self.threads.append(thread)
        thread, patient, conversation = self._current
        text = conversation.messages[self._position]
        self._position += 1
        return thread, patient, text


# --------------------------------------------------------------------------- timed turns


async def agent_turn(agent: BillingAgent, thread: str, patient: Patient, text: str, side: Side) -> None:
    started = time.perf_counter()
    first: float | None = None
    try:
        async for _ in agent.turn(thread, text, channel=Channel.PORTAL, patient_id=patient.id, phone=None):
            if first is None:
                first = (time.perf_counter() - started) * 1000
    except BillingError as exc:
        side.errors.append(f"{type(exc).__name__}: {exc.detail}")
        return
    side.first_ms.append(first if first is not None else math.nan)
    side.done_ms.append((time.perf_counter() - started) * 1000)


async def floor_turn(floor: Floor, thread: str, text: str, side: Side) -> None:
    started = time.perf_counter()
    first: float | None = None
    async for _ in floor.turn(thread, text):
        if first is None:
            first = (time.perf_counter() - started) * 1000
    side.first_ms.append(first if first is not None else math.nan)
    side.done_ms.append((time.perf_counter() - started) * 1000)


@dataclass
class Local:
    """The in-process side and the floor, built exactly as the service builds its agent."""

    agent: BillingAgent
    floor: Floor
    patients: list[Patient]
    store: Store
    floor_rss_mb: float


@asynccontextmanager
async def local_stack(options: Options, folder: Path) -> AsyncIterator[Local]:
    async with AsyncExitStack() as stack:
        store = await stack.enter_async_context(temp_store(options.backend, folder, "inproc"))
        data = await seed(store, options.patients)
        floor_url = (
            f"sqlite:///{folder / 'floor-checkpoints.db'}"
            if options.backend == "sqlite"
            else store.checkpoint_url
        )
        floor = Floor(await stack.enter_async_context(open_checkpointer(floor_url)))
        floor_rss = own_rss_mb()
        settings = Settings(database_url=store.database_url, checkpoint_url=store.checkpoint_url)
        engine = create_engine(store.database_url)
        stack.push_async_callback(engine.dispose)
        agent = await stack.enter_async_context(
            open_agent(settings, engine, LedgerPlatform(engine), build_gateway(settings, engine))
        )
        # the bench owns its process, as `serve` does: start-up's heap out of the collector's way (both
        # sides alike; the server freezes its own)
        stack.enter_context(frozen_heap())
        yield Local(agent, floor, data.patients, store, floor_rss)


async def mean_checkpoint_bytes(saver: BaseCheckpointSaver[str], threads: list[str]) -> float | None:
    sample = threads[:: max(1, len(threads) // CHECKPOINT_SAMPLE)][:CHECKPOINT_SAMPLE]
    sizes = [await checkpoint_bytes(saver, t) for t in sample]
    sizes = [s for s in sizes if s > 0]
    return sum(sizes) / len(sizes) if sizes else None


def _above(a: float, b: float) -> float:
    return a - b if not math.isnan(a) and not math.isnan(b) else math.nan


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 and not math.isnan(a) and not math.isnan(b) else math.nan


# --------------------------------------------------------------------------- standard


@asynccontextmanager
async def http_side(options: Options, folder: Path) -> AsyncIterator[tuple[Server, ClientProcess, Store]]:
    """The seeded service and the load generator, both starting (the caller awaits ``server.ready()``:
    their start-up overlaps with building the in-process side)."""
    async with temp_store(options.backend, folder, "http") as store:
        data = await seed(store, options.patients)
        server = Server(store, options.workers, folder / "server.log")
        try:
            ids_file = folder / "portal-ids.json"
            ids_file.write_text(json.dumps([p.portal_user_id for p in data.patients if p.portal_user_id]))
            client = ClientProcess(server.base_url, options.concurrency, ids_file, folder / "client.log")
            try:
                yield server, client, store
            finally:
                client.stop()
        finally:
            server.stop()


async def standard(options: Options, folder: Path) -> dict[str, Any]:
    turns = options.effective_turns
    rounds = max(1, min(options.rounds, turns))
    per_round = math.ceil(turns / rounds)
    floor_side, local_side, http, paced = Side(), Side(), Side(), Side()
    async with AsyncExitStack() as stack:
        server: Server | None = None
        client: ClientProcess | None = None
        http_store: Store | None = None
        if options.http:
            server, client, http_store = await stack.enter_async_context(http_side(options, folder))
        local = await stack.enter_async_context(local_stack(options, folder))
        if server is not None:
            await server.ready()
        floor_script, local_script = Script("floor", local.patients), Script("bench", local.patients)

        async def run_floor(n: int) -> None:
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(n):
                thread, _patient, text = floor_script.next()
                await floor_turn(local.floor, thread, text, floor_side)
            floor_side.wall_s += time.perf_counter() - wall
            floor_side.add_cpu(time.process_time() - cpu)

        async def run_local(n: int) -> None:
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(n):
                thread, patient, text = local_script.next()
                await agent_turn(local.agent, thread, patient, text, local_side)
            local_side.wall_s += time.perf_counter() - wall
            local_side.add_cpu(time.process_time() - cpu)

        async def http_round(side: Side, n: int, rate: float | None) -> None:
            assert server is not None
            assert client is not None
            groups = {
                "server": process_tree(server.process.pid),
                "client": [client.process.pid],
                "postgres": named_pids("postgres") if options.backend == "postgres" else [],
                "bench": [os.getpid()],
            }
            snapshot = CpuSnapshot.take(groups)
            cpu = tree_cpu_seconds(server.process.pid)
            answer = json.loads(await client.round(n, rate))
            after = tree_cpu_seconds(server.process.pid)
            side.add_cpu(None if cpu is None or after is None else after - cpu)
            later = CpuSnapshot.take(groups)
            if snapshot is not None and later is not None:
                side.add_breakdown(later.since(snapshot), answer["wall_s"])
            side.first_ms += answer["first_ms"]
            side.done_ms += answer["done_ms"]
            side.errors += answer["errors"]
            side.threads += answer["threads"]
            side.wall_s += answer["wall_s"]

        async def run_http(n: int) -> None:
            # Closed loop (capacity; every round starts with a burst of min(n, C) posts), then the same
            # number of turns paced at a share of the capacity measured so far (random arrivals).
            await http_round(http, n, None)
            if options.paced_load > 0 and http.wall_s > 0:
                await http_round(paced, n, options.paced_load * len(http.done_ms) / http.wall_s)

        phases = [run_floor, run_local] + ([run_http] if options.http else [])
        remaining = turns
        for r in range(rounds):
            n = min(per_round, remaining)
            remaining -= n
            for k in range(len(phases)):  # rotate the order so no side always runs first
                await phases[(r + k) % len(phases)](n)

        floor_side.peak_rss_mb = local.floor_rss_mb
        floor_side.checkpoint_bytes = await mean_checkpoint_bytes(
            local.floor.checkpointer, floor_script.threads
        )
        local_side.peak_rss_mb = own_peak_rss_mb()
        local_side.checkpoint_bytes = await mean_checkpoint_bytes(
            local.agent.checkpointer, local_script.threads
        )
        if server is not None and http_store is not None:
            http.peak_rss_mb = tree_peak_rss_mb(server.process.pid)
            async with open_checkpointer(http_store.checkpoint_url) as saver:
                # One server for both HTTP sides (paced turns carry on the closed loop's conversations).
                http.checkpoint_bytes = await mean_checkpoint_bytes(saver, http.threads + paced.threads)
                paced.checkpoint_bytes = http.checkpoint_bytes
            paced.peak_rss_mb = http.peak_rss_mb

    floor_f, local_f = floor_side.figures(), local_side.figures()
    sides: dict[str, Any] = {"floor": floor_f, "inprocess": local_f}
    floor_p50 = floor_f["done_ms"]["p50"]
    ratios: dict[str, float] = {"inprocess_over_floor": _ratio(local_f["done_ms"]["p50"], floor_p50)}
    # The same comparisons as differences: the milliseconds (p50) our graph, ledger and service add above
    # LangGraph with the shared checkpointer. A faster checkpointer lowers the floor and raises a ratio;
    # this figure shows whether our own part moved.
    above: dict[str, float] = {"inprocess_done": _above(local_f["done_ms"]["p50"], floor_p50)}
    if options.http:
        http_f = http.figures()
        sides["http"] = http_f
        ratios["http_first_event_over_floor"] = _ratio(http_f["first_event_ms"]["p50"], floor_p50)
        ratios["http_done_over_floor"] = _ratio(http_f["done_ms"]["p50"], floor_p50)
        if options.paced_load > 0:
            paced_f = paced.figures()
            paced_f["offered_share_of_capacity"] = options.paced_load
            sides["http_paced"] = paced_f
            ratios["http_paced_first_event_over_floor"] = _ratio(paced_f["first_event_ms"]["p50"], floor_p50)
            ratios["http_paced_done_over_floor"] = _ratio(paced_f["done_ms"]["p50"], floor_p50)
            above["http_paced_first_event"] = _above(paced_f["first_event_ms"]["p50"], floor_p50)
    return {
        "turns_per_side": turns,
        "rounds": rounds,
        "sides": sides,
        "ratios": ratios,
        "above_floor_ms": above,
    }


# --------------------------------------------------------------------------- growth


async def growth(options: Options, folder: Path) -> dict[str, Any]:
    turns = max(options.effective_turns, 2)
    every = max(1, turns // 20)
    local_side, floor_side = Side(), Side()
    sizes: dict[str, dict[int, int]] = {"inprocess": {}, "floor": {}}
    async with local_stack(options, folder) as local:
        patient = local.patients[0]
        thread = f"growth-{os.getpid()}"
        for n in range(1, turns + 1):
            text = GROWTH_SCRIPT[(n - 1) % len(GROWTH_SCRIPT)]
            await floor_turn(local.floor, f"floor-{thread}", text, floor_side)
            await agent_turn(local.agent, thread, patient, text, local_side)
            if n % every == 0 or n in (1, turns):
                sizes["floor"][n] = await checkpoint_bytes(local.floor.checkpointer, f"floor-{thread}")
                sizes["inprocess"][n] = await checkpoint_bytes(local.agent.checkpointer, thread)
    window = min(10, turns // 2)
    out: dict[str, Any] = {"turns": turns, "window_turns": window}
    for name, side in (("floor", floor_side), ("inprocess", local_side)):
        head = Quantiles.of(side.done_ms[:window]).p50
        tail = Quantiles.of(side.done_ms[-window:]).p50
        series = sizes[name]
        settled = series[min(k for k in series if k >= min(20, turns))]
        out[name] = {
            "errors": len(side.errors),
            "first_turns_p50_ms": head,
            "last_turns_p50_ms": tail,
            "last_over_first": _ratio(tail, head),
            "checkpoint_bytes": {str(k): v for k, v in sorted(series.items())},
            "checkpoint_growth_after_turn_20_bytes": series[turns] - settled,
        }
    return out


# --------------------------------------------------------------------------- idle


async def clone_thread(saver: BaseCheckpointSaver[str], source: str, targets: list[str]) -> None:
    """Copy ``source``'s checkpoint rows to every thread in ``targets``, in one transaction: idle threads
    as real as ones that each had a conversation, made in seconds instead of hours."""
    if isinstance(saver, AsyncSqliteSaver):
        async with saver.lock:
            for table in ("checkpoints", "writes"):
                async with saver.conn.execute(f"PRAGMA table_info({table})") as cur:
                    columns = [str(row[1]) for row in await cur.fetchall()]
                rest = [c for c in columns if c != "thread_id"]
                sql = (
                    f"INSERT INTO {table} (thread_id, {', '.join(rest)}) "
                    f"SELECT ?, {', '.join(rest)} FROM {table} WHERE thread_id = ?"
                )
                await saver.conn.executemany(sql, [(t, source) for t in targets])
            await saver.conn.commit()
        return
    if isinstance(saver, AsyncPostgresSaver):
        async with saver._cursor() as cur:  # the saver's own connection handling (pool or connection)
            for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes"):
                await cur.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
                    (table,),
                )
                rest = [
                    str(r["column_name"]) for r in await cur.fetchall() if r["column_name"] != "thread_id"
                ]
                cols = ", ".join(rest)
                await cur.execute(
                    f"INSERT INTO {table} (thread_id, {cols}) SELECT t.id, {cols} FROM {table}, "
                    "unnest(%s::text[]) AS t(id) WHERE thread_id = %s",
                    (targets, source),
                )
        return
    raise BillingError(f"idle threads cannot be made in a {type(saver).__name__}")


async def idle(options: Options, folder: Path) -> dict[str, Any]:
    turns = max(options.effective_turns, 1)
    before, after = Side(), Side()
    async with local_stack(options, folder) as local:
        script = Script("idle", local.patients)

        async def measure(side: Side) -> None:
            for _ in range(turns):
                thread, patient, text = script.next()
                await agent_turn(local.agent, thread, patient, text, side)

        await measure(Side())  # warm-up: first-use caches are not what this mode measures
        gc.collect()
        rss_before = own_rss_mb()
        await measure(before)
        source = script.threads[0]
        started = time.perf_counter()
        targets = [f"parked-{os.getpid()}-{i}" for i in range(options.idle_threads)]
        for i in range(0, len(targets), 2_000):
            await clone_thread(local.agent.checkpointer, source, targets[i : i + 2_000])
        created_s = time.perf_counter() - started
        await measure(after)
        resumed = Side()
        for i in range(min(turns, len(targets))):
            idle_thread = targets[(i * 7919) % len(targets)]
            await agent_turn(local.agent, idle_thread, local.patients[0], "what is my balance?", resumed)
        gc.collect()
        rss_after = own_rss_mb()
    b, a, r = before.figures(), after.figures(), resumed.figures()
    return {
        "idle_threads": options.idle_threads,
        "turns_each": turns,
        "create_s": created_s,
        "rss_before_mb": rss_before,
        "rss_after_mb": rss_after,
        "rss_added_mb": rss_after - rss_before,
        "before": {"done_ms": b["done_ms"], "errors": b["errors"]},
        "after": {"done_ms": a["done_ms"], "errors": a["errors"]},
        "resumed_idle_threads": {"done_ms": r["done_ms"], "errors": r["errors"]},
        "after_over_before": _ratio(a["done_ms"]["p50"], b["done_ms"]["p50"]),
    }


# --------------------------------------------------------------------------- entry


async def run(options: Options) -> dict[str, Any]:
    """Run ``options.mode`` on throw-away databases; the figures as JSON-ready data."""
    started, cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory(prefix="billing-bench-") as tmp:
        folder = Path(tmp)
        if options.mode == "standard":
            figures = await standard(options, folder)
        elif options.mode == "growth":
            figures = await growth(options, folder)
        else:
            figures = await idle(options, folder)
    return {
        "mode": options.mode,
        "backend": options.backend,
        "workers": options.workers,
        "concurrency": options.concurrency,
        "machine": {
            "cpus": os.cpu_count(),
            "python": pyplatform.python_version(),
            "system": pyplatform.system(),
        },
        "elapsed_s": time.perf_counter() - started,
        "bench_cpu_s": time.process_time() - cpu,
        **figures,
    }
