"""The transcript outbox's passes (``tools.outbox``), on SQLite and PostgreSQL with the real ledger: a
pass claims its lines in one statement and strikes the sent ones off together, so these tests hold it to
what that must not change: two workers draining at once send each line once, in order; a pass that stops
(the platform went down, the process is shutting down) leaves the lines it did not try free for the next
pass at once, in their order, their attempts untouched.

The platform is the ledger itself, seen through :class:`Watched`, which only counts and can stop the
sends: the ledger's unique external ids would hide a second send of a line, the count does not."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.tools.platforms.ledger_builders import NUMERIC, build_practice
from tools.db import create_engine
from tools.errors import PlatformUnavailable
from tools.outbox import CommunicationOutbox
from tools.platforms.ledger import LedgerPlatform
from tools.platforms.models import Author, Channel, Communication, CommunicationIn, Direction

P0 = NUMERIC.patient(0)


@dataclass
class Watched:
    """The ledger as the outbox's platform: counts each send by its key; ``fail_on`` / ``hang_on`` make
    the send of that key fail as an outage would, or never return."""

    ledger: LedgerPlatform
    sends: Counter[str] = field(default_factory=Counter)
    fail_on: str | None = None
    hang_on: str | None = None
    hanging: asyncio.Event = field(default_factory=asyncio.Event)

    async def log_communication(self, patient_id: str, communication: CommunicationIn) -> Communication:
        key = communication.external_id or ""
        self.sends[key] += 1
        if key == self.fail_on:
            raise PlatformUnavailable("the practice system stopped answering")
        if key == self.hang_on:
            self.hanging.set()
            await asyncio.Event().wait()
        await asyncio.sleep(0)  # another worker's pass gets its turn between two sends
        return await self.ledger.log_communication(patient_id, communication)


@pytest.fixture
async def engine(migrated_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(migrated_database_url)
    await LedgerPlatform(engine).bulk_load(build_practice(patients=1, ids=NUMERIC))
    try:
        yield engine
    finally:
        await engine.dispose()


def _line(n: int) -> CommunicationIn:
    return CommunicationIn(
        thread_id="th-passes",
        channel=Channel.PORTAL,
        direction=Direction.INBOUND if n % 2 else Direction.OUTBOUND,
        author=Author.PATIENT if n % 2 else Author.BOT,
        text=f"line {n}",
        external_id=f"line-{n:03d}",
    )


async def _queue(outbox: CommunicationOutbox, n: int) -> list[str]:
    for i in range(n):
        await outbox.enqueue(P0, _line(i))
    return [f"line-{i:03d}" for i in range(n)]


async def _on_platform(engine: AsyncEngine) -> list[str]:
    comms = await LedgerPlatform(engine).list_communications(P0, "th-passes", 500)
    return [c.external_id or "" for c in comms]


async def test_two_workers_draining_at_once_send_each_line_once(engine: AsyncEngine) -> None:
    keys = await _queue(CommunicationOutbox(engine), 40)
    other = create_engine(engine.url.render_as_string(hide_password=False))  # a second worker's pool
    try:
        a, b = CommunicationOutbox(engine), CommunicationOutbox(other)
        platform = Watched(LedgerPlatform(engine))
        for _ in range(20):  # both keep passing until nothing is left
            await asyncio.gather(a.drain(platform), b.drain(platform))  # type: ignore[arg-type]
            if not await a.count():
                break
    finally:
        await other.dispose()
    assert await a.count() == 0
    assert platform.sends == Counter(dict.fromkeys(keys, 1))  # none twice, none left out
    assert sorted(await _on_platform(engine)) == keys


async def test_a_line_refused_for_an_outage_stops_the_pass_and_the_rest_go_next_in_order(
    engine: AsyncEngine,
) -> None:
    outbox = CommunicationOutbox(engine)
    keys = await _queue(outbox, 5)
    platform = Watched(LedgerPlatform(engine), fail_on=keys[2])
    result = await outbox.drain(platform)  # type: ignore[arg-type]
    assert (result.sent, result.unavailable) == (2, True)
    waiting = await outbox.pending()
    assert [w.key for w in waiting] == keys[2:]
    assert [(w.attempts, w.last_error) for w in waiting] == [
        (1, "platform_unavailable"),
        (0, None),  # never tried: no attempt counted
        (0, None),
    ]
    platform.fail_on = None
    result = await outbox.drain(platform)  # type: ignore[arg-type]  # at once: nothing is held
    assert (result.sent, result.unavailable) == (3, False)
    assert await _on_platform(engine) == keys


async def test_a_pass_stopped_mid_send_frees_its_lines_for_the_next_pass_at_once(engine: AsyncEngine) -> None:
    outbox = CommunicationOutbox(engine)
    keys = await _queue(outbox, 4)
    platform = Watched(LedgerPlatform(engine), hang_on=keys[1])
    task = asyncio.create_task(outbox.drain(platform))  # type: ignore[arg-type]
    await asyncio.wait_for(platform.hanging.wait(), 10)
    task.cancel()  # e.g. the service shutting down while the platform hangs
    with pytest.raises(asyncio.CancelledError):
        await task
    waiting = await outbox.pending()
    assert [(w.key, w.attempts, w.last_error) for w in waiting] == [
        (keys[1], 1, "interrupted"),
        (keys[2], 0, None),
        (keys[3], 0, None),
    ]
    platform.hang_on = None
    result = await outbox.drain(platform)  # type: ignore[arg-type]  # not after the claim's minute
    assert result.sent == 3
    assert await _on_platform(engine) == keys
    assert platform.sends[keys[1]] == 2  # tried twice, on the platform once
