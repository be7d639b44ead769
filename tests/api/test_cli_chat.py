"""``billing-agent chat``: a terminal conversation streams the agent's answers from the ledger."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from api.cli import main
from tools.db import create_engine
from tools.platforms.ledger import LedgerPlatform


def _seed(url: str) -> None:
    assert main(["seed", "--patients", "10", "--database-url", url]) == 0


def _patient_who_owes(url: str) -> tuple[str, str]:
    """A demo patient with a positive balance: (portal id, the balance as the agent writes it)."""

    async def read() -> tuple[str, int]:
        engine = create_engine(url)
        try:
            ledger = LedgerPlatform(engine)
            for patient in await ledger.list_patients(limit=10):
                cents = (await ledger.get_account_summary(patient.id)).balance_cents
                if cents > 0 and patient.portal_user_id:
                    return patient.portal_user_id, cents
        finally:
            await engine.dispose()
        raise AssertionError("the demo seed has no patient with a balance")

    portal_id, cents = asyncio.run(read())
    return portal_id, f"${cents // 100:,}.{cents % 100:02d}"


def test_portal_chat_answers_the_balance_from_the_ledger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("BILLING_CHECKPOINT_URL", f"sqlite:///{tmp_path / 'checkpoints.db'}")
    _seed(url)
    capsys.readouterr()
    portal_id, balance = _patient_who_owes(url)
    monkeypatch.setattr("sys.stdin", io.StringIO("what is my balance?\n"))
    assert main(["chat", "--patient", portal_id, "--database-url", url]) == 0
    out = capsys.readouterr().out
    assert "agent> " in out
    assert balance in out


def test_sms_chat_asks_for_identity_before_any_account_fact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("BILLING_CHECKPOINT_URL", f"sqlite:///{tmp_path / 'checkpoints.db'}")
    _seed(url)
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", io.StringIO("what is my balance?\n"))
    code = main(["chat", "--patient", "portal-3", "--channel", "sms", "--database-url", url])
    out = capsys.readouterr().out
    if code == 2:  # this demo patient has no phone on file
        pytest.fail(f"portal-3 should have a phone in the seed: {out}")
    assert code == 0
    assert "$" not in out
    assert "birth" in out.lower()


def test_unknown_patient_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("BILLING_CHECKPOINT_URL", f"sqlite:///{tmp_path / 'checkpoints.db'}")
    _seed(url)
    assert main(["chat", "--patient", "portal-999", "--database-url", url]) == 2
    assert "no demo patient 'portal-999'" in capsys.readouterr().err
