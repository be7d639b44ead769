"""The agent when the practice system is down: the templated "I can't see your account right now"
answer with the offer of a person, no figure, no stack trace; no call to a platform whose breaker is
open; and a patient who then asks for a person gets one: the request is queued in the service's own
table and opened as a ticket on the platform once it is back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from sqlalchemy.ext.asyncio import AsyncEngine

from agent import templates
from agent.checkpoint import open_checkpointer
from agent.events import DoneEvent, MessageEvent
from guardrails.audit import AuditTrail
from tests.agent.harness import build_agent, clock, seeded_engine
from tests.tools.platforms.broken_server import broken_server
from tools.demo import generate_practice
from tools.handoffs import HandoffQueue
from tools.outbox import CommunicationOutbox
from tools.payments.sandbox import SandboxGateway
from tools.platforms.fhir import FhirPlatform
from tools.platforms.http import CircuitBreaker, HttpPolicy, PlatformHttp
from tools.platforms.models import Author, Channel, TicketReason


def _down_fhir(url: str, practice_id: str) -> tuple[FhirPlatform, PlatformHttp]:
    """The FHIR adapter on a server answering 503: two quick attempts a call, a breaker that opens after
    two failed calls and stays open for a minute."""
    policy = HttpPolicy(timeout_s=0.5, attempts=2, backoff_initial_s=0.01, backoff_max_s=0.02)
    http = PlatformHttp(url, policy=policy, breaker=CircuitBreaker(threshold=2, cooldown_s=60))
    return FhirPlatform(http, practice_id=practice_id), http


def _agent(platform: FhirPlatform, engine: AsyncEngine, saver: BaseCheckpointSaver[str], **ports: Any) -> Any:
    return build_agent(
        platform,  # type: ignore[arg-type]  # the harness names the ledger; any BillingPlatform runs
        SandboxGateway(engine, "http://billing.test", clock=clock),
        AuditTrail(engine, clock=clock),
        saver,
        **ports,
    )


async def _say(agent: Any, thread: str, text: str, patient_id: str) -> list[MessageEvent]:
    """One portal turn; its messages (the turn must end with ``done``)."""
    events = [
        e async for e in agent.turn(thread, text, channel=Channel.PORTAL, patient_id=patient_id, phone=None)
    ]
    assert isinstance(events[-1], DoneEvent)
    return [e for e in events if isinstance(e, MessageEvent)]


async def test_balance_question_during_an_outage_gets_the_clear_answer(
    migrated_database_url: str, tmp_path: Path
) -> None:
    practice = generate_practice(patients=3, seed=7)
    engine, _ledger = await seeded_engine(migrated_database_url, practice)
    patient = practice.patients[0]
    try:
        async with broken_server(status=503) as server, open_checkpointer(str(tmp_path / "cp.db")) as saver:
            platform, _http = _down_fhir(server.url, practice.practice.id)
            agent = _agent(platform, engine, saver)
            for _ in range(3):
                [message] = await _say(agent, "th-outage", "what is my balance?", patient.id)
                assert message.text == templates.PLATFORM_DOWN["en"]
                assert "$" not in message.text
                assert message.suggested_replies == templates.PLATFORM_DOWN_REPLIES["en"]
            calls = server.requests
            assert calls == 4  # two turns of two attempts each opened the breaker; the third made no call
            await platform.aclose()
    finally:
        await engine.dispose()


async def test_asking_for_a_person_while_the_breaker_is_open_queues_a_ticket_synced_later(
    migrated_database_url: str, tmp_path: Path
) -> None:
    practice = generate_practice(patients=3, seed=7)
    engine, ledger = await seeded_engine(migrated_database_url, practice)
    patient = practice.patients[0]
    handoffs = HandoffQueue(engine, clock=clock)
    try:
        async with broken_server(status=503) as server, open_checkpointer(str(tmp_path / "cp.db")) as saver:
            platform, http = _down_fhir(server.url, practice.practice.id)
            agent = _agent(platform, engine, saver, handoffs=handoffs)

            async def say(text: str) -> list[MessageEvent]:
                return await _say(agent, "th-down", text, patient.id)

            [first] = await say("what is my balance?")
            assert first.text == templates.PLATFORM_DOWN["en"]
            assert http.breaker.state.value == "open"  # two failed attempts opened it
            calls = server.requests
            [reply] = await say(templates.PLATFORM_DOWN_REPLIES["en"][0])  # "Talk to a person"
            assert server.requests == calls  # the breaker is open: the platform was not called
            [queued] = await handoffs.pending()
            assert queued.reference in reply.text
            assert "person will follow up" in reply.text
            assert "$" not in reply.text
            assert "queued_for_staff" in reply.actions
            assert (queued.patient_id, queued.thread_id, queued.channel) == (
                patient.id,
                "th-down",
                Channel.PORTAL,
            )
            assert queued.reason is TicketReason.REQUESTED_HUMAN
            assert queued.transcript[-1].author is Author.PATIENT
            assert queued.transcript[-1].text == "Talk to a person"
            # Asking again in the same thread keeps one request, with the same reference.
            [again] = await say("I want to talk to a real person")
            assert queued.reference in again.text
            assert len(await handoffs.pending()) == 1
            # While the platform is still down, a sync opens nothing and keeps the request.
            still_down = await handoffs.sync(platform)
            assert (still_down.opened, still_down.waiting) == (0, 1)
            await platform.aclose()
        # The platform is back (here the practice's ledger holds the same patients): the ticket opens once.
        synced = await handoffs.sync(ledger)
        assert (synced.opened, synced.waiting) == (1, 0)
        assert (await handoffs.sync(ledger)).opened == 0
        [ticket] = [t for t in await ledger.list_tickets(patient.id) if t.thread_id == "th-down"]
        assert ticket.reason is TicketReason.REQUESTED_HUMAN
        assert ticket.transcript == queued.transcript
        assert queued.reference in ticket.summary
        assert await handoffs.pending() == []
    finally:
        await engine.dispose()


async def test_the_patients_message_during_an_outage_waits_in_the_outbox(
    migrated_database_url: str, tmp_path: Path
) -> None:
    """Logged on the platform before, the patient's message was lost with it; now it waits in the
    service's outbox for the platform to come back."""
    practice = generate_practice(patients=3, seed=7)
    engine, _ledger = await seeded_engine(migrated_database_url, practice)
    patient = practice.patients[0]
    outbox = CommunicationOutbox(engine)
    try:
        async with broken_server(status=503) as server, open_checkpointer(str(tmp_path / "cp.db")) as saver:
            platform, _http = _down_fhir(server.url, practice.practice.id)
            agent = _agent(platform, engine, saver, outbox=outbox)
            [message] = await _say(agent, "th-outage", "what is my balance?", patient.id)
            assert message.text == templates.PLATFORM_DOWN["en"]
            result = await outbox.drain(platform)
            assert result.unavailable
            assert result.sent == 0
            [waiting] = await outbox.pending()
            assert (waiting.patient_id, waiting.communication.author, waiting.communication.text) == (
                patient.id,
                Author.PATIENT,
                "what is my balance?",
            )
            await platform.aclose()
    finally:
        await engine.dispose()
