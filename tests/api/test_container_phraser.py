"""The phraser is chosen from settings: none (the local templates) unless an LLM server and model are set."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agent.llm_phrasing import LlmPhraser
from api.container import build_phraser
from api.settings import Settings
from tools.db import create_engine
from tools.platforms.ledger import LedgerPlatform


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "BILLING_LLM_BASE_URL",
        "BILLING_LLM_MODEL",
        "BILLING_LLM_API_KEY",
        "BILLING_LLM_PHRASING_MODEL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir("/")  # no .env file is read


@pytest.fixture
async def platform() -> AsyncIterator[LedgerPlatform]:
    engine = create_engine("sqlite+aiosqlite://")
    yield LedgerPlatform(engine)
    await engine.dispose()


def test_no_llm_settings_means_no_phraser(platform: LedgerPlatform) -> None:
    for settings in (Settings(), Settings(llm_base_url="http://127.0.0.1:9/v1"), Settings(llm_model="m")):
        assert build_phraser(settings, platform) is None


def test_a_server_and_a_model_build_an_llm_phraser(platform: LedgerPlatform) -> None:
    shared = build_phraser(Settings(llm_base_url="http://127.0.0.1:9/v1", llm_model="m"), platform)
    assert isinstance(shared, LlmPhraser)
    separate = build_phraser(
        Settings(llm_base_url="http://127.0.0.1:9/v1", llm_phrasing_model="p", llm_timeout_s=3), platform
    )
    assert isinstance(separate, LlmPhraser)
    assert separate.timeout_s == 3
    assert getattr(separate.model, "model_name", None) == "p"
