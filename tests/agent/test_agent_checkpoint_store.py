"""Checkpoint stores: the PostgreSQL saver by URL resumes a thread across saver instances and prunes."""

from __future__ import annotations

import os
import secrets

import pytest

from agent.checkpoint import checkpoint_bytes, open_checkpointer, prune_thread
from tests.agent.harness import Env


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


async def test_sqlite_checkpointer_by_url_and_by_path(env: Env, tmp_path: object) -> None:
    patient = env.patient("copay_only")
    path = f"{tmp_path}/by-url.db"
    async with open_checkpointer(f"sqlite:///{path}") as saver:
        await env.say("u-1", "hi", patient, agent=env.make_agent(saver))
    async with open_checkpointer(path) as saver:
        assert (await env.make_agent(saver).state("u-1")).get("turn") == 1
