"""Platform latency benchmark: the agent on a remote platform that answers 100 ms late.

``billing-agent platform bench`` starts a local FHIR server (sekmet), loads the demo practice into it,
and puts ``--latency-ms`` of extra latency in front of every platform call (the adapter's transport
sleeps before each request, so the figure is exact whatever the local server's own time). Then, for
each of ``--turns`` patients in turn, a verified portal patient opens a conversation and asks for
their balance (a cold cache, the worst case), and asks once more in the same conversation. It prints,
per first and second question: platform calls per turn (p50, max) and turn latency (p50, p95), against
the targets (a balance question: at most 3 platform calls, p95 at most 400 ms).

As in ``serve``, the transcript lines go through the outbox (``tools.outbox``), drained by a background
task: a question's calls are counted from its start until its lines are on the platform (the turn waits
for the read only), and ``logged ms`` is how long after the question its lines were all on the platform.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.checkpoint import open_checkpointer
from agent.events import MessageEvent
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
from tools.outbox import CommunicationOutbox
from tools.payments.sandbox import SandboxGateway
from tools.platforms.fhir import FhirPlatform, SmartBackendCredentials
from tools.platforms.fhir.loader import load_practice
from tools.platforms.fhir.sekmet import run_sekmet
from tools.platforms.http import HttpPolicy, PlatformHttp
from tools.platforms.models import Channel

TARGET_CALLS = 3
TARGET_P95_MS = 400.0


@dataclass
class Options:
    latency_ms: float = 100.0
    turns: int = 40
    patients: int = 40


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _summary(
    calls: list[int], ms: list[float], server_ms: list[float], logged_ms: list[float]
) -> dict[str, float]:
    return {
        "calls_p50": statistics.median(calls),
        "calls_max": max(calls),
        "turn_ms_p50": round(_pct(ms, 0.5), 1),
        "turn_ms_p95": round(_pct(ms, 0.95), 1),
        "server_ms_p50": round(_pct(server_ms, 0.5), 1),
        "logged_ms_p50": round(_pct(logged_ms, 0.5), 1),
        "logged_ms_p95": round(_pct(logged_ms, 0.95), 1),
    }


async def run(options: Options) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="platform-bench-") as tmp:
        work = Path(tmp)
        with run_sekmet(work) as server:
            data = generate_practice(patients=options.patients, seed=7)
            credentials = SmartBackendCredentials(
                client_id=server.client_id, private_key_pem=server.private_key_pem, token_url=server.token_url
            )
            loader = PlatformHttp(server.base_url, credentials=credentials, policy=HttpPolicy(timeout_s=120))
            await load_practice(loader, data)
            await loader.aclose()
            http = PlatformHttp(
                server.base_url,
                credentials=credentials,
                policy=HttpPolicy(timeout_s=10, injected_latency_s=options.latency_ms / 1000),
            )
            platform = FhirPlatform(http, practice_id=data.practice.id, cache_ttl_s=10)
            url = f"sqlite+aiosqlite:///{work / 'service.db'}"
            await migrate_service(url)
            engine = create_engine(url)
            first_calls: list[int] = []
            first_ms: list[float] = []
            first_server: list[float] = []
            second_calls: list[int] = []
            second_ms: list[float] = []
            second_server: list[float] = []
            first_logged: list[float] = []
            second_logged: list[float] = []
            outbox = CommunicationOutbox(engine)
            stop = asyncio.Event()
            drain = asyncio.create_task(outbox.serve(platform, stop))
            try:
                async with open_checkpointer(str(work / "checkpoints.db")) as saver:
                    agent = BillingAgent(
                        platform=platform,
                        gateway=SandboxGateway(engine, "http://billing.test"),
                        kb=KnowledgeBase.default(),
                        codebook=CodeBook.default(),
                        policy=default_policy(),
                        understander=LocalUnderstander.default(),
                        audit=AuditTrail(engine),
                        checkpointer=saver,
                        today=lambda: DEMO_TODAY,
                        outbox=outbox,
                    )
                    patients = [p for p in data.patients if p.portal_user_id]
                    await credentials.refresh()  # the token is fetched once a day, not per turn
                    for n in range(options.turns):
                        patient = patients[n % len(patients)]
                        thread = f"bench-{n}"
                        for calls, ms, server_ms, logged_ms in (
                            (first_calls, first_ms, first_server, first_logged),
                            (second_calls, second_ms, second_server, second_logged),
                        ):
                            before = http.stats.calls
                            server_before = http.stats.server_s
                            started = time.perf_counter()
                            answered = False
                            async for event in agent.turn(
                                thread,
                                "what is my balance?",
                                channel=Channel.PORTAL,
                                patient_id=patient.id,
                                phone=None,
                            ):
                                answered = answered or isinstance(event, MessageEvent)
                            ms.append((time.perf_counter() - started) * 1000)
                            # The question's lines reach the platform in the background; its calls
                            # count until they are there (the next question waits for that).
                            async with asyncio.timeout(30):
                                # Polled: the lines leave a table the drain task writes.
                                while await outbox.count():  # noqa: ASYNC110
                                    await asyncio.sleep(0.01)
                            logged_ms.append((time.perf_counter() - started) * 1000)
                            calls.append(http.stats.calls - before)
                            server_ms.append((http.stats.server_s - server_before) * 1000)
                            if not answered:
                                raise RuntimeError("a turn ended without an answer")
                        platform.cache.clear()  # the next patient's first question starts cold
            finally:
                stop.set()
                await drain
                await platform.aclose()
                await engine.dispose()
    first = _summary(first_calls, first_ms, first_server, first_logged)
    second = _summary(second_calls, second_ms, second_server, second_logged)
    return {
        "platform": "fhir (sekmet, local)",
        "injected_latency_ms": options.latency_ms,
        "turns": options.turns,
        "first_question": first,
        "second_question": second,
        "targets": {"calls_per_turn": TARGET_CALLS, "turn_ms_p95": TARGET_P95_MS},
        "met": first["calls_p50"] <= TARGET_CALLS and first["turn_ms_p95"] <= TARGET_P95_MS,
    }


def render(figures: dict[str, Any]) -> str:
    lines = [
        f"Balance questions on {figures['platform']} with {figures['injected_latency_ms']:.0f} ms added "
        f"to every platform call, {figures['turns']} conversations",
        f"{'':28}{'calls p50':>10}{'calls max':>10}{'p50 ms':>9}{'p95 ms':>9}{'server ms p50':>15}"
        f"{'logged p50':>12}{'logged p95':>12}",
    ]
    for label, key in (
        ("first question (cold)", "first_question"),
        ("second question (cached)", "second_question"),
    ):
        f = figures[key]
        lines.append(
            f"{label:28}{f['calls_p50']:>10}{f['calls_max']:>10}{f['turn_ms_p50']:>9.1f}{f['turn_ms_p95']:>9.1f}"
            f"{f['server_ms_p50']:>15.1f}{f['logged_ms_p50']:>12.1f}{f['logged_ms_p95']:>12.1f}"
        )
    t = figures["targets"]
    verdict = "met" if figures["met"] else "NOT met"
    lines.append(
        f"target: at most {t['calls_per_turn']} calls and p95 at most {t['turn_ms_p95']:.0f} ms: {verdict}"
    )
    lines.append(
        "server ms: what the local FHIR server itself took to answer the turn's calls (summed, the injected "
        "latency excluded): the sandbox server and this machine, not the adapter; logged: ms from the "
        "question until its transcript lines were on the platform (the outbox drains them after the turn)"
    )
    return "\n".join(lines)
