"""The SQLite lane: one-trip write transactions on a SQLite file, read back by SQLAlchemy unchanged."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session

from guardrails.audit import AuditLogRow, AuditTrail
from tools.db import Base, create_engine
from tools.sqlite_lane import sqlite_datetime, sqlite_lane


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


async def test_a_write_waits_for_another_writer_of_the_file(engine: AsyncEngine) -> None:
    """Another connection (another process, in production) holds the write lock; the lane's unit of
    work waits for it instead of failing, and the audit chain stays one chain."""
    path = engine.url.database
    assert path is not None
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    released = threading.Event()

    def release_later() -> None:
        time.sleep(0.3)
        other.execute(
            "INSERT INTO audit_log (seq, at, actor, event, payload, prev_hash, hash)"
            " VALUES (1, '2026-01-01 00:00:00.000000', 'a', 'e', '{}', ?, 'x')",
            ("0" * 64,),
        )
        other.execute("COMMIT")
        released.set()

    threading.Thread(target=release_later).start()
    record = await AuditTrail(engine).append("turn.completed", {"n": 2})
    assert released.is_set()
    assert record.seq == 2
    assert record.prev_hash == "x"
    other.close()


async def test_a_cancelled_caller_does_not_cut_a_unit_of_work_in_half(engine: AsyncEngine) -> None:
    lane = sqlite_lane(engine)
    assert lane is not None

    def slow_pair(conn: sqlite3.Connection) -> None:
        for seq in (1, 2):
            conn.execute(
                "INSERT INTO audit_log (seq, at, actor, event, payload, prev_hash, hash)"
                " VALUES (?, '2026-01-01 00:00:00.000000', 'a', 'e', '{}', 'p', ?)",
                (seq, f"h{seq}"),
            )
            time.sleep(0.1)

    task = asyncio.create_task(lane.write(slow_pair))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await lane.write(lambda conn: None)  # queued behind it: the pair has finished
    async with engine.connect() as conn:
        assert [r.seq for r in (await conn.execute(select(AuditLogRow.seq)))] == [1, 2]


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
