"""``billing-agent outreach bounce``: an operator records a bounce or complaint for an address, and the
outreach email channel then refuses it (the same per-address consent the webhook and the unsubscribe
link write)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from api.cli import main
from api.settings import Settings
from tools.db import create_engine
from tools.messaging.email_consent import EmailConsentStore, EmailStanding


def _standing(url: str, address: str) -> tuple[EmailStanding, list[str]]:
    async def go() -> tuple[EmailStanding, list[str]]:
        engine = create_engine(url)
        try:
            store = EmailConsentStore(engine, Settings(database_url=url).email_secret())
            return await store.standing(address), [e.source for e in await store.history(address)]
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_bounce_from_the_command_line_stops_email_and_opt_in_restores_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'bounce.db'}"
    assert main(["outreach", "bounce", "Omar@Example.org", "--status", "5.1.1", "--database-url", url]) == 0
    assert "may not be sent" in capsys.readouterr().out
    # Keyed by the normalised address: another spelling of it is the same mailbox.
    assert _standing(url, " omar@example.org") == ("bounced", ["command"])

    assert main(["outreach", "bounce", "omar@example.org", "--soft", "--database-url", url]) == 0
    assert _standing(url, "omar@example.org")[0] == "bounced"  # a soft bounce changes nothing

    assert main(["outreach", "bounce", "omar@example.org", "--opt-in", "--database-url", url]) == 0
    assert "may be sent" in capsys.readouterr().out.splitlines()[-1]
    assert _standing(url, "omar@example.org")[0] == "opted_in"
