"""Checkpoint stores (LangGraph's own savers, as we open them): a thread resumes across saver instances,
another writer of the file is waited for off the event loop, the WAL stays bounded, pruning keeps the
newest checkpoint."""

from __future__ import annotations

import asyncio
import os
import secrets
import sqlite3
import threading
from pathlib import Path

import aiosqlite
import psycopg
import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import text
from sqlalchemy.engine import make_url

from agent.checkpoint import checkpoint_bytes, open_checkpointer, prune_thread
from agent.context import AgentContext
from agent.state import ApprovalRequest, ApprovalState
from bench.floor import Floor
from tests.agent.harness import Env
from tools.db import create_engine
from tools.platforms.models import Channel


@pytest.mark.postgres
async def test_postgres_checkpointer_resumes_a_thread(env: Env) -> None:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.skip("set TEST_DATABASE_URL to run PostgreSQL tests")
    thread = f"pg-{secrets.token_hex(6)}"
    patient = env.patient("copay_only")
    async with open_checkpointer(url) as saver:
        await env.say(thread, "I'd like to set up a payment plan", patient, agent=env.make_agent(saver))
        assert await checkpoint_bytes(saver, thread) > 0
    async with open_checkpointer(url) as saver:
        agent = env.make_agent(saver)
        state = await agent.state(thread)
        assert state.get("turn") == 1
        assert state.get("identity") == "verified"
        await prune_thread(saver, thread)
        said = await env.say(thread, "what is my balance?", patient, agent=agent)
        assert said.message is not None
        assert said.message.intent == "balance"
        await saver.adelete_thread(thread)


@pytest.mark.postgres
async def test_postgres_checkpoints_commit_without_waiting_for_the_disk_and_the_ledger_still_does() -> None:
    """The checkpoint store's deliberate durability (``agent.checkpoint``): its sessions commit
    asynchronously; every other connection keeps PostgreSQL's synchronous commit."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.skip("set TEST_DATABASE_URL to run PostgreSQL tests")
    async with open_checkpointer(url) as saver:
        assert isinstance(saver, AsyncPostgresSaver)
        assert isinstance(saver.conn, AsyncConnectionPool)
        async with saver.conn.connection() as conn:
            row = await (await conn.execute("SHOW synchronous_commit")).fetchone()
            assert row is not None
            assert row["synchronous_commit"] == "off"
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("SHOW synchronous_commit"))).scalar_one() == "on"
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_postgres_checkpoints_go_to_the_schema_the_url_selects() -> None:
    """A URL's own ``options`` (here ``search_path``, how a tenant's schema is chosen) reach the saver."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.skip("set TEST_DATABASE_URL to run PostgreSQL tests")
    schema = f"cp_{secrets.token_hex(4)}"
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    async with await psycopg.AsyncConnection.connect(plain, autocommit=True) as admin:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
            async with open_checkpointer(scoped.render_as_string(hide_password=False)) as saver:
                assert isinstance(saver, AsyncPostgresSaver)
                assert isinstance(saver.conn, AsyncConnectionPool)
                async with saver.conn.connection() as conn:
                    row = await (await conn.execute("SHOW search_path")).fetchone()
                    assert row is not None
                    assert row["search_path"] == schema
            found = await (
                await admin.execute(
                    "SELECT count(*) FROM pg_tables WHERE schemaname = %s AND tablename = 'checkpoints'",
                    (schema,),
                )
            ).fetchone()
            assert found == (1,)
        finally:
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


async def test_sqlite_checkpointer_by_url_and_by_path(env: Env, tmp_path: object) -> None:
    patient = env.patient("copay_only")
    path = f"{tmp_path}/by-url.db"
    async with open_checkpointer(f"sqlite:///{path}") as saver:
        await env.say("u-1", "hi", patient, agent=env.make_agent(saver))
    async with open_checkpointer(path) as saver:
        assert (await env.make_agent(saver).state("u-1")).get("turn") == 1


def _newest(thread: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}


async def _rows(path: Path, thread: str) -> tuple[int, int]:
    async with aiosqlite.connect(path) as conn:
        counts = []
        for table in ("checkpoints", "writes"):
            async with conn.execute(f"SELECT COUNT(*) FROM {table} WHERE thread_id = ?", (thread,)) as cur:
                row = await cur.fetchone()
                counts.append(int(row[0]) if row else 0)
    return counts[0], counts[1]


async def test_a_turn_that_meets_another_writer_of_the_store_waits_without_freezing_the_service(
    env: Env, tmp_path: Path
) -> None:
    """A lock held by another process (a CLI command on the same file) must not be waited for on the
    event loop: every other conversation of the service would stop. The turn waits on aiosqlite's
    thread instead, and finishes once the lock is released."""
    patient = env.patient("copay_only")
    path = tmp_path / "shared.db"
    async with open_checkpointer(str(path)) as saver:
        agent = env.make_agent(saver)
        await env.say("lk-1", "hi", patient, agent=agent)
        other = sqlite3.connect(path, check_same_thread=False)  # another writer of the file
        other.execute("BEGIN IMMEDIATE")
        loop_ran = threading.Event()
        released_when_asked: list[bool] = []

        def release() -> None:
            released_when_asked.append(loop_ran.wait(10))
            other.commit()

        releaser = threading.Thread(target=release)
        releaser.start()
        try:
            turn = asyncio.create_task(env.say("lk-1", "what is my balance?", patient, agent=agent))
            for _ in range(25):  # the loop keeps serving: 0.5 s of other work while the turn waits
                await asyncio.sleep(0.02)
            # The turn cannot end without writing a checkpoint, so it is still waiting for the lock.
            assert not turn.done()
            loop_ran.set()
            said = await asyncio.wait_for(turn, 10)
        finally:
            loop_ran.set()
            releaser.join()
            other.close()
        assert released_when_asked == [True]  # the loop ran while the lock was held
        assert said.message is not None
        assert said.message.intent == "balance"
        assert (await agent.state("lk-1")).get("turn") == 2


def _file_bytes(path: Path) -> int:
    return path.stat().st_size


async def test_the_write_ahead_log_of_the_checkpoint_store_stays_bounded(tmp_path: Path) -> None:
    """Thousands of commits (each floor turn commits 11 times) leave a WAL file of a few MB, not one that
    grows with every commit, and nothing is lost."""
    path = tmp_path / "wal.db"
    turns = 300
    async with open_checkpointer(str(path)) as saver:
        floor = Floor(saver)
        for i in range(turns):
            async for _ in floor.turn(f"w-{i % 20}", f"message {i}"):
                pass
        newest = await saver.aget_tuple(_newest("w-19"))
        # Measured while the store is open (closing its last connection checkpoints and removes the WAL).
        # Unbounded, 3,300 commits of about three pages each reach ~50 MB; bounded, ~4 MB.
        wal_bytes = _file_bytes(Path(f"{path}-wal"))
    assert wal_bytes < 8 * 1024 * 1024
    assert newest is not None
    assert newest.checkpoint["channel_values"]["text"] == f"message {turns - 1}"
    with sqlite3.connect(path) as conn:  # all of it is in the database file, readable by anyone
        (count,) = conn.execute("SELECT COUNT(DISTINCT thread_id) FROM checkpoints").fetchone()
    assert count == 20


def _waiting_plan(conversation: str, patient_id: str) -> ApprovalRequest:
    """A plan above the auto-approve ceiling, waiting on its approval thread for a staff decision."""
    return {
        "conversation_thread_id": conversation,
        "patient_id": patient_id,
        "plan_id": "plan-none",
        "total_cents": 120_000,
        "months": 6,
        "installment_cents": 20_000,
        "channel": "portal",
        "language": "en",
    }


async def test_pruning_keeps_the_newest_checkpoint_and_its_pending_writes(env: Env) -> None:
    """A thread waiting on an interrupt (the staff approval) keeps its pending writes through pruning
    and resumes from them; every older checkpoint and write is gone."""
    thread = "pr-1:approval"
    pid = env.patient("copay_only").id
    waiting = _waiting_plan("pr-1", pid)
    config: RunnableConfig = {"configurable": {"thread_id": thread}}
    graph = env.agent.approvals
    context = AgentContext(
        ports=env.agent.ports, thread_id="pr-1", channel=Channel.PORTAL, verified_patient_id=pid
    )
    start: ApprovalState = {"approval": waiting, "approval_outcome": None}
    async for _ in graph.astream(start, config, context=context, durability="sync"):
        pass
    before = await _rows(env.checkpoint_path, thread)
    assert before[0] > 1  # input, the step before the interrupt, ...
    await prune_thread(env.checkpointer, thread)
    checkpoints, writes = await _rows(env.checkpoint_path, thread)
    assert checkpoints == 1
    assert writes >= 1  # the interrupt itself is a pending write of the newest checkpoint
    assert await env.agent.pending_approval("pr-1") == waiting
    # Pruning again changes nothing, and a thread with no checkpoint is left alone.
    await prune_thread(env.checkpointer, thread)
    assert await _rows(env.checkpoint_path, thread) == (checkpoints, writes)
    await prune_thread(env.checkpointer, "no-such-thread")


async def _pg_rows(saver: AsyncPostgresSaver, thread: str) -> dict[str, int]:
    assert isinstance(saver.conn, AsyncConnectionPool)
    counts: dict[str, int] = {}
    async with saver.conn.connection() as conn:
        for table in ("checkpoints", "checkpoint_writes", "checkpoint_blobs"):
            row = await (
                await conn.execute(f"SELECT count(*) AS n FROM {table} WHERE thread_id = %s", (thread,))
            ).fetchone()
            assert row is not None
            counts[table] = int(row["n"])
    return counts


@pytest.mark.postgres
async def test_postgres_pruning_leaves_what_the_library_keep_latest_leaves(env: Env) -> None:
    """Our one-statement keep-latest leaves exactly the rows ``AsyncPostgresSaver.aprune`` leaves: the
    newest checkpoint, its pending writes (a staff approval's interrupt) and the blobs it references, and
    the threads read back and resume the same."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.skip("set TEST_DATABASE_URL to run PostgreSQL tests")
    schema = f"pr_{secrets.token_hex(4)}"
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    patient = env.patient("copay_only")
    async with await psycopg.AsyncConnection.connect(plain, autocommit=True) as admin:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
            async with open_checkpointer(scoped.render_as_string(hide_password=False)) as saver:
                assert isinstance(saver, AsyncPostgresSaver)
                agent = env.make_agent(saver)
                left: dict[str, dict[str, int]] = {}
                for how in ("ours", "library"):
                    conversation, approval = f"c-{how}", f"c-{how}:approval"
                    for text in ("I'd like to set up a payment plan", "what is my balance?"):
                        await env.say(conversation, text, patient, agent=agent)
                    context = AgentContext(
                        ports=agent.ports,
                        thread_id=conversation,
                        channel=Channel.PORTAL,
                        verified_patient_id=patient.id,
                    )
                    start: ApprovalState = {
                        "approval": _waiting_plan(conversation, patient.id),
                        "approval_outcome": None,
                    }
                    config: RunnableConfig = {"configurable": {"thread_id": approval}}
                    async for _ in agent.approvals.astream(start, config, context=context, durability="sync"):
                        pass
                    await saver.aput_writes(  # an older checkpoint's pending write, to be pruned
                        (await saver.aget_tuple(_newest(approval))).parent_config,  # type: ignore[union-attr,arg-type]
                        [("text", "stale")],
                        "stale-task",
                    )
                    graphs = {conversation: agent.graph, approval: agent.approvals}
                    before = {
                        t: await graphs[t].aget_state({"configurable": {"thread_id": t}})  # type: ignore[attr-defined]  # either graph
                        for t in (conversation, approval)
                    }
                    assert (await _pg_rows(saver, approval))["checkpoints"] > 1
                    for thread in (conversation, approval):
                        if how == "ours":
                            await prune_thread(saver, thread)
                        else:
                            await saver.aprune([thread], strategy="keep_latest")
                        left[f"{how}:{thread.partition(':')[2] or 'conversation'}"] = await _pg_rows(
                            saver, thread
                        )
                        after = await graphs[thread].aget_state({"configurable": {"thread_id": thread}})  # type: ignore[attr-defined]  # either graph
                        assert (after.values, after.next) == (before[thread].values, before[thread].next)
                    assert await agent.pending_approval(conversation) is not None
                    said = await env.say(conversation, "thanks", patient, agent=agent)
                    assert said.message is not None
                assert left["ours:conversation"] == left["library:conversation"]
                assert left["ours:approval"] == left["library:approval"]
                assert left["ours:conversation"]["checkpoints"] == 1
                assert left["ours:approval"]["checkpoints"] == 1
                assert left["ours:approval"]["checkpoint_writes"] >= 1  # the interrupt
                assert left["ours:conversation"]["checkpoint_blobs"] > 0
        finally:
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
