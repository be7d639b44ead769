"""Audit trail: hash chain, tamper detection, concurrent appends (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from guardrails.audit import (
    GENESIS_HASH,
    AuditEntry,
    AuditLogRow,
    AuditTrail,
    InvalidAuditPayload,
    compute_hash,
)
from tools.db import Base, create_engine


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(database_url)
    async with eng.begin() as conn:
        await conn.run_sync(lambda sync: Base.metadata.create_all(sync, tables=[AuditLogRow.__table__]))  # type: ignore[list-item]  # a mapped Table
    try:
        yield eng
    finally:
        await eng.dispose()


async def test_append_builds_a_chain(engine: AsyncEngine) -> None:
    trail = AuditTrail(engine)
    first = await trail.append(
        "plan.offered",
        {"options": 3, "balance_cents": 120000},
        thread_id="t-1",
        patient_id="p-1",
        actor="bot",
    )
    second = await trail.append(
        "plan.accepted",
        {"months": 12, "intent": "choose_plan"},
        thread_id="t-1",
        patient_id="p-1",
        actor="bot",
    )
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    assert second.hash == compute_hash(
        seq=2,
        at=second.at,
        thread_id="t-1",
        patient_id="p-1",
        actor="bot",
        event="plan.accepted",
        payload={"months": 12, "intent": "choose_plan"},
        prev_hash=first.hash,
    )
    result = await trail.verify()
    assert (result.ok, result.count, result.first_bad_seq) == (True, 2, None)
    stored = await trail.records()
    assert [r.hash for r in stored] == [first.hash, second.hash]
    assert stored[1].payload == {"months": 12, "intent": "choose_plan"}


async def test_append_once_records_a_turn_once_per_thread(engine: AsyncEngine) -> None:
    """A node re-run after a crash asks to record its turn again: the chain keeps one record of it; the
    thread's next turn, and the same turn on another thread, are recorded."""
    trail = AuditTrail(engine)
    first = await trail.append_once("agent.turn", {"turn": 1}, key="turn", thread_id="t-1", actor="bot")
    again = await trail.append_once("agent.turn", {"turn": 1}, key="turn", thread_id="t-1", actor="bot")
    other = await trail.append_once("agent.turn", {"turn": 1}, key="turn", thread_id="t-2", actor="bot")
    await trail.append("guard.refused", {"turn": 2}, thread_id="t-1", actor="bot")
    second = await trail.append_once("agent.turn", {"turn": 2}, key="turn", thread_id="t-1", actor="bot")
    assert first is not None
    assert other is not None
    assert second is not None
    assert again is None
    records = await trail.records()
    assert [(r.event, r.thread_id, r.payload["turn"]) for r in records] == [
        ("agent.turn", "t-1", 1),
        ("agent.turn", "t-2", 1),
        ("guard.refused", "t-1", 2),
        ("agent.turn", "t-1", 2),
    ]
    assert second.prev_hash == records[2].hash
    assert (await trail.verify()).ok


async def test_empty_trail_verifies(engine: AsyncEngine) -> None:
    result = await AuditTrail(engine).verify()
    assert (result.ok, result.count, result.first_bad_seq) == (True, 0, None)


async def test_tampered_payload_is_reported(engine: AsyncEngine) -> None:
    trail = AuditTrail(engine)
    for i in range(5):
        await trail.append("payment.link_created", {"amount_cents": 1000 + i}, patient_id="p-1")
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE audit_log SET payload = :p WHERE seq = 3"), {"p": '{"amount_cents": 1}'}
        )
    result = await trail.verify()
    assert not result.ok
    assert result.first_bad_seq == 3
    assert result.count == 5


async def test_deleted_row_is_reported(engine: AsyncEngine) -> None:
    trail = AuditTrail(engine)
    for i in range(4):
        await trail.append("turn.completed", {"n": i})
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM audit_log WHERE seq = 2"))
    result = await trail.verify()
    assert (result.ok, result.first_bad_seq) == (False, 3)


async def test_rewritten_hash_breaks_the_next_link(engine: AsyncEngine) -> None:
    trail = AuditTrail(engine)
    for i in range(3):
        await trail.append("turn.completed", {"n": i})
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE audit_log SET hash = :h WHERE seq = 2"), {"h": "f" * 64})
    assert (await trail.verify()).first_bad_seq == 2


async def test_concurrent_appends_keep_one_chain(engine: AsyncEngine) -> None:
    trail = AuditTrail(engine)
    records = await asyncio.gather(*(trail.append("turn.completed", {"n": i}) for i in range(20)))
    assert sorted(r.seq for r in records) == list(range(1, 21))
    result = await trail.verify()
    assert (result.ok, result.count) == (True, 20)


async def test_concurrent_appends_from_separate_trails(database_url: str, engine: AsyncEngine) -> None:
    # Two engines (two connection pools), as two workers would have: the database serialises them.
    other = create_engine(database_url)
    try:
        a, b = AuditTrail(engine), AuditTrail(other)
        await asyncio.gather(*(t.append("turn.completed", {"n": i}) for i in range(10) for t in (a, b)))
        result = await a.verify()
        assert (result.ok, result.count) == (True, 20)
    finally:
        await other.dispose()


async def test_clock_is_injectable_and_stored_in_utc(engine: AsyncEngine) -> None:
    fixed = datetime(2026, 4, 15, 12, 30, 0, 123456, tzinfo=UTC)
    trail = AuditTrail(engine, clock=lambda: fixed)
    record = await trail.append("identity.verified", {})
    assert record.at == fixed
    assert (await trail.verify()).ok


@pytest.mark.parametrize(
    "payload",
    [
        {"text": "I can't pay my bill, my husband lost his job"},
        {"nested": {"message": "hello there"}},
        {"items": ["ok", "free text here"]},
        {"bad key": 1},
    ],
)
async def test_message_text_is_refused(engine: AsyncEngine, payload: dict[str, object]) -> None:
    trail = AuditTrail(engine)
    with pytest.raises(InvalidAuditPayload):
        await trail.append("turn.completed", payload)  # type: ignore[arg-type]  # deliberately bad
    assert (await trail.verify()).count == 0


async def test_append_many_extends_one_verifiable_chain(migrated_database_url: str) -> None:
    engine = create_engine(migrated_database_url)
    try:
        trail = AuditTrail(engine)
        await trail.append("first", {"n": 1})
        entries = [
            AuditEntry("outreach.decision", {"n": n, "reason": "stop.paid"}, patient_id=f"p{n}")
            for n in range(50)
        ]
        assert await trail.append_many(entries, actor="outreach") == 50
        await trail.append("last", {"n": 2})
        records = await trail.records(limit=1000)
        assert [r.seq for r in records] == list(range(1, 53))
        assert records[10].patient_id == "p9"
        assert records[10].actor == "outreach"
        assert (await trail.verify()).ok
        with pytest.raises(InvalidAuditPayload):
            await trail.append_many([AuditEntry("x", {"text": "free text with spaces"})])
        assert (await trail.verify()).count == 52
    finally:
        await engine.dispose()
