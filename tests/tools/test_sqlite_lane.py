"""The SQLite lane: one-trip write transactions on a SQLite file, read back by SQLAlchemy unchanged."""

from __future__ import annotations

import asyncio
import gc
import json
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session

from guardrails.audit import AuditLogRow, AuditTrail
from tools.db import Base, create_engine
from tools.sqlite_lane import WAL_CHECKPOINT_EVERY, run_write, sqlite_datetime, sqlite_lane


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(f"sqlite:///{tmp_path / 'lane.db'}")
    async with eng.begin() as conn:
        await conn.run_sync(lambda sync: Base.metadata.create_all(sync, tables=[AuditLogRow.__table__]))  # type: ignore[list-item]  # a mapped Table
    try:
        yield eng
    finally:
        await eng.dispose()


def test_only_sqlite_files_get_a_lane() -> None:
    assert sqlite_lane(create_engine("sqlite://")) is None
    assert sqlite_lane(create_engine("sqlite+aiosqlite:///:memory:")) is None
    assert sqlite_lane(create_engine("postgresql://nobody@127.0.0.1:1/none")) is None


async def test_one_lane_per_engine(engine: AsyncEngine, tmp_path: Path) -> None:
    lane = sqlite_lane(engine)
    assert lane is not None
    assert sqlite_lane(engine) is lane
    other = create_engine(f"sqlite:///{tmp_path / 'lane.db'}")
    assert sqlite_lane(other) is not lane
    await other.dispose()


async def test_a_row_written_on_the_lane_reads_back_through_sqlalchemy(engine: AsyncEngine) -> None:
    at = datetime(2026, 11, 23, 15, 4, 5, 123456, tzinfo=UTC)
    lane = sqlite_lane(engine)
    assert lane is not None
    await lane.write(
        lambda conn: conn.execute(
            "INSERT INTO audit_log (seq, at, thread_id, patient_id, actor, event, payload, prev_hash, hash)"
            " VALUES (1, ?, NULL, NULL, 'bot', 'e', '{\"n\": 1}', 'p', 'h')",
            (sqlite_datetime(at),),
        )
    )
    async with engine.connect() as conn:
        row = (await conn.execute(select(AuditLogRow.at, AuditLogRow.payload))).one()
    assert row.at == at
    assert row.at.tzinfo is not None
    assert row.payload == {"n": 1}


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        sqlite_datetime(datetime(2026, 1, 1))


async def test_a_failing_unit_of_work_leaves_nothing(engine: AsyncEngine) -> None:
    lane = sqlite_lane(engine)
    assert lane is not None

    def two_rows_then_a_duplicate(conn: sqlite3.Connection) -> None:
        for seq in (1, 2, 2):
            conn.execute(
                "INSERT INTO audit_log (seq, at, actor, event, payload, prev_hash, hash)"
                " VALUES (?, '2026-01-01 00:00:00.000000', 'a', 'e', '{}', 'p', ?)",
                (seq, f"h{seq}-{id(conn)}-{time.perf_counter()}"),
            )

    with pytest.raises(sqlite3.IntegrityError):
        await lane.write(two_rows_then_a_duplicate)
    async with engine.connect() as conn:
        assert (await conn.execute(select(AuditLogRow.seq))).all() == []


async def test_a_write_waits_for_another_writer_of_the_file_without_freezing_the_event_loop(
    engine: AsyncEngine,
) -> None:
    """Another connection (another process, in production) holds the write lock; the lane's unit of
    work waits for it instead of failing, the audit chain stays one chain, and the wait happens on the
    lane's thread: the event loop keeps serving everything else meanwhile."""
    path = engine.url.database
    assert path is not None
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
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
        append = asyncio.create_task(AuditTrail(engine).append("turn.completed", {"n": 2}))
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


async def test_a_cancelled_caller_does_not_cut_a_unit_of_work_in_half(engine: AsyncEngine) -> None:
    """A unit of work waiting on the lane's thread (another writer holds the lock) whose caller is
    cancelled still runs whole once the lock is free: both rows, never one."""
    lane = sqlite_lane(engine)
    assert lane is not None
    path = engine.url.database
    assert path is not None

    def pair(conn: sqlite3.Connection) -> None:
        for seq in (1, 2):
            conn.execute(
                "INSERT INTO audit_log (seq, at, actor, event, payload, prev_hash, hash)"
                " VALUES (?, '2026-01-01 00:00:00.000000', 'a', 'e', '{}', 'p', ?)",
                (seq, f"h{seq}"),
            )

    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    task = asyncio.create_task(lane.write(pair))
    await asyncio.sleep(0.1)  # it met the lock and waits for it on the lane's thread
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    other.execute("COMMIT")
    other.close()
    seqs: list[int] = []
    for _ in range(250):
        async with engine.connect() as conn:
            seqs = [r.seq for r in await conn.execute(select(AuditLogRow.seq).order_by(AuditLogRow.seq))]
        if seqs:
            break
        await asyncio.sleep(0.02)
    assert seqs == [1, 2]


def _file_bytes(path: Path) -> int:
    return path.stat().st_size


async def test_the_write_ahead_log_stays_bounded(engine: AsyncEngine) -> None:
    """The loop's connection never checkpoints the WAL itself (that fsyncs); the lane's thread does it
    every few hundred commits, with the lane's writes queued behind it, so the WAL file starts over
    instead of growing with every commit."""
    lane = sqlite_lane(engine)
    assert lane is not None
    path = engine.url.database
    assert path is not None
    writes = 12 * WAL_CHECKPOINT_EVERY
    for seq in range(1, writes + 1):
        await lane.write(
            lambda conn, seq=seq: conn.execute(
                "INSERT INTO audit_log (seq, at, actor, event, payload, prev_hash, hash)"
                " VALUES (?, '2026-01-01 00:00:00.000000', 'bot', 'agent.turn', ?, 'p', ?)",
                (seq, json.dumps({"turn": seq, "intent": "balance"}), f"{seq:064x}"),
            )
        )
    # Unbounded, ~3,000 commits of two or three pages each reach ~30 MB; bounded, ~3 MB.
    assert _file_bytes(Path(f"{path}-wal")) < 8 * 1024 * 1024
    async with engine.connect() as conn:
        assert len((await conn.execute(select(AuditLogRow.seq))).all()) == writes


async def test_event_loops_in_two_threads_each_write_whole_units(engine: AsyncEngine) -> None:
    """Each calling thread has a connection of its own: two event loops writing through one lane at once
    never interleave their transactions (one would see the other's ``BEGIN``), and every unit lands."""
    lane = sqlite_lane(engine)
    assert lane is not None
    units = 150
    failures: list[BaseException] = []

    def loop_in_a_thread(base: int) -> None:
        async def go() -> None:
            for i in range(units):
                seq = base + 2 * i

                def two_rows(conn: sqlite3.Connection, seq: int = seq) -> None:
                    for n in (seq, seq + 1):
                        conn.execute(
                            "INSERT INTO audit_log (seq, at, actor, event, payload, prev_hash, hash)"
                            " VALUES (?, '2026-01-01 00:00:00.000000', 'a', 'e', '{}', 'p', ?)",
                            (n, f"h{n}"),
                        )

                await lane.write(two_rows)

        try:
            asyncio.run(go())
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=loop_in_a_thread, args=(base,)) for base in (1, 1_000_001)]
    for t in threads:
        t.start()
    for t in threads:
        await asyncio.to_thread(t.join)
    assert failures == []
    async with engine.connect() as conn:
        assert len((await conn.execute(select(AuditLogRow.seq))).all()) == 2 * 2 * units


async def test_a_lane_goes_with_its_engine(tmp_path: Path) -> None:
    """A process that opens and drops engines (the test suite, a CLI) does not keep a thread per engine."""
    before = threading.active_count()
    for n in range(20):
        eng = create_engine(f"sqlite:///{tmp_path / f'gone-{n}.db'}")
        lane = sqlite_lane(eng)
        assert lane is not None
        await lane.write(lambda conn: conn.execute("CREATE TABLE t (x)"))
        await eng.dispose()
        del eng, lane
    gc.collect()
    for _ in range(50):  # the lanes' threads see their executors gone and exit
        if threading.active_count() <= before + 1:
            break
        await asyncio.sleep(0.02)
    assert threading.active_count() <= before + 1


async def test_an_orm_read_sees_one_snapshot_and_leaves_no_transaction_open(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """``orm_read`` runs a synchronous ORM session on the lane: a row another writer commits between two
    of its statements is not seen by the second (one snapshot), ORM types read back as SQLAlchemy's own,
    and the lane can write right after."""
    at = datetime(2026, 11, 23, 15, 4, 5, 123456, tzinfo=UTC)
    lane = sqlite_lane(engine)
    assert lane is not None
    insert = (
        "INSERT INTO audit_log (seq, at, thread_id, patient_id, actor, event, payload, prev_hash, hash)"
        " VALUES (?, ?, NULL, NULL, 'bot', 'e', '{\"n\": 1}', 'p', 'h' || ?)"
    )
    await lane.write(lambda conn: conn.execute(insert, (1, sqlite_datetime(at), 1)))

    def read(session: Session) -> tuple[list[AuditLogRow], int]:
        first = list(session.scalars(select(AuditLogRow)))
        with sqlite3.connect(tmp_path / "lane.db") as other:  # another writer of the file commits
            other.execute(insert, (2, sqlite_datetime(at), 2))
        return first, len(list(session.scalars(select(AuditLogRow))))

    rows, later = await lane.orm_read(read)
    assert [r.seq for r in rows] == [1]
    assert rows[0].at == at  # the aware UTC instant, as the async ORM reads it
    assert rows[0].payload == {"n": 1}
    assert later == 1  # the other writer's row is not in this read's snapshot
    assert [r.seq for r in await lane.orm_read(lambda s: list(s.scalars(select(AuditLogRow))))] == [1, 2]
    await lane.write(lambda conn: conn.execute(insert, (3, sqlite_datetime(at), 3)))
    assert len(await lane.orm_read(lambda s: list(s.scalars(select(AuditLogRow))))) == 3


def _audit_row(seq: int) -> dict[str, object]:
    return {
        "seq": seq,
        "at": datetime(2026, 11, 23, 15, 4, 5, 123456, tzinfo=UTC),
        "actor": "bot",
        "event": "e",
        "payload": {"n": seq},
        "prev_hash": "p",
        "hash": f"h{seq}",
    }


async def test_sqlalchemy_writes_never_hold_the_write_lock_while_the_loop_runs_other_work(
    engine: AsyncEngine,
) -> None:
    """``run_write`` on a SQLite file runs the SQLAlchemy unit whole on the lane: another writer that
    tries for the lock whenever the event loop gets to it never finds it taken. Through the async
    engine the lock was held across each statement's hand-over to aiosqlite's thread (a thread
    creation held it 7.5 ms at the median under the bench's load) and every other writer waited."""
    path = engine.url.database
    assert path is not None
    probe = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
    locked_out: list[str] = []
    tries = 0
    writing = True

    async def other_writer() -> None:
        nonlocal tries
        while writing:
            tries += 1
            try:
                probe.execute("BEGIN IMMEDIATE")
                probe.execute("ROLLBACK")
            except sqlite3.OperationalError as exc:
                locked_out.append(str(exc))
            await asyncio.sleep(0)

    prober = asyncio.create_task(other_writer())
    await asyncio.sleep(0)
    try:
        for seq in range(1, 21):
            await run_write(
                engine, lambda conn, seq=seq: conn.execute(insert(AuditLogRow).values(_audit_row(seq)))
            )
            await asyncio.sleep(0)
    finally:
        writing = False
        await prober
        probe.close()
    assert tries >= 20
    assert locked_out == []
    async with engine.connect() as conn:
        rows = (await conn.execute(select(AuditLogRow.seq, AuditLogRow.at).order_by(AuditLogRow.seq))).all()
    assert [r.seq for r in rows] == list(range(1, 21))
    assert rows[0].at == datetime(2026, 11, 23, 15, 4, 5, 123456, tzinfo=UTC)


@pytest.mark.parametrize("where", ["lane", "async engine"])
async def test_a_failing_sqlalchemy_unit_leaves_nothing_and_raises_what_sqlalchemy_raises(
    where: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    """The same unit, on the lane (a SQLite file) or through the async engine (in-memory SQLite here,
    PostgreSQL in production): a duplicate key rolls the whole unit back and raises SQLAlchemy's
    ``IntegrityError`` either way, and the next unit commits."""
    target = engine
    if where == "async engine":
        target = create_engine("sqlite://")
        async with target.begin() as conn:
            await conn.run_sync(lambda sync: Base.metadata.create_all(sync, tables=[AuditLogRow.__table__]))  # type: ignore[list-item]  # a mapped Table
    assert (sqlite_lane(target) is None) == (where == "async engine")

    def two_rows_then_a_duplicate(conn: Connection) -> None:
        for seq in (1, 2, 2):
            conn.execute(insert(AuditLogRow).values(_audit_row(seq)))

    try:
        with pytest.raises(IntegrityError):
            await run_write(target, two_rows_then_a_duplicate)
        assert (
            await run_write(
                target, lambda conn: conn.execute(insert(AuditLogRow).values(_audit_row(3))).rowcount
            )
            == 1
        )
        async with target.connect() as conn:
            assert [r.seq for r in await conn.execute(select(AuditLogRow.seq))] == [3]
    finally:
        if target is not engine:
            await target.dispose()
