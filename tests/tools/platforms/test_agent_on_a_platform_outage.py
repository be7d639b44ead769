"""The agent when the practice system is down: the templated "I can't see your account right now"
answer with the offer of a person, no figure, no stack trace; and no call to a platform whose breaker
is open."""

from __future__ import annotations

from pathlib import Path

from agent import templates
from agent.checkpoint import open_checkpointer
from agent.events import DoneEvent, MessageEvent
from guardrails.audit import AuditTrail
from tests.agent.harness import build_agent, clock, seeded_engine
from tests.tools.platforms.broken_server import broken_server
from tools.demo import generate_practice
from tools.payments.sandbox import SandboxGateway
from tools.platforms.fhir import FhirPlatform
from tools.platforms.http import CircuitBreaker, HttpPolicy, PlatformHttp
from tools.platforms.models import Channel


async def test_balance_question_during_an_outage_gets_the_clear_answer(
    migrated_database_url: str, tmp_path: Path
) -> None:
    practice = generate_practice(patients=3, seed=7)
    engine, _ledger = await seeded_engine(migrated_database_url, practice)
    patient = practice.patients[0]
    try:
        async with broken_server(status=503) as server, open_checkpointer(str(tmp_path / "cp.db")) as saver:
            policy = HttpPolicy(timeout_s=0.5, attempts=2, backoff_initial_s=0.01, backoff_max_s=0.02)
            http = PlatformHttp(server.url, policy=policy, breaker=CircuitBreaker(threshold=2, cooldown_s=60))
            platform = FhirPlatform(http, practice_id=practice.practice.id)
            agent = build_agent(
                platform,  # type: ignore[arg-type]  # the harness names the ledger; any BillingPlatform runs
                SandboxGateway(engine, "http://billing.test", clock=clock),
                AuditTrail(engine, clock=clock),
                saver,
            )
            for _ in range(3):
                events = [
                    e
                    async for e in agent.turn(
                        "th-outage",
                        "what is my balance?",
                        channel=Channel.PORTAL,
                        patient_id=patient.id,
                        phone=None,
                    )
                ]
                [message] = [e for e in events if isinstance(e, MessageEvent)]
                assert message.text == templates.PLATFORM_DOWN["en"]
                assert "$" not in message.text
                assert message.suggested_replies == templates.PLATFORM_DOWN_REPLIES["en"]
                assert isinstance(events[-1], DoneEvent)
            calls = server.requests
            assert calls == 4  # two turns of two attempts each opened the breaker; the third made no call
            await platform.aclose()
    finally:
        await engine.dispose()
