"""The understander is chosen from settings: the local engine unless an LLM server and model are set."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

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


# What a model answers for "what do I owe?" in the understander's schema.
BALANCE_READING = {
    "intent": "balance", "confidence": 0.9, "frustration": 0.0,
    "entities": {"month_counts": [], "statement_refs": []}, "reason": "asks the balance",
}  # fmt: skip


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
        server.script(Reply.json(BALANCE_READING))
        out = await understander.understand("what do I owe?", UnderstandingContext())
        assert out.intent is Intent.BALANCE
        body = server.requests[0].body
        assert body["model"] == "scripted-small"
        assert body["max_completion_tokens"] == 128
        assert "max_tokens" not in body
        assert body["temperature"] == 0


async def test_servers_that_only_read_max_tokens_get_the_limit_under_that_name(
    platform: LedgerPlatform,
) -> None:
    """llama-cpp-python's server ignores ``max_completion_tokens``: without the old name its replies
    run on to the context size (seen with a real model: minutes per reply)."""
    with ScriptedOpenAI() as server:
        settings = Settings(
            llm_base_url=server.base_url,
            llm_model="scripted-small",
            llm_timeout_s=3,
            llm_max_tokens=64,
            llm_max_tokens_field="max_tokens",
        )
        understander = build_understander(settings, platform)
        assert isinstance(understander, LlmUnderstander)
        server.script(Reply.json(BALANCE_READING))
        out = await understander.understand("what do I owe?", UnderstandingContext())
        assert out.intent is Intent.BALANCE
        body = server.requests[0].body
        assert body["max_tokens"] == 64
        assert "max_completion_tokens" not in body


def test_a_calibration_file_and_tool_rounds_come_from_settings(
    platform: LedgerPlatform, tmp_path: Path
) -> None:
    from agent.llm_phrasing import LlmPhraser
    from agent.understanding.calibrate import Calibration
    from api.container import build_phraser

    path = tmp_path / "calibration.json"
    url, model = "http://127.0.0.1:9/v1", "m"
    missing = build_understander(
        Settings(llm_base_url=url, llm_model=model, llm_calibration_file=path), platform
    )
    assert isinstance(missing, LlmUnderstander)
    assert missing.calibration is None  # not written yet: the raw confidence
    Calibration(a=0.5, b=-0.1, samples=40).save(path)
    loaded = build_understander(
        Settings(llm_base_url=url, llm_model=model, llm_calibration_file=path), platform
    )
    assert isinstance(loaded, LlmUnderstander)
    assert loaded.calibration == Calibration(a=0.5, b=-0.1, samples=40)
    phraser = build_phraser(Settings(llm_base_url=url, llm_model=model, llm_tool_rounds=0), platform)
    assert isinstance(phraser, LlmPhraser)
    assert phraser.tool_rounds == 0


async def test_json_mode_sends_the_schema_in_the_prompt_for_servers_without_json_schema(
    platform: LedgerPlatform,
) -> None:
    with ScriptedOpenAI() as server:
        settings = Settings(llm_base_url=server.base_url, llm_model="m", llm_structured_output="json_mode")
        understander = build_understander(settings, platform)
        assert isinstance(understander, LlmUnderstander)
        server.script(Reply.json(BALANCE_READING))
        out = await understander.understand("what do I owe?", UnderstandingContext())
        body = server.requests[0].body
    assert out.intent is Intent.BALANCE
    assert understander.fallbacks == {}
    assert body["response_format"] == {"type": "json_object"}
    assert '"month_counts"' in body["messages"][0]["content"]  # the schema, in the system prompt
