"""``billing-agent staff create``: an account whose password is stored hashed and that can sign in."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.cli import main
from api.staff import Role, StaffDirectory, StaffUser
from tools.db import create_engine
from tools.errors import NotAuthenticated
from tools.staff_accounts import StaffUserRow

PASSWORD = "a long enough password"
T = TypeVar("T")


def _run(url: str, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run ``work`` on an engine of ``url`` (the CLI runs its own event loop, so these tests are sync)."""

    async def go() -> T:
        engine = create_engine(url)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_staff_create_reads_the_password_from_stdin_and_stores_only_a_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'console.db'}"
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    code = main(["staff", "create", "--email", "Dana@Practice.test", "--role", "manager", "--password-stdin",
                 "--database-url", url])  # fmt: skip
    assert code == 0
    assert "role manager" in capsys.readouterr().out

    async def check(engine: AsyncEngine) -> tuple[StaffUser, str]:
        directory = StaffDirectory(engine)
        user: StaffUser = await directory.authenticate("dana@practice.test", PASSWORD)
        with pytest.raises(NotAuthenticated):
            await directory.authenticate("dana@practice.test", PASSWORD + "x")
        async with engine.connect() as conn:
            stored = (await conn.execute(select(StaffUserRow.password_hash))).scalar_one()
        return user, stored

    user, stored = _run(url, check)
    assert user.role is Role.MANAGER
    assert user.email == "dana@practice.test"
    assert stored.startswith("scrypt$")
    assert PASSWORD not in stored

    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    again = main(["staff", "create", "--email", "dana@practice.test", "--role", "agent", "--password-stdin",
                  "--database-url", url])  # fmt: skip
    assert again == 2
    assert "already exists" in capsys.readouterr().err


def test_staff_create_refuses_a_short_password_and_a_bad_role(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'console.db'}"
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["staff", "create", "--email", "x@practice.test", "--role", "agent", "--password-stdin",
                 "--database-url", url]) == 2  # fmt: skip
    assert "at least 12 characters" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["staff", "create", "--email", "x@practice.test", "--role", "owner", "--password-stdin"])
    assert exit_info.value.code == 2
