"""The transcript outbox on every platform: a conversation's lines are logged on the practice system
after the reply, exactly once, through an outage and a restart.

The platforms are the contract suite's: the ledger, the FHIR adapter on a real sekmet server, and the
DrChrono adapter on the stand-in built from DrChrono's OpenAPI description."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import SecretStr

from agent.checkpoint import open_checkpointer
from agent.events import MessageEvent
from agent.service import BillingAgent
from api.main import create_app
from api.settings import Settings
from guardrails.audit import AuditTrail
from tests.agent.harness import build_agent, clock
from tests.support.drchrono_fake import DrChronoFake
from tests.support.lifespan import STARTUP_S
from tests.support.outbox import outbox_drained
from tests.tools.platforms.ledger_builders import NUMERIC, build_practice
from tests.tools.platforms.test_platform_contract import (
    Clock,
    _drchrono,
    _fhir,
    _ledger,
    drchrono_spec,
)
from tools.db import create_engine
from tools.outbox import CommunicationOutbox
from tools.payments.sandbox import SandboxGateway
from tools.platforms.base import BillingPlatform
from tools.platforms.drchrono import DrChronoPlatform
from tools.platforms.fhir import FhirPlatform
from tools.platforms.http import CircuitBreaker
from tools.platforms.ledger import LedgerPlatform
from tools.platforms.models import Author, Channel, CommunicationIn, Direction

__all__ = ["drchrono_spec"]  # the contract suite's fixture, used here by name

P0 = NUMERIC.patient(0)
QUESTION = "what is my balance?"


@dataclass
class World:
    platform: BillingPlatform
    outbox: CommunicationOutbox
    agent: BillingAgent
    fake: DrChronoFake | None

    async def ask(self, thread: str, text: str = QUESTION) -> str:
        events = [
            e async for e in self.agent.turn(thread, text, channel=Channel.PORTAL, patient_id=P0, phone=None)
        ]
        [message] = [e for e in events if isinstance(e, MessageEvent)]
        return message.text

    async def transcript(self, thread: str) -> list[tuple[Author, str, str | None]]:
        comms = await self.platform.list_communications(P0, thread, 100)
        return [(c.author, c.text, c.external_id) for c in comms]


@pytest.fixture(params=["ledger", "fhir", "drchrono"])
async def world(
    request: pytest.FixtureRequest, migrated_database_url: str, tmp_path: Path
) -> AsyncIterator[World]:
    data = build_practice(patients=3, ids=NUMERIC)
    platform_clock = Clock()
    fake: DrChronoFake | None = None
    if request.param == "fhir":
        platform, close = await _fhir(request.getfixturevalue("sekmet"), data, platform_clock)
    elif request.param == "drchrono":
        spec = request.getfixturevalue("drchrono_spec")
        platform, fake, close = await _drchrono(spec, migrated_database_url, data, platform_clock)
    else:
        platform, close = await _ledger(migrated_database_url, data, platform_clock)
    engine = create_engine(migrated_database_url)
    outbox = CommunicationOutbox(engine)
    try:
        async with open_checkpointer(str(tmp_path / "cp.db")) as saver:
            agent = build_agent(
                platform,  # type: ignore[arg-type]  # the harness names the ledger; any BillingPlatform runs
                SandboxGateway(engine, "http://billing.test", clock=clock),
                AuditTrail(engine, clock=clock),
                saver,
                outbox=outbox,
            )
            yield World(platform, outbox, agent, fake)
    finally:
        await engine.dispose()
        await close()
    if fake is not None:
        assert fake.violations == [], "requests that break DrChrono's OpenAPI description"


@pytest.fixture
async def draining(world: World) -> AsyncIterator[World]:
    """``world`` with the outbox drained in the background, as ``serve`` does."""
    stop = asyncio.Event()
    task = asyncio.create_task(world.outbox.serve(world.platform, stop, poll_s=0.2))
    try:
        yield world
    finally:
        stop.set()
        await task


def _breaker_of(platform: BillingPlatform) -> CircuitBreaker:
    assert isinstance(platform, FhirPlatform | DrChronoPlatform)
    return platform.http.breaker


async def test_the_question_and_the_reply_are_logged_once_after_the_reply(draining: World) -> None:
    reply = await draining.ask("th-1")
    await outbox_drained(draining.outbox)
    lines = await draining.transcript("th-1")
    assert [(a, t) for a, t, _ in lines] == [(Author.PATIENT, QUESTION), (Author.BOT, reply)]
    assert all(key for _, _, key in lines), "every line carries its idempotency key"

    # A drain that died after the platform took a line but before it was struck off here sends it again:
    # the platform finds the first by its key.
    for author, text, key in lines:
        direction = Direction.INBOUND if author is Author.PATIENT else Direction.OUTBOUND
        await draining.outbox.enqueue(
            P0,
            CommunicationIn(
                thread_id="th-1", channel=Channel.PORTAL, direction=direction, author=author, text=text,
                external_id=key,
            ),
        )  # fmt: skip
    await outbox_drained(draining.outbox)
    assert await draining.transcript("th-1") == lines

    # The next question's lines follow, in order.
    second = await draining.ask("th-1", "how much do I owe?")
    await outbox_drained(draining.outbox)
    assert [(a, t) for a, t, _ in await draining.transcript("th-1")][2:] == [
        (Author.PATIENT, "how much do I owe?"),
        (Author.BOT, second),
    ]


async def test_lines_wait_while_the_breaker_is_open_and_go_once_when_it_closes(world: World) -> None:
    if isinstance(world.platform, LedgerPlatform):
        pytest.skip("the embedded ledger has no breaker: it is the service's own database")
    reply = await world.ask("th-2")  # answered from the platform; its lines are queued
    assert await world.outbox.count() == 2
    breaker = _breaker_of(world.platform)
    breaker.cooldown_s = 1.5  # the adapter's own breaker, a short cool-down
    for _ in range(breaker.threshold):
        breaker.record_failure("the practice system stopped answering")
    assert isinstance(world.platform, FhirPlatform | DrChronoPlatform)
    calls = world.platform.http.stats.calls
    stop = asyncio.Event()
    task = asyncio.create_task(world.outbox.serve(world.platform, stop, poll_s=0.1))
    try:
        # Open: the drain tries, is refused without a request, and backs off (polled: a loaded machine
        # may take a while to get there, but not the cool-down's 1.5 s).
        async with asyncio.timeout(1.2):
            while not (waiting := await world.outbox.pending())[0].last_error:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        assert [line.communication.author for line in waiting] == [Author.PATIENT, Author.BOT]
        assert waiting[0].last_error == "platform_unavailable"
        assert world.platform.http.stats.calls == calls  # no request while the breaker is open
        await outbox_drained(world.outbox)  # the cool-down ends: the trial call goes through
    finally:
        stop.set()
        await task
    assert [(a, t) for a, t, _ in await world.transcript("th-2")] == [
        (Author.PATIENT, QUESTION),
        (Author.BOT, reply),
    ]


async def test_a_line_for_a_patient_the_platform_does_not_know_is_set_aside(draining: World) -> None:
    await draining.outbox.enqueue(
        "9999",
        CommunicationIn(
            thread_id="th-3", channel=Channel.PORTAL, direction=Direction.INBOUND, author=Author.PATIENT,
            text="hello",
        ),
    )  # fmt: skip
    await draining.outbox.enqueue(
        P0,
        CommunicationIn(
            thread_id="th-3", channel=Channel.PORTAL, direction=Direction.INBOUND, author=Author.PATIENT,
            text="still here",
        ),
    )  # fmt: skip
    await outbox_drained(draining.outbox)  # the unknown patient's line does not hold up the next one
    [dead] = await draining.outbox.pending()
    assert dead.dead
    assert dead.patient_id == "9999"
    assert dead.last_error == "patient_not_found"
    assert [t for _, t, _ in await draining.transcript("th-3")] == ["still here"]


SECRET = SecretStr("portal-test-secret-0123456789abcdef0123")


async def test_serve_sends_the_lines_a_stopped_process_left(
    migrated_database_url: str, tmp_path: Path
) -> None:
    """Lines left in the outbox (the process stopped before the platform took them) go out with the
    next ``serve``, once: one of them had reached the platform already."""
    settings = Settings(
        database_url=migrated_database_url,
        environment="test",
        checkpoint_url=f"sqlite:///{tmp_path / 'checkpoints.db'}",
        portal_token_secret=SECRET,
        outreach_interval_s=0,
    )
    engine = create_engine(migrated_database_url)
    try:
        ledger = LedgerPlatform(engine)
        await ledger.bulk_load(build_practice(patients=1, ids=NUMERIC))
        outbox = CommunicationOutbox(engine)
        lines = [
            CommunicationIn(
                thread_id="th-4", channel=Channel.SMS, direction=Direction.INBOUND, author=Author.PATIENT,
                text="what do I owe?", external_id="SM-left-1",
            ),
            CommunicationIn(
                thread_id="th-4", channel=Channel.SMS, direction=Direction.OUTBOUND, author=Author.BOT,
                text="Your balance is $12.00.", external_id="bot:th-4:1",
            ),
        ]  # fmt: skip
        for line in lines:
            await outbox.enqueue(P0, line)
        await ledger.log_communication(P0, lines[0])  # sent before the stop, not yet struck off
        app = create_app(settings)
        async with (
            LifespanManager(app, startup_timeout=STARTUP_S, shutdown_timeout=STARTUP_S),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver"),
        ):
            await outbox_drained(app.state.services.agent.ports.outbox)
        comms = await ledger.list_communications(P0, "th-4", 10)
        assert [(c.text, c.external_id) for c in comms] == [(x.text, x.external_id) for x in lines]
        assert await outbox.count() == 0
    finally:
        await engine.dispose()


async def test_a_hand_off_ticket_carries_the_lines_still_queued(world: World) -> None:
    """No background drain here: the hand-off itself sends the thread's queued lines before it reads
    the transcript for the ticket."""
    await world.ask("th-5")
    await world.ask("th-5", "I want to talk to a person")
    [ticket] = [t for t in await world.platform.list_tickets(P0) if t.thread_id == "th-5"]
    said = [(line.author, line.text) for line in ticket.transcript]
    assert said[0] == (Author.PATIENT, QUESTION)
    assert said[-1] == (Author.PATIENT, "I want to talk to a person")
