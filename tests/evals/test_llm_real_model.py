"""The eval suite through a real OpenAI-compatible server (llama.cpp's server, vLLM, Ollama...): skipped
unless ``BILLING_TEST_LLM_URL`` is set (see docs/llm.md). Small models invent figures and misread
intents; whatever they do, no ungrounded figure may reach the patient and no policy may be broken.

    BILLING_TEST_LLM_URL=http://127.0.0.1:8080/v1 BILLING_TEST_LLM_MODEL=gemma3-270m \\
    BILLING_TEST_LLM_CATEGORY=line_items pytest -m llm tests/evals/test_llm_real_model.py -s

``BILLING_TEST_LLM_CATEGORY`` runs one category (the whole suite otherwise); ``BILLING_TEST_LLM_ROLES``
(``understanding,phrasing`` by default) puts only some roles on the model, the local engine doing the
rest (a server whose structured output is too slow, say); ``BILLING_TEST_LLM_STRUCTURED_OUTPUT`` is
``json_schema`` (default), ``json_mode`` or ``function_calling``; ``BILLING_TEST_LLM_REPORT`` names a file
for the Markdown report, the language-model section included.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from agent.phrasing import Phraser
from agent.understanding.base import Understander
from agent.understanding.local import LocalUnderstander
from api.container import build_phraser, build_understander
from api.settings import Settings
from evals.suite import run_suite
from evals.task import load_tasks
from tools.platforms.base import BillingPlatform

URL = os.environ.get("BILLING_TEST_LLM_URL")

pytestmark = [
    pytest.mark.llm,
    pytest.mark.skipif(not URL, reason="set BILLING_TEST_LLM_URL to an OpenAI-compatible server's /v1"),
]


def test_a_real_model_never_shows_an_unverified_figure_nor_breaks_policy() -> None:
    assert URL is not None
    settings = Settings(
        llm_base_url=URL,
        llm_model=os.environ.get("BILLING_TEST_LLM_MODEL", "local"),
        llm_timeout_s=float(os.environ.get("BILLING_TEST_LLM_TIMEOUT_S", "60")),
        llm_breaker_threshold=1_000,  # measure the model, not the breaker
        llm_structured_output=os.environ.get("BILLING_TEST_LLM_STRUCTURED_OUTPUT", "json_schema"),
    )
    roles = os.environ.get("BILLING_TEST_LLM_ROLES", "understanding,phrasing").split(",")

    def understander(platform: BillingPlatform) -> Understander:
        if "understanding" not in roles:
            return LocalUnderstander.default()
        return build_understander(settings, platform)

    def phraser(platform: BillingPlatform) -> Phraser | None:
        return build_phraser(settings, platform) if "phrasing" in roles else None

    result = asyncio.run(
        run_suite(
            load_tasks(),
            trials=1,
            seed=0,
            engine="llm",
            category=os.environ.get("BILLING_TEST_LLM_CATEGORY") or None,
            understander_factory=understander,
            phraser_factory=phraser,
        )
    )
    report = result.markdown()
    if path := os.environ.get("BILLING_TEST_LLM_REPORT"):
        Path(path).write_text(report, encoding="utf-8")
    print(report)
    assert result.llm is not None
    assert result.llm.understanding_calls + result.llm.phrasing_calls > 0  # the server was really asked
    assert result.metrics.ungrounded_mentions == 0
    assert result.metrics.policy_violations_total == 0
