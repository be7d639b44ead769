"""Fixtures for the agent tests (see ``tests/agent/harness.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.checkpoint import open_checkpointer
from guardrails.audit import AuditTrail
from tests.agent.harness import Env, build_agent, clock, seeded_engine
from tools.demo import generate_practice
from tools.payments.sandbox import SandboxGateway
from tools.platforms.ledger import PracticeData


@pytest.fixture(scope="session")
def practice() -> PracticeData:
    return generate_practice(patients=60, seed=7)


@pytest.fixture
async def env(migrated_database_url: str, practice: PracticeData, tmp_path: Path) -> AsyncIterator[Env]:
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
