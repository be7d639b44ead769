"""The understander is chosen from settings: the local engine unless an LLM server and model are set."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from agent.understanding.base import Intent, UnderstandingContext
from agent.understanding.llm import LlmUnderstander
from agent.understanding.local import LocalUnderstander
from api.container import build_understander
from api.settings import Settings
from tests.support.openai_server import Reply, ScriptedOpenAI
from tools.db import create_engine
from tools.platforms.ledger import LedgerPlatform


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BILLING_LLM_BASE_URL", "BILLING_LLM_MODEL", "BILLING_LLM_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir("/")  # no .env file is read


@pytest.fixture
async def platform() -> AsyncIterator[LedgerPlatform]:
    # Never queried here (no patient in the context): an engine that is never connected.
    engine = create_engine("sqlite+aiosqlite://")
    yield LedgerPlatform(engine)
    await engine.dispose()


def test_no_llm_settings_means_the_local_engine(platform: LedgerPlatform) -> None:
    base_url_only = Settings(llm_base_url="http://127.0.0.1:9/v1")
    model_only = Settings(llm_model="m")
    for settings in (Settings(), base_url_only, model_only):
        assert isinstance(build_understander(settings, platform), LocalUnderstander)


async def test_llm_settings_build_a_model_understander_that_talks_to_the_server(
    platform: LedgerPlatform,
) -> None:
    with ScriptedOpenAI() as server:
        settings = Settings(
            llm_base_url=server.base_url,
            llm_model="scripted-small",
            llm_api_key=SecretStr("sk-test"),
            llm_timeout_s=3,
            llm_max_tokens=128,
        )
        understander = build_understander(settings, platform)
        assert isinstance(understander, LlmUnderstander)
        doc = {
            "intent": "balance", "confidence": 0.9, "frustration": 0.0,
            "entities": {"month_counts": [], "statement_refs": []}, "reason": "asks the balance",
        }  # fmt: skip
        server.script(Reply.json(doc))
        out = await understander.understand("what do I owe?", UnderstandingContext())
        assert out.intent is Intent.BALANCE
        body = server.requests[0].body
        assert body["model"] == "scripted-small"
        assert body["max_completion_tokens"] == 128
        assert body["temperature"] == 0
