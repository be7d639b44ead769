"""The runtime's parts against real databases: the event store's resumption, the bus, turn ordering
across two runners sharing a database (two workers), graceful drain, SMS delivery and consent."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy.ext.asyncio import AsyncEngine

from api.main import build_bus, create_app
from api.runtime.bus import PostgresBus
from api.runtime.events import EventStore
from api.runtime.locks import ThreadLocks
from api.runtime.metrics import Metrics
from api.runtime.runner import TurnRunner
from api.runtime.threads import Threads
from tests.api.portal_support import seed, services_of
from tests.api.test_portal import make_settings
from tests.support.lifespan import STARTUP_S
from tools.db import create_engine
from tools.messaging.consent import SmsConsentStore
from tools.messaging.log import LogMessaging


async def test_event_store_resumes_exactly_after_an_id(migrated_database_url: str) -> None:
    engine = create_engine(migrated_database_url)
    try:
        store = EventStore(engine)
        a = [await store.append("th_a", "1", {"type": "token", "text": str(i)}) for i in range(5)]
        b = await store.append("th_b", None, {"type": "staff_message", "text": "x"})
        assert [e.id for e in await store.after("th_a", a[1].id)] == [e.id for e in a[2:]]
        assert await store.after("th_a", a[-1].id) == []
        assert [e.id for e in await store.since(a[2].id)] == [a[3].id, a[4].id, b.id]
        assert await store.last_id("th_a") == a[-1].id
        with pytest.raises(ValueError, match="unknown event type"):
            await store.append("th_a", None, {"type": "nonsense"})
    finally:
        await engine.dispose()


async def test_bus_wakes_subscribers_of_the_thread_and_of_all_threads(
    migrated_database_url: str, tmp_path: Path
) -> None:
    bus = build_bus(make_settings(migrated_database_url, tmp_path))
    await bus.start()
    try:
        one, other, everything = bus.subscribe("th_1"), bus.subscribe("th_2"), bus.subscribe("*")
        await bus.publish("th_1", 42)
        assert await one.next(2) == 42
        assert await everything.next(2) == 42
        assert await other.next(0.2) is None
        one.close()
        await bus.publish("th_1", 43)
        assert await one.next(0.2) is None  # closed: no longer registered
        assert bus.subscribers() == 2
    finally:
        await bus.close()


async def test_threads_dedupe_external_ids_and_take_over_is_exclusive(migrated_database_url: str) -> None:
    engine = create_engine(migrated_database_url)
    try:
        threads = Threads(engine)
        thread = await threads.get_or_create_sms("+15551230000")
        assert (await threads.get_or_create_sms("+15551230000")).id == thread.id
        first = await threads.add_inbound(thread.id, "hi", external_id="SM1")
        again = await threads.add_inbound(thread.id, "hi", external_id="SM1")
        assert not first.duplicate
        assert again.duplicate
        assert again.id == first.id
        assert len(await threads.inbound_of(thread.id)) == 1
        await threads.take_over(thread.id, "staff:a")
        with pytest.raises(Exception, match="held by staff:a"):
            await threads.take_over(thread.id, "staff:b")
        released = await threads.release(thread.id, "staff:a")
        assert released.mode == "bot"
        assert released.holder is None
    finally:
        await engine.dispose()


async def test_two_runners_on_one_database_answer_a_thread_in_arrival_order(
    migrated_database_url: str, tmp_path: Path
) -> None:
    """Two workers (two runners with their own locks and buses, one database): messages submitted
    alternately to each are answered one at a time, in the order they were stored."""
    if migrated_database_url.startswith("sqlite"):
        pytest.skip("SQLite serves one process; cross-worker ordering is PostgreSQL's advisory lock")
    data = await seed(migrated_database_url)
    settings = make_settings(migrated_database_url, tmp_path)
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=STARTUP_S, shutdown_timeout=STARTUP_S):
        services = services_of(app)
        patient = next(p for p in data.patients if any(s.patient_id == p.id for s in data.statements))
        thread = await services.threads.create("portal", patient_id=patient.id)
        second_worker = TurnRunner(
            agent=services.agent,
            threads=Threads(services.engine),
            events=services.events,
            bus=services.bus,
            locks=ThreadLocks(services.engine),  # its own in-process lock: only the database orders them
            metrics=Metrics(),
        )
        texts = ["what is my balance?", "when is it due?", "thanks", "what is my balance?"]
        runners = [services.runner, second_worker]
        stored = [await runners[i % 2].submit(thread.id, text) for i, text in enumerate(texts)]
        for _ in range(400):
            if all(m.status == "done" for m in await services.threads.inbound_of(thread.id)):
                break
            await asyncio.sleep(0.05)
        await second_worker.drain()
        events = await services.events.after(thread.id, 0)
        order: list[str] = []
        for event in events:
            if event.turn_id is not None and (not order or order[-1] != event.turn_id):
                order.append(event.turn_id)
        assert order == [m.turn_id for m in stored]  # arrival order, each turn contiguous
        assert [e.type for e in events].count("done") == 4


class _UnlockThatWaits(ThreadLocks):
    """Real advisory locks whose first release waits until the test lets it finish."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self.releasing, self.release = asyncio.Event(), asyncio.Event()

    async def _scalar(self, sql: str, key: int) -> bool:
        if "unlock" in sql and not self.release.is_set():
            self.releasing.set()
            await self.release.wait()
        return await super()._scalar(sql, key)


async def test_a_message_stored_while_its_thread_is_being_released_is_still_answered(
    migrated_database_url: str, tmp_path: Path
) -> None:
    """On PostgreSQL letting go of a thread is a round trip. A message stored during it found the
    thread's worker still alive, so it started none; the worker then ended without looking again and
    the message stayed queued until the thread's next message or a restart."""
    if migrated_database_url.startswith("sqlite"):
        pytest.skip("on SQLite letting go of a thread is immediate")
    data = await seed(migrated_database_url)
    app = create_app(make_settings(migrated_database_url, tmp_path))
    patient = next(p for p in data.patients if any(s.patient_id == p.id for s in data.statements))
    async with LifespanManager(app, startup_timeout=STARTUP_S, shutdown_timeout=STARTUP_S):
        services = services_of(app)
        locks = _UnlockThatWaits(services.engine)
        services.runner.locks = locks
        thread = await services.threads.create("portal", patient_id=patient.id)
        await services.runner.submit(thread.id, "what is my balance?")
        await asyncio.wait_for(locks.releasing.wait(), 30)  # the first turn is done, the lock going
        second = await services.runner.submit(thread.id, "when is it due?")
        locks.release.set()
        for _ in range(200):
            if (await services.threads.get_inbound(second.id)).status == "done":
                break
            await asyncio.sleep(0.05)
        assert (await services.threads.get_inbound(second.id)).status == "done"


async def test_shutdown_drains_in_flight_turns(migrated_database_url: str, tmp_path: Path) -> None:
    data = await seed(migrated_database_url)
    app = create_app(make_settings(migrated_database_url, tmp_path))
    patient = next(p for p in data.patients if any(s.patient_id == p.id for s in data.statements))
    async with LifespanManager(app, startup_timeout=STARTUP_S, shutdown_timeout=STARTUP_S):
        services = services_of(app)
        thread = await services.threads.create("portal", patient_id=patient.id)
        message = await services.runner.submit(thread.id, "what is my balance?")
        assert services.runner.in_flight() == 1
    # The lifespan has ended: the turn finished before the engine closed.
    engine = create_engine(migrated_database_url)
    try:
        assert (await Threads(engine).get_inbound(message.id)).status == "done"
        assert (await EventStore(engine).after(thread.id, 0))[-1].type == "done"
    finally:
        await engine.dispose()


async def test_sms_reply_is_texted_only_while_consent_stands(
    migrated_database_url: str, tmp_path: Path
) -> None:
    """A patient who texts us is answered; a number that opted out (STOP) is never texted again."""
    data = await seed(migrated_database_url, patients=40)
    app = create_app(make_settings(migrated_database_url, tmp_path))
    phones = [p.phone for p in data.patients if p.phone]
    texting, opted_out = [p for p in data.patients if p.phone and phones.count(p.phone) == 1][:2]
    assert texting.phone is not None
    assert opted_out.phone is not None
    async with LifespanManager(app, startup_timeout=STARTUP_S, shutdown_timeout=STARTUP_S):
        services = services_of(app)
        assert isinstance(services.messaging, LogMessaging)
        await SmsConsentStore(services.engine).record(opted_out.phone, "opt_out", "keyword")
        for patient in (texting, opted_out):
            assert patient.phone is not None
            thread = await services.threads.get_or_create_sms(patient.phone)
            await services.runner.submit(thread.id, "hello", external_id=f"SM{patient.id}")
            await services.runner.submit(thread.id, "hello", external_id=f"SM{patient.id}")  # redelivery
        await services.runner.drain()
        sent_to = [m.to for m in services.messaging.sent]
        assert sent_to == [texting.phone]


async def test_postgres_appends_send_their_bus_hint_at_commit_and_never_for_a_rollback(
    migrated_database_url: str, tmp_path: Path
) -> None:
    """On PostgreSQL the append's own transaction carries the ``NOTIFY``: a follower on any worker is
    woken once the event is committed, and an event whose transaction rolled back wakes nobody."""
    if migrated_database_url.startswith("sqlite"):
        pytest.skip("the in-transaction NOTIFY is PostgreSQL's (SQLite uses the in-process bus)")
    bus = build_bus(make_settings(migrated_database_url, tmp_path))
    assert isinstance(bus, PostgresBus)
    await bus.start()
    engine = create_engine(migrated_database_url)
    try:
        store = EventStore(engine, notify_channel=bus.channel)
        assert store.notifies
        with bus.subscribe("th_notify") as follower:
            first = await store.append("th_notify", "1", {"type": "token", "text": "a"})
            assert await follower.next(10) == first.id  # no publish call: the commit sent it

            async def append_then_fail() -> None:
                async with engine.begin() as conn:
                    await store.append_on(conn, "th_notify", "1", {"type": "token", "text": "lost"})
                    raise RuntimeError("rolled back")

            with pytest.raises(RuntimeError):
                await append_then_fail()
            second = await store.append("th_notify", "1", {"type": "token", "text": "b"})
            assert await follower.next(10) == second.id  # the rolled-back event sent nothing
            assert [e.data["text"] for e in await store.after("th_notify", 0)] == ["a", "b"]
    finally:
        await engine.dispose()
        await bus.close()


async def test_running_turns_wait_while_a_new_message_is_being_accepted(
    migrated_database_url: str, tmp_path: Path
) -> None:
    """A message being posted (``urgent``) goes ahead of turns: a turn does not take its next step
    until the request has its first event (here held open on purpose), then answers normally."""
    data = await seed(migrated_database_url)
    app = create_app(make_settings(migrated_database_url, tmp_path))
    patient = next(p for p in data.patients if any(s.patient_id == p.id for s in data.statements))
    async with LifespanManager(app, startup_timeout=STARTUP_S, shutdown_timeout=STARTUP_S):
        services = services_of(app)
        runner = services.runner
        runner.yield_max_s = 60.0  # no time cap in this test: only the request's end lets the turn on
        thread = await services.threads.create("portal", patient_id=patient.id)
        with services.bus.subscribe(thread.id) as follower:
            async with runner.urgent():
                accepted = await runner.accept(
                    thread.id, "what is my balance?", channel="portal", patient_id=patient.id
                )
                assert accepted.typing is not None  # the first event exists before any turn work
                await asyncio.sleep(0.5)  # a turn on an idle service ends well within this
                assert (await services.threads.get_inbound(accepted.message.id)).status == "queued"
                assert [e.type for e in await services.events.after(thread.id, 0)] == ["typing"]
            for _ in range(200):
                if (await services.threads.get_inbound(accepted.message.id)).status == "done":
                    break
                await follower.next(0.1)
        types = [e.type for e in await services.events.after(thread.id, 0)]
        assert types[0] == "typing"
        assert "message" in types
        assert types[-1] == "done"


async def test_a_follower_cancelled_as_a_hint_arrives_stops() -> None:
    """Shutdown cancels every SSE follower; one whose hint arrived in the same loop step must still
    stop (Python 3.11's ``asyncio.wait_for`` returned the hint instead, and the stream went on forever,
    hanging the server's shutdown)."""
    from api.runtime.bus import InProcessBus

    bus = InProcessBus()
    with bus.subscribe("th_1") as subscription:
        follower = asyncio.ensure_future(subscription.next(30))
        await asyncio.sleep(0)  # the follower is waiting for a hint
        await bus.publish("th_1", 7)
        follower.cancel()
        with pytest.raises(asyncio.CancelledError):
            await follower
        assert subscription.queue.qsize() == 1  # the hint is not lost either


async def test_a_follower_wakes_for_newer_events_only() -> None:
    """Hints of events the follower has already read (at or before its cursor) do not wake it for another
    read of the store; a newer event, a resync and a full queue (a newer hint may have been dropped) do."""
    from api.runtime.bus import QUEUE_SIZE, RESYNC, InProcessBus

    bus = InProcessBus()
    with bus.subscribe("th_1") as subscription:
        for event_id in (5, 6, 7, 9):
            await bus.publish("th_1", event_id)
        await asyncio.wait_for(subscription.news(7, 30), 5)  # 5..7 spent: woken by 9
        assert subscription.queue.empty()

        for event_id in (3, 4):
            await bus.publish("th_1", event_id)
        waiting = asyncio.ensure_future(subscription.news(9, 30))
        await asyncio.sleep(0.05)
        assert not waiting.done()  # only spent hints so far
        await bus.publish("th_1", RESYNC)
        await asyncio.wait_for(waiting, 5)

        for event_id in range(1, QUEUE_SIZE + 2):  # one more than the queue holds: the newest is dropped
            await bus.publish("th_1", event_id)
        await asyncio.wait_for(subscription.news(QUEUE_SIZE + 1, 30), 5)  # full: read the store anyway
