"""``billing-agent``: help on every command, clear errors with non-zero exits, a deterministic seed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from api.cli import build_parser, main
from tools.db import create_engine
from tools.platforms.ledger import LedgerPlatform


def _commands() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sorted(sub.choices)  # type: ignore[arg-type]  # argparse keeps choices as a dict here


@pytest.mark.parametrize("command", _commands())
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert command in capsys.readouterr().out


def test_seed_loads_the_demo_practice_then_refuses_to_load_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    assert main(["seed", "--patients", "12", "--database-url", url]) == 0
    assert "seeded 12 patients" in capsys.readouterr().out

    assert main(["seed", "--patients", "12", "--database-url", url]) == 2
    assert "--reset" in capsys.readouterr().err
    assert main(["seed", "--if-empty", "--database-url", url]) == 0
    assert main(["seed", "--reset", "--patients", "5", "--database-url", url]) == 0

    async def count() -> int:
        engine = create_engine(url)
        try:
            return len(await LedgerPlatform(engine).list_patients(limit=100))
        finally:
            await engine.dispose()

    assert asyncio.run(count()) == 5


def test_bad_database_url_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["seed", "--database-url", "mysql://nobody@nowhere/db"]) == 2
    assert "unsupported database backend" in capsys.readouterr().err


def test_zero_patients_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["seed", "--patients", "0", "--database-url", f"sqlite:///{tmp_path / 'x.db'}"]) == 2
    assert "--patients" in capsys.readouterr().err
