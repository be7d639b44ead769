"""Fixtures for the agent tests (see ``tests/agent/harness.py``)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import make_url

from agent.checkpoint import open_checkpointer
from guardrails.audit import AuditTrail
from tests.agent.harness import Env, build_agent, clock, seeded_engine
from tools.db import create_engine
from tools.demo import generate_practice
from tools.payments.sandbox import SandboxGateway
from tools.platforms.ledger import LedgerPlatform, PracticeData


@pytest.fixture(scope="session")
def practice() -> PracticeData:
    return generate_practice(patients=60, seed=7)


@pytest.fixture(scope="session")
def _seeded_sqlite(
    _sqlite_template: Path, practice: PracticeData, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The migrated SQLite template with the practice loaded, once per session: a test's copy of it is the
    same database a load gives, for a file copy instead of the load (60% of an agent test's time)."""
    path = tmp_path_factory.mktemp("seeded") / "seeded.db"
    shutil.copyfile(_sqlite_template, path)

    async def load() -> None:
        engine, _ = await seeded_engine(f"sqlite+aiosqlite:///{path}", practice)
        async with engine.begin() as conn:  # everything in the main file: the copy takes that alone
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        await engine.dispose()

    # Its own thread and loop: session fixtures run outside the tests' event loops.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, load()).result()
    return path


@pytest.fixture
async def env(
    migrated_database_url: str, practice: PracticeData, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Env]:
    url = make_url(migrated_database_url)
    if url.get_backend_name() == "sqlite":
        shutil.copyfile(request.getfixturevalue("_seeded_sqlite"), url.database or "")
        engine = create_engine(migrated_database_url)
        platform = LedgerPlatform(engine, clock=clock)
    else:
        engine, platform = await seeded_engine(migrated_database_url, practice)
    gateway = SandboxGateway(engine, "http://billing.test", clock=clock)
    audit = AuditTrail(engine, clock=clock)
    path = tmp_path / "checkpoints.db"
    try:
        async with open_checkpointer(str(path)) as saver:
            agent = build_agent(platform, gateway, audit, saver)
            yield Env(engine, platform, gateway, audit, practice, saver, path, agent)
    finally:
        await engine.dispose()
