"""``billing-agent audit verify``: an intact trail exits 0; one altered entry is named and exits 1."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from api.cli import main
from guardrails.audit import AuditTrail
from migrations import migrate_service
from tools.db import create_engine


async def _write_trail(url: str, entries: int) -> None:
    await migrate_service(url)
    engine = create_engine(url)
    try:
        trail = AuditTrail(engine)
        for n in range(entries):
            await trail.append("agent.turn", {"intent": "balance", "turn": n}, thread_id="t-1", actor="bot")
    finally:
        await engine.dispose()


async def _tamper(url: str, seq: int) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE audit_log SET payload = :p WHERE seq = :s"),
                {"p": '{"intent": "pay_now", "turn": 1}', "s": seq},
            )
    finally:
        await engine.dispose()


def test_verify_reports_an_intact_trail_then_the_altered_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    asyncio.run(_write_trail(url, entries=5))
    assert main(["audit", "verify", "--database-url", url]) == 0
    assert "5 entries" in capsys.readouterr().out

    asyncio.run(_tamper(url, seq=2))
    assert main(["audit", "verify", "--database-url", url]) == 1
    assert "BROKEN at entry 2" in capsys.readouterr().err
