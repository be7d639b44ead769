"""``tools.db.write_transaction``: the one way every store writes. A unit commits whole or not at all
(an error or a cancelled caller leaves nothing), another writer of a SQLite file is waited for off the
event loop and, past the busy timeout, refused with a clear error; the WAL stays bounded."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from guardrails.audit import AuditLogRow, AuditTrail
from tools.db import (
    SQLITE_BUSY_TIMEOUT_S,
    Base,
    DatabaseBusy,
    create_engine,
    write_session,
    write_transaction,
)


async def _engine_with_audit_log(url: str, busy_timeout_s: float = SQLITE_BUSY_TIMEOUT_S) -> AsyncEngine:
    engine = create_engine(url, busy_timeout_s=busy_timeout_s)
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: Base.metadata.create_all(sync, tables=[AuditLogRow.__table__]))  # type: ignore[list-item]  # a mapped Table
    return engine


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = await _engine_with_audit_log(database_url)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
async def file_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    eng = await _engine_with_audit_log(f"sqlite:///{tmp_path / 'writes.db'}")
    try:
        yield eng
    finally:
        await eng.dispose()


def _row(seq: int) -> dict[str, object]:
    return {
        "seq": seq,
        "at": datetime(2026, 11, 23, 15, 4, 5, 123456, tzinfo=UTC),
        "actor": "bot",
        "event": "e",
        "payload": {"n": seq},
        "prev_hash": "p",
        "hash": f"h{seq}",
    }


async def _seqs(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as conn:
        return [r.seq for r in await conn.execute(select(AuditLogRow.seq).order_by(AuditLogRow.seq))]


def _file_bytes(path: Path) -> int:
    return path.stat().st_size


def _holder(engine: AsyncEngine) -> sqlite3.Connection:
    """Another writer of the file (another process, in production), holding the write lock."""
    path = engine.url.database
    assert path is not None
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    return other


async def test_a_failing_unit_leaves_nothing_and_the_next_one_commits(engine: AsyncEngine) -> None:
    async def two_rows_then_a_duplicate() -> None:
        async with write_transaction(engine) as conn:
            for seq in (1, 2, 2):
                await conn.execute(insert(AuditLogRow).values(_row(seq)))

    with pytest.raises(IntegrityError):
        await two_rows_then_a_duplicate()
    assert await _seqs(engine) == []
    async with write_transaction(engine) as conn:
        await conn.execute(insert(AuditLogRow).values(_row(3)))
    assert await _seqs(engine) == [3]


async def test_an_orm_unit_is_flushed_and_committed_once(engine: AsyncEngine) -> None:
    async with write_session(engine) as session:
        session.add(AuditLogRow(**_row(1)))
        session.add(AuditLogRow(**_row(2)))
    assert await _seqs(engine) == [1, 2]

    async def a_new_row_then_a_duplicate() -> None:
        async with write_session(engine) as session:
            session.add(AuditLogRow(**_row(3)))
            session.add(AuditLogRow(**_row(1)))

    with pytest.raises(IntegrityError):
        await a_new_row_then_a_duplicate()
    assert await _seqs(engine) == [1, 2]


async def test_a_caller_cancelled_half_way_leaves_no_half_unit(engine: AsyncEngine) -> None:
    """A request whose client went away is cancelled between the two rows of its unit: neither row is
    stored, and the next writer is not held up by what it left."""
    first_written = asyncio.Event()

    async def pair() -> None:
        async with write_transaction(engine) as conn:
            await conn.execute(insert(AuditLogRow).values(_row(1)))
            first_written.set()
            await asyncio.Event().wait()  # cancelled here
            await conn.execute(insert(AuditLogRow).values(_row(2)))

    task = asyncio.create_task(pair())
    await asyncio.wait_for(first_written.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _seqs(engine) == []
    async with asyncio.timeout(10), write_transaction(engine) as conn:
        await conn.execute(insert(AuditLogRow).values(_row(3)))
    assert await _seqs(engine) == [3]


async def test_a_caller_cancelled_while_waiting_for_the_lock_writes_nothing(file_engine: AsyncEngine) -> None:
    """Cancelled while SQLite makes it wait for another process's lock: once that lock is free the unit
    is not run, nothing is written, and the lock is not left held (the next append goes through)."""
    other = _holder(file_engine)
    try:
        task = asyncio.create_task(AuditTrail(file_engine).append("turn.completed", {"n": 1}))
        await asyncio.sleep(0.2)  # it waits for the other writer's lock
        assert not task.done()
        task.cancel()
        await asyncio.sleep(0.05)
    finally:
        other.execute("COMMIT")
        other.close()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
    record = await asyncio.wait_for(AuditTrail(file_engine).append("turn.completed", {"n": 2}), 10)
    assert record.seq == 1
    assert await _seqs(file_engine) == [1]


async def test_a_write_waits_for_another_writer_of_the_file_without_freezing_the_event_loop(
    file_engine: AsyncEngine,
) -> None:
    """Another process holds the write lock; the audit append waits for it instead of failing, the
    chain stays one chain (its end is read under the lock), and the wait happens off the event loop."""
    other = _holder(file_engine)
    loop_ran = threading.Event()
    released_when_asked: list[bool] = []

    def release_when_the_loop_has_run() -> None:
        released_when_asked.append(loop_ran.wait(10))
        other.execute(
            "INSERT INTO audit_log (seq, at, actor, event, payload, prev_hash, hash)"
            " VALUES (1, '2026-01-01 00:00:00.000000', 'a', 'e', '{}', ?, 'x')",
            ("0" * 64,),
        )
        other.execute("COMMIT")

    releaser = threading.Thread(target=release_when_the_loop_has_run)
    releaser.start()
    try:
        append = asyncio.create_task(AuditTrail(file_engine).append("turn.completed", {"n": 2}))
        for _ in range(15):  # 0.3 s of other work on the loop while the append waits
            await asyncio.sleep(0.02)
        assert not append.done()  # it cannot commit while the other writer holds the lock
        loop_ran.set()
        record = await asyncio.wait_for(append, 10)
    finally:
        loop_ran.set()
        releaser.join()
        other.close()
    assert released_when_asked == [True]
    assert record.seq == 2
    assert record.prev_hash == "x"


async def test_a_database_locked_past_the_busy_timeout_gives_a_clear_error_and_stores_nothing(
    tmp_path: Path,
) -> None:
    """Every writer, the one waiting on SQLite's lock and the ones of this process queued behind it,
    gives up with ``DatabaseBusy`` (a 503, retry later) within a bounded time; the event loop keeps
    running meanwhile, and once the lock is free writes go through again."""
    busy_timeout_s = 0.3
    engine = await _engine_with_audit_log(
        f"sqlite:///{tmp_path / 'locked.db'}", busy_timeout_s=busy_timeout_s
    )
    other = _holder(engine)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    trail = AuditTrail(engine)
    try:
        started = time.monotonic()
        outcomes = await asyncio.gather(
            *(trail.append("turn.completed", {"n": n}) for n in range(3)), return_exceptions=True
        )
        waited = time.monotonic() - started
        assert all(isinstance(o, DatabaseBusy) for o in outcomes), outcomes
        assert all(o.status_code == 503 and o.code == "database_busy" for o in outcomes)  # type: ignore[union-attr]  # checked above
        assert waited < 10 * busy_timeout_s  # bounded: nobody waits for the lock forever
        assert ticks >= 10  # the loop ran while they waited
        other.execute("COMMIT")
        assert (await trail.append("turn.completed", {"n": 9})).seq == 1
        assert await _seqs(engine) == [1]
    finally:
        ticking.cancel()
        other.close()
        await engine.dispose()


async def test_writers_of_two_engines_on_one_file_keep_one_audit_chain(tmp_path: Path) -> None:
    """Two engines on one file stand for two processes: each appends read the chain's end and then
    insert, concurrently; every append succeeds (no transaction loses its snapshot to the other's
    write) and the chain verifies."""
    url = f"sqlite:///{tmp_path / 'two.db'}"
    first = await _engine_with_audit_log(url)
    second = create_engine(url)
    try:
        trails = (AuditTrail(first), AuditTrail(second))
        records = await asyncio.gather(
            *(trail.append("turn.completed", {"n": n}) for n in range(15) for trail in trails)
        )
        assert sorted(r.seq for r in records) == list(range(1, 31))
        verification = await trails[0].verify()
        assert verification.ok
        assert verification.count == 30
    finally:
        await first.dispose()
        await second.dispose()


async def test_the_write_ahead_log_stays_bounded(file_engine: AsyncEngine) -> None:
    """Thousands of commits leave a WAL file of a few MB: SQLite copies it back into the database and
    starts it over, instead of growing it by every commit."""
    path = file_engine.url.database
    assert path is not None
    commits = 1200
    for seq in range(1, commits + 1):
        async with write_transaction(file_engine) as conn:
            await conn.execute(insert(AuditLogRow).values({**_row(seq), "payload": {"pad": "x" * 3000}}))
    # Unbounded (automatic checkpoints off), the same commits leave a WAL file of about 35 MB.
    assert _file_bytes(Path(f"{path}-wal")) < 8 * 1024 * 1024
    assert len(await _seqs(file_engine)) == commits
