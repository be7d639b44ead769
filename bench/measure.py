"""Per-turn latency and checkpoint size, measured on the real stack (no model, no network).

    python -m bench.measure [--turns 1000] [--patients 200]

Seeds a demo practice into a temporary SQLite ledger, runs scripted portal conversations through
``BillingAgent`` with the SQLite checkpointer (durability as in production), and prints p50/p95 of
per-turn wall time plus the bytes of one thread's checkpoint after 10 and after 100 turns.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime
from datetime import time as dtime
from pathlib import Path

from agent.checkpoint import checkpoint_bytes, open_checkpointer, stored_bytes
from agent.heap import frozen_heap
from agent.service import BillingAgent
from agent.understanding.local import LocalUnderstander
from guardrails.audit import AuditTrail
from guardrails.policy import default_policy
from migrations import migrate_service
from tools.codebook import CodeBook
from tools.db import create_engine
from tools.demo import generate_practice
from tools.demo.generator import DEMO_TODAY
from tools.kb import KnowledgeBase
from tools.payments.sandbox import SandboxGateway
from tools.platforms.ledger import LedgerPlatform, migrate
from tools.platforms.models import Channel

SCRIPT = (
    "hi",
    "what is my balance?",
    "can you explain my statement?",
    "why was my claim denied?",
    "how much of my deductible have I met?",
    "what payment methods do you accept?",
    "I'd like to set up a payment plan",
    "never mind",
    "I want to pay my bill now",
    "thanks, bye",
)
CHECKPOINT_SCRIPT = (
    "what is my balance?",
    "explain my statement",
    "what payment methods do you accept?",
    "thanks",
)


def _clock() -> datetime:
    return datetime.combine(DEMO_TODAY, dtime(15, 0), tzinfo=UTC)


async def measure(turns: int, patients: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'ledger.db'}"
        await migrate(url)
        await migrate_service(url)
        engine = create_engine(url)
        platform = LedgerPlatform(engine, clock=_clock)
        data = generate_practice(patients=patients)
        await platform.bulk_load(data)
        async with open_checkpointer(str(Path(tmp) / "checkpoints.db")) as saver:
            agent = BillingAgent(
                platform=platform,
                gateway=SandboxGateway(engine, "http://localhost:8000", clock=_clock),
                kb=KnowledgeBase.default(),
                codebook=CodeBook.default(),
                policy=default_policy(),
                understander=LocalUnderstander.default(),
                audit=AuditTrail(engine, clock=_clock),
                checkpointer=saver,
                clock=_clock,
                today=lambda: DEMO_TODAY,
            )
            with frozen_heap():  # the measuring process owns its heap, as `serve` does
                latencies: list[float] = []
                i = 0
                while len(latencies) < turns:
                    patient = data.patients[i % len(data.patients)]
                    thread = f"m-{i}"
                    for text in SCRIPT:
                        if len(latencies) >= turns:
                            break
                        started = time.perf_counter()
                        async for _ in agent.turn(
                            thread, text, channel=Channel.PORTAL, patient_id=patient.id, phone=None
                        ):
                            pass
                        latencies.append((time.perf_counter() - started) * 1000)
                        if (await agent.state(thread)).get("mode") == "human":
                            await agent.hand_back(thread, None)
                    i += 1
                sizes: dict[int, tuple[int, int]] = {}
                patient = data.patients[0]
                for n in range(1, 101):
                    text = CHECKPOINT_SCRIPT[n % len(CHECKPOINT_SCRIPT)]
                    async for _ in agent.turn(
                        "size", text, channel=Channel.PORTAL, patient_id=patient.id, phone=None
                    ):
                        pass
                    if n in (10, 100):
                        sizes[n] = (await checkpoint_bytes(saver, "size"), await stored_bytes(saver, "size"))
        await engine.dispose()
    q = statistics.quantiles(latencies, n=100)
    return {
        "turns": float(len(latencies)),
        "p50_ms": statistics.median(latencies),
        "p95_ms": q[94],
        "checkpoint_bytes_10": float(sizes[10][0]),
        "checkpoint_bytes_100": float(sizes[100][0]),
        "stored_bytes_10": float(sizes[10][1]),
        "stored_bytes_100": float(sizes[100][1]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--patients", type=int, default=200)
    args = parser.parse_args()
    r = asyncio.run(measure(args.turns, args.patients))
    print(
        f"per-turn latency over {int(r['turns'])} turns: p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms"
    )
    print(
        f"checkpoint bytes (newest checkpoint): {int(r['checkpoint_bytes_10'])} after 10 turns, "
        f"{int(r['checkpoint_bytes_100'])} after 100 turns"
    )
    print(
        "thread storage in the SQLite saver (all rows, pruned per turn): "
        f"{int(r['stored_bytes_10'])} after 10 "
        f"turns, {int(r['stored_bytes_100'])} after 100 turns"
    )


if __name__ == "__main__":
    main()
